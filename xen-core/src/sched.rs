//! Domains as the scheduler sees them. Pure; the policy (who runs next,
//! blocking, waking, slices, limits) is [`crate::scheduler`].

use crate::domain::vcpu::Vcpu;
use crate::util::FixedVec;
use abi::{DomId, Mfn};

/// Most domains.
pub const MAX_DOMAINS: usize = 8;

/// Where a domain is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// May run.
    Runnable,
    /// Waiting for an event.
    Blocked,
    /// Shut down with a reason.
    Shutdown(u32),
    /// Crashed by the hypervisor.
    Crashed,
}

impl RunState {
    /// Whether it has ended.
    pub fn finished(self) -> bool {
        matches!(self, RunState::Shutdown(_) | RunState::Crashed)
    }
}

/// A PV domain.
pub struct Domain {
    /// Id.
    pub id: DomId,
    /// Name (from `name=`).
    pub name: FixedVec<u8, 32>,
    /// Its one vCPU.
    pub vcpu: Vcpu,
    /// State.
    pub state: RunState,
    /// Its shared_info frame.
    pub shared_info: Mfn,
    /// Partial `console_io` line (not the hardware domain's).
    pub line: crate::console::LineBuf,
    /// `int 0x82` accepted as a hypercall.
    pub int82: bool,
    /// `vmcall` accepted as a hypercall.
    pub vmcall: bool,
    /// Hypercall 127 takes the do-nothing benchmark entry.
    pub bench_null: bool,
    /// CPU time used, in ns (charged by [`crate::scheduler::charge`]).
    pub cpu_ns: u64,
    /// CPU time used since it was last scheduled.
    pub slice_ns: u64,
    /// CPU time after which it is crashed (`timeout=`; 0 = never).
    pub max_cpu_ns: u64,
    /// When its CPU time was last charged (while it runs).
    pub charged_to: crate::time::SystemTime,
    /// Whether it has run yet.
    pub started: bool,
    /// Woken from a block or poll since it last ran: it takes the CPU from
    /// a running domain that has had [`crate::scheduler::WAKE_RATELIMIT_NS`].
    pub woken: bool,
    /// A PVH domain: its vCPU runs under SVM from its VMCB (the arch
    /// layer's), and `vcpu` holds only its time, timers, wait and FPU.
    pub pvh: bool,
}

impl Domain {
    /// A PVH domain about to start, with `shared_info` lent to it: no
    /// periodic timer (an HVM vCPU has none until it asks).
    pub fn pvh(id: DomId, name: &str, shared_info: Mfn) -> Domain {
        let mut vcpu = Vcpu::new(crate::domain::vcpu::GuestContext::default());
        vcpu.time.timers.stop_periodic();
        let mut n = FixedVec::new();
        for &b in name.as_bytes() {
            let _ = n.push(b);
        }
        Domain {
            id,
            name: n,
            vcpu,
            state: RunState::Runnable,
            shared_info,
            line: crate::console::LineBuf::new(),
            int82: false,
            vmcall: false,
            bench_null: false,
            cpu_ns: 0,
            slice_ns: 0,
            max_cpu_ns: 0,
            charged_to: crate::time::SystemTime(0),
            started: false,
            woken: false,
            pvh: true,
        }
    }

    /// The name as text.
    pub fn name(&self) -> &str {
        core::str::from_utf8(self.name.as_slice()).unwrap_or("?")
    }

    /// Where the hypervisor may write this domain's `vcpu_info` (its time
    /// on a clock change): none once it has ended, since the teardown gave
    /// the frame back and it may already be another domain's page table.
    pub fn live_vcpu_info(&self) -> Option<crate::mm::PhysAddr> {
        (!self.state.finished()).then(|| self.vcpu.vcpu_info_location())
    }
}

/// The name of a shutdown reason.
pub fn reason_name(reason: u32) -> &'static str {
    match reason {
        0 => "poweroff",
        1 => "reboot",
        2 => "suspend",
        3 => "crash",
        4 => "watchdog",
        5 => "soft_reset",
        _ => "unknown",
    }
}
