//! `sched_op` (29) and the legacy `sched_op_compat` (6).

use super::{Action, Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::sched::*;
use abi::Errno;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `sched_op(cmd, arg)`.
    pub(super) fn sched_op(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Action) {
        match cmd {
            SCHEDOP_YIELD => (Ok(0), Action::Yield),
            SCHEDOP_BLOCK => (Ok(0), Action::Block),
            SCHEDOP_SHUTDOWN => match self.mem().read_u32(arg) {
                Ok(reason) => (Ok(0), Action::Shutdown(reason & 0xFF)),
                Err(e) => (Err(e), Action::Continue),
            },
            _ => (Err(Errno::ENOSYS), Action::Continue),
        }
    }

    /// `sched_op_compat(cmd, reason)`: the reason is passed by value.
    pub(super) fn sched_op_compat(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Action) {
        match cmd {
            SCHEDOP_YIELD => (Ok(0), Action::Yield),
            SCHEDOP_BLOCK => (Ok(0), Action::Block),
            SCHEDOP_SHUTDOWN => (Ok(0), Action::Shutdown(arg as u32 & 0xFF)),
            _ => (Err(Errno::ENOSYS), Action::Continue),
        }
    }
}
