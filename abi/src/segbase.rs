//! `set_segment_base` (25): which base register to load.

/// FS base.
pub const SEGBASE_FS: u64 = 0;
/// The GS base guest user mode runs with (the shadow GS base while in kernel mode).
pub const SEGBASE_GS_USER: u64 = 1;
/// The GS base the kernel runs with.
pub const SEGBASE_GS_KERNEL: u64 = 2;
/// Loads the GS *selector* for user mode (`base` is the selector).
pub const SEGBASE_GS_USER_SEL: u64 = 3;
