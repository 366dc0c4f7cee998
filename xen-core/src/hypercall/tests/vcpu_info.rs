//! `VCPUOP_register_vcpu_info` through the dispatcher, on the page-type
//! model: Xen 4.17's errno in its order, the copy and rescan, delivery and
//! time through the new place, and the writable reference held on the
//! frame until the domain dies.

use super::*;
use crate::event::EventChannels;
use crate::mm::tests::world::{D1, D2};
use crate::mm::{PageType, PhysAddr, PhysMemory};
use crate::time::Clock;
use abi::hypercall::HypercallNr as N;
use abi::vcpu::VCPUOP_REGISTER_VCPU_INFO;

const ENXIO: i64 = -6;
const EINVAL: i64 = -22;
const EFAULT: i64 = -14;
const ENOENT: i64 = -2;

fn tsc() -> u64 {
    5_000_000
}

/// A 1 GHz TSC: system time = TSC.
static CLOCKED: std::sync::LazyLock<crate::hypercall::HostInfo> = std::sync::LazyLock::new(|| {
    crate::hypercall::HostInfo { clock: Clock::new(1_000_000_000, 0), read_tsc: tsc, ..Default::default() }
});

struct V {
    w: World,
    ev: Box<EventChannels>,
    g: FakeGuest,
    v: Vcpu,
    si: Mfn,
}

impl V {
    fn new() -> V {
        let mut w = World::new(64);
        let mut ev = Box::new(EventChannels::new());
        let si = w.give(D1, 1)[0];
        ev.create_domain(D1, si, false);
        let mut v = Vcpu::new(GuestContext::default());
        v.set_vcpu_info_location(PhysAddr(si.to_maddr()));
        // The builder's state: upcalls masked.
        w.mem.write_bytes(PhysAddr(si.to_maddr() + 1), &[1]);
        V { w, ev, g: FakeGuest::new(4096), v, si }
    }

    fn call(&mut self, nr: N, args: &[u64]) -> i64 {
        let mut ctx = regs(nr.0, args);
        let caller = Caller {
            dom: D1,
            vcpu: &mut self.v,
            guest: &self.g,
            console: &mut Sink::default(),
            host: &CLOCKED,
            events: &mut self.ev,
        };
        assert_eq!(caller.dispatch_fresh(&mut self.w, &mut ctx), Action::Continue);
        ctx.gpr[reg::RAX] as i64
    }

    /// `register_vcpu_info(mfn, offset)` on vCPU `vcpu`, the struct at BASE.
    fn register_on(&mut self, vcpu: u64, mfn: u64, offset: u32) -> i64 {
        self.g.put_u64s(BASE, &[mfn, u64::from(offset) | 0xAAAA_AAAA << 32]);
        self.call(N::VCPU_OP, &[VCPUOP_REGISTER_VCPU_INFO, vcpu, BASE])
    }

    fn register(&mut self, mfn: Mfn, offset: u32) -> i64 {
        self.register_on(0, mfn.0, offset)
    }

    fn word(&self, at: u64) -> u64 {
        self.w.mem.read_u64(PhysAddr(at))
    }

    fn refs(&self, m: Mfn) -> (u64, u64) {
        let i = self.w.info(m);
        (u64::from(i.count()), u64::from(i.type_count()))
    }
}

#[test]
fn registration_copies_vcpu_info_sets_every_selector_bit_and_upcall_pending() {
    let mut t = V::new();
    let old = t.si.to_maddr();
    t.w.mem.write_u64(PhysAddr(old + 16), 0xDEAD_0000);
    t.w.mem.write_u64(PhysAddr(old + 8), 0b100);
    let f = t.w.give(D1, 1)[0];
    assert_eq!(t.register(f, 64), 0);
    let new = f.to_maddr() + 64;
    assert_eq!(t.v.vcpu_info_location(), PhysAddr(new), "the vCPU follows");
    assert_eq!(t.ev.domain(D1).unwrap().vcpu_info, PhysAddr(new), "the event core follows");
    assert_eq!(t.word(new) & 0xFFFF, 0x0101, "mask copied, upcall_pending set");
    assert_eq!(t.word(new + 8), u64::MAX, "every selector bit, to force a rescan");
    assert_eq!(t.word(new + 16), 0xDEAD_0000, "arch.cr2 copied");
    let version = t.word(new + 32) as u32;
    assert!(version != 0 && version.is_multiple_of(2), "time stamped at the new place");
    assert_eq!(t.word(new + 48), 5_000_000, "system_time now");
    assert_eq!(t.ev.take_kicks() & 1 << 1, 1 << 1, "upcall_pending went 0->1: the vCPU is kicked");
    assert_eq!(t.word(f.to_maddr()), 0, "nothing written before the offset");
}

#[test]
fn events_after_registration_reach_the_new_place_only() {
    let mut t = V::new();
    let f = t.w.give(D1, 1)[0];
    assert_eq!(t.register(f, 0), 0);
    let new = f.to_maddr();
    // The guest takes its spurious upcall: clears pending and selector.
    t.w.mem.write_u64(PhysAddr(new), 0);
    t.w.mem.write_u64(PhysAddr(new + 8), 0);
    let old = t.si.to_maddr();
    let before = (t.word(old), t.word(old + 8));
    let mut m = t.w.mm();
    let p = t.ev.bind_ipi(D1, 0).unwrap();
    t.ev.send(&mut m, D1, p).unwrap();
    assert_eq!(t.word(new) & 0xFF, 1, "upcall_pending at the new place");
    assert_eq!(t.word(new + 8), 1 << (p / 64), "selector at the new place");
    assert_eq!((t.word(old), t.word(old + 8)), before, "the shared_info slot is left alone");
    assert!(t.ev.upcall_pending(&t.w.mm(), D1));
}

#[test]
fn the_registered_frame_holds_a_writable_reference_until_the_domain_dies() {
    let mut t = V::new();
    let f = t.w.give(D1, 1)[0];
    assert_eq!(t.register(f, 4032), 0, "the last offset that fits");
    assert_eq!(t.refs(f), (2, 1), "allocation + registration, writable type");
    assert_eq!(t.w.info(f).page_type(), PageType::Writable);
    assert!(t.w.pin(D1, 1, f).is_err(), "it cannot become a page table while registered");
    assert_eq!(t.ev.vcpu_info_frame(D1), Some(f));
    let refs = t.ev.frame_refs();
    let mm = t.w.mm();
    assert!(crate::mm::check::check_invariants(&mm).is_err(), "without it the count looks wrong");
    assert_eq!(crate::mm::check::check_invariants_with(&mm, &refs), Ok(()));
    let mut mm = t.w.mm();
    t.ev.destroy_domain(&mut mm, D1);
    assert_eq!(t.refs(f), (1, 0), "released at destruction");
}

#[test]
fn errno_rows_in_xen_4_17_order() {
    let mut t = V::new();
    let f = t.w.give(D1, 1)[0];
    let foreign = t.w.give(D2, 1)[0];
    let table = t.w.give(D1, 1)[0];
    t.w.pin(D1, 1, table).unwrap();
    assert_eq!(t.register(f, 4033), ENXIO, "past the page");
    assert_eq!(t.register(f, 4096), ENXIO);
    assert_eq!(t.register(f, u32::MAX), ENXIO);
    assert_eq!(t.register(f, 4), ENXIO, "misaligned");
    assert_eq!(t.register(Mfn(u64::MAX), 0), EINVAL, "not a frame");
    assert_eq!(t.register(Mfn(60), 0), EINVAL, "a free frame");
    assert_eq!(t.register(foreign, 0), EINVAL, "another domain's frame");
    assert_eq!(t.register(table, 0), EINVAL, "a page table cannot be writable");
    assert_eq!(t.refs(table), (2, 1), "the refused frame keeps only its own references");
    assert_eq!(t.register_on(1, f.0, 0), ENOENT, "vCPU 1 does not exist");
    assert_eq!(t.call(N::VCPU_OP, &[VCPUOP_REGISTER_VCPU_INFO, 0, 0]), EFAULT, "unreadable struct");
    assert_eq!(t.v.vcpu_info_location(), PhysAddr(t.si.to_maddr()), "nothing moved");
    assert_eq!(t.register(f, 0), 0);
    assert_eq!(t.register(f, 0), EINVAL, "once only");
    assert_eq!(t.register(f, 3), ENXIO, "the offset is checked first");
    assert_eq!(t.refs(f), (2, 1), "one reference for the one registration");
}

#[test]
fn a_refused_registration_still_restamps_the_time_where_vcpu_info_is() {
    let mut t = V::new();
    let at = t.si.to_maddr() + 32;
    t.w.mem.write_u64(PhysAddr(at), 6);
    assert_eq!(t.register(Mfn(u64::MAX), 0), EINVAL);
    assert_eq!(t.word(at) as u32, 8, "forced update: the version moves on by 2");
    assert_eq!(t.word(at + 16), 5_000_000);
}
