//! Time (fact sheet §3.1–§3.3): the vcpu_time_info and wallclock that the
//! hypervisor keeps in shared_info, `set_timer_op`, and `SCHEDOP_poll`'s
//! argument checks and timeout. shared_info is mapped read-only at the
//! fixture's scratch page while these run.

use super::{call, Fixture, Suite, EFAULT, EINVAL, HV, N, RO, RWF};
use abi::mmu::UVMF_INVLPG;
use abi::sched::SCHEDOP_POLL;
use guest_kernel::arch::x86_64::mem;

/// A consistent copy of vcpu_info[0].time, read with the version protocol.
#[derive(Clone, Copy)]
pub(super) struct TimeInfo {
    pub version: u32,
    pub tsc: u64,
    pub system_time: u64,
    pub mul: u32,
    pub shift: i8,
    pub flags: u8,
    pub pad: u32,
}

impl TimeInfo {
    /// Read from the mapping of shared_info at `va`.
    pub fn read(va: u64) -> TimeInfo {
        loop {
            let v0 = mem::read(va + 32);
            let tsc = mem::read(va + 40);
            let st = mem::read(va + 48);
            let w = mem::read(va + 56);
            let v1 = mem::read(va + 32);
            if v0 == v1 && v0 & 1 == 0 {
                return TimeInfo {
                    version: v0 as u32,
                    tsc,
                    system_time: st,
                    mul: w as u32,
                    shift: (w >> 32) as u8 as i8,
                    flags: (w >> 40) as u8,
                    pad: (v0 >> 32) as u32 | ((w >> 48) as u32),
                };
            }
        }
    }

    /// System time at TSC `t`, as Linux's pvclock computes it.
    pub fn at(&self, t: u64) -> u64 {
        let d = t.wrapping_sub(self.tsc);
        let d = if self.shift >= 0 { d << self.shift } else { d >> -self.shift };
        self.system_time + ((u128::from(d) * u128::from(self.mul)) >> 32) as u64
    }
}

/// System time now, through the shared_info mapping at `va`.
pub(super) fn now(va: u64) -> u64 {
    TimeInfo::read(va).at(crate::arch::rdtsc())
}

fn poll(ports: &[u32], nr: u32, timeout: u64) -> i64 {
    let arg = abi::sched::SchedPoll { ports: ports.as_ptr() as u64, nr_ports: nr, pad: 0, timeout };
    call(N::SCHED_OP, &[SCHEDOP_POLL, &arg as *const _ as u64])
}

pub(super) fn time(s: &mut Suite, f: &Fixture) {
    let va = f.scratch;
    let own = f.mfn((va - super::VIRT_BASE) / 4096);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (f.shared_info << 12) | RO, UVMF_INVLPG]);
    time_info(s, va);
    timer_op(s, va);
    poll_cases(s, va);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (own << 12) | RWF, UVMF_INVLPG]);
}

fn time_info(s: &mut Suite, va: u64) {
    let t = TimeInfo::read(va);
    s.truth("time: vcpu_time_info version is even (and was written)", t.version & 1 == 0 && t.version != 0);
    s.truth("time: tsc_to_system_mul is non-zero", t.mul != 0);
    s.truth("time: tsc_shift is in [-8, 8]", (-8..=8).contains(&t.shift));
    s.check("time: vcpu_time_info pads are zero", 0, i64::from(t.pad));
    s.observe("time: vcpu_time_info flags", i64::from(t.flags));
    // The scale as Xen derives it: mul in (2^31, 2^32) for a shifted
    // frequency in (1, 2] GHz.
    s.truth("time: tsc_to_system_mul is a (0.5, 1] fraction", t.mul >= 1 << 31);
    let mut last = now(va);
    let mut monotonic = true;
    for _ in 0..2000 {
        let n = now(va);
        monotonic &= n >= last;
        last = n;
    }
    s.truth("time: system time from vcpu_time_info never goes back (2000 reads)", monotonic);
    s.truth("time: system time is past boot (> 0) and below a day", last > 0 && last < 86_400_000_000_000);
    let wc0 = mem::read(va + 3072);
    let wc1 = mem::read(va + 3080);
    s.truth("time: wc_version is even", wc0 & 1 == 0);
    s.truth("time: wc_sec is after 2020 and before 2100", (1_577_836_800..4_102_444_800).contains(&(wc0 >> 32)));
    s.truth("time: wc_nsec is below 10^9", (wc1 as u32) < 1_000_000_000);
    s.check("time: wc_sec_hi is 0", 0, (wc1 >> 32) as i64);
}

fn timer_op(s: &mut Suite, va: u64) {
    s.check("set_timer_op(0) cancels", 0, call(N::SET_TIMER_OP, &[0]));
    s.check("set_timer_op(now + 10 s)", 0, call(N::SET_TIMER_OP, &[now(va) + 10_000_000_000]));
    s.check("set_timer_op(-1) (becomes 100 ms)", 0, call(N::SET_TIMER_OP, &[u64::MAX]));
    s.check("set_timer_op(now + 2^51) (becomes 100 ms)", 0, call(N::SET_TIMER_OP, &[now(va) + (1 << 51)]));
    s.check("set_timer_op(0) again", 0, call(N::SET_TIMER_OP, &[0]));
}

fn poll_cases(s: &mut Suite, va: u64) {
    let ports = [5u32, 4096, 7, 9];
    s.check("SCHEDOP_poll with 129 ports", EINVAL, poll(&ports, 129, 0));
    s.check("SCHEDOP_poll with a NULL argument", EFAULT, call(N::SCHED_OP, &[SCHEDOP_POLL, 0]));
    s.check("SCHEDOP_poll with the argument in hypervisor space", EFAULT, call(N::SCHED_OP, &[SCHEDOP_POLL, HV]));
    let bad = abi::sched::SchedPoll { ports: HV, nr_ports: 1, pad: 0, timeout: 0 };
    s.check(
        "SCHEDOP_poll with the ports in hypervisor space",
        EFAULT,
        call(N::SCHED_OP, &[SCHEDOP_POLL, &bad as *const _ as u64]),
    );
    s.check("SCHEDOP_poll on port 4096 (past the 2-level limit)", EINVAL, poll(&ports[1..], 1, 0));
    s.check("SCHEDOP_poll on ports 5, 4096", EINVAL, poll(&ports, 2, 0));
    let t0 = now(va);
    s.check("SCHEDOP_poll with a timeout already past", 0, poll(&ports, 0, 1));
    s.check("SCHEDOP_poll on unbound port 7", EINVAL, poll(&ports[2..], 1, now(va) + 2_000_000));
    s.check("SCHEDOP_poll on no ports for 2 ms", 0, poll(&ports, 0, now(va) + 2_000_000));
    let t1 = now(va);
    s.truth("SCHEDOP_poll's 2 ms timeout slept at least 2 ms and under 1 s", t1 - t0 >= 2_000_000 && t1 - t0 < 1 << 30);
    s.check("SCHEDOP_poll on no ports for 1 ms", 0, poll(&ports, 0, now(va) + 1_000_000));
    s.truth("system time after the polls is later", now(va) > t1);
}
