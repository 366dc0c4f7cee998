//! The `xen_version`, `memory_op` and `update_descriptor` additions of
//! issue 9: one test per errno row and per layout.

use super::*;
use crate::mm::tests::world::{D0, D1, FLAGS};
use abi::hypercall::HypercallNr as N;
use abi::memory::*;
use abi::version::*;
use abi::Errno;

fn call(w: &mut World, dom: DomId, g: &FakeGuest, nr: HypercallNr, args: &[u64]) -> i64 {
    run(w, dom, g, &mut Sink::default(), nr.0, args).0 as i64
}

use abi::hypercall::HypercallNr;

fn err(e: Errno) -> i64 {
    e.to_rax()
}

#[test]
fn compile_info_changeset_and_guest_handle_fill_their_fixed_layouts() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    g.put(BASE, &[0xAA; 2048]);
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_COMPILE_INFO, BASE]), 0);
    let b = g.bytes.borrow()[..145].to_vec();
    assert_eq!(&b[..6], b"rustc\0");
    assert_eq!(&b[64..73], b"xen-core\0");
    assert_eq!(b[80], 0);
    assert_eq!(&b[112..120], b"unknown\0");
    assert!(b[120..144].iter().all(|&c| c == 0), "NUL-padded");
    assert_eq!(b[144], 0xAA, "144 bytes exactly");
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_CHANGESET, BASE + 1024]), 0);
    assert_eq!(&g.bytes.borrow()[1024..1036], b"unavailable\0");
    assert_eq!(g.bytes.borrow()[1024 + 64], 0xAA);
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_GUEST_HANDLE, BASE + 1500]), 0);
    assert!(g.bytes.borrow()[1500..1516].iter().all(|&c| c == 0));
    for cmd in [XENVER_COMPILE_INFO, XENVER_CHANGESET, XENVER_GUEST_HANDLE] {
        assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[cmd, 0xFFFF_8000_0000_0000]), err(Errno::EFAULT));
    }
}

#[test]
fn the_command_line_is_denied_to_unprivileged_domains_and_build_id_refused() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    g.put(BASE, &[0xAA; 2048]);
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_COMMANDLINE, BASE]), 0);
    assert_eq!(&g.bytes.borrow()[..10], b"<denied>\0\xAA", "only 9 bytes are copied");
    assert_eq!(call(&mut w, D0, &g, N::XEN_VERSION, &[XENVER_COMMANDLINE, BASE]), 0);
    assert!(g.bytes.borrow()[..1024].iter().all(|&c| c == 0), "the test host's command line is empty");
    assert_eq!(g.bytes.borrow()[1024], 0xAA);
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_BUILD_ID, 0]), err(Errno::EPERM));
    assert_eq!(call(&mut w, D0, &g, N::XEN_VERSION, &[XENVER_BUILD_ID, 0]), err(Errno::ENODATA));
    g.put(BASE, &0u32.to_le_bytes());
    assert_eq!(call(&mut w, D0, &g, N::XEN_VERSION, &[XENVER_BUILD_ID, BASE]), err(Errno::EINVAL));
    g.put(BASE, &64u32.to_le_bytes());
    assert_eq!(call(&mut w, D0, &g, N::XEN_VERSION, &[XENVER_BUILD_ID, BASE]), err(Errno::ENODATA));
    assert_eq!(call(&mut w, D0, &g, N::XEN_VERSION, &[XENVER_BUILD_ID, 0x8000_0000_0000]), err(Errno::EFAULT));
}

#[test]
fn features_are_only_what_works() {
    let f = crate::hypercall::system::features(false, 0);
    assert_eq!(f, (1 << 5) | (1 << 6) | (1 << 7) | (1 << 17));
    assert_ne!(f & (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS), 0, "grant maps take the avail bits");
    assert_eq!(crate::hypercall::system::features(true, 0) & (1 << XENFEAT_DOM0), 1 << XENFEAT_DOM0);
    assert_ne!(crate::hypercall::system::features(false, 1 << 3) & (1 << XENFEAT_PAE_PGDIR_ABOVE_4GB), 0);
    let mut w = World::new(64);
    let g = FakeGuest::new(64);
    assert_eq!(call(&mut w, D1, &g, N::XEN_VERSION, &[XENVER_GET_FEATURES, BASE]), 0);
    assert_eq!(g.u32_at(BASE + 4), f);
}

#[test]
fn maximum_ram_page_and_machphys_mapping_report_the_host() {
    let mut w = World::new(64);
    let g = FakeGuest::new(64);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MAXIMUM_RAM_PAGE, 0]), 0x8000);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MAXIMUM_RAM_PAGE | 1 << 6, 0]), err(Errno::EINVAL));
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MAPPING, BASE]), 0);
    assert_eq!(
        (g.u64_at(BASE), g.u64_at(BASE + 8), g.u64_at(BASE + 16)),
        (0xFFFF_8000_0000_0000, 0xFFFF_8040_0000_0000, (1 << 35) - 1)
    );
    assert_eq!(call(&mut w, D0, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MAPPING, BASE]), 0);
    assert_eq!(g.u64_at(BASE + 16), 0x7FFF, "the hardware domain sees the last RAM frame");
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MAPPING | 1 << 6, BASE]), err(Errno::ENOSYS));
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MAPPING, 0]), err(Errno::EFAULT));
}

#[test]
fn machphys_mfn_list_gives_a_frame_per_2_mib_of_m2p_up_to_max_extents() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    // 0x8000 frames: 256 KiB of M2P, one extent.
    g.put_u64s(BASE, &[8, BASE + 64, 0x99]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MFN_LIST, BASE]), 0);
    assert_eq!((g.u32_at(BASE + 16), g.u64_at(BASE + 64)), (1, 0x100));
    g.put_u64s(BASE, &[0, BASE + 64, 0x99]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MFN_LIST, BASE]), 0);
    assert_eq!(g.u32_at(BASE + 16), 0);
    g.put_u64s(BASE, &[8, 0xFFFF_8000_0000_0000, 0x99]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHPHYS_MFN_LIST, BASE]), err(Errno::EFAULT));
    assert_eq!(crate::hypercall::memory::m2p_extents(0x4_0000 + 1), 2);
}

#[test]
fn memory_map_is_one_ram_entry_for_a_domu_and_enosys_for_domain_0() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    g.put_u64s(BASE, &[4, BASE + 64]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MEMORY_MAP, BASE]), 0);
    assert_eq!(g.u32_at(BASE), 1);
    assert_eq!((g.u64_at(BASE + 64), g.u64_at(BASE + 72), g.u32_at(BASE + 80)), (0, 1000 << 12, E820_RAM));
    g.put_u64s(BASE, &[0, BASE + 64]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MEMORY_MAP, BASE]), 0);
    assert_eq!(g.u32_at(BASE), 0, "a short buffer truncates");
    assert_eq!(call(&mut w, D0, &g, N::MEMORY_OP, &[XENMEM_MEMORY_MAP, BASE]), err(Errno::ENOSYS));
    g.put_u64s(BASE, &[1, 0xFFFF_8000_0000_0000]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MEMORY_MAP, BASE]), err(Errno::EFAULT));
}

#[test]
fn machine_memory_map_is_for_the_control_domain_and_needs_room_for_one_more() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    g.put_u64s(BASE, &[4, BASE + 64]);
    assert_eq!(call(&mut w, D1, &g, N::MEMORY_OP, &[XENMEM_MACHINE_MEMORY_MAP, BASE]), err(Errno::EPERM));
    // The test host has an empty map: room for 0 + 1 entries is enough.
    assert_eq!(call(&mut w, D0, &g, N::MEMORY_OP, &[XENMEM_MACHINE_MEMORY_MAP, BASE]), 0);
    assert_eq!(g.u32_at(BASE), 0);
    g.put_u64s(BASE, &[0, BASE + 64]);
    assert_eq!(call(&mut w, D0, &g, N::MEMORY_OP, &[XENMEM_MACHINE_MEMORY_MAP, BASE]), err(Errno::EINVAL));
    g.put_u64s(BASE, &[0, 0]);
    assert_eq!(call(&mut w, D0, &g, N::MEMORY_OP, &[XENMEM_MACHINE_MEMORY_MAP, BASE]), 0, "NULL: the count only");
}

#[test]
fn update_descriptor_writes_checked_descriptors_and_refuses_the_rest() {
    let mut w = World::new(64);
    let c = crate::mm::tests::world::pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    let theirs = w.give(D0, 1)[0];
    let g = FakeGuest::new(64);
    let ud = |w: &mut World, maddr: u64, desc: u64| call(w, D1, &g, N::UPDATE_DESCRIPTOR, &[maddr, desc]);
    assert_eq!(ud(&mut w, f[0].to_maddr() + 8, 0x00CF_9200_0000_FFFF), 0);
    assert_eq!(w.read(f[0], 1), 0x00CF_F200_0000_FFFF, "stored with DPL 3");
    assert_eq!(w.info(f[0]).type_count(), 0, "the writable reference is dropped again");
    assert_eq!(ud(&mut w, f[0].to_maddr() + 4, 0), err(Errno::EINVAL), "not 8-aligned");
    assert_eq!(ud(&mut w, f[0].to_maddr(), 0x0000_8900_0000_0067), err(Errno::EINVAL), "TSS");
    assert_eq!(ud(&mut w, theirs.to_maddr(), 0), err(Errno::EINVAL), "another domain's frame");
    assert_eq!(ud(&mut w, 0x7FFF_F000_0000, 0), err(Errno::EINVAL), "not RAM");
    assert_eq!(ud(&mut w, c.l1.to_maddr(), 0), err(Errno::EINVAL), "a page table");
    // A live GDT frame stays a descriptor page and is written in place.
    w.mm().set_gdt(D1, &[f[1]], 16).unwrap();
    assert_eq!(ud(&mut w, f[1].to_maddr() + 16, 0x00AF_FA00_0000_FFFF), 0);
    assert_eq!(w.read(f[1], 2), 0x00AF_FA00_0000_FFFF);
    assert_eq!(w.info(f[1]).type_count(), 1, "still the GDT's one reference");
    // A frame mapped writable takes the write too.
    assert_eq!(w.update(D1, c.l1, 9, f[0].to_maddr() | FLAGS), Ok(()));
    assert_eq!(ud(&mut w, f[0].to_maddr(), 0), 0);
    w.check();
}
