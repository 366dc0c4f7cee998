//! `sched_op` (29) and the legacy `sched_op_compat` (6). Block and poll
//! (fact sheet §2.6) only decide here whether the vCPU sleeps and on what
//! ([`Wait`]); the scheduler wakes it.

use super::{Action, Call, ConsoleSink, GuestMemory};
use crate::mm::PhysAddr;
use crate::mm::{MmHooks, PhysMemory};
use crate::time::vcpu::{upcall_masked, upcall_pending, Wait, UPCALL_MASK};
use crate::time::SystemTime;
use abi::sched::*;
use abi::Errno;

/// `SCHEDOP_poll` accepts at most this many ports.
pub const POLL_MAX_PORTS: u32 = 128;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `sched_op(cmd, arg)`.
    pub(super) fn sched_op(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Action) {
        match cmd {
            SCHEDOP_YIELD => (Ok(0), Action::Yield),
            SCHEDOP_BLOCK => (Ok(0), self.block()),
            SCHEDOP_SHUTDOWN => match self.mem().read_u32(arg) {
                Ok(reason) => (Ok(0), Action::Shutdown(u64::from(reason & 0xFF))),
                Err(e) => (Err(e), Action::Continue),
            },
            SCHEDOP_POLL => match self.poll(arg) {
                Ok(action) => (Ok(0), action),
                Err(e) => (Err(e), Action::Continue),
            },
            _ => (Err(Errno::ENOSYS), Action::Continue),
        }
    }

    /// `SCHEDOP_block`: upcalls are unmasked first; an event already
    /// pending returns at once, else the vCPU sleeps until one is. A timer
    /// whose deadline has passed fires first (Xen expires it in the timer
    /// softirq before the block is even made), so a block on a timer
    /// already due returns with its VIRQ_TIMER pending instead of a
    /// deschedule and a wake-up.
    fn block(&mut self) -> Action {
        let vi = self.vcpu.vcpu_info_location();
        self.hv.mm.mem.write_bytes(PhysAddr(vi.0 + UPCALL_MASK), &[0]);
        if upcall_pending(self.hv.mm.mem, vi) {
            return Action::Continue;
        }
        if self.vcpu.time.timers.due(self.hv.host.now(), true) {
            self.timer_fired_now();
            if upcall_pending(self.hv.mm.mem, vi) {
                return Action::Continue;
            }
        }
        self.vcpu.time.wait = Wait::Block;
        Action::Block
    }

    /// Whether the domain's event port `port` is pending (Xen's
    /// `evtchn_port_is_pending`), or `EINVAL` for a port that is not in
    /// use, as Xen 4.17 answers.
    fn poll_port_pending(&self, port: u32) -> Result<bool, Errno> {
        self.events.port_pending(&self.hv.mm, self.dom, port)
    }

    /// `SCHEDOP_poll(&sched_poll)`: the checks and the order of Xen's
    /// `do_poll`. Returns at once when an unmasked event or a listed port
    /// is pending; otherwise sleeps on the ports until the timeout.
    fn poll(&mut self, arg: u64) -> Result<Action, Errno> {
        let mut b = [0u8; 24];
        self.mem().read(arg, &mut b)?;
        let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let (ports, nr_ports, timeout) = (word(0), word(8) as u32, word(16));
        if nr_ports > POLL_MAX_PORTS {
            return Err(Errno::EINVAL);
        }
        if !abi::GuestVa(ports).range_is_guest_accessible(u64::from(nr_ports) * 4) {
            return Err(Errno::EFAULT);
        }
        let vi = self.vcpu.vcpu_info_location();
        if upcall_pending(self.hv.mm.mem, vi) && !upcall_masked(self.hv.mm.mem, vi) {
            return Ok(Action::Continue);
        }
        let mut last = 0;
        for k in 0..u64::from(nr_ports) {
            last = self.mem().read_u32(ports + 4 * k)?;
            if self.poll_port_pending(last)? {
                return Ok(Action::Continue);
            }
        }
        let deadline = (timeout != 0).then_some(SystemTime(timeout));
        if deadline.is_some_and(|d| d <= self.hv.host.now()) {
            return Ok(Action::Continue);
        }
        self.vcpu.time.poll_kicked = false;
        self.vcpu.time.wait = Wait::Poll { port: (nr_ports == 1).then_some(last), deadline };
        Ok(Action::Block)
    }

    /// `sched_op_compat(cmd, reason)`: the reason is passed by value.
    #[inline(never)]
    pub(super) fn sched_op_compat(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Action) {
        match cmd {
            SCHEDOP_YIELD => (Ok(0), Action::Yield),
            SCHEDOP_BLOCK => (Ok(0), self.block()),
            SCHEDOP_SHUTDOWN => (Ok(0), Action::Shutdown(arg & 0xFF)),
            _ => (Err(Errno::ENOSYS), Action::Continue),
        }
    }
}
