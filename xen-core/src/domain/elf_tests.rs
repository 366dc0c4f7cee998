//! ELF and Xen-note fixtures: a valid PV image, then one refusal per
//! malformed case, then random corruption.

use super::*;
use crate::domain::notes::{ImageError, KernelImage, XenNotes};
use abi::elfnote::*;

const BASE: u64 = 0xFFFF_FFFF_8000_0000;

pub struct Fixture {
    pub segs: Vec<(u64, u64, Vec<u8>, u64)>, // vaddr, paddr, contents, memsz
    pub notes: Vec<(u32, Vec<u8>)>,
    pub entry: u64,
}

pub fn note_str(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

impl Fixture {
    pub fn pv() -> Fixture {
        Fixture {
            segs: vec![(BASE + 0x1000, 0x1000, vec![0x90; 0x2000], 0x3000)],
            notes: vec![
                (XEN_ELFNOTE_GUEST_OS, note_str("xen-core-guest")),
                (XEN_ELFNOTE_LOADER, note_str("generic")),
                (XEN_ELFNOTE_XEN_VERSION, note_str("xen-3.0")),
                (XEN_ELFNOTE_VIRT_BASE, BASE.to_le_bytes().to_vec()),
                (XEN_ELFNOTE_ENTRY, (BASE + 0x1010).to_le_bytes().to_vec()),
                (XEN_ELFNOTE_HYPERCALL_PAGE, (BASE + 0x2000).to_le_bytes().to_vec()),
            ],
            entry: BASE + 0x1000,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut notes = Vec::new();
        for (kind, desc) in &self.notes {
            notes.extend_from_slice(&4u32.to_le_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            notes.extend_from_slice(&kind.to_le_bytes());
            notes.extend_from_slice(b"Xen\0");
            notes.extend_from_slice(desc);
            while notes.len() % 4 != 0 {
                notes.push(0);
            }
        }
        let phnum = self.segs.len() + 1;
        let mut data_off = 64 + 56 * phnum;
        let mut out = vec![0u8; data_off];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&2u16.to_le_bytes());
        out[18..20].copy_from_slice(&62u16.to_le_bytes());
        out[24..32].copy_from_slice(&self.entry.to_le_bytes());
        out[32..40].copy_from_slice(&64u64.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
        let ph = |i: usize, kind: u32, off: u64, vaddr: u64, paddr: u64, filesz: u64, memsz: u64, out: &mut Vec<u8>| {
            let p = 64 + 56 * i;
            out[p..p + 4].copy_from_slice(&kind.to_le_bytes());
            for (o, v) in [(8, off), (16, vaddr), (24, paddr), (32, filesz), (40, memsz)] {
                out[p + o..p + o + 8].copy_from_slice(&v.to_le_bytes());
            }
        };
        ph(0, 4, data_off as u64, 0, 0, notes.len() as u64, 0, &mut out);
        out.extend_from_slice(&notes);
        data_off += notes.len();
        for (i, (vaddr, paddr, contents, memsz)) in self.segs.iter().enumerate() {
            ph(i + 1, 1, data_off as u64, *vaddr, *paddr, contents.len() as u64, *memsz, &mut out);
            out.extend_from_slice(contents);
            data_off += contents.len();
        }
        out
    }
}

pub fn load(bytes: &[u8]) -> Result<KernelImage, String> {
    let elf = Elf::parse(bytes).map_err(|e| format!("elf: {e}"))?;
    let notes = XenNotes::read(&elf).map_err(|e| format!("notes: {e}"))?;
    KernelImage::accept(&elf, &notes).map_err(|e| format!("image: {e}"))
}

#[test]
fn a_valid_pv_image_is_accepted_with_its_notes() {
    let img = load(&Fixture::pv().bytes()).unwrap();
    assert_eq!(img.virt_base, BASE);
    assert_eq!((img.kstart, img.kend), (BASE + 0x1000, BASE + 0x4000));
    assert_eq!(img.entry, BASE + 0x1010, "the ENTRY note wins over e_entry");
    assert_eq!(img.hypercall_page, Some(BASE + 0x2000));
}

#[test]
fn truncated_headers_are_refused() {
    let b = Fixture::pv().bytes();
    assert_eq!(Elf::parse(&b[..40]).unwrap_err(), ElfError::Truncated("file header"));
    assert_eq!(Elf::parse(&b[..100]).unwrap_err(), ElfError::Truncated("program headers"));
    let n = b.len();
    assert_eq!(Elf::parse(&b[..n - 1]).unwrap_err(), ElfError::Truncated("segment contents"));
}

#[test]
fn non_x86_64_files_are_refused() {
    let mut b = Fixture::pv().bytes();
    b[18] = 40;
    assert!(matches!(Elf::parse(&b), Err(ElfError::NotX86_64Elf(_))));
    let mut b = Fixture::pv().bytes();
    b[4] = 1;
    assert!(matches!(Elf::parse(&b), Err(ElfError::NotX86_64Elf(_))));
    assert!(matches!(Elf::parse(&[0u8; 128]), Err(ElfError::NotX86_64Elf(_))));
}

#[test]
fn overlapping_segments_are_refused() {
    let mut f = Fixture::pv();
    f.segs.push((BASE + 0x3000, 0x3000, vec![1; 16], 0x1000));
    assert_eq!(Elf::parse(&f.bytes()).unwrap_err(), ElfError::OverlappingSegments);
}

#[test]
fn out_of_range_segments_are_refused() {
    let mut f = Fixture::pv();
    f.segs[0].3 = 0x10;
    assert!(matches!(Elf::parse(&f.bytes()), Err(ElfError::BadSegment(_))), "memsz < filesz");
    let mut f = Fixture::pv();
    f.segs[0].0 = u64::MAX - 0x100;
    assert!(matches!(Elf::parse(&f.bytes()), Err(ElfError::BadSegment(_))), "wrapping");
}

#[test]
fn an_entry_outside_the_image_is_refused() {
    let mut f = Fixture::pv();
    f.notes.retain(|n| n.0 != XEN_ELFNOTE_ENTRY);
    f.entry = BASE + 0x9000;
    assert_eq!(load(&f.bytes()).unwrap_err(), "image: kernel range refused: entry point outside the image");
}

#[test]
fn missing_or_bogus_notes_are_refused() {
    let mut f = Fixture::pv();
    f.notes.clear();
    assert_eq!(load(&f.bytes()).unwrap_err(), format!("image: {}", ImageError::NoXenNotes));
    let mut f = Fixture::pv();
    f.notes.retain(|n| n.0 != XEN_ELFNOTE_XEN_VERSION);
    assert!(load(&f.bytes()).unwrap_err().contains("XEN_VERSION"));
    let mut f = Fixture::pv();
    f.notes[2].1 = note_str("xen-2.0");
    assert!(load(&f.bytes()).unwrap_err().contains("XEN_VERSION"));
    let mut f = Fixture::pv();
    f.notes.retain(|n| n.0 != XEN_ELFNOTE_LOADER);
    assert!(load(&f.bytes()).unwrap_err().contains("LOADER"));
    let mut f = Fixture::pv();
    f.notes[3].1 = vec![1, 2, 3];
    assert!(load(&f.bytes()).unwrap_err().contains("not 4 or 8 bytes"));
    let mut f = Fixture::pv();
    f.notes.retain(|n| n.0 != XEN_ELFNOTE_VIRT_BASE);
    f.notes.push((XEN_ELFNOTE_PADDR_OFFSET, 0u64.to_le_bytes().to_vec()));
    assert!(load(&f.bytes()).unwrap_err().contains("PADDR_OFFSET"));
}

#[test]
fn an_image_linked_at_virt_base_without_paddr_offset_is_refused_naming_the_note() {
    // Physical addresses equal to the virtual ones (no AT() in the linker
    // script): without PADDR_OFFSET the image would start past 2^64.
    let mut f = Fixture::pv();
    f.segs[0].1 = f.segs[0].0;
    let err = load(&f.bytes()).unwrap_err();
    assert!(err.contains("start overflows") && err.contains("PADDR_OFFSET = VIRT_BASE"), "{err}");
    // With the note it loads at the same place as the 0-based image.
    f.notes.push((XEN_ELFNOTE_PADDR_OFFSET, BASE.to_le_bytes().to_vec()));
    assert!(load(&f.bytes()).is_ok());
}

#[test]
fn a_note_running_past_its_segment_is_refused() {
    let f = Fixture::pv();
    let mut b = f.bytes();
    // descsz of the first note, at the start of the note segment.
    let notes_at = 64 + 56 * 2;
    b[notes_at + 4..notes_at + 8].copy_from_slice(&0x10000u32.to_le_bytes());
    assert!(load(&b).unwrap_err().contains("runs past"));
}

#[test]
fn a_hypercall_page_outside_the_image_is_refused() {
    let mut f = Fixture::pv();
    f.notes[5].1 = (BASE + 0x10_0000).to_le_bytes().to_vec();
    assert!(load(&f.bytes()).unwrap_err().contains("hypercall page"));
}

#[test]
fn an_image_in_the_hypervisor_range_is_refused() {
    let mut f = Fixture::pv();
    let hv = 0xFFFF_8200_0000_0000;
    f.segs[0].0 = hv + 0x1000;
    f.notes[3].1 = hv.to_le_bytes().to_vec();
    f.notes[4].1 = (hv + 0x1010).to_le_bytes().to_vec();
    f.notes[5].1 = (hv + 0x2000).to_le_bytes().to_vec();
    assert!(load(&f.bytes()).unwrap_err().contains("hypervisor"));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn corrupted_images_are_refused_or_accepted_never_a_panic(flips in prop::collection::vec((0usize..1024, any::<u8>()), 1..10)) {
            let mut b = Fixture::pv().bytes();
            for (pos, val) in flips {
                let n = b.len();
                b[pos % n] = val;
            }
            let _ = load(&b);
        }
    }
}
