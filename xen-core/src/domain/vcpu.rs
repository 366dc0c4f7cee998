//! A virtual CPU's architectural state as generic code sees it: the guest
//! register context, the virtual IDT and callbacks, the kernel stack
//! for bounces, and the FPU state.

use super::fpu::FpuState;
use abi::traps::{FLAT_RING3_CS64, FLAT_RING3_SS64};

/// Guest registers saved on entry to the hypervisor. The layout is the
/// arch layer's entry frame, so the live context is used in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GuestContext {
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, r8–r15.
    pub gpr: [u64; 15],
    /// Entry reason recorded by the entry stub (vector or SYSCALL marker).
    pub vector: u64,
    /// Error code of the exception (0 if none).
    pub error_code: u64,
    /// Instruction pointer.
    pub rip: u64,
    /// Code selector.
    pub cs: u64,
    /// Flags.
    pub rflags: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// Stack selector.
    pub ss: u64,
}

/// Indices into [`GuestContext::gpr`].
#[allow(missing_docs)]
pub mod reg {
    pub const RAX: usize = 0;
    pub const RBX: usize = 1;
    pub const RCX: usize = 2;
    pub const RDX: usize = 3;
    pub const RSI: usize = 4;
    pub const RDI: usize = 5;
    pub const RBP: usize = 6;
    pub const R8: usize = 7;
    pub const R9: usize = 8;
    pub const R10: usize = 9;
    pub const R11: usize = 10;
}

/// Architectural flags a guest may keep (CF PF AF ZF SF TF IF DF OF, RF,
/// AC, ID). RF is kept as Xen's `iret` keeps it: a #DB handler returning to
/// an instruction breakpoint sets it to get past the breakpoint once.
pub const GUEST_FLAGS_MASK: u64 = 0x0000_0000_0025_0FD5;
/// IF.
pub const FLAG_IF: u64 = 1 << 9;
/// Reserved bit 1, always set.
pub const FLAG_FIXED: u64 = 1 << 1;

impl GuestContext {
    /// A fresh kernel-mode context.
    pub fn kernel(rip: u64, rsp: u64, rsi: u64) -> GuestContext {
        let mut c = GuestContext {
            rip,
            rsp,
            cs: u64::from(FLAT_RING3_CS64),
            ss: u64::from(FLAT_RING3_SS64),
            rflags: FLAG_IF | FLAG_FIXED,
            ..Default::default()
        };
        c.gpr[reg::RSI] = rsi;
        c
    }

    /// Hypercall arguments: RDI, RSI, RDX, R10, R8.
    pub fn hypercall_args(&self) -> [u64; 5] {
        [self.gpr[reg::RDI], self.gpr[reg::RSI], self.gpr[reg::RDX], self.gpr[reg::R10], self.gpr[reg::R8]]
    }

    /// Makes the context safe to return to: ring 3 selectors, IF set, IOPL
    /// 0, and NT, VM cleared (XSA-202).
    pub fn sanitize_for_exit(&mut self) {
        self.rflags = (self.rflags & GUEST_FLAGS_MASK) | FLAG_IF | FLAG_FIXED;
        self.cs |= 3;
        self.ss |= 3;
    }
}

/// A virtual IDT entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapEntry {
    /// Handler; 0 = none.
    pub address: u64,
    /// Code selector (RPL 3).
    pub cs: u16,
    /// Bits 1:0 DPL for `int $n`, bit 2 mask events.
    pub flags: u8,
}

/// Offset of `arch.cr2` in vcpu_info: where a bounced page fault's
/// address is written for the guest (Linux PV reads CR2 there).
pub const VCPU_INFO_CR2: u64 = 16;

/// Callbacks, indexed by `CALLBACKTYPE_*` (0..=7).
pub const CALLBACK_SLOTS: usize = 8;

/// Per-vCPU PV state.
#[derive(Clone, Debug)]
pub struct Vcpu {
    /// Saved registers while not running.
    pub ctx: GuestContext,
    /// The virtual IDT.
    pub traps: [TrapEntry; 256],
    /// Callback addresses and flags.
    pub callbacks: [(u64, u16); CALLBACK_SLOTS],
    /// Kernel stack for user→kernel bounces (`stack_switch`).
    pub kernel_ss: u64,
    /// See `kernel_ss`.
    pub kernel_sp: u64,
    /// FS base (the same in both guest modes). Like the two GS bases, a
    /// cache of the hardware value while the vCPU runs, read back when it
    /// is descheduled ([`super::guest_segs`]).
    pub fs_base: u64,
    /// Kernel GS base.
    pub gs_base_kernel: u64,
    /// User GS base.
    pub gs_base_user: u64,
    /// DS, ES, FS, GS selectors, saved when the vCPU is descheduled.
    pub selectors: Selectors,
    /// In guest user mode (Xen's TF_kernel_mode clear): the user root is
    /// loaded and SYSCALL goes to the syscall callback.
    pub user_mode: bool,
    /// Enabled `vm_assist` types.
    pub vm_assist: u64,
    /// x87/SSE registers while not running, and the virtual CR0.TS.
    pub fpu: FpuState,
    /// Virtual CR2/CR4, debug registers, I/O permissions and latches of
    /// the privileged-instruction emulator.
    pub emul: crate::emulate::EmulState,
    /// Guest timers, runstate, registered areas and what a block waits for.
    pub time: crate::time::vcpu::VcpuTime,
    /// Where this vCPU's `vcpu_info` lives: its slot in shared_info, or
    /// the guest frame `VCPUOP_register_vcpu_info` moved it to. Read only
    /// through [`Vcpu::vcpu_info_location`].
    vcpu_info: crate::mm::PhysAddr,
}

/// The data-segment selectors of a vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    /// DS.
    pub ds: u16,
    /// ES.
    pub es: u16,
    /// FS.
    pub fs: u16,
    /// GS.
    pub gs: u16,
}

impl Vcpu {
    /// A vCPU about to start at `ctx`.
    pub fn new(ctx: GuestContext) -> Vcpu {
        Vcpu {
            ctx,
            traps: [TrapEntry::default(); 256],
            callbacks: [(0, 0); CALLBACK_SLOTS],
            kernel_ss: 0,
            kernel_sp: 0,
            fs_base: 0,
            gs_base_kernel: 0,
            gs_base_user: 0,
            selectors: Selectors::default(),
            user_mode: false,
            vm_assist: 0,
            fpu: FpuState::new(),
            emul: crate::emulate::EmulState::default(),
            time: crate::time::vcpu::VcpuTime::default(),
            vcpu_info: crate::mm::PhysAddr(0),
        }
    }

    /// The machine address of this vCPU's `vcpu_info` (64 bytes:
    /// `evtchn_upcall_pending` @0, `evtchn_upcall_mask` @1,
    /// `evtchn_pending_sel` @8, `time` @32). Every reader and writer of
    /// vcpu_info goes through this, so `register_vcpu_info` moves it for all.
    pub fn vcpu_info_location(&self) -> crate::mm::PhysAddr {
        self.vcpu_info
    }

    /// Places `vcpu_info` at `at` (the builder: the shared_info slot;
    /// `register_vcpu_info`: the guest's frame).
    pub fn set_vcpu_info_location(&mut self, at: crate::mm::PhysAddr) {
        self.vcpu_info = at;
    }
}
