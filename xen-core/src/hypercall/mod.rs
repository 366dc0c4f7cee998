//! Hypercall dispatch: decode the registers, check every guest-supplied
//! value, then perform. One file per hypercall family; everything here is
//! pure and reaches the machine only through [`GuestMemory`], the
//! direct-paging model and [`ConsoleSink`].
//!
//! Unimplemented hypercall numbers return `-ENOSYS`.

mod debugreg;
pub(crate) mod event_channel;
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
use abi::{DomId, Errno};
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

/// A borrowed sink is a sink (host tests lend theirs to a [`Hv`]).
impl<C: ConsoleSink + ?Sized> ConsoleSink for &mut C {
    fn write(&mut self, dom: DomId, bytes: &[u8]) {
        (**self).write(dom, bytes);
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        (**self).read(buf)
    }
    fn unread(&mut self, n: usize) {
        (**self).unread(n);
    }
    fn notified(&mut self, mem: &mut dyn crate::event::EventEnv, dom: DomId, port: u32) {
        (**self).notified(mem, dom, port);
    }
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
    /// The domain shut down with this reason (`SHUTDOWN_*`, a byte), held in
    /// a word like [`Action::Crash`]'s so that the two payloads share one
    /// register.
    Shutdown(u64),
    /// The domain must be crashed.
    Crash(CrashReason),
}

/// Why a domain is crashed: one pointer to a static message (write
/// `&"message"`), so that it takes one word where a `&'static str` takes two.
pub type CrashReason = &'static &'static str;

// Every handler returns an `Action`. Rust returns a tag and one word-sized
// payload (every payload one word at the same offset: a scalar pair) in
// RAX:RDX; a 24-byte `Action` (a `&'static str` beside the tag), or a
// 16-byte one whose payloads differ in size or offset (a `u32` reason
// beside a pointer), goes through a return slot instead: the caller passes
// its address and every simple hypercall stores its `Continue` there for
// the caller to load straight back. The assert catches the size; keep
// every payload one word.
const _: () = assert!(core::mem::size_of::<Action>() == 16);

/// The hypervisor-wide state a hypercall may touch, kept alive by the arch
/// layer for as long as the hypervisor runs: a [`Call`] borrows it through
/// one pointer, so an entry builds no copy of its parts.
pub struct Hv<'m, M: PhysMemory, H: MmHooks, C: ConsoleSink> {
    /// The direct-paging model.
    pub mm: Mm<'m, M, H>,
    /// Console output.
    pub console: C,
    /// Facts about the host and the hypervisor.
    pub host: HostInfo,
    /// Every domain's grant tables.
    pub grants: crate::grant::Grants<'m>,
}

/// Everything a hypercall may touch: the caller's own state, and the
/// hypervisor-wide state behind [`Call::hv`].
pub struct Call<'a, 'm, M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> {
    /// The calling domain.
    pub dom: DomId,
    /// The caller's live registers.
    pub ctx: &'a mut GuestContext,
    /// Its vCPU (trap table, callbacks, stack).
    pub vcpu: &'a mut Vcpu,
    /// The caller's memory.
    pub guest: &'a G,
    /// Partial console line of a domain that is not the hardware domain.
    pub line: &'a mut crate::console::LineBuf,
    /// Length of the instruction that made the hypercall (SYSCALL 2,
    /// `int 0x82` 2, `vmcall` 3): a preempted hypercall rewinds by it.
    pub entry_len: u64,
    /// Every domain's event channels (a static of the arch layer, about
    /// 130 KiB, outside [`Hv`], which is built on the boot stack).
    pub events: &'a mut crate::event::EventChannels,
    /// The memory model, console, host facts and grant tables.
    pub hv: &'a mut Hv<'m, M, H, C>,
}

/// A hypercall's arguments. A preempted hypercall rewrites them to describe
/// the work left; the caller puts them where the guest re-issues the call
/// from (the argument registers, or a multicall entry).
pub type Args = [u64; 5];

impl<'a, M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'a, '_, M, H, G, C> {
    fn privileged(&self) -> bool {
        self.hv.mm.domain(self.dom).is_some_and(|d| d.privileged)
    }

    fn mem(&self) -> Guest<'a, G> {
        Guest(self.guest)
    }

    /// Runs hypercall `nr` with the vCPU's argument registers, stores the
    /// result in RAX and returns what the scheduler must do.
    ///
    /// One jump table over every number: a simple hypercall reads its
    /// arguments straight from the registers and stores its own result; a
    /// continuable one copies them out (and back, if preempted) in its own
    /// arm; a one-request `mmu_update`/`mmuext_op` on the caller's own
    /// tables takes them from the registers too, since a single request
    /// is never rewritten into a continuation on the common path.
    #[inline(always)]
    pub fn dispatch(&mut self, nr: u64) -> Action {
        self.route(
            nr,
            self.ctx.hypercall_args(),
            |c, result, action| match result {
                Ok(v) => {
                    c.ctx.gpr[reg::RAX] = v;
                    action
                }
                Err(e) => c.store_error_passing(nr, e, action),
            },
            |c| match HypercallNr(nr) {
                HypercallNr::MMU_UPDATE => c.mmu_update_registers(),
                HypercallNr::MMUEXT_OP => c.mmuext_registers(),
                HypercallNr::MULTICALL => c.multicall_registers(),
                HypercallNr::GRANT_TABLE_OP => c.grant_registers(),
                _ => c.dispatch_continuable(nr),
            },
        )
    }

    /// `mmu_update` from the registers: one request on the caller's own
    /// tables takes the single-request path with the arguments where they
    /// are; anything else is [`Self::dispatch_continuable`].
    #[inline(never)]
    fn mmu_update_registers(&mut self) -> Action {
        let a = self.ctx.hypercall_args();
        if !self.one_own_request(a[1], a[3]) {
            return self.dispatch_continuable(HypercallNr::MMU_UPDATE.0);
        }
        let r = self.mmu_update_single(a[0], a[2]);
        self.store_single(HypercallNr::MMU_UPDATE.0, r)
    }

    /// `mmuext_op` from the registers, as [`Self::mmu_update_registers`].
    #[inline(never)]
    fn mmuext_registers(&mut self) -> Action {
        let a = self.ctx.hypercall_args();
        if !self.one_own_request(a[1], a[3] & 0xffff) {
            return self.dispatch_continuable(HypercallNr::MMUEXT_OP.0);
        }
        let r = self.mmuext_single(a[0], a[2]);
        self.store_single(HypercallNr::MMUEXT_OP.0, r)
    }

    /// `multicall` from the registers: [`Self::dispatch_continuable`] for
    /// it alone, without the second jump table.
    #[inline(never)]
    fn multicall_registers(&mut self) -> Action {
        let mut a = self.ctx.hypercall_args();
        let (result, action) = self.multicall(&mut a);
        if result == Err(Errno::ERESTART) {
            self.set_args(&a);
        }
        self.store_result(HypercallNr::MULTICALL.0, result);
        action
    }

    /// Puts a one-request call's result in RAX; a preempted one also marks
    /// its count ([`Self::single_preempted_in_registers`]).
    #[inline(always)]
    fn store_single(&mut self, nr: u64, r: Result<u64, Errno>) -> Action {
        match r {
            Ok(v) => self.ctx.gpr[reg::RAX] = v,
            Err(e) => {
                self.single_preempted_in_registers(e);
                self.store_error(nr, e);
            }
        }
        Action::Continue
    }

    /// Whether a `mmu_update`/`mmuext_op` of `count` requests on
    /// `foreigndom` is one request on the caller's own memory with no
    /// deferred work queued: the case the single-request paths serve.
    #[inline(always)]
    fn one_own_request(&self, count: u64, foreigndom: u64) -> bool {
        count == 1 && foreigndom as u32 == u32::from(DomId::SELF.0) && self.hv.mm.nothing_queued(self.dom)
    }

    /// Puts `result` in RAX; an error goes out of line.
    #[inline(always)]
    fn store_result(&mut self, nr: u64, result: Result<u64, Errno>) {
        match result {
            Ok(v) => self.ctx.gpr[reg::RAX] = v,
            Err(e) => self.store_error(nr, e),
        }
    }

    /// Puts error `e` of hypercall `nr` in RAX (logged as a refusal), or
    /// sets up the continuation of a preempted one.
    #[cold]
    #[inline(never)]
    fn store_error(&mut self, nr: u64, e: Errno) {
        self.ctx.gpr[reg::RAX] = if e == Errno::ERESTART {
            // Preempted: the arguments now describe the remaining work;
            // executing the instruction again continues it.
            log::debug!("domain {}: hypercall {nr} preempted; it will continue", self.dom.0);
            self.ctx.rip = self.ctx.rip.wrapping_sub(self.entry_len);
            nr
        } else {
            self.refused(nr, e)
        };
    }

    /// [`Self::store_error`], handing `action` back: the dispatch then
    /// keeps no `Action` live across the call, which would cost it two more
    /// callee-saved registers on every hypercall.
    #[cold]
    #[inline(never)]
    fn store_error_passing(&mut self, nr: u64, e: Errno, action: Action) -> Action {
        self.store_error(nr, e);
        action
    }

    /// A direct hypercall that may be preempted: its arguments are copied
    /// out of the registers, and copied back rewritten if it was; its
    /// result goes to RAX.
    #[inline(never)]
    fn dispatch_continuable(&mut self, nr: u64) -> Action {
        let mut a = self.ctx.hypercall_args();
        let (result, action) = self.perform_continuable(nr, &mut a);
        if result == Err(Errno::ERESTART) {
            self.set_args(&a);
        }
        self.store_result(nr, result);
        action
    }

    /// Writes a continuation's arguments back into the argument registers.
    fn set_args(&mut self, a: &Args) {
        for (&reg, &v) in [reg::RDI, reg::RSI, reg::RDX, reg::R10, reg::R8].iter().zip(a) {
            self.ctx.gpr[reg] = v;
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

    /// Hypercall `nr`'s arm of one jump table: a simple hypercall runs
    /// with arguments `a` and hands its result and action to `then` in its
    /// own arm; a continuable one goes to `continuable`. `iret` returns
    /// the RAX it restored, so storing the result changes nothing.
    #[inline(always)]
    fn route<R>(
        &mut self,
        nr: u64,
        a: Args,
        then: impl FnOnce(&mut Self, Result<u64, Errno>, Action) -> R,
        continuable: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let go = Action::Continue;
        match HypercallNr(nr) {
            HypercallNr::CONSOLE_IO
            | HypercallNr::MMU_UPDATE
            | HypercallNr::MMUEXT_OP
            | HypercallNr::MEMORY_OP
            | HypercallNr::GRANT_TABLE_OP
            | HypercallNr::MULTICALL => continuable(self),
            HypercallNr::XEN_VERSION => {
                let r = self.xen_version(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::SCHED_OP => {
                let (r, act) = self.sched_op(a[0], a[1]);
                then(self, r, act)
            }
            HypercallNr::SCHED_OP_COMPAT => {
                let (r, act) = self.sched_op_compat(a[0], a[1]);
                then(self, r, act)
            }
            HypercallNr::SET_TRAP_TABLE => {
                let r = self.set_trap_table(a[0]);
                then(self, r, go)
            }
            HypercallNr::SET_CALLBACKS => {
                let r = self.set_callbacks(a[0], a[1], a[2]);
                then(self, r, go)
            }
            HypercallNr::CALLBACK_OP => {
                let r = self.callback_op(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::STACK_SWITCH => {
                let r = self.stack_switch(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::SET_GDT => {
                let r = self.set_gdt(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::SET_SEGMENT_BASE => {
                let r = self.set_segment_base(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::VM_ASSIST => {
                let r = self.vm_assist(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::FPU_TASKSWITCH => {
                let r = self.fpu_taskswitch(a[0]);
                then(self, r, go)
            }
            HypercallNr::IRET => {
                let act = self.iret();
                let r = Ok(self.ctx.gpr[reg::RAX]);
                then(self, r, act)
            }
            HypercallNr::UPDATE_VA_MAPPING => {
                let r = self.update_va_mapping(a[0], a[1], a[2]);
                then(self, r, go)
            }
            HypercallNr::UPDATE_DESCRIPTOR => {
                let r = self.update_descriptor(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::SET_DEBUGREG => {
                let r = self.set_debugreg(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::GET_DEBUGREG => {
                let r = self.get_debugreg(a[0]);
                then(self, r, go)
            }
            HypercallNr::PHYSDEV_OP => {
                let r = self.physdev_op(a[0], a[1]);
                then(self, r, go)
            }
            HypercallNr::SET_TIMER_OP => {
                let r = self.set_timer_op(a[0]);
                then(self, r, go)
            }
            HypercallNr::VCPU_OP => {
                let (r, act) = self.vcpu_op(a[0], a[1], a[2]);
                then(self, r, act)
            }
            HypercallNr::EVENT_CHANNEL_OP => {
                let r = self.event_channel_op(a[0], a[1]);
                then(self, r, go)
            }
            _ => {
                debug_assert!(!implemented(nr), "hypercall {nr} is in IMPLEMENTED but has no handler");
                then(self, Err(Errno::ENOSYS), go)
            }
        }
    }

    /// `update_descriptor(maddr, desc)`.
    #[inline(never)]
    fn update_descriptor(&mut self, maddr: u64, desc: u64) -> Result<u64, Errno> {
        let dom = self.dom;
        self.hv.mm.update_descriptor(dom, maddr, desc).map(|()| 0)
    }
}

/// The hypercalls with a handler (in [`Call::dispatch`]); every other
/// number answers -ENOSYS.
pub const IMPLEMENTED: [HypercallNr; 26] = [
    HypercallNr::SET_TRAP_TABLE,
    HypercallNr::MMU_UPDATE,
    HypercallNr::SET_GDT,
    HypercallNr::STACK_SWITCH,
    HypercallNr::SET_CALLBACKS,
    HypercallNr::FPU_TASKSWITCH,
    HypercallNr::SCHED_OP_COMPAT,
    HypercallNr::SET_DEBUGREG,
    HypercallNr::GET_DEBUGREG,
    HypercallNr::UPDATE_DESCRIPTOR,
    HypercallNr::MEMORY_OP,
    HypercallNr::MULTICALL,
    HypercallNr::UPDATE_VA_MAPPING,
    HypercallNr::SET_TIMER_OP,
    HypercallNr::XEN_VERSION,
    HypercallNr::CONSOLE_IO,
    HypercallNr::GRANT_TABLE_OP,
    HypercallNr::VM_ASSIST,
    HypercallNr::IRET,
    HypercallNr::VCPU_OP,
    HypercallNr::SET_SEGMENT_BASE,
    HypercallNr::MMUEXT_OP,
    HypercallNr::SCHED_OP,
    HypercallNr::CALLBACK_OP,
    HypercallNr::EVENT_CHANNEL_OP,
    HypercallNr::PHYSDEV_OP,
];

/// [`IMPLEMENTED`] as a table indexed by number (all are below 64).
static IMPLEMENTED_TABLE: [bool; 64] = {
    let mut table = [false; 64];
    let mut k = 0;
    while k < IMPLEMENTED.len() {
        table[IMPLEMENTED[k].0 as usize] = true;
        k += 1;
    }
    table
};

/// Whether hypercall `nr` has a handler: one table test, so that an entry
/// answers -ENOSYS (through [`refusal_log::refuse`], as every refusal)
/// before it builds a [`Call`].
#[inline(always)]
pub fn implemented(nr: u64) -> bool {
    nr < 64 && IMPLEMENTED_TABLE[nr as usize]
}

/// Whether `va` is canonical.
pub(crate) const fn canonical(va: u64) -> bool {
    va < (1 << 47) || va >= 0xFFFF_8000_0000_0000
}
