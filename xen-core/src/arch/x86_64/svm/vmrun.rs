//! VMRUN itself: a vCPU's VMCB frame and the general-purpose registers
//! VMRUN does not switch, saved and restored around it.
//!
//! VMRUN switches RAX, RSP, RIP, RFLAGS, the segment registers CS/DS/ES/SS,
//! GDTR, IDTR, CR0/2/3/4, EFER, DR6/7 and CPL through the VMCB and the host
//! save area (VM_HSAVE_PA, set by [`super::enable`]). The other fourteen
//! GPRs are the guest's while it runs: `svm_vmrun` loads them from a
//! [`Gprs`] before VMRUN and stores them back after #VMEXIT, keeping the
//! host's callee-saved registers on its stack. FS, GS, TR, LDTR and the
//! SYSCALL/SYSENTER MSRs and KernelGSbase are VMLOAD/VMSAVE state: the
//! host's are VMSAVEd to a frame of their own ([`HostState`]) and the
//! guest's VMLOADed from its VMCB before VMRUN, and the other way round
//! after. GIF is cleared from before the first VMLOAD until the host's
//! state is back, so no interrupt or NMI runs the host on guest state.

use super::super::paging::DIRECT_MAP_BASE;
use crate::hvm::vmcb::Vmcb;
use abi::Mfn;

/// The guest GPRs not in the VMCB, by register number (0 = RAX … 15 =
/// R15; the RAX and RSP slots are unused: they live in the VMCB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Gprs(pub [u64; 16]);

core::arch::global_asm!(
    ".pushsection .text.svm_vmrun, \"ax\"",
    ".global svm_vmrun",
    // rdi = &mut Gprs, rsi = the VMCB's physical address, rdx = the host
    // state frame's.
    "svm_vmrun:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "push rdx",
    "clgi",
    "mov rax, rdx",
    "vmsave rax",
    "mov rax, rsi",
    "vmload rax",
    "mov rcx, [rdi + 8*1]",
    "mov rdx, [rdi + 8*2]",
    "mov rbx, [rdi + 8*3]",
    "mov rbp, [rdi + 8*5]",
    "mov rsi, [rdi + 8*6]",
    "mov r8, [rdi + 8*8]",
    "mov r9, [rdi + 8*9]",
    "mov r10, [rdi + 8*10]",
    "mov r11, [rdi + 8*11]",
    "mov r12, [rdi + 8*12]",
    "mov r13, [rdi + 8*13]",
    "mov r14, [rdi + 8*14]",
    "mov r15, [rdi + 8*15]",
    "mov rdi, [rdi + 8*7]",
    "vmrun rax",
    // Host RSP and RAX (the VMCB's address) are back; the guest's GPRs
    // are live, so only RAX is used until they are stored.
    "vmsave rax",
    "mov rax, [rsp]",
    "vmload rax",
    "stgi",
    "add rsp, 8",
    // The Gprs pointer is on top of the stack.
    "xchg rdi, [rsp]",
    "mov [rdi + 8*1], rcx",
    "mov [rdi + 8*2], rdx",
    "mov [rdi + 8*3], rbx",
    "mov [rdi + 8*5], rbp",
    "mov [rdi + 8*6], rsi",
    "mov [rdi + 8*8], r8",
    "mov [rdi + 8*9], r9",
    "mov [rdi + 8*10], r10",
    "mov [rdi + 8*11], r11",
    "mov [rdi + 8*12], r12",
    "mov [rdi + 8*13], r13",
    "mov [rdi + 8*14], r14",
    "mov [rdi + 8*15], r15",
    "pop rax",
    "mov [rdi + 8*7], rax",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    ".popsection",
);

extern "C" {
    fn svm_vmrun(gprs: *mut Gprs, vmcb_pa: u64, host_pa: u64);
}

/// The host's VMSAVE state (a VMCB-format frame only VMSAVE/VMLOAD use),
/// one per CPU.
pub struct HostState {
    mfn: Mfn,
}

impl HostState {
    /// Takes `mfn`, a zeroed frame that stays the hypervisor's.
    pub fn new(mfn: Mfn) -> HostState {
        HostState { mfn }
    }
}

/// A vCPU's VMCB, in a frame of the hypervisor's own.
pub struct VmcbFrame {
    mfn: Mfn,
}

impl VmcbFrame {
    /// Takes `mfn`, a zeroed frame that stays this vCPU's until dropped by
    /// the caller.
    pub fn new(mfn: Mfn) -> VmcbFrame {
        VmcbFrame { mfn }
    }

    /// The frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }

    /// The VMCB.
    pub fn vmcb(&mut self) -> &mut Vmcb {
        // SAFETY: the frame is RAM in the direct map, 4 KiB aligned, and
        // owned by this VmcbFrame alone; `Vmcb` is plain data that any bit
        // pattern is valid for, and the borrow of `self` keeps it unique.
        unsafe { &mut *((DIRECT_MAP_BASE + self.mfn.to_maddr()) as *mut Vmcb) }
    }

    /// Runs the guest until its next #VMEXIT.
    pub fn run(&mut self, gprs: &mut Gprs, host: &HostState) {
        // SAFETY: EFER.SVME is set and VM_HSAVE_PA names a host save area
        // (only callers that got one from `super::enable` get here); the
        // VMCB frame is the caller's, its state passed the pure VMRUN
        // checks, and its intercepts include VMRUN, INTR and NMI, so the
        // guest cannot keep the CPU. `host` is a frame of its own, so the
        // VMSAVE of the host's state clobbers nothing. `svm_vmrun` saves
        // and restores every callee-saved register, gives the host its
        // VMLOAD state back and leaves GIF set.
        unsafe { svm_vmrun(gprs, self.mfn.to_maddr(), host.mfn.to_maddr()) }
    }
}
