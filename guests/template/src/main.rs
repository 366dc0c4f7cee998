//! template: a complete PV guest. It prints, maps a frame with `mmu_update`,
//! gives a page back, checks the reservation and shuts down. `make new-guest
//! NAME=x` copies it to guests/x; `make run-guest NAME=template` boots it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use abi::{guest, DomId};
use guest_rt::{mm, println, Boot};

guest_rt::guest! { name: "template", main: start }

fn start(mut boot: Boot) -> ! {
    // Print through the console ring when there is one (every domain but
    // domain 0, which keeps console_io).
    let _ = guest_rt::console_ring::use_ring(&boot);
    let (major, minor) = guest::version();
    println!("template: hello from a PV guest on {major}.{minor}, cmdline '{}'", boot.cmdline());

    // Map frame b a second time, at a's address: one mmu_update of the L1
    // entry that maps a (found by walking the page tables).
    let a = boot.take_frame().expect("a free frame");
    let mut b = boot.take_frame().expect("another free frame");
    b.bytes()[0] = 0x5A;
    let (a_va, b_mfn) = (a.va().0, b.mfn().0);
    let mut window = mm::map_frame(&boot, a, &mut b).expect("mmu_update");
    assert_eq!(window.bytes()[0], 0x5A, "the window shows frame b");
    println!("template: mapped frame {b_mfn:#x} at {a_va:#x} as well");
    let a = window.unmap().expect("map a back");

    // Give one page back: the reservation drops by one.
    let before = guest::current_reservation(DomId::SELF).expect("current_reservation");
    mm::balloon_out(&mut boot, a).expect("decrease_reservation");
    let after = guest::current_reservation(DomId::SELF).expect("current_reservation");
    assert_eq!(after + 1, before, "the reservation dropped by one page");
    println!("template: gave a page back, reservation {before} -> {after} pages");
    guest_rt::succeed()
}
