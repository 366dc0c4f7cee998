//! Direct-paging requests: `mmu_update` (1), `mmuext_op` (26) and
//! `update_va_mapping` (14), with the page-table entry bits they inspect.
//!
//! A PV guest never writes its page tables directly. It asks the hypervisor
//! to write each entry, and every entry is validated against frame ownership
//! and page types before it is stored: the rules and their errno values
//! are in the [guide](crate::guide#the-memory-rules).

use core::mem::{offset_of, size_of};

/// One `mmu_update` request (16 bytes).
///
/// `ptr` is the *machine address* of the target entry; its low 3 bits carry
/// the command (`MMU_*`). `val` is the new 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct MmuUpdate {
    /// @0: machine address of the entry | command.
    pub ptr: u64,
    /// @8: new value.
    pub val: u64,
}
const _: () = assert!(size_of::<MmuUpdate>() == 16);
const _: () = assert!(offset_of!(MmuUpdate, ptr) == 0);
const _: () = assert!(offset_of!(MmuUpdate, val) == 8);

/// `ptr & 7`: checked `*ptr = val`.
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
/// `ptr & 7`: `M2P[ptr >> 12] = val`.
pub const MMU_MACHPHYS_UPDATE: u64 = 1;
/// `ptr & 7`: as normal, but keep the Accessed and Dirty bits already set.
pub const MMU_PT_UPDATE_PRESERVE_AD: u64 = 2;
/// `ptr & 7`: as normal; `val` is never translated (same as normal for PV).
pub const MMU_PT_UPDATE_NO_TRANSLATE: u64 = 3;
/// Bit 31 of `count`: Xen's own continuation marker. Guests should not set it.
pub const MMU_UPDATE_PREEMPTED: u32 = 0x8000_0000;

/// One `mmuext_op` request (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct MmuextOp {
    /// @0: command (`MMUEXT_*`).
    pub cmd: u32,
    /// @4: padding.
    pub pad: u32,
    /// @8: MFN, or linear address for INVLPG and SET_LDT.
    pub arg1: u64,
    /// @16: number of LDT entries, vCPU bitmap pointer, or source MFN.
    pub arg2: u64,
}
const _: () = assert!(size_of::<MmuextOp>() == 24);
const _: () = assert!(offset_of!(MmuextOp, cmd) == 0);
const _: () = assert!(offset_of!(MmuextOp, arg1) == 8);
const _: () = assert!(offset_of!(MmuextOp, arg2) == 16);

/// Pin a frame as an L1 table.
pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
/// Pin a frame as an L2 table.
pub const MMUEXT_PIN_L2_TABLE: u32 = 1;
/// Pin a frame as an L3 table.
pub const MMUEXT_PIN_L3_TABLE: u32 = 2;
/// Pin a frame as an L4 table.
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
/// Drop a pin.
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
/// Switch the kernel-mode root table.
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
/// Flush this CPU's TLB.
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
/// Invalidate one linear address locally.
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
/// Flush the TLBs of the vCPUs in a bitmap.
pub const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
/// Invalidate one linear address on the vCPUs in a bitmap.
pub const MMUEXT_INVLPG_MULTI: u32 = 9;
/// Flush the TLBs of all CPUs that ran the domain.
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
/// Invalidate one linear address on all CPUs that ran the domain.
pub const MMUEXT_INVLPG_ALL: u32 = 11;
/// Write back and invalidate caches.
pub const MMUEXT_FLUSH_CACHE: u32 = 12;
/// Install an LDT.
pub const MMUEXT_SET_LDT: u32 = 13;
/// Switch the user-mode root table.
pub const MMUEXT_NEW_USER_BASEPTR: u32 = 15;
/// Zero a frame.
pub const MMUEXT_CLEAR_PAGE: u32 = 16;
/// Copy one frame to another.
pub const MMUEXT_COPY_PAGE: u32 = 17;
/// Global cache flush.
pub const MMUEXT_FLUSH_CACHE_GLOBAL: u32 = 18;
/// Removed; always `-EOPNOTSUPP`.
pub const MMUEXT_MARK_SUPER: u32 = 19;
/// Removed; always `-EOPNOTSUPP`.
pub const MMUEXT_UNMARK_SUPER: u32 = 20;

/// `update_va_mapping` flags bits 1:0: no flush.
pub const UVMF_NONE: u64 = 0;
/// Flags bits 1:0: flush the whole TLB.
pub const UVMF_TLB_FLUSH: u64 = 1;
/// Flags bits 1:0: invalidate only the address.
pub const UVMF_INVLPG: u64 = 2;
/// Mask of the flush-type bits.
pub const UVMF_FLUSHTYPE_MASK: u64 = 3;
/// Flags bits 63:2: flush on this CPU only.
pub const UVMF_LOCAL: u64 = 0;
/// Flags bits 63:2: flush on every CPU that ran the domain.
pub const UVMF_ALL: u64 = 4;

/// Page-table entry bits a PV guest writes.
pub mod pte {
    /// Present.
    pub const PRESENT: u64 = 1 << 0;
    /// Writable.
    pub const RW: u64 = 1 << 1;
    /// User-accessible.
    pub const USER: u64 = 1 << 2;
    /// Write-through.
    pub const PWT: u64 = 1 << 3;
    /// Cache disable.
    pub const PCD: u64 = 1 << 4;
    /// Accessed.
    pub const ACCESSED: u64 = 1 << 5;
    /// Dirty.
    pub const DIRTY: u64 = 1 << 6;
    /// PAT (in L1 entries) or page size (in L2–L4 entries).
    pub const PAT_PSE: u64 = 1 << 7;
    /// Global.
    pub const GLOBAL: u64 = 1 << 8;
    /// Software bits 9–11.
    pub const AVAIL_LOW: u64 = 0x7 << 9;
    /// Xen's guest-kernel-only marker (bit 52), set on L1 entries the guest
    /// wrote without USER.
    pub const GUEST_KERNEL: u64 = 1 << 52;
    /// Software bits 52–62.
    pub const AVAIL_HIGH: u64 = 0x7FF << 52;
    /// No-execute.
    pub const NX: u64 = 1 << 63;
    /// Frame address bits 12–51.
    pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
}
