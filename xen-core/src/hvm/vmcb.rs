//! The VMCB (AMD APM vol. 2, appendix B): one 4 KiB page per vCPU, a
//! control area at 0 and a state-save area at 0x400. Laid out here as
//! `#[repr(C)]` structures with compile-time offset checks, with the
//! intercept set a PVH guest needs per paging mode and the exit fields
//! read back as a [`RawExit`]. Pure: the arch layer places one in a frame
//! of its own and hands its physical address to VMRUN.

use super::exit::RawExit;
use super::policy::Paging;
use core::mem::{offset_of, size_of};

/// A segment register as the VMCB holds it (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct VmcbSeg {
    /// @0: selector.
    pub selector: u16,
    /// @2: attributes (descriptor bits 8–15 and 52–55, packed to 12 bits).
    pub attrib: u16,
    /// @4: limit.
    pub limit: u32,
    /// @8: base.
    pub base: u64,
}

/// The control area (1 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct VmcbControl {
    /// @0x000: intercept vectors 0–5 (CR reads/writes, DR reads/writes,
    /// exceptions, instructions 1, instructions 2, instructions 3).
    pub intercepts: [u32; 6],
    /// @0x018: reserved.
    pub reserved1: [u32; 9],
    /// @0x03C: PAUSE filter threshold.
    pub pause_filter_thresh: u16,
    /// @0x03E: PAUSE filter count.
    pub pause_filter_count: u16,
    /// @0x040: physical address of the I/O permission map (12 KiB).
    pub iopm_base_pa: u64,
    /// @0x048: physical address of the MSR permission map (8 KiB).
    pub msrpm_base_pa: u64,
    /// @0x050: TSC offset.
    pub tsc_offset: u64,
    /// @0x058: guest ASID (never 0).
    pub asid: u32,
    /// @0x05C: TLB control ([`tlb_control`]).
    pub tlb_ctl: u8,
    /// @0x05D: reserved.
    pub reserved2: [u8; 3],
    /// @0x060: virtual interrupt control.
    pub int_ctl: u32,
    /// @0x064: virtual interrupt vector.
    pub int_vector: u32,
    /// @0x068: interrupt shadow.
    pub int_state: u32,
    /// @0x06C: reserved.
    pub reserved3: u32,
    /// @0x070: EXITCODE.
    pub exit_code: u64,
    /// @0x078: EXITINFO1.
    pub exit_info1: u64,
    /// @0x080: EXITINFO2.
    pub exit_info2: u64,
    /// @0x088: EXITINTINFO (an event being delivered when the exit came).
    pub exit_int_info: u64,
    /// @0x090: nested-paging and other enables ([`NP_ENABLE`]).
    pub nested_ctl: u64,
    /// @0x098: AVIC APIC BAR.
    pub avic_vapic_bar: u64,
    /// @0x0A0: GHCB (SEV-ES).
    pub ghcb_gpa: u64,
    /// @0x0A8: EVENTINJ: an event to inject at VMRUN.
    pub event_inj: u64,
    /// @0x0B0: N_CR3, the nested tables' root.
    pub nested_cr3: u64,
    /// @0x0B8: LBR virtualization and others.
    pub virt_ext: u64,
    /// @0x0C0: VMCB clean bits.
    pub clean: u32,
    /// @0x0C4: reserved.
    pub reserved5: u32,
    /// @0x0C8: next RIP (with NRIPS).
    pub next_rip: u64,
    /// @0x0D0: bytes fetched (with decode assists).
    pub insn_len: u8,
    /// @0x0D1: the instruction bytes.
    pub insn_bytes: [u8; 15],
    /// @0x0E0: the rest, reserved here.
    pub reserved6: [u8; 0x400 - 0xE0],
}

/// The state-save area (from 0x400 to the end of the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct VmcbSave {
    /// @0x400: ES.
    pub es: VmcbSeg,
    /// @0x410: CS.
    pub cs: VmcbSeg,
    /// @0x420: SS.
    pub ss: VmcbSeg,
    /// @0x430: DS.
    pub ds: VmcbSeg,
    /// @0x440: FS.
    pub fs: VmcbSeg,
    /// @0x450: GS.
    pub gs: VmcbSeg,
    /// @0x460: GDTR (base and limit).
    pub gdtr: VmcbSeg,
    /// @0x470: LDTR.
    pub ldtr: VmcbSeg,
    /// @0x480: IDTR (base and limit).
    pub idtr: VmcbSeg,
    /// @0x490: TR.
    pub tr: VmcbSeg,
    /// @0x4A0: reserved.
    pub reserved1: [u8; 43],
    /// @0x4CB: CPL.
    pub cpl: u8,
    /// @0x4CC: reserved.
    pub reserved2: u32,
    /// @0x4D0: EFER (SVME must be set).
    pub efer: u64,
    /// @0x4D8: reserved.
    pub reserved3: [u8; 112],
    /// @0x548: CR4.
    pub cr4: u64,
    /// @0x550: CR3.
    pub cr3: u64,
    /// @0x558: CR0.
    pub cr0: u64,
    /// @0x560: DR7.
    pub dr7: u64,
    /// @0x568: DR6.
    pub dr6: u64,
    /// @0x570: RFLAGS.
    pub rflags: u64,
    /// @0x578: RIP.
    pub rip: u64,
    /// @0x580: reserved.
    pub reserved4: [u8; 88],
    /// @0x5D8: RSP.
    pub rsp: u64,
    /// @0x5E0: S_CET, SSP, ISST_ADDR (CET), unused here.
    pub cet: [u64; 3],
    /// @0x5F8: RAX.
    pub rax: u64,
    /// @0x600: STAR.
    pub star: u64,
    /// @0x608: LSTAR.
    pub lstar: u64,
    /// @0x610: CSTAR.
    pub cstar: u64,
    /// @0x618: SFMASK.
    pub sfmask: u64,
    /// @0x620: KernelGSbase.
    pub kernel_gs_base: u64,
    /// @0x628: SYSENTER_CS.
    pub sysenter_cs: u64,
    /// @0x630: SYSENTER_ESP.
    pub sysenter_esp: u64,
    /// @0x638: SYSENTER_EIP.
    pub sysenter_eip: u64,
    /// @0x640: CR2.
    pub cr2: u64,
    /// @0x648: reserved.
    pub reserved5: [u8; 32],
    /// @0x668: the guest PAT (with nested paging).
    pub g_pat: u64,
    /// @0x670: the rest, reserved here.
    pub reserved6: [u8; 0x1000 - 0x670],
}

/// A whole VMCB (4 KiB; the frame holding it must be 4 KiB aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4096))]
pub struct Vmcb {
    /// Control area.
    pub control: VmcbControl,
    /// State-save area.
    pub save: VmcbSave,
}

const _: () = assert!(size_of::<VmcbSeg>() == 16);
const _: () = assert!(size_of::<VmcbControl>() == 0x400);
const _: () = assert!(size_of::<Vmcb>() == 4096);
const _: () = assert!(offset_of!(VmcbControl, pause_filter_thresh) == 0x3C);
const _: () = assert!(offset_of!(VmcbControl, iopm_base_pa) == 0x40);
const _: () = assert!(offset_of!(VmcbControl, msrpm_base_pa) == 0x48);
const _: () = assert!(offset_of!(VmcbControl, asid) == 0x58);
const _: () = assert!(offset_of!(VmcbControl, tlb_ctl) == 0x5C);
const _: () = assert!(offset_of!(VmcbControl, int_ctl) == 0x60);
const _: () = assert!(offset_of!(VmcbControl, exit_code) == 0x70);
const _: () = assert!(offset_of!(VmcbControl, exit_info1) == 0x78);
const _: () = assert!(offset_of!(VmcbControl, exit_info2) == 0x80);
const _: () = assert!(offset_of!(VmcbControl, exit_int_info) == 0x88);
const _: () = assert!(offset_of!(VmcbControl, nested_ctl) == 0x90);
const _: () = assert!(offset_of!(VmcbControl, event_inj) == 0xA8);
const _: () = assert!(offset_of!(VmcbControl, nested_cr3) == 0xB0);
const _: () = assert!(offset_of!(VmcbControl, clean) == 0xC0);
const _: () = assert!(offset_of!(VmcbControl, next_rip) == 0xC8);
const _: () = assert!(offset_of!(VmcbControl, insn_len) == 0xD0);
const _: () = assert!(offset_of!(Vmcb, save) == 0x400);
const _: () = assert!(0x400 + offset_of!(VmcbSave, tr) == 0x490);
const _: () = assert!(0x400 + offset_of!(VmcbSave, cpl) == 0x4CB);
const _: () = assert!(0x400 + offset_of!(VmcbSave, efer) == 0x4D0);
const _: () = assert!(0x400 + offset_of!(VmcbSave, cr4) == 0x548);
const _: () = assert!(0x400 + offset_of!(VmcbSave, cr3) == 0x550);
const _: () = assert!(0x400 + offset_of!(VmcbSave, cr0) == 0x558);
const _: () = assert!(0x400 + offset_of!(VmcbSave, rflags) == 0x570);
const _: () = assert!(0x400 + offset_of!(VmcbSave, rip) == 0x578);
const _: () = assert!(0x400 + offset_of!(VmcbSave, rsp) == 0x5D8);
const _: () = assert!(0x400 + offset_of!(VmcbSave, rax) == 0x5F8);
const _: () = assert!(0x400 + offset_of!(VmcbSave, star) == 0x600);
const _: () = assert!(0x400 + offset_of!(VmcbSave, sysenter_eip) == 0x638);
const _: () = assert!(0x400 + offset_of!(VmcbSave, cr2) == 0x640);
const _: () = assert!(0x400 + offset_of!(VmcbSave, g_pat) == 0x668);

/// `nested_ctl` bit 0: nested paging on.
pub const NP_ENABLE: u64 = 1;

/// TLB_CONTROL values.
pub mod tlb_control {
    /// Nothing.
    pub const DO_NOTHING: u8 = 0;
    /// Flush every ASID's entries.
    pub const FLUSH_ALL: u8 = 1;
    /// Flush this guest's ASID.
    pub const FLUSH_ASID: u8 = 3;
}

/// `int_ctl` V_IRQ (bit 8): a virtual interrupt is pending.
pub const V_IRQ: u32 = 1 << 8;
/// `int_ctl` V_IGN_TPR (bit 20): the virtual interrupt ignores V_TPR.
pub const V_IGN_TPR: u32 = 1 << 20;

/// Intercept bits: (vector index, bit).
pub mod intercept {
    /// Vector 0 bit n: reads of CRn.
    pub const CR0_READ: (usize, u32) = (0, 0);
    /// Reads of CR3.
    pub const CR3_READ: (usize, u32) = (0, 3);
    /// Reads of CR4.
    pub const CR4_READ: (usize, u32) = (0, 4);
    /// Vector 0 bit 16 + n: writes of CRn.
    pub const CR0_WRITE: (usize, u32) = (0, 16);
    /// Writes of CR3.
    pub const CR3_WRITE: (usize, u32) = (0, 16 + 3);
    /// Writes of CR4.
    pub const CR4_WRITE: (usize, u32) = (0, 16 + 4);
    /// Vector 2 bit v: exception v; #PF is bit 14.
    pub const EXCEPTION_PF: (usize, u32) = (2, 14);
    /// Vector 3: physical interrupts.
    pub const INTR: (usize, u32) = (3, 0);
    /// Vector 3: physical NMIs.
    pub const NMI: (usize, u32) = (3, 1);
    /// Vector 3: a virtual interrupt (V_IRQ) deliverable.
    pub const VINTR: (usize, u32) = (3, 4);
    /// Vector 3: CPUID.
    pub const CPUID: (usize, u32) = (3, 18);
    /// Vector 3: HLT.
    pub const HLT: (usize, u32) = (3, 24);
    /// Vector 3: INVLPG.
    pub const INVLPG: (usize, u32) = (3, 25);
    /// Vector 3: I/O, through the I/O permission map.
    pub const IOIO_PROT: (usize, u32) = (3, 27);
    /// Vector 3: RDMSR/WRMSR, through the MSR permission map.
    pub const MSR_PROT: (usize, u32) = (3, 28);
    /// Vector 3: shutdown.
    pub const SHUTDOWN: (usize, u32) = (3, 31);
    /// Vector 4: VMRUN (the hardware refuses a VMCB without it).
    pub const VMRUN: (usize, u32) = (4, 0);
    /// Vector 4: VMMCALL.
    pub const VMMCALL: (usize, u32) = (4, 1);
}

impl VmcbControl {
    /// An all-zero control area.
    pub const fn zeroed() -> VmcbControl {
        VmcbControl {
            intercepts: [0; 6],
            reserved1: [0; 9],
            pause_filter_thresh: 0,
            pause_filter_count: 0,
            iopm_base_pa: 0,
            msrpm_base_pa: 0,
            tsc_offset: 0,
            asid: 0,
            tlb_ctl: 0,
            reserved2: [0; 3],
            int_ctl: 0,
            int_vector: 0,
            int_state: 0,
            reserved3: 0,
            exit_code: 0,
            exit_info1: 0,
            exit_info2: 0,
            exit_int_info: 0,
            nested_ctl: 0,
            avic_vapic_bar: 0,
            ghcb_gpa: 0,
            event_inj: 0,
            nested_cr3: 0,
            virt_ext: 0,
            clean: 0,
            reserved5: 0,
            next_rip: 0,
            insn_len: 0,
            insn_bytes: [0; 15],
            reserved6: [0; 0x400 - 0xE0],
        }
    }

    /// Whether intercept `i` is set.
    pub const fn is_intercepted(&self, i: (usize, u32)) -> bool {
        self.intercepts[i.0] & (1 << i.1) != 0
    }

    fn set(&mut self, i: (usize, u32)) {
        self.intercepts[i.0] |= 1 << i.1;
    }

    /// Whether intercept `i` is on.
    pub const fn intercepted(&self, i: (usize, u32)) -> bool {
        self.intercepts[i.0] & (1 << i.1) != 0
    }

    /// Asks for a VINTR exit as soon as the guest can take an interrupt
    /// (a virtual interrupt pending, TPR ignored, and the VINTR intercept:
    /// Xen's `svm_enable_intr_window`), or stops asking. The virtual
    /// interrupt itself is never delivered: the exit comes first.
    pub fn interrupt_window(&mut self, open: bool) {
        if open {
            self.int_ctl |= V_IRQ | V_IGN_TPR;
            self.set(intercept::VINTR);
        } else {
            self.int_ctl &= !(V_IRQ | V_IGN_TPR);
            self.intercepts[intercept::VINTR.0] &= !(1 << intercept::VINTR.1);
        }
    }

    /// The intercepts of a PVH guest paged by `paging` (see
    /// [`super::policy`]), and nested paging on or off to match.
    pub fn set_pvh_intercepts(&mut self, paging: Paging) {
        self.intercepts = [0; 6];
        use intercept::*;
        for i in [INTR, NMI, CPUID, HLT, IOIO_PROT, MSR_PROT, SHUTDOWN, VMRUN, VMMCALL] {
            self.set(i);
        }
        match paging {
            Paging::Nested => self.nested_ctl |= NP_ENABLE,
            Paging::Shadow => {
                self.nested_ctl &= !NP_ENABLE;
                // The real CR0/CR3/CR4 are the hypervisor's (paging on, its
                // shadow root): the guest reads and writes its own copies.
                for i in [CR0_READ, CR3_READ, CR4_READ, CR0_WRITE, CR3_WRITE, CR4_WRITE, EXCEPTION_PF, INVLPG] {
                    self.set(i);
                }
            }
        }
    }

    /// The exit the hardware left.
    pub const fn exit(&self, decode_assists: bool) -> RawExit {
        RawExit { code: self.exit_code, info1: self.exit_info1, info2: self.exit_info2, decode_assists }
    }
}

impl VmcbSave {
    /// An all-zero save area.
    pub const fn zeroed() -> VmcbSave {
        const Z: VmcbSeg = VmcbSeg { selector: 0, attrib: 0, limit: 0, base: 0 };
        VmcbSave {
            es: Z,
            cs: Z,
            ss: Z,
            ds: Z,
            fs: Z,
            gs: Z,
            gdtr: Z,
            ldtr: Z,
            idtr: Z,
            tr: Z,
            reserved1: [0; 43],
            cpl: 0,
            reserved2: 0,
            efer: 0,
            reserved3: [0; 112],
            cr4: 0,
            cr3: 0,
            cr0: 0,
            dr7: 0,
            dr6: 0,
            rflags: 0,
            rip: 0,
            reserved4: [0; 88],
            rsp: 0,
            cet: [0; 3],
            rax: 0,
            star: 0,
            lstar: 0,
            cstar: 0,
            sfmask: 0,
            kernel_gs_base: 0,
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            cr2: 0,
            reserved5: [0; 32],
            g_pat: 0,
            reserved6: [0; 0x1000 - 0x670],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hvm::exit::{code, decode};
    use crate::hvm::policy::{policy, Action, CrashCause};

    /// The exit code each intercept produces.
    const EXITS: [((usize, u32), u64); 17] = [
        (intercept::CR0_READ, code::CR0_READ),
        (intercept::CR3_READ, code::CR3_READ),
        (intercept::CR4_READ, code::CR4_READ),
        (intercept::CR0_WRITE, code::CR0_WRITE),
        (intercept::CR4_WRITE, code::CR4_WRITE),
        (intercept::CR3_WRITE, code::CR3_WRITE),
        (intercept::EXCEPTION_PF, code::EXCEPTION_PF),
        (intercept::INTR, code::INTR),
        (intercept::NMI, code::NMI),
        (intercept::CPUID, code::CPUID),
        (intercept::HLT, code::HLT),
        (intercept::INVLPG, code::INVLPG),
        (intercept::IOIO_PROT, code::IOIO),
        (intercept::MSR_PROT, code::MSR),
        (intercept::SHUTDOWN, code::SHUTDOWN),
        (intercept::VMRUN, code::VMRUN),
        (intercept::VMMCALL, code::VMMCALL),
    ];

    #[test]
    fn intercepts_match_the_policy_in_each_mode() {
        for paging in [Paging::Nested, Paging::Shadow] {
            let mut c = VmcbControl::zeroed();
            c.set_pvh_intercepts(paging);
            assert_eq!(c.nested_ctl & NP_ENABLE != 0, paging == Paging::Nested);
            for (bit, exit_code) in EXITS {
                // IOIO needs a well-formed EXITINFO1 to decode: an 8-bit IN.
                let info1 = if exit_code == code::IOIO { 0x11 } else { 0 };
                let action =
                    policy(&decode(&RawExit { code: exit_code, info1, info2: 0, decode_assists: false }), paging);
                let unexpected = matches!(action, Action::Crash(CrashCause::UnexpectedExit(_)));
                // VMRUN is intercepted because the hardware demands it; a
                // guest's VMRUN is not handled, so it crashes the domain.
                if exit_code == code::VMRUN {
                    assert!(c.is_intercepted(bit) && unexpected);
                    continue;
                }
                assert_eq!(c.is_intercepted(bit), !unexpected, "{paging:?}: exit {exit_code:#x} -> {action:?}");
            }
        }
    }

    #[test]
    fn the_exit_fields_read_back_as_a_raw_exit() {
        let mut c = VmcbControl::zeroed();
        c.exit_code = code::NPF;
        c.exit_info1 = 6;
        c.exit_info2 = 0x1234_5000;
        assert_eq!(c.exit(true), RawExit { code: code::NPF, info1: 6, info2: 0x1234_5000, decode_assists: true });
    }
}
