//! Event channels (platform §2): every domain's port table, the 2-level
//! and FIFO delivery ABIs, and the `EVTCHNOP_*` operations with Xen
//! 4.17's errno for each case. Pure: guest memory (shared_info, the FIFO
//! control blocks and event arrays) is reached only through [`EventEnv`],
//! which the hypercall layer implements over the page-type model.
//!
//! Everything is in fixed-size tables sized at build time
//! ([`MAX_PORTS`] ports per domain, [`abi::event_channel::FIFO_MAX_ARRAY_PAGES`]
//! array frames): nothing a guest does allocates.
//!
//! Events reach a vCPU as in Xen: a port becomes pending (2-level: its
//! bit in `shared_info.evtchn_pending`; FIFO: PENDING in its event word
//! and a link into its priority's queue), and if it is not masked the
//! vCPU's `evtchn_upcall_pending` is set. When that flag goes 0→1 the
//! domain is recorded in [`EventChannels::take_kicks`], so the scheduler
//! can wake it; the upcall itself is entered on the vCPU's next return to
//! the guest, when `evtchn_upcall_mask` is clear.

mod console_input;
mod fifo;
mod invariants;
mod ops;
mod port;
mod two_level;
mod vcpu_info;

#[cfg(test)]
mod tests;

pub use console_input::{ConsoleInput, Key};
pub use fifo::Fifo;
pub use invariants::FifoRefs;
pub use ops::StatusOut;
pub use port::{Binding, Port};
pub use vcpu_info::VCPU_INFO_SIZE;

use crate::mm::PhysAddr;
use crate::sched::MAX_DOMAINS;
use abi::event_channel::virq;
use abi::{DomId, Mfn};

/// Ports per domain (0 … 1023; port 0 is reserved). Xen's default for
/// guests is `max_event_channels=1023`; its domain 0 may have more.
pub const MAX_PORTS: u32 = 1024;
/// Ports become valid in buckets of this many, as Xen allocates them
/// (`EVTCHNS_PER_BUCKET` on x86_64): a port beyond the last bucket handed
/// out is invalid (`-EINVAL`), one inside it but unused is "closed".
pub const BUCKET: u32 = 64;
/// vCPUs per domain.
pub const VCPUS: u32 = 1;
/// Physical IRQs a domain may name (`nr_pirqs`); none is ever mapped.
pub const NR_PIRQS: u32 = 256;

/// What the event-channel code needs from the rest of the hypervisor:
/// guest frames by machine address, and page references on the frames a
/// domain registers for the FIFO ABI, so the guest cannot free or retype
/// them while the hypervisor writes into them.
pub trait EventEnv {
    /// Reads the aligned 64-bit word at `addr` (inside a frame the
    /// hypervisor holds a reference on, or shared_info).
    fn read_u64(&self, addr: PhysAddr) -> u64;
    /// Writes the aligned 64-bit word at `addr`.
    fn write_u64(&mut self, addr: PhysAddr, value: u64);
    /// Takes a general and a writable type reference on `mfn` for `dom`;
    /// false if `mfn` is not RAM `dom` owns or cannot be writable now.
    fn take_writable(&mut self, dom: DomId, mfn: Mfn) -> bool;
    /// Drops what [`EventEnv::take_writable`] took.
    fn put_writable(&mut self, mfn: Mfn);
}

/// One domain's event-channel state.
#[derive(Clone)]
pub struct DomainEvents {
    /// The domain exists (from creation until its death).
    pub live: bool,
    /// It may name other domains (domain 0: Xen's `XSM_TARGET` rule).
    pub privileged: bool,
    /// Its shared_info frame (2-level bitmaps).
    pub shared_info: Mfn,
    /// Where vCPU 0's vcpu_info is: its shared_info slot, or where
    /// `VCPUOP_register_vcpu_info` moved it ([`EventChannels::register_vcpu_info`]).
    pub vcpu_info: PhysAddr,
    /// The frame it was moved to: a general and a writable type reference
    /// are held on it until the domain dies.
    pub vcpu_info_frame: Option<Mfn>,
    /// Ports below this are valid (whole buckets).
    pub valid: u32,
    /// The port table.
    pub ports: [Port; MAX_PORTS as usize],
    /// vCPU 0's port for each VIRQ (0 = unbound).
    pub virq: [u32; virq::NR as usize],
    /// The FIFO ABI's state once `init_control` succeeded.
    pub fifo: Option<Fifo>,
}

impl DomainEvents {
    const EMPTY: DomainEvents = DomainEvents {
        live: false,
        privileged: false,
        shared_info: Mfn(0),
        vcpu_info: PhysAddr(0),
        vcpu_info_frame: None,
        valid: 0,
        ports: [Port::FREE; MAX_PORTS as usize],
        virq: [0; virq::NR as usize],
        fifo: None,
    };

    /// Whether `port` is valid (inside a bucket handed out).
    pub fn port_is_valid(&self, port: u32) -> bool {
        port < self.valid
    }

    /// The port, if valid.
    pub fn port(&self, port: u32) -> Option<&Port> {
        if self.port_is_valid(port) {
            self.ports.get(port as usize)
        } else {
            None
        }
    }

    /// Ports in use (not free, not the reserved port 0).
    pub fn active(&self) -> usize {
        self.ports[..self.valid as usize].iter().filter(|p| p.in_use()).count()
    }

    fn vcpu_info(&self) -> PhysAddr {
        self.vcpu_info
    }
}

/// Every domain's event channels.
pub struct EventChannels {
    /// Indexed by domain id.
    pub doms: [DomainEvents; MAX_DOMAINS],
    /// Domains whose `evtchn_upcall_pending` went 0→1 since the last
    /// [`EventChannels::take_kicks`] (bit = domain id).
    kicks: u8,
    /// Domains one of whose ports went from not pending to pending (even
    /// masked), for `SCHEDOP_poll` (bit = domain id).
    port_kicks: u8,
}

impl Default for EventChannels {
    fn default() -> Self {
        Self::new()
    }
}

impl EventChannels {
    /// No domains.
    pub const fn new() -> EventChannels {
        EventChannels { doms: [DomainEvents::EMPTY; MAX_DOMAINS], kicks: 0, port_kicks: 0 }
    }

    /// Sets up domain `dom`'s table (port 0 reserved, 2-level ABI).
    pub fn create_domain(&mut self, dom: DomId, shared_info: Mfn, privileged: bool) {
        let Some(d) = self.doms.get_mut(dom.0 as usize) else { return };
        *d = DomainEvents::EMPTY;
        d.live = true;
        d.privileged = privileged;
        d.shared_info = shared_info;
        // vCPU 0's slot in shared_info.
        d.vcpu_info = PhysAddr(shared_info.to_maddr());
        d.valid = BUCKET;
        d.ports[0].binding = Binding::Reserved;
    }

    /// Domain `dom` died: closes every port (interdomain peers go back to
    /// unbound, accepting `dom`), drops its FIFO frames and its registered
    /// vcpu_info frame, and forgets it.
    pub fn destroy_domain(&mut self, env: &mut impl EventEnv, dom: DomId) {
        if !self.live(dom) {
            return;
        }
        for port in 1..self.doms[dom.0 as usize].valid {
            let _ = self.close_port(env, dom, port);
        }
        self.drop_fifo(env, dom);
        self.release_vcpu_info(env, dom);
        let d = &mut self.doms[dom.0 as usize];
        d.live = false;
        self.kicks &= !(1 << dom.0);
        self.port_kicks &= !(1 << dom.0);
    }

    /// vCPU 0 of `dom` now has its vcpu_info at `at`, with no reference
    /// held (tests; `VCPUOP_register_vcpu_info` goes through
    /// [`EventChannels::register_vcpu_info`]).
    pub fn set_vcpu_info(&mut self, dom: DomId, at: PhysAddr) {
        if let Some(d) = self.doms.get_mut(dom.0 as usize) {
            d.vcpu_info = at;
        }
    }

    /// Whether `dom` exists.
    pub fn live(&self, dom: DomId) -> bool {
        self.doms.get(dom.0 as usize).is_some_and(|d| d.live)
    }

    /// Domain `dom`'s state, if it exists.
    pub fn domain(&self, dom: DomId) -> Option<&DomainEvents> {
        self.doms.get(dom.0 as usize).filter(|d| d.live)
    }

    /// Domains whose upcall became pending since the last call (bit =
    /// domain id): a blocked one must be woken.
    pub fn take_kicks(&mut self) -> u8 {
        core::mem::take(&mut self.kicks)
    }

    /// Domains one of whose ports newly became pending since the last call,
    /// masked or not (bit = domain id): pollers must re-check.
    pub fn take_port_kicks(&mut self) -> u8 {
        core::mem::take(&mut self.port_kicks)
    }

    /// `dom` is running (it made the hypercall that sent): its own kicks
    /// wake no one (it is neither blocked nor polling), so they are dropped
    /// here instead of taking the exit's wake-up path.
    pub fn forget_kicks_of(&mut self, dom: DomId) {
        let Some(bit) = 1u8.checked_shl(u32::from(dom.0)) else { return };
        self.kicks &= !bit;
        self.port_kicks &= !bit;
    }

    /// Whether any kick is waiting (cheap).
    pub fn kicked(&self) -> bool {
        self.kicks | self.port_kicks != 0
    }

    /// Whether vCPU 0 of `dom` has `evtchn_upcall_pending` set (what
    /// `SCHEDOP_block` checks before sleeping).
    pub fn upcall_pending(&self, env: &impl EventEnv, dom: DomId) -> bool {
        self.domain(dom).is_some_and(|d| env.read_u64(d.vcpu_info()) & 0xFF != 0)
    }

    /// Whether an upcall is due for vCPU 0 of `dom`: pending and not masked.
    pub fn upcall_deliverable(&self, env: &impl EventEnv, dom: DomId) -> bool {
        self.domain(dom).is_some_and(|d| upcall_due(env.read_u64(d.vcpu_info())))
    }

    /// Whether `port` of `dom` is pending (for `SCHEDOP_poll`).
    ///
    /// # Errors
    /// `EINVAL` for an invalid or unused port.
    pub fn port_pending(&self, env: &impl EventEnv, dom: DomId, port: u32) -> Result<bool, abi::Errno> {
        let d = self.domain(dom).ok_or(abi::Errno::ESRCH)?;
        match d.port(port) {
            Some(p) if p.in_use() => Ok(match &d.fifo {
                Some(f) => f.word(env, port).is_some_and(|w| w & abi::event_channel::FIFO_PENDING != 0),
                None => two_level::is_pending(env, d, port),
            }),
            _ => Err(abi::Errno::EINVAL),
        }
    }

    /// Sends VIRQ `virq` to `dom`'s vCPU 0 if it has bound it. Returns
    /// whether the port is now pending. The timer's hook: `VIRQ_TIMER`
    /// when a guest timer expires.
    pub fn send_virq(&mut self, env: &mut impl EventEnv, dom: DomId, virq: u32) -> bool {
        let Some(d) = self.domain(dom) else { return false };
        let Some(&port) = d.virq.get(virq as usize) else { return false };
        if port == 0 {
            return false;
        }
        self.set_pending(env, dom, port);
        self.port_pending(env, dom, port).unwrap_or(false)
    }

    /// Sends a global VIRQ (`VIRQ_CONSOLE`, `VIRQ_DOM_EXC`, …) to the
    /// hardware domain, domain 0, which handles them all.
    pub fn send_global_virq(&mut self, env: &mut impl EventEnv, virq: u32) -> bool {
        self.send_virq(env, DomId(0), virq)
    }

    /// Marks `port` of `dom` pending on its notify vCPU through the
    /// domain's ABI (Xen's `evtchn_port_set_pending`).
    fn set_pending(&mut self, env: &mut impl EventEnv, dom: DomId, port: u32) {
        let i = dom.0 as usize;
        let d = &mut self.doms[i];
        let (newly_pending, mark) = match d.fifo.as_mut() {
            Some(f) => f.set_pending(env, &mut d.ports, port),
            None => two_level::set_pending(env, d, port),
        };
        if newly_pending {
            self.port_kicks |= 1 << i;
        }
        if mark {
            self.mark_events_pending(env, dom);
        }
    }

    /// Xen's `vcpu_mark_events_pending`: sets `evtchn_upcall_pending`; if
    /// it was clear the vCPU is kicked.
    fn mark_events_pending(&mut self, env: &mut impl EventEnv, dom: DomId) {
        let at = self.doms[dom.0 as usize].vcpu_info();
        let w = env.read_u64(at);
        if w & 0xFF == 0 {
            env.write_u64(at, w | 1);
            self.kicks |= 1 << dom.0;
        }
    }

    fn drop_fifo(&mut self, env: &mut impl EventEnv, dom: DomId) {
        if let Some(f) = self.doms[dom.0 as usize].fifo.take() {
            f.release(env);
        }
    }
}

/// Whether a vcpu_info's first word says an upcall is due: pending set,
/// mask clear.
pub const fn upcall_due(word: u64) -> bool {
    (word as u16).wrapping_sub(1) < 0xFF
}
