//! The PVH builder: layout refusals, the start-of-day page, and a whole
//! build into a p2m of the memory model's test world.

use super::*;
use crate::domain::elf::tests::Fixture;
use crate::hvm::gmem::{GuestPaging, GuestView};
use crate::p2m::tests::world::P2mWorld;
use abi::elfnote::XEN_ELFNOTE_PHYS32_ENTRY;

fn pvh(entry: u32, paddr: u64) -> Fixture {
    let mut f = Fixture::pv();
    f.segs = vec![(paddr, paddr, (0..0x1800u32).map(|i| i as u8).collect(), 0x3000)];
    f.notes.push((XEN_ELFNOTE_PHYS32_ENTRY, entry.to_le_bytes().to_vec()));
    f.entry = u64::from(entry);
    f
}

fn plan(f: &Fixture, mem: u64) -> Result<PvhLayout, PvhError> {
    let bytes = f.bytes();
    let elf = Elf::parse(&bytes).unwrap();
    let notes = XenNotes::read(&elf).unwrap();
    PvhLayout::plan(&elf, &notes, mem)
}

#[test]
fn a_pvh_kernel_is_laid_out_with_its_start_info_in_the_page_after_it() {
    let l = plan(&pvh(0x10_0010, 0x10_0000), 4 << 20).unwrap();
    assert_eq!(l.entry, 0x10_0010);
    assert_eq!(l.start_info, 0x10_3000, "memsz 0x3000: the page after the image");
    assert_eq!((l.memmap, l.cmdline), (0x10_3040, 0x10_3100));
    assert_eq!(l.ram(), [(0, 0xA_0000), (0x10_0000, 4 << 20)]);
}

#[test]
fn an_image_in_low_ram_gets_its_start_page_below_the_hole() {
    // guest-kernel's one ELF: PV virtual addresses, physical ones from 0.
    let l = plan(&pvh(0x10, 0), 4 << 20).unwrap();
    assert_eq!((l.entry, l.start_info), (0x10, 0x3000));
}

#[test]
fn images_that_are_not_pvh_or_do_not_fit_are_refused() {
    assert_eq!(plan(&Fixture::pv(), 4 << 20), Err(PvhError::NoPhys32Entry));
    assert_eq!(plan(&pvh(0x20_0000, 0x10_0000), 4 << 20), Err(PvhError::BadEntry), "entry outside the image");
    assert_eq!(plan(&pvh(0x10, 0), 1 << 20), Err(PvhError::TooSmall), "no RAM above the hole");
    assert_eq!(plan(&pvh(0x10, 0), 0x8_0000), Err(PvhError::TooSmall), "RAM below the hole's start");
    assert_eq!(plan(&pvh(0x9_F000, 0x9_F000), 4 << 20), Err(PvhError::SegmentOutsideRam), "across the hole");
    assert_eq!(plan(&pvh(0xB_0000, 0xB_0000), 4 << 20), Err(PvhError::SegmentOutsideRam), "in the hole");
    assert_eq!(plan(&pvh(0x9_D010, 0x9_D000), 4 << 20), Err(PvhError::TooSmall), "no start page below the hole");
    assert_eq!(plan(&pvh(0x3F_F000, 0x3F_F000), 4 << 20), Err(PvhError::SegmentOutsideRam), "past mem=");
    assert_eq!(plan(&pvh(0x3F_D000, 0x3F_D000), 4 << 20), Err(PvhError::TooSmall), "no room for the start page");
}

#[test]
fn the_start_page_holds_a_version_1_start_info_with_the_memory_map_and_cmdline() {
    let l = plan(&pvh(0x10_0010, 0x10_0000), 4 << 20).unwrap();
    let page = l.start_page(b"hello pvh");
    let u32_at = |o: usize| u32::from_le_bytes(page[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(page[o..o + 8].try_into().unwrap());
    assert_eq!(u32_at(0), XEN_HVM_START_MAGIC_VALUE);
    assert_eq!(u32_at(4), 1);
    assert_eq!(u64_at(24), u64::from(l.cmdline));
    assert_eq!((u64_at(40), u32_at(48)), (u64::from(l.memmap), 3));
    let off = (l.memmap - l.start_info) as usize;
    let entry = |i: usize| (u64_at(off + i * 24), u64_at(off + i * 24 + 8), u32_at(off + i * 24 + 16));
    assert_eq!(entry(0), (0, 0xA_0000, memmap_type::RAM));
    assert_eq!(entry(1), (0xA_0000, 0x6_0000, memmap_type::RESERVED));
    assert_eq!(entry(2), (0x10_0000, (4 << 20) - 0x10_0000, memmap_type::RAM));
    let c = (l.cmdline - l.start_info) as usize;
    assert_eq!(&page[c..c + 10], b"hello pvh\0");
    // A long command line is cut and still NUL-ended.
    let long = vec![b'x'; 5000];
    let page = l.start_page(&long);
    assert_eq!(page[4095], 0);
    assert_eq!(page[4094], b'x');
}

#[test]
fn a_build_populates_ram_around_the_hole_and_loads_the_image_at_its_physical_address() {
    let f = pvh(0x10_0010, 0x10_0000);
    let bytes = f.bytes();
    let elf = Elf::parse(&bytes).unwrap();
    let notes = XenNotes::read(&elf).unwrap();
    // The test p2m holds three 2 MiB chunks: 6 MiB of RAM.
    let mut w = P2mWorld::new();
    let l = PvhLayout::plan(&elf, &notes, 6 << 20).unwrap();
    w.with(|p2m, mm| {
        populate(p2m, mm, &l).unwrap();
        load(p2m, mm.mem, &elf, &l, b"console=pvh").unwrap();
        assert!(p2m.get(Gfn(0x9F)).is_some() && p2m.get(Gfn(0xA0)).is_none() && p2m.get(Gfn(0xFF)).is_none());
        assert!(p2m.get(Gfn(0x100)).is_some() && p2m.get(Gfn(0x5FF)).is_some() && p2m.get(Gfn(0x600)).is_none());
        // Chunks 1 and 2 are wholly RAM: 2 MiB entries when the allocator
        // gave aligned runs (the world's last two runs are).
        assert!(p2m.is_super(Gfn(0x400)), "chunk 2 from an aligned run");
        assert!(!p2m.is_super(Gfn(0x100)), "chunk 0 has the hole");
        let v = GuestView { p2m, mem: mm.mem, paging: GuestPaging::Off };
        let mut b = [0u8; 4];
        v.read(0x10_0100, &mut b).unwrap();
        assert_eq!(b, [0, 1, 2, 3]);
        assert_eq!(v.read_u32(0x10_1800), Ok(0), "bss is zero");
        assert_eq!(v.read_u32(u64::from(l.start_info)), Ok(XEN_HVM_START_MAGIC_VALUE));
        assert_eq!(mm.domains[1].tot_pages, (6 << 20) / 4096 - 0x60);
    });
    w.check().unwrap();
    w.check_npt().unwrap();
}
