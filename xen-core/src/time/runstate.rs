//! Runstate accounting (fact sheet §3.4): the state a vCPU is in, when it
//! entered it, and the nanoseconds spent in each state, as
//! `vcpu_runstate_info` shows them to the guest.

use super::clock::SystemTime;

/// `RUNSTATE_running`.
pub const RUNNING: u32 = 0;
/// `RUNSTATE_runnable`.
pub const RUNNABLE: u32 = 1;
/// `RUNSTATE_blocked`.
pub const BLOCKED: u32 = 2;
/// `RUNSTATE_offline`.
pub const OFFLINE: u32 = 3;
/// `XEN_RUNSTATE_UPDATE`: bit 63 of `state_entry_time` while the
/// hypervisor rewrites the area (`VMASST_TYPE_runstate_update_flag`).
pub const RUNSTATE_UPDATE: u64 = 1 << 63;

/// One vCPU's runstate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runstate {
    /// `RUNSTATE_*`.
    pub state: u32,
    /// When it entered `state`.
    pub entry: SystemTime,
    /// Time spent in each state before the current stay.
    pub time: [u64; 4],
}

impl Default for Runstate {
    fn default() -> Self {
        Runstate { state: OFFLINE, entry: SystemTime(0), time: [0; 4] }
    }
}

impl Runstate {
    /// Moves to `state` at `now`, charging the stay in the old one.
    pub fn change(&mut self, state: u32, now: SystemTime) {
        let now = now.max(self.entry);
        self.time[self.state as usize & 3] += now.0 - self.entry.0;
        self.state = state & 3;
        self.entry = now;
    }

    /// The runstate as `get_runstate_info` reports it at `now`: the stay
    /// in progress counted, as Xen's `vcpu_runstate_get`.
    pub fn bytes_at(&self, now: SystemTime) -> [u8; 48] {
        let mut r = *self;
        let now = now.max(r.entry);
        r.time[r.state as usize & 3] += now.0 - r.entry.0;
        r.to_bytes(0)
    }

    /// The 48-byte `vcpu_runstate_info` (little-endian), with
    /// `state_entry_time` OR-ed with `entry_flag`.
    pub fn to_bytes(&self, entry_flag: u64) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0..4].copy_from_slice(&self.state.to_le_bytes());
        b[8..16].copy_from_slice(&(self.entry.0 | entry_flag).to_le_bytes());
        for (k, t) in self.time.iter().enumerate() {
            b[16 + 8 * k..24 + 8 * k].copy_from_slice(&t.to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stay_is_charged_to_its_state_and_the_sum_tracks_time() {
        let mut r = Runstate::default();
        r.change(RUNNING, SystemTime(100));
        r.change(BLOCKED, SystemTime(350));
        r.change(RUNNABLE, SystemTime(1350));
        r.change(RUNNING, SystemTime(1400));
        assert_eq!(r.time, [250, 50, 1000, 100]);
        assert_eq!(r.time.iter().sum::<u64>(), r.entry.0, "the sum is the time of the last change");
    }

    #[test]
    fn time_going_backwards_charges_nothing() {
        let mut r = Runstate::default();
        r.change(RUNNING, SystemTime(500));
        r.change(BLOCKED, SystemTime(400));
        assert_eq!(r.time[0], 0);
        assert_eq!(r.entry, SystemTime(500));
    }

    #[test]
    fn the_guest_layout_has_state_entry_time_and_four_times() {
        let mut r = Runstate::default();
        r.change(RUNNING, SystemTime(0x10));
        r.change(BLOCKED, SystemTime(0x30));
        let b = r.to_bytes(RUNSTATE_UPDATE);
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), BLOCKED);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 0x30 | RUNSTATE_UPDATE);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 0x20);
        assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()), 0x10, "offline before the first run");
    }
}
