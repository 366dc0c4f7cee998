//! `hvm_op` (34): `HVMOP_set_param` / `HVMOP_get_param`, the per-vCPU
//! upcall vector, the TLB flush, and the HVM parameter numbers a PVH guest uses at boot (Xen's `hvm/hvm_op.h` and
//! `hvm/params.h`).
//!
//! **Status in xen-core:** `HVMOP_set_param` / `HVMOP_get_param`,
//! `HVMOP_set_evtchn_upcall_vector` and `HVMOP_flush_tlbs` for PVH domains
//! (see the crate docs' *PVH domains*); PV domains get `-ENOSYS`.
//!
//! Prototype: `long hvm_op(unsigned long op, void *arg)` with `op` one of
//! the `HVMOP_*` values and `arg` the VIRTUAL address of the op's structure
//! ([`XenHvmParam`] for set/get).

use crate::DomId;
use core::mem::{offset_of, size_of};

/// Set a parameter: `arg` → [`XenHvmParam`] (all fields IN).
pub const HVMOP_SET_PARAM: u64 = 0;
/// Read a parameter: `arg` → [`XenHvmParam`] (`value` OUT).
pub const HVMOP_GET_PARAM: u64 = 1;
/// Flush every vCPU's TLB: `arg` must be NULL.
pub const HVMOP_FLUSH_TLBS: u64 = 5;
/// A guest announces that a page-table tree is going away (shadow paging
/// hint).
pub const HVMOP_PAGETABLE_DYING: u64 = 9;
/// Read the HVM memory type of a guest frame.
pub const HVMOP_GET_MEM_TYPE: u64 = 15;
/// Set the per-vCPU event-channel upcall vector:
/// `arg` → [`XenHvmEvtchnUpcallVector`].
pub const HVMOP_SET_EVTCHN_UPCALL_VECTOR: u64 = 23;

/// CPUID leaf of a PVH domain on xen-core (an extension: Xen answers the
/// leaves of its range past its last one with zeros) reporting the
/// domain's own VM exits, by kind in ECX: 0 VMMCALL, 1 CPUID, 2 MSR, 3 I/O,
/// 4 nested fault, 5 #PF, 6 CR access, 7 INVLPG, 8 host interrupt or NMI,
/// 9 other. EAX [`XEN_CORE_EXIT_COUNT_MAGIC`], EBX:ECX the count (low,
/// high), EDX the number of kinds; a kind past the last, all zeros.
pub const XEN_CORE_EXIT_COUNT_LEAF: u32 = 0x4000_00F0;
/// EAX of an answered [`XEN_CORE_EXIT_COUNT_LEAF`]: `XCnt` in ASCII.
pub const XEN_CORE_EXIT_COUNT_MAGIC: u32 = 0x746E_4358;

/// `HVMOP_set_param` / `HVMOP_get_param` argument: 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XenHvmParam {
    /// @0 IN: the domain ([`DomId::SELF`] for the caller).
    pub domid: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 IN: an `HVM_PARAM_*` number ([`param`]).
    pub index: u32,
    /// @8 IN (set) / OUT (get): the value.
    pub value: u64,
}

/// `HVMOP_set_evtchn_upcall_vector` argument: 8 bytes (5 used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XenHvmEvtchnUpcallVector {
    /// @0 IN: the vCPU.
    pub vcpu: u32,
    /// @4 IN: the interrupt vector for its upcalls.
    pub vector: u8,
    /// @5: padding.
    pub pad: [u8; 3],
}

const _: () = assert!(size_of::<XenHvmParam>() == 16);
const _: () = assert!(offset_of!(XenHvmParam, domid) == 0);
const _: () = assert!(offset_of!(XenHvmParam, index) == 4);
const _: () = assert!(offset_of!(XenHvmParam, value) == 8);
const _: () = assert!(size_of::<XenHvmEvtchnUpcallVector>() == 8);
const _: () = assert!(offset_of!(XenHvmEvtchnUpcallVector, vector) == 4);

/// HVM parameter numbers (`index`). Values that hold a frame are
/// GUEST-PHYSICAL frame numbers.
pub mod param {
    /// How event-channel upcalls for vCPU 0 are delivered: the top byte
    /// (bits 63:56, [`super::callback`]) is the method, the rest its
    /// argument; 0 delivers none.
    pub const CALLBACK_IRQ: u32 = 0;
    /// Guest frame of the xenstore ring.
    pub const STORE_PFN: u32 = 1;
    /// Event channel of xenstore.
    pub const STORE_EVTCHN: u32 = 2;
    /// PAE enabled (HVM guests).
    pub const PAE_ENABLED: u32 = 4;
    /// Guest frame of the device model's ioreq page.
    pub const IOREQ_PFN: u32 = 5;
    /// Guest frame of the buffered ioreq page.
    pub const BUFIOREQ_PFN: u32 = 6;
    /// Viridian (Hyper-V) enlightenments mask.
    pub const VIRIDIAN: u32 = 9;
    /// Virtual timer mode.
    pub const TIMER_MODE: u32 = 10;
    /// Virtual HPET enabled.
    pub const HPET_ENABLED: u32 = 11;
    /// Identity-map page directory (Intel EPT with CR0.PG clear).
    pub const IDENT_PT: u32 = 12;
    /// The device model's domain.
    pub const DM_DOMAIN: u32 = 13;
    /// ACPI S state.
    pub const ACPI_S_STATE: u32 = 14;
    /// VM86 TSS (Intel, CR0.PE clear).
    pub const VM86_TSS: u32 = 15;
    /// Align periodic virtual timers.
    pub const VPT_ALIGN: u32 = 16;
    /// Guest frame of the console ring.
    pub const CONSOLE_PFN: u32 = 17;
    /// Event channel of the console.
    pub const CONSOLE_EVTCHN: u32 = 18;
    /// Location of the ACPI PM1a/TMR blocks.
    pub const ACPI_IOPORTS_LOCATION: u32 = 19;
    /// Nested HVM enabled.
    pub const NESTEDHVM: u32 = 24;
    /// Event channel of the buffered ioreq page.
    pub const BUFIOREQ_EVTCHN: u32 = 26;
    /// Paging mem-event ring frame.
    pub const PAGING_RING_PFN: u32 = 27;
    /// Monitor mem-event ring frame.
    pub const MONITOR_RING_PFN: u32 = 28;
    /// Sharing mem-event ring frame.
    pub const SHARING_RING_PFN: u32 = 29;
    /// `SHUTDOWN_*` reason used for a triple fault.
    pub const TRIPLE_FAULT_REASON: u32 = 31;
    /// First ioreq-server frame.
    pub const IOREQ_SERVER_PFN: u32 = 32;
    /// Number of ioreq-server frames.
    pub const NR_IOREQ_SERVER_PAGES: u32 = 33;
    /// Guest address of the VM generation id.
    pub const VM_GENERATION_ID_ADDR: u32 = 34;
    /// altp2m mode.
    pub const ALTP2M: u32 = 35;
    /// Width of the saved x87 FIP/FDP.
    pub const X87_FIP_WIDTH: u32 = 36;
    /// VM86 TSS with its size (Intel).
    pub const VM86_TSS_SIZED: u32 = 37;
    /// MCA capabilities.
    pub const MCA_CAP: u32 = 38;
    /// Number of parameters in Xen 4.17: an `index` at or above it is
    /// `-EINVAL`.
    pub const HVM_NR_PARAMS: u32 = 39;
}

/// `CALLBACK_IRQ` delivery methods (the value's bits 63:56).
pub mod callback {
    /// Mask of the method byte.
    pub const TYPE_MASK: u64 = 0xFF << TYPE_SHIFT;
    /// Position of the method byte.
    pub const TYPE_SHIFT: u32 = 56;
    /// Bits 55:0 are a GSI (GSI 0 cannot be named: it aliases "none").
    pub const TYPE_GSI: u64 = 0;
    /// Bits 55:0 are a PCI INTx line: domain 47:32, bus 31:16, devfn 15:8,
    /// INTx 1:0.
    pub const TYPE_PCI_INTX: u64 = 1;
    /// Bits 7:0 are an interrupt vector (the method a PVH guest uses; Xen
    /// advertises it with `XENFEAT_hvm_callback_vector`).
    pub const TYPE_VECTOR: u64 = 2;

    /// The value that asks for upcalls on `vector`.
    pub const fn vector(vector: u8) -> u64 {
        (TYPE_VECTOR << TYPE_SHIFT) | vector as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_vector_value_puts_the_method_in_the_top_byte() {
        let v = callback::vector(0xF3);
        assert_eq!(v, 0x0200_0000_0000_00F3);
        assert_eq!((v & callback::TYPE_MASK) >> callback::TYPE_SHIFT, callback::TYPE_VECTOR);
    }
}
