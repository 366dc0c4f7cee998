//! A PVH guest's event channels, vcpu_info, timer and shared_info
//! placement on the p2m test world: domain 1 is the PVH guest, domain 0
//! a peer on the same event core; refusals get Xen's errno.

use super::*;
use crate::mm::tests::world::{D0, D1};
use crate::mm::PhysAddr;
use abi::event_channel::*;
use abi::Mfn;

/// Domain 1's shared_info (a hypervisor frame lent to it) and domain 0's.
const SI1: Mfn = Mfn(2550);
const SI0: Mfn = Mfn(2560);

fn world() -> T {
    let mut t = T::new();
    t.w.with(|_, mm| mm.assign_xen_heap_frame(SI1, D1));
    t.events.create_domain(D0, SI0, true);
    t.events.create_domain(D1, SI1, false);
    t.vcpu.set_vcpu_info_location(PhysAddr(SI1.to_maddr()));
    t
}

impl T {
    fn evtchn(&mut self, cmd: u64, arg: &[u8]) -> u64 {
        self.poke(0x3000, arg);
        self.call(HypercallNr::EVENT_CHANNEL_OP, [cmd, 0x3000, 0, 0, 0]).0
    }

    fn out_u32(&mut self, at: u64) -> u32 {
        u32::from_le_bytes(self.peek(0x3000 + at, 4).try_into().unwrap())
    }

    fn word(&mut self, addr: u64) -> u64 {
        self.w.with(|_, mm| mm.mem.read_u64(PhysAddr(addr)))
    }

    fn physmap(&mut self, domid: u16, space: u32, idx: u64, gpfn: u64) -> (u64, Outcome) {
        let mut b = [0u8; 24];
        b[..2].copy_from_slice(&domid.to_le_bytes());
        b[4..8].copy_from_slice(&space.to_le_bytes());
        b[8..16].copy_from_slice(&idx.to_le_bytes());
        b[16..24].copy_from_slice(&gpfn.to_le_bytes());
        self.poke(0x3000, &b);
        self.call(HypercallNr::MEMORY_OP, [XENMEM_ADD_TO_PHYSMAP, 0x3000, 0, 0, 0])
    }
}

fn two_u16(a: u16, b: u16) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes(), [0, 0], [0, 0]].concat()
}

#[test]
fn a_pvh_domain_and_a_pv_peer_exchange_events_both_ways_on_the_shared_core() {
    let mut t = world();
    // The PVH side opens a port for domain 0 (alloc_unbound writes it at 4).
    assert_eq!(t.evtchn(EVTCHNOP_ALLOC_UNBOUND, &two_u16(DomId::SELF.0, 0)), 0);
    let port = t.out_u32(4);
    assert_eq!(port, 1, "the lowest free port");
    // Domain 0 binds to it through the core, and sends.
    let w = &mut t.w;
    let local = w.with(|_, mm| t.events.bind_interdomain(mm, D0, D1, port)).unwrap();
    w.with(|_, mm| t.events.send(mm, D0, local)).unwrap();
    assert_eq!(t.word(SI1.to_maddr() + 2048) & 2, 2, "port 1 pending in domain 1's shared_info");
    assert_eq!(t.word(SI1.to_maddr()) & 0xFF, 1, "domain 1's evtchn_upcall_pending");
    // The PVH side answers on its port: domain 0's bit.
    assert_eq!(t.evtchn(EVTCHNOP_SEND, &port.to_le_bytes()), 0);
    assert_eq!(t.word(SI0.to_maddr() + 2048) >> local & 1, 1);
    // Status names the peer.
    let mut st = vec![0u8; 24];
    st[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    st[4..8].copy_from_slice(&port.to_le_bytes());
    assert_eq!(t.evtchn(EVTCHNOP_STATUS, &st), 0);
    assert_eq!(t.out_u32(8), EVTCHNSTAT_INTERDOMAIN);
    assert_eq!(t.out_u32(16), 0, "the peer domain");
    assert_eq!(t.out_u32(20), local, "the peer port");
    // Closing: the peer goes back to unbound.
    assert_eq!(t.evtchn(EVTCHNOP_CLOSE, &port.to_le_bytes()), 0);
    assert_eq!(t.events.status(D0, D0, local).unwrap().status, EVTCHNSTAT_UNBOUND);
}

#[test]
fn bad_ports_domains_and_pointers_get_xens_errno() {
    let mut t = world();
    for (cmd, arg, e) in [
        (EVTCHNOP_SEND, 5u32.to_le_bytes().to_vec(), Errno::EINVAL),
        (EVTCHNOP_SEND, 4096u32.to_le_bytes().to_vec(), Errno::EINVAL),
        (EVTCHNOP_CLOSE, 70u32.to_le_bytes().to_vec(), Errno::EINVAL),
        (EVTCHNOP_UNMASK, u32::MAX.to_le_bytes().to_vec(), Errno::EINVAL),
        // Not domain 0's ports to open: domain 1 is not privileged.
        (EVTCHNOP_ALLOC_UNBOUND, two_u16(0, 1), Errno::EPERM),
        (EVTCHNOP_BIND_INTERDOMAIN, [7u16.to_le_bytes().to_vec(), vec![0; 10]].concat(), Errno::ESRCH),
        (EVTCHNOP_BIND_VIRQ, [99u32.to_le_bytes(), 0u32.to_le_bytes(), [0; 4]].concat(), Errno::EINVAL),
        (99, vec![0; 4], Errno::ENOSYS),
    ] {
        assert_eq!(t.evtchn(cmd, &arg), ERR(e), "cmd {cmd} {arg:?}");
    }
    // Domain 0's port 1 is not reachable from domain 1's tables.
    let p0 = t.w.with(|_, _| t.events.alloc_unbound(D0, D0, D0)).unwrap();
    let mut st = vec![0u8; 24];
    st[4..8].copy_from_slice(&p0.to_le_bytes());
    assert_eq!(t.evtchn(EVTCHNOP_STATUS, &st), ERR(Errno::EPERM), "another domain's status");
    // A structure outside its memory.
    assert_eq!(t.call(HypercallNr::EVENT_CHANNEL_OP, [EVTCHNOP_SEND, 0x40_0000, 0, 0, 0]).0, ERR(Errno::EFAULT));
    // FIFO control blocks must be its RAM: a gfn it does not have.
    let mut ic = vec![0u8; 24];
    ic[..8].copy_from_slice(&900u64.to_le_bytes());
    assert_eq!(t.evtchn(EVTCHNOP_INIT_CONTROL, &ic), ERR(Errno::EINVAL));
    t.w.check().unwrap();
}

#[test]
fn virq_timer_fires_from_set_timer_op_as_for_pv() {
    let mut t = world();
    assert_eq!(t.evtchn(EVTCHNOP_BIND_VIRQ, &[virq::TIMER.to_le_bytes(), [0; 4], [0; 4]].concat()), 0);
    let port = t.out_u32(8);
    // In the future: armed, nothing pending yet.
    assert_eq!(t.call(HypercallNr::SET_TIMER_OP, [t.now + 5000, 0, 0, 0, 0]).0, 0);
    assert_eq!(t.vcpu.time.timers.singleshot, Some(crate::time::SystemTime(t.now + 5000)));
    assert_eq!(t.word(SI1.to_maddr() + 2048) >> port & 1, 0);
    // Already past: VIRQ_TIMER at once.
    assert_eq!(t.call(HypercallNr::SET_TIMER_OP, [t.now - 1, 0, 0, 0, 0]).0, 0);
    assert_eq!(t.word(SI1.to_maddr() + 2048) >> port & 1, 1);
    assert_eq!(t.word(SI1.to_maddr()) & 0xFF, 1, "upcall pending");
}

#[test]
fn register_vcpu_info_takes_a_guest_frame_of_its_own_ram() {
    let mut t = world();
    let reg = |t: &mut T, gfn: u64, off: u32| {
        let b = [gfn.to_le_bytes().to_vec(), off.to_le_bytes().to_vec(), vec![0; 4]].concat();
        t.poke(0x3000, &b);
        t.call(HypercallNr::VCPU_OP, [abi::vcpu::VCPUOP_REGISTER_VCPU_INFO, 0, 0x3000, 0, 0]).0
    };
    assert_eq!(reg(&mut t, 5, 4090), ERR(Errno::ENXIO), "crosses the page");
    assert_eq!(reg(&mut t, 5, 3), ERR(Errno::ENXIO), "misaligned");
    assert_eq!(reg(&mut t, 900, 0), ERR(Errno::EINVAL), "not its RAM");
    assert_eq!(reg(&mut t, u64::MAX, 0), ERR(Errno::EINVAL), "past its p2m");
    assert_eq!(
        t.call(HypercallNr::VCPU_OP, [abi::vcpu::VCPUOP_REGISTER_VCPU_INFO, 1, 0x3000, 0, 0]).0,
        ERR(Errno::ENOENT)
    );
    assert_eq!(reg(&mut t, 5, 64), 0);
    let mfn = t.w.get(5).unwrap().0.mfn;
    assert_eq!(t.vcpu.vcpu_info_location(), PhysAddr(mfn.to_maddr() + 64));
    assert_eq!(t.events.vcpu_info_frame(D1), Some(mfn));
    assert_eq!(reg(&mut t, 6, 0), ERR(Errno::EINVAL), "registered once");
    assert_eq!(t.call(HypercallNr::VCPU_OP, [abi::vcpu::VCPUOP_IS_UP, 0, 0, 0, 0]).0, 1, "up");
    t.w.check_with(&t.events.frame_refs()).unwrap();
    // Ballooned out, the frame stays alive under the event core's reference.
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[5], 0).0, 1);
    assert!(t.w.w.info(mfn).count() > 0, "still referenced");
    t.w.check_with(&t.events.frame_refs()).unwrap();
}

#[test]
fn add_to_physmap_places_shared_info_at_a_guest_frame_and_moves_it() {
    let mut t = world();
    let before = t.w.w.doms[1].tot_pages;
    assert_eq!(t.physmap(DomId::SELF.0, XENMAPSPACE_SHARED_INFO, 0, 10), (0, Outcome::Continue));
    assert_eq!(t.w.get(10).map(|(e, _)| e.mfn), Some(SI1));
    assert_eq!(t.w.w.doms[1].tot_pages, before - 1, "the RAM that was there went back");
    assert!(t.npt.changed.contains(&(10, Order::Page4K)));
    // Again elsewhere: the old place is empty.
    assert_eq!(t.physmap(DomId::SELF.0, XENMAPSPACE_SHARED_INFO, 0, 12).0, 0);
    assert_eq!(t.w.get(12).map(|(e, _)| e.mfn), Some(SI1));
    assert_eq!(t.w.get(10), None);
    // The same place again changes nothing.
    assert_eq!(t.physmap(DomId::SELF.0, XENMAPSPACE_SHARED_INFO, 0, 12).0, 0);
    // Refusals.
    assert_eq!(t.physmap(DomId::SELF.0, XENMAPSPACE_SHARED_INFO, 1, 14).0, ERR(Errno::EINVAL), "idx");
    assert_eq!(t.physmap(DomId::SELF.0, XENMAPSPACE_SHARED_INFO, 0, 1 << 40).0, ERR(Errno::EINVAL), "gpfn");
    assert_eq!(t.physmap(0, XENMAPSPACE_SHARED_INFO, 0, 14).0, ERR(Errno::EPERM), "another domain");
    assert_eq!(t.physmap(9, XENMAPSPACE_SHARED_INFO, 0, 14).0, ERR(Errno::ESRCH));
    assert_eq!(t.physmap(DomId::SELF.0, abi::memory::XENMAPSPACE_GMFN, 3, 14).0, ERR(Errno::ENOSYS));
    t.w.check().unwrap();
    // Hostile: giving shared_info back through the balloon unmaps it but
    // the frame stays the hypervisor's, lent, and allocated.
    let (done, _) = t.reservation(XENMEM_DECREASE_RESERVATION, &[12], 0);
    assert_eq!(done, 0);
    assert!(t.w.w.info(SI1).allocated() && t.w.w.info(SI1).xen_heap());
    t.w.check().unwrap();
}
