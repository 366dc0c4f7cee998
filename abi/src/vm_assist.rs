//! `vm_assist` (21): switching optional hypervisor assists on and off.

/// `cmd`: turn the assist on.
pub const VMASST_CMD_ENABLE: u64 = 0;
/// `cmd`: turn the assist off.
pub const VMASST_CMD_DISABLE: u64 = 1;

/// 32-bit guests only (accepted, no effect on a 64-bit guest).
pub const VMASST_TYPE_4GB_SEGMENTS: u64 = 0;
/// 32-bit guests only (accepted, no effect).
pub const VMASST_TYPE_4GB_SEGMENTS_NOTIFY: u64 = 1;
/// Writes to read-only page tables would be emulated. Accepted; xen-core
/// does not emulate them (the guest gets the page fault).
pub const VMASST_TYPE_WRITABLE_PAGETABLES: u64 = 2;
/// Page directories above 4 GiB; makes `xen_version(get_features)` report
/// `pae_pgdir_above_4gb`.
pub const VMASST_TYPE_PAE_EXTENDED_CR3: u64 = 3;
/// IOPL as the guest kernel's own (accepted).
pub const VMASST_TYPE_ARCHITECTURAL_IOPL: u64 = 4;
/// Runstate update flag (accepted).
pub const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u64 = 5;
/// M2P not visible to guest user mode (accepted).
pub const VMASST_TYPE_M2P_STRICT: u64 = 32;
