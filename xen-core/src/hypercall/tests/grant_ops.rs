//! `grant_table_op` through the dispatcher: the return-value rows (errno)
//! and the struct layouts the glue decodes, and a preempted batch.

use super::*;
use crate::mm::tests::world::{D1, D2};
use abi::grant_table::*;
use abi::hypercall::HypercallNr as N;
use abi::Errno;

fn setup() -> (World, FakeGuest) {
    let mut w = World::new(64);
    w.hooks.pool = (40..64).map(Mfn).collect();
    with_grants(|g| {
        let mut mm = w.mm();
        g.init_domain(&mut mm, D1).unwrap();
        g.init_domain(&mut mm, D2).unwrap();
    });
    (w, FakeGuest::new(8192))
}

fn gt(w: &mut World, g: &FakeGuest, cmd: u64, uop: u64, count: u64) -> i64 {
    run(w, D1, g, &mut Sink::default(), N::GRANT_TABLE_OP.0, &[cmd, uop, count]).0 as i64
}

#[test]
fn grant_table_op_return_values() {
    let (mut w, g) = setup();
    let e = |e: Errno| e.to_rax();
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE, BASE, 1 << 31), e(Errno::EINVAL), "count above INT_MAX");
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE | 1 << 12, BASE, 1), e(Errno::EINVAL), "continuation bits");
    assert_eq!(gt(&mut w, &g, 13, BASE, 1), e(Errno::ENOSYS));
    for cmd in [GNTTABOP_DUMP_TABLE, GNTTABOP_TRANSFER, GNTTABOP_CACHE_FLUSH] {
        assert_eq!(gt(&mut w, &g, cmd, BASE, 1), e(Errno::ENOSYS), "cmd {cmd}");
    }
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE, BASE, 2), e(Errno::EINVAL));
    assert_eq!(gt(&mut w, &g, GNTTABOP_SETUP_TABLE, BASE, 0), e(Errno::EINVAL));
    assert_eq!(gt(&mut w, &g, GNTTABOP_GET_STATUS_FRAMES, BASE, 2), e(Errno::EINVAL));
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE, 0xFFFF_8000_0000_0000, 1), e(Errno::EFAULT));
    assert_eq!(gt(&mut w, &g, GNTTABOP_MAP_GRANT_REF, 0xFFFF_8000_0000_0000, 1), e(Errno::EFAULT));
    assert_eq!(gt(&mut w, &g, GNTTABOP_MAP_GRANT_REF, 0xFFFF_8000_0000_0000, 0), 0, "empty batch");
    assert_eq!(gt(&mut w, &g, GNTTABOP_COPY, (1 << 47) - 40, 2), e(Errno::EFAULT), "array across 2^47");
    // get_version: unknown domain is the return value.
    g.put(BASE, &0x33u16.to_le_bytes());
    assert_eq!(gt(&mut w, &g, GNTTABOP_GET_VERSION, BASE, 1), e(Errno::ESRCH));
    g.put(BASE, &DomId::SELF.0.to_le_bytes());
    assert_eq!(gt(&mut w, &g, GNTTABOP_GET_VERSION, BASE, 1), 0);
    assert_eq!(g.u32_at(BASE + 4), 1);
    g.put(BASE, &3u32.to_le_bytes());
    assert_eq!(gt(&mut w, &g, GNTTABOP_SET_VERSION, BASE, 1), e(Errno::EINVAL));
    assert_eq!(g.u32_at(BASE), 1, "the current version is copied back");
}

#[test]
fn setup_table_and_query_size_fill_their_layouts() {
    let (mut w, g) = setup();
    // setup_table {dom @0, nr_frames @4, status @8, frame_list @16}
    g.put(BASE, &DomId::SELF.0.to_le_bytes());
    g.put(BASE + 4, &2u32.to_le_bytes());
    g.put(BASE + 8, &0x5555u16.to_le_bytes());
    g.put_u64s(BASE + 16, &[BASE + 64]);
    assert_eq!(gt(&mut w, &g, GNTTABOP_SETUP_TABLE, BASE, 1), 0);
    assert_eq!(g.u32_at(BASE + 8) as u16, 0);
    let f0 = g.u64_at(BASE + 64);
    assert!(w.info(Mfn(f0)).xen_heap(), "frame 0 is a Xen-heap frame: {f0:#x}");
    assert_ne!(g.u64_at(BASE + 72), 0);
    // A list the hypervisor cannot write: the status says so.
    g.put_u64s(BASE + 16, &[0xFFFF_8000_0000_0000]);
    assert_eq!(gt(&mut w, &g, GNTTABOP_SETUP_TABLE, BASE, 1), Errno::EFAULT.to_rax(), "range checked first");
    // query_size {dom @0, nr_frames @4, max @8, status @12}
    g.put(BASE + 256, &DomId::SELF.0.to_le_bytes());
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE, BASE + 256, 1), 0);
    assert_eq!((g.u32_at(BASE + 260), g.u32_at(BASE + 264), g.u32_at(BASE + 268) as u16), (2, 4, 0));
    g.put(BASE + 256, &77u16.to_le_bytes());
    assert_eq!(gt(&mut w, &g, GNTTABOP_QUERY_SIZE, BASE + 256, 1), 0);
    assert_eq!(g.u32_at(BASE + 268) as i16, status::BAD_DOMAIN);
}

#[test]
fn a_long_copy_batch_is_preempted_and_continued() {
    let (mut w, g) = setup();
    let own = w.give(D1, 2);
    w.hooks.preempt_batch_after = Some(8);
    let n = 20u64;
    for i in 0..n {
        let at = BASE + i * 40;
        g.put_u64s(at, &[own[0].0]);
        g.put(at + 8, &DomId::SELF.0.to_le_bytes());
        g.put_u64s(at + 16, &[own[1].0]);
        g.put(at + 24, &DomId::SELF.0.to_le_bytes());
        g.put(at + 26, &((i * 8) as u16).to_le_bytes());
        g.put(at + 32, &8u16.to_le_bytes());
        g.put(at + 36, &0x7777u16.to_le_bytes());
    }
    let (rax, entries) = run(&mut w, D1, &g, &mut Sink::default(), N::GRANT_TABLE_OP.0, &[GNTTABOP_COPY, BASE, n]);
    assert_eq!(rax, 0);
    assert!(entries > 1, "preempted at least once");
    for i in 0..n {
        assert_eq!(g.u32_at(BASE + i * 40 + 36) as u16, 0, "element {i} done once");
    }
}

#[test]
fn map_and_unmap_elements_are_decoded_and_written_back_at_their_offsets() {
    let (mut w, g) = setup();
    // map {host_addr @0, flags @8, ref @12, dom @16, status @18, handle @20,
    // dev_bus_addr @24}, two elements at an odd address: an unknown domain,
    // then D2 with a reference beyond its table.
    let at = BASE + 3;
    for (i, dom) in [(0u64, 0x7FF0u16), (1, D2.0)] {
        let e = at + i * 32;
        g.put_u64s(e, &[0x1234_5000, u64::from(gntmap::HOST_MAP) | 0xFFFF_FF00 << 32]);
        g.put(e + 16, &dom.to_le_bytes());
        g.put(e + 18, &0x5555u16.to_le_bytes());
        g.put(e + 20, &0x6666_6666u32.to_le_bytes());
        g.put_u64s(e + 24, &[0x7777_7777_7777_7777]);
    }
    assert_eq!(gt(&mut w, &g, GNTTABOP_MAP_GRANT_REF, at, 2), 0);
    for (i, (dom, st)) in [(0x7FF0u16, status::BAD_DOMAIN), (D2.0, status::BAD_GNTREF)].into_iter().enumerate() {
        let e = at + i as u64 * 32;
        assert_eq!(g.u64_at(e), 0x1234_5000, "host_addr kept");
        assert_eq!(g.u64_at(e + 8), u64::from(gntmap::HOST_MAP) | 0xFFFF_FF00 << 32, "flags and ref kept");
        assert_eq!(g.u32_at(e + 16) as u16, dom, "dom kept");
        assert_eq!((g.u32_at(e + 16) >> 16) as i16, st, "status at 18");
    }
    // unmap {host_addr @0, dev_bus_addr @8, handle @16, status @20}: a bad
    // handle; only the status changes.
    g.put_u64s(BASE, &[0x1234_5000, 0x99, 0xAAAA_BBBB_0000_7FFF]);
    assert_eq!(gt(&mut w, &g, GNTTABOP_UNMAP_GRANT_REF, BASE, 1), 0);
    assert_eq!((g.u64_at(BASE), g.u64_at(BASE + 8)), (0x1234_5000, 0x99));
    assert_eq!(g.u32_at(BASE + 16), 0x7FFF, "handle kept");
    assert_eq!(g.u32_at(BASE + 20) as i16, status::BAD_HANDLE, "status at 20");
    assert_eq!((g.u32_at(BASE + 20) >> 16) as u16, 0xAAAA, "the pad after it kept");
}
