//! Generators for `event_channel_op` (32): every `EVTCHNOP_*` command
//! with random and hostile arguments — ports around the valid range and
//! its bucket edges, domains that exist or not (and domain 0, which an
//! unprivileged guest may not name), vCPUs that do not exist, FIFO frames
//! from the arena, its tables, shared_info, foreign and free frames, and
//! argument structs at hostile addresses. The oracles (tables walked,
//! frames accounted) run as for every call; the guest itself stays
//! alive: its event callback (reinstalled after every callback change)
//! clears `evtchn_upcall_pending` and returns, and around these calls
//! upcalls stay masked.

use super::{Fuzz, HOSTILE_PTRS};
use abi::event_channel::*;

/// Where shared_info is mapped (set up on first use).
static SI_VA: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

impl Fuzz<'_> {
    fn si_va(&mut self) -> u64 {
        use core::sync::atomic::Ordering::Relaxed;
        let v = SI_VA.load(Relaxed);
        if v != 0 {
            return v;
        }
        let (va, _) = self.env.scratch();
        let _ = crate::env::uvm(va, (self.env.shared_info << 12) | crate::env::RWF, abi::mmu::UVMF_INVLPG);
        SI_VA.store(va, Relaxed);
        crate::arch::set_vcpu_info_va(va);
        va
    }

    /// Maps shared_info for the event callback before any operation: an
    /// upcall may come from any event source (timers too).
    pub(super) fn events_setup(&mut self) {
        let _ = self.si_va();
    }

    /// Upcalls stay masked and nothing is left pending for the vCPU, so
    /// no upcall reaches the random callbacks `callbacks()` installs.
    pub(super) fn quiet_events(&mut self) {
        let _ = self.si_va();
        // shared_info's slot, or where register_vcpu_info moved it.
        guest_kernel::arch::x86_64::mem::write(crate::arch::vcpu_info_va(), 1 << 8);
    }

    fn port(&mut self) -> u32 {
        match self.rng.below(10) {
            0..=5 => self.rng.below(8) as u32,
            6 => 60 + self.rng.below(10) as u32,
            7 => self.rng.pick(&[1023, 1024, 4095, 4096, 1 << 17, u32::MAX]),
            _ => self.rng.next() as u32,
        }
    }

    fn dom(&mut self) -> u16 {
        let r = self.rng.next() as u16;
        self.rng.pick(&[0x7FF0, 0x7FF0, 0x7FF0, 0, 1, 2, 7, 0x7FF1, 0x7FF2, 0xFFFF, r])
    }

    fn vcpu(&mut self) -> u32 {
        let r = self.rng.next() as u32;
        self.rng.pick(&[0, 0, 0, 1, u32::MAX, r])
    }

    /// A frame for the FIFO ABI: never the guest's own image (the
    /// hypervisor writes control blocks and event words into it).
    fn fifo_frame(&mut self) -> u64 {
        if self.rng.chance(16) {
            self.rng.next()
        } else {
            self.dest_frame()
        }
    }

    /// One `event_channel_op` with a random command and struct.
    pub(super) fn evtchn(&mut self) -> bool {
        self.quiet_events();
        let cmd = if self.rng.chance(8) { self.rng.below(20) } else { self.rng.below(14) };
        let w = &mut self.bufs.page;
        w[..4].fill(0);
        let mut words = [0u64; 3];
        match cmd {
            EVTCHNOP_BIND_INTERDOMAIN | EVTCHNOP_STATUS => {
                words[0] = u64::from(self.dom()) | u64::from(self.port()) << 32;
            }
            EVTCHNOP_ALLOC_UNBOUND => words[0] = u64::from(self.dom()) | u64::from(self.dom()) << 16,
            EVTCHNOP_BIND_VIRQ => {
                let virq = self.rng.pick(&[0, 1, 2, 3, 7, 11, 13, 16, 23, 24, u32::MAX]);
                words[0] = u64::from(virq) | u64::from(self.vcpu()) << 32;
            }
            EVTCHNOP_BIND_PIRQ => words[0] = self.rng.next() & 0x1FF | (self.rng.below(2) << 32),
            EVTCHNOP_BIND_IPI => words[0] = u64::from(self.vcpu()),
            EVTCHNOP_BIND_VCPU | EVTCHNOP_SET_PRIORITY => {
                let second = if cmd == EVTCHNOP_SET_PRIORITY { self.rng.below(20) as u32 } else { self.vcpu() };
                words[0] = u64::from(self.port()) | u64::from(second) << 32;
            }
            EVTCHNOP_RESET | EVTCHNOP_RESET_CONT => words[0] = u64::from(self.dom()),
            EVTCHNOP_INIT_CONTROL => {
                words[0] = self.fifo_frame();
                let offset = self.rng.pick(&[0, 8, 64, 4, 4024, 4032, 4096, u32::MAX]);
                words[1] = u64::from(offset) | u64::from(self.vcpu()) << 32;
            }
            EVTCHNOP_EXPAND_ARRAY => words[0] = self.fifo_frame(),
            _ => words[0] = u64::from(self.port()),
        }
        let w = &mut self.bufs.page;
        w[..3].copy_from_slice(&words);
        let ptr = match self.rng.below(20) {
            0 => self.rng.pick(&HOSTILE_PTRS),
            1 => self.edge + 4096 - self.rng.pick(&[0, 4, 8, 12]),
            _ => self.bufs.page.as_mut_ptr() as u64,
        };
        let _ = self.hcall(32, [cmd, ptr, 0, 0, 0]);
        // A send or bind may have raised an event for this vCPU.
        self.quiet_events();
        // FIFO frames hold a writable type: the arena's mapping rules
        // change for them, so the tables are walked.
        matches!(cmd, EVTCHNOP_INIT_CONTROL | EVTCHNOP_EXPAND_ARRAY | EVTCHNOP_RESET)
    }

    /// Back to the 2-level ABI and no ports, so every FIFO frame is
    /// released before the final accounting.
    pub(super) fn evtchn_cleanup(&mut self) {
        let mut d = 0x7FF0u16;
        let _ = self.hcall(32, [EVTCHNOP_RESET, &mut d as *mut u16 as u64, 0, 0, 0]);
        self.quiet_events();
    }
}
