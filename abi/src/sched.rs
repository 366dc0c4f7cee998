//! `sched_op` (29): yield, block, shutdown, poll.

use core::mem::{offset_of, size_of};

/// Give up the CPU.
pub const SCHEDOP_YIELD: u64 = 0;
/// Unmask events and sleep until one is pending.
pub const SCHEDOP_BLOCK: u64 = 1;
/// Stop the domain with a reason ([`SchedShutdown`]).
pub const SCHEDOP_SHUTDOWN: u64 = 2;
/// Sleep until a port is pending ([`SchedPoll`]).
pub const SCHEDOP_POLL: u64 = 3;
/// Shut down another domain (privileged).
pub const SCHEDOP_REMOTE_SHUTDOWN: u64 = 4;
/// Record a shutdown reason without shutting down.
pub const SCHEDOP_SHUTDOWN_CODE: u64 = 5;

/// Shutdown reason: power off.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// Shutdown reason: reboot.
pub const SHUTDOWN_REBOOT: u32 = 1;
/// Shutdown reason: suspend.
pub const SHUTDOWN_SUSPEND: u32 = 2;
/// Shutdown reason: crash.
pub const SHUTDOWN_CRASH: u32 = 3;
/// Shutdown reason: watchdog.
pub const SHUTDOWN_WATCHDOG: u32 = 4;
/// Shutdown reason: soft reset.
pub const SHUTDOWN_SOFT_RESET: u32 = 5;

/// `SCHEDOP_SHUTDOWN` argument.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SchedShutdown {
    /// @0: `SHUTDOWN_*`.
    pub reason: u32,
}
const _: () = assert!(size_of::<SchedShutdown>() == 4);

/// `SCHEDOP_POLL` argument (24 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SchedPoll {
    /// @0: guest pointer to an array of u32 ports.
    pub ports: u64,
    /// @8: number of ports (≤ 128).
    pub nr_ports: u32,
    /// @12: padding.
    pub pad: u32,
    /// @16: absolute timeout in ns of system time (0 = none).
    pub timeout: u64,
}
const _: () = assert!(size_of::<SchedPoll>() == 24);
const _: () = assert!(offset_of!(SchedPoll, timeout) == 16);
