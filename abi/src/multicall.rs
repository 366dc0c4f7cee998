//! `multicall` (13): a batch of hypercalls in one entry.

use core::mem::{offset_of, size_of};

/// One entry of a multicall list (64 bytes). Xen passes `args[0..5]` to
/// the hypercall `op` and stores its return value in `result`; a preempted
/// sub-call gets its continuation written back (`op`, `args` rewritten,
/// `result` = `op`), so the guest's list may change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MulticallEntry {
    /// @0: hypercall number.
    pub op: u64,
    /// @8 (OUT): its return value (a negative errno on failure).
    pub result: u64,
    /// @16: arguments; the sixth is not used by 64-bit PV hypercalls.
    pub args: [u64; 6],
}
const _: () = assert!(size_of::<MulticallEntry>() == 64);
const _: () = assert!(offset_of!(MulticallEntry, result) == 8);
const _: () = assert!(offset_of!(MulticallEntry, args) == 16);

/// Size of a [`MulticallEntry`].
pub const MULTICALL_ENTRY_SIZE: u64 = 64;
