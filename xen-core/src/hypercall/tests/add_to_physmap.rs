//! `XENMEM_add_to_physmap` and its batch, refused to PV domains as Xen
//! 4.17 refuses them, each check in Xen's order.

use super::*;
use crate::mm::tests::world::{D0, D1};
use abi::hypercall::HypercallNr as N;
use abi::memory::*;
use abi::Errno;

/// `memory_op(cmd, BASE)` by `dom` with `arg` at BASE; the errno.
fn call(dom: DomId, cmd: u64, arg: &[u8]) -> i64 {
    let mut w = World::new(16);
    let g = FakeGuest::new(4096);
    g.put(BASE, arg);
    let (rax, _) = run(&mut w, dom, &g, &mut Sink::default(), N::MEMORY_OP.0, &[cmd, BASE]);
    rax as i64
}

fn xatp(domid: u16, space: u32) -> Vec<u8> {
    let mut a = vec![0u8; 24];
    a[..2].copy_from_slice(&domid.to_le_bytes());
    a[4..8].copy_from_slice(&space.to_le_bytes());
    a
}

fn xatpb(domid: u16, space: u16) -> Vec<u8> {
    let mut a = vec![0u8; 32];
    a[..2].copy_from_slice(&domid.to_le_bytes());
    a[2..4].copy_from_slice(&space.to_le_bytes());
    a
}

const SELF: u16 = 0x7FF0;

fn e(x: Errno) -> i64 {
    -i64::from(x.0)
}

#[test]
fn a_pv_domain_is_refused_with_eacces_whatever_the_space_or_privilege() {
    for dom in [D0, D1] {
        for space in [XENMAPSPACE_SHARED_INFO, XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_GMFN, 3, 99] {
            assert_eq!(call(dom, XENMEM_ADD_TO_PHYSMAP, &xatp(SELF, space)), e(Errno::EACCES), "space {space}");
        }
        assert_eq!(call(dom, XENMEM_ADD_TO_PHYSMAP, &xatp(0, 2)), e(Errno::EACCES), "naming domain 0");
        for space in [0, 1, 2, 4, 99] {
            assert_eq!(call(dom, XENMEM_ADD_TO_PHYSMAP_BATCH, &xatpb(SELF, space)), e(Errno::EACCES), "{space}");
        }
    }
}

#[test]
fn each_form_refuses_the_space_it_does_not_take_before_the_domain_lookup() {
    assert_eq!(call(D1, XENMEM_ADD_TO_PHYSMAP, &xatp(500, XENMAPSPACE_GMFN_FOREIGN)), e(Errno::ENOSYS));
    let range = XENMAPSPACE_GMFN_RANGE as u16;
    assert_eq!(call(D1, XENMEM_ADD_TO_PHYSMAP_BATCH, &xatpb(500, range)), e(Errno::EOPNOTSUPP));
}

#[test]
fn an_unknown_domain_is_esrch() {
    assert_eq!(call(D1, XENMEM_ADD_TO_PHYSMAP, &xatp(500, 2)), e(Errno::ESRCH));
    assert_eq!(call(D1, XENMEM_ADD_TO_PHYSMAP_BATCH, &xatpb(0x7FF2, 2)), e(Errno::ESRCH));
}

#[test]
fn progress_beyond_sixteen_bits_is_edom_and_within_them_goes_on() {
    for op in [XENMEM_ADD_TO_PHYSMAP, XENMEM_ADD_TO_PHYSMAP_BATCH] {
        let arg = xatpb(SELF, 2);
        assert_eq!(call(D1, op | (0x1_0000 << 6), &arg), e(Errno::EDOM));
        assert_eq!(call(D1, op | (0xFFFF << 6), &xatp(SELF, 2)), e(Errno::EACCES));
    }
}

#[test]
fn an_unreadable_argument_is_efault() {
    let mut w = World::new(16);
    let g = FakeGuest::new(16);
    for op in [XENMEM_ADD_TO_PHYSMAP, XENMEM_ADD_TO_PHYSMAP_BATCH] {
        let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MEMORY_OP.0, &[op, BASE]);
        assert_eq!(rax as i64, e(Errno::EFAULT), "the struct runs past the guest's memory");
    }
}
