//! The machine side of the privileged-instruction emulator
//! ([`crate::emulate::Platform`]) for the domain whose vCPU is running:
//! guest memory through its own page tables (with the copy routines' fault
//! fixups), the real control registers, TSC and ports.

use super::cpu;
use super::fpu::Fpu;
use super::hooks::ArchGuest;
use super::run::{d_mut, Hypervisor};
use super::segstate;
use crate::domain::fpu::FpuHardware;
use crate::domain::guest_segs::SegLoad;
use crate::emulate::{Platform, SegBase};
use crate::hypercall::GuestMemory;
use crate::mm::mmuext::Root;
use abi::{DomId, GuestVa, Mfn};

/// Domain `i`'s running vCPU as the emulator sees it.
pub(super) struct ArchPlatform<'a> {
    pub(super) hv: &'a mut Hypervisor,
    pub(super) i: usize,
}

impl Platform for ArchPlatform<'_> {
    fn read(&mut self, va: u64, buf: &mut [u8]) -> bool {
        GuestVa(va).range_is_guest_accessible(buf.len() as u64) && ArchGuest.copy_from(GuestVa(va), buf)
    }
    fn write(&mut self, va: u64, buf: &[u8]) -> bool {
        GuestVa(va).range_is_guest_accessible(buf.len() as u64) && ArchGuest.copy_to(GuestVa(va), buf)
    }
    fn real_cr0(&self) -> u64 {
        cpu::cr0()
    }
    fn host_efer(&self) -> u64 {
        cpu::rdmsr(cpu::MSR_EFER)
    }
    fn host_misc_enable(&self) -> Option<u64> {
        // Only Intel CPUs have MISC_ENABLE; reading it elsewhere would #GP
        // in the hypervisor (Xen uses rdmsr_safe; xen-core has no MSR
        // fault fixup, so an AMD vendor string means "absent").
        let v = cpu::cpuid(0, 0);
        (v.ebx == 0x756E_6547 && v.edx == 0x4965_6E69 && v.ecx == 0x6C65_746E).then(|| cpu::rdmsr(0x1A0))
    }
    fn tsc(&mut self) -> u64 {
        cpu::rdtsc()
    }
    fn cr3(&self) -> u64 {
        self.hv.mm.domains[self.i].kernel_root.map_or(0, |m| m.to_maddr())
    }
    fn set_cr3(&mut self, value: u64) -> Result<(), abi::Errno> {
        let mfn = Mfn((value & abi::mmu::pte::ADDR_MASK) >> 12);
        self.hv.mm.hooks.work = 0;
        self.hv.mm.set_root(DomId(self.i as u16), Root::Kernel, mfn)
    }
    fn virtual_ts(&self) -> bool {
        d_mut(self.i).vcpu.fpu.virtual_ts()
    }
    fn fpu_taskswitch(&mut self, set: bool) {
        // As `fpu_taskswitch`: the hardware TS follows at once.
        Fpu.set_ts(d_mut(self.i).vcpu.fpu.taskswitch(set));
    }
    fn segment_base(&self, which: SegBase) -> u64 {
        let v = &d_mut(self.i).vcpu;
        match which {
            SegBase::Fs => v.fs_base,
            SegBase::GsKernel => v.gs_base_kernel,
            SegBase::GsUser => v.gs_base_user,
        }
    }
    fn set_segment_base(&mut self, which: SegBase, base: u64) {
        // The same vCPU fields `set_segment_base` fills, and the hardware
        // at once, as that hypercall does: the guest is in kernel mode (the
        // emulator refuses MSRs from user mode), so its GS base is the
        // active one and the user's is the shadow. Loading now matters
        // twice over: the guest uses the base right away, and the base is
        // read back from the hardware when the vCPU is descheduled.
        let v = &mut d_mut(self.i).vcpu;
        let load = match which {
            SegBase::Fs => {
                v.fs_base = base;
                SegLoad::Fs(base)
            }
            SegBase::GsKernel => {
                v.gs_base_kernel = base;
                SegLoad::ActiveGs(base)
            }
            SegBase::GsUser => {
                v.gs_base_user = base;
                SegLoad::ShadowGs(base)
            }
        };
        segstate::apply(load);
    }
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let version = (crate::hypercall::XEN_MAJOR as u32, crate::hypercall::XEN_MINOR as u32);
        let privileged = self.hv.mm.domains[self.i].privileged;
        crate::domain::emulate::xen_leaf(leaf, version).unwrap_or_else(|| {
            crate::domain::cpuid_policy::pv_cpuid(leaf, subleaf, privileged, |l, s| {
                let c = cpu::cpuid(l, s);
                [c.eax, c.ebx, c.ecx, c.edx]
            })
        })
    }
    fn port_in(&mut self, port: u16, size: u8) -> u32 {
        // SAFETY: the emulator asks only for ports `ports::access` gives
        // domain 0 (never the hypervisor's serial, PIC, PIT, CMOS or exit).
        unsafe { cpu::port_in(port, size) }
    }
    fn port_out(&mut self, port: u16, size: u8, value: u32) {
        // SAFETY: as for `port_in`.
        unsafe { cpu::port_out(port, size, value) }
    }
    fn has_gp_handler(&self) -> bool {
        d_mut(self.i).vcpu.traps[13].address != 0
    }
    fn vcpu_id(&self) -> u32 {
        0
    }
    fn hardware_domain(&self) -> bool {
        self.hv.mm.domains[self.i].privileged
    }
}
