//! Hypercall dispatch: decode the registers, check every guest-supplied
//! value, then perform. One file per hypercall family; everything here is
//! pure and reaches the machine only through [`GuestMemory`], the
//! direct-paging model and [`ConsoleSink`].
//!
//! Unimplemented hypercall numbers return `-ENOSYS`.

mod debugreg;
mod event_channel;
mod fpu;
mod grant;
pub mod guest_mem;
pub mod host;
mod memory;
mod mmu;
mod multicall;
mod physdev;
pub mod refusal_log;
mod sched;
pub mod system;
mod traps;
mod vcpu_op;

#[cfg(test)]
mod tests;

use crate::domain::vcpu::{reg, GuestContext, Vcpu};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::hypercall::HypercallNr;
use abi::{DomId, Errno, Mfn};
pub use guest_mem::{Guest, GuestMemory};
pub use host::HostInfo;
pub use system::{XEN_MAJOR, XEN_MINOR};
pub use traps::{iret_hypercall, iret_words};

/// Where guest console output goes.
pub trait ConsoleSink {
    /// Writes console bytes from `dom` (already filtered).
    fn write(&mut self, dom: DomId, bytes: &[u8]);
    /// Console input for domain 0 (`CONSOLEIO_read`): takes up to
    /// `buf.len()` bytes. None by default.
    fn read(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    /// Puts back the last `n` bytes [`ConsoleSink::read`] gave.
    fn unread(&mut self, _n: usize) {}
    /// Domain `dom` sent an event on its `port` (`EVTCHNOP_send`
    /// succeeded): if that is its console ring's port, the hypervisor, the
    /// ring's other end, drains the ring ([`crate::console`]). Nothing by
    /// default.
    fn notified(&mut self, _mem: &mut dyn crate::event::EventEnv, _dom: DomId, _port: u32) {}
}

/// What the scheduler must do after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return to the caller.
    Continue,
    /// Let another domain run.
    Yield,
    /// Sleep until an event is pending.
    Block,
    /// The domain shut down with this reason.
    Shutdown(u32),
    /// The domain must be crashed.
    Crash(&'static str),
}

/// Everything a hypercall may touch.
pub struct Call<'a, 'm, M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> {
    /// The calling domain.
    pub dom: DomId,
    /// The caller's live registers.
    pub ctx: &'a mut GuestContext,
    /// Its vCPU (trap table, callbacks, stack).
    pub vcpu: &'a mut Vcpu,
    /// The direct-paging model.
    pub mm: &'a mut Mm<'m, M, H>,
    /// The caller's memory.
    pub guest: &'a G,
    /// Console output.
    pub console: &'a mut C,
    /// Its shared_info frame.
    pub shared_info: Mfn,
    /// Partial console line of a domain that is not the hardware domain.
    pub line: &'a mut crate::console::LineBuf,
    /// Length of the instruction that made the hypercall (SYSCALL 2,
    /// `int 0x82` 2, `vmcall` 3): a preempted hypercall rewinds by it.
    pub entry_len: u64,
    /// Facts about the host and the hypervisor.
    pub host: &'a HostInfo,
    /// Every domain's grant tables.
    pub grants: &'a mut crate::grant::Grants<'m>,
    /// Every domain's event channels.
    pub events: &'a mut crate::event::EventChannels,
}

/// A hypercall's arguments. A preempted hypercall rewrites them to describe
/// the work left; the caller puts them where the guest re-issues the call
/// from (the argument registers, or a multicall entry).
pub type Args = [u64; 5];

impl<'a, M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'a, '_, M, H, G, C> {
    fn privileged(&self) -> bool {
        self.mm.domain(self.dom).is_some_and(|d| d.privileged)
    }

    fn mem(&self) -> Guest<'a, G> {
        Guest(self.guest)
    }

    /// Runs hypercall `nr` with the vCPU's argument registers, stores the
    /// result in RAX and returns what the scheduler must do.
    #[inline(always)]
    pub fn dispatch(&mut self, nr: u64) -> Action {
        let (result, action) = if nr == HypercallNr::IRET.0 {
            // It restores RAX itself: nothing to store.
            return self.iret();
        } else if continuable(nr) {
            self.dispatch_continuable(nr)
        } else {
            // The arguments stay in registers: nothing rewrites them.
            self.perform_simple(nr, self.ctx.hypercall_args())
        };
        self.ctx.gpr[reg::RAX] = match result {
            Ok(v) => v,
            // Preempted: the arguments now describe the remaining work;
            // executing the instruction again continues it.
            Err(e) if e == Errno::ERESTART => {
                log::debug!("domain {}: hypercall {nr} preempted; it will continue", self.dom.0);
                self.ctx.rip = self.ctx.rip.wrapping_sub(self.entry_len);
                nr
            }
            Err(e) => self.refused(nr, e),
        };
        action
    }

    /// A direct hypercall that may be preempted: its arguments are copied
    /// out of the registers, and copied back rewritten if it was.
    #[inline(never)]
    fn dispatch_continuable(&mut self, nr: u64) -> (Result<u64, Errno>, Action) {
        let mut a = self.ctx.hypercall_args();
        let r = self.perform_continuable(nr, &mut a);
        if r.0 == Err(Errno::ERESTART) {
            for (&reg, &v) in [reg::RDI, reg::RSI, reg::RDX, reg::R10, reg::R8].iter().zip(&a) {
                self.ctx.gpr[reg] = v;
            }
        }
        r
    }

    /// Runs hypercall `nr` with arguments `a`, the same way whether it came
    /// from the guest's registers or from a multicall entry. A preempted
    /// hypercall (`ERESTART`) has rewritten `a` to describe the work left.
    fn perform(&mut self, nr: u64, a: &mut Args) -> (Result<u64, Errno>, Action) {
        if continuable(nr) {
            self.perform_continuable(nr, a)
        } else {
            self.perform_simple(nr, *a)
        }
    }

    /// The hypercalls that may be preempted and continued.
    #[inline(always)]
    fn perform_continuable(&mut self, nr: u64, a: &mut Args) -> (Result<u64, Errno>, Action) {
        match HypercallNr(nr) {
            HypercallNr::CONSOLE_IO => (self.console_io(a), Action::Continue),
            HypercallNr::MMU_UPDATE => (self.mmu_update(a), Action::Continue),
            HypercallNr::MMUEXT_OP => (self.mmuext_op(a), Action::Continue),
            HypercallNr::MEMORY_OP => (self.memory_op(a), Action::Continue),
            HypercallNr::GRANT_TABLE_OP => (self.grant_table_op(a), Action::Continue),
            _ => self.multicall(a),
        }
    }

    /// The other hypercalls. `iret` returns the RAX it restored, so storing
    /// the result changes nothing.
    #[inline(always)]
    fn perform_simple(&mut self, nr: u64, a: Args) -> (Result<u64, Errno>, Action) {
        match HypercallNr(nr) {
            HypercallNr::XEN_VERSION => (self.xen_version(a[0], a[1]), Action::Continue),
            HypercallNr::SCHED_OP => self.sched_op(a[0], a[1]),
            HypercallNr::SCHED_OP_COMPAT => self.sched_op_compat(a[0], a[1]),
            HypercallNr::SET_TRAP_TABLE => (self.set_trap_table(a[0]), Action::Continue),
            HypercallNr::SET_CALLBACKS => (self.set_callbacks(a[0], a[1], a[2]), Action::Continue),
            HypercallNr::CALLBACK_OP => (self.callback_op(a[0], a[1]), Action::Continue),
            HypercallNr::STACK_SWITCH => (self.stack_switch(a[0], a[1]), Action::Continue),
            HypercallNr::SET_GDT => (self.set_gdt(a[0], a[1]), Action::Continue),
            HypercallNr::SET_SEGMENT_BASE => (self.set_segment_base(a[0], a[1]), Action::Continue),
            HypercallNr::VM_ASSIST => (self.vm_assist(a[0], a[1]), Action::Continue),
            HypercallNr::FPU_TASKSWITCH => (self.fpu_taskswitch(a[0]), Action::Continue),
            HypercallNr::IRET => {
                let action = self.iret();
                (Ok(self.ctx.gpr[reg::RAX]), action)
            }
            HypercallNr::UPDATE_VA_MAPPING => (self.update_va_mapping(a[0], a[1], a[2]), Action::Continue),
            HypercallNr::UPDATE_DESCRIPTOR => (self.update_descriptor(a[0], a[1]), Action::Continue),
            HypercallNr::SET_DEBUGREG => (self.set_debugreg(a[0], a[1]), Action::Continue),
            HypercallNr::GET_DEBUGREG => (self.get_debugreg(a[0]), Action::Continue),
            HypercallNr::PHYSDEV_OP => (self.physdev_op(a[0], a[1]), Action::Continue),
            HypercallNr::SET_TIMER_OP => (self.set_timer_op(a[0]), Action::Continue),
            HypercallNr::VCPU_OP => self.vcpu_op(a[0], a[1], a[2]),
            HypercallNr::EVENT_CHANNEL_OP => (self.event_channel_op(a[0], a[1]), Action::Continue),
            _ => (Err(Errno::ENOSYS), Action::Continue),
        }
    }

    /// `update_descriptor(maddr, desc)`.
    fn update_descriptor(&mut self, maddr: u64, desc: u64) -> Result<u64, Errno> {
        let dom = self.dom;
        self.mm.update_descriptor(dom, maddr, desc).map(|()| 0)
    }
}

/// Whether hypercall `nr` may be preempted and continued, rewriting its
/// arguments.
#[inline(always)]
pub(crate) const fn continuable(nr: u64) -> bool {
    matches!(
        HypercallNr(nr),
        HypercallNr::CONSOLE_IO
            | HypercallNr::MMU_UPDATE
            | HypercallNr::MMUEXT_OP
            | HypercallNr::MEMORY_OP
            | HypercallNr::GRANT_TABLE_OP
            | HypercallNr::MULTICALL
    )
}

/// Whether `va` is canonical.
pub(crate) const fn canonical(va: u64) -> bool {
    va < (1 << 47) || va >= 0xFFFF_8000_0000_0000
}
