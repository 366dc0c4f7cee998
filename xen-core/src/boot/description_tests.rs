//! Byte-fixture tests: multiboot2 boot information → boot description.
use super::*;
use crate::arch::x86_64::multiboot::load;

fn tag(typ: u32, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&typ.to_le_bytes());
    t.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
    t.extend_from_slice(body);
    while t.len() % 8 != 0 {
        t.push(0);
    }
    t
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn module(start: u32, end: u32, cmdline: &str) -> Vec<u8> {
    let mut b = start.to_le_bytes().to_vec();
    b.extend_from_slice(&end.to_le_bytes());
    b.extend(cstr(cmdline));
    tag(3, &b)
}

fn mmap(entries: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut b = 24u32.to_le_bytes().to_vec();
    b.extend_from_slice(&0u32.to_le_bytes());
    for &(base, len, kind) in entries {
        b.extend_from_slice(&base.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
    }
    tag(6, &b)
}

/// A whole boot information block: header, `tags`, end tag.
fn mbi(tags: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = tags.concat();
    let total = 8 + body.len() + 8;
    let mut v = (total as u32).to_le_bytes().to_vec();
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend(body);
    v.extend(tag(0, &[]));
    v
}

/// Runs `f` on an 8-byte-aligned copy of `bytes`.
fn with_aligned<R>(bytes: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = vec![0u8; bytes.len() + 8];
    let off = buf.as_ptr().align_offset(8);
    buf[off..off + bytes.len()].copy_from_slice(bytes);
    f(&buf[off..off + bytes.len()])
}

type Described = (String, String, Vec<MemoryRegion>, Vec<(PhysRange, String)>);

fn describe(bytes: &[u8]) -> Result<Described, BootInfoError> {
    with_aligned(bytes, |b| {
        let info = load(b)?;
        let d = BootDescription::from_multiboot(&info)?;
        Ok((
            d.cmdline.to_string(),
            d.bootloader.to_string(),
            d.memory.as_slice().to_vec(),
            d.modules.as_slice().iter().map(|m| (m.range, m.cmdline.to_string())).collect(),
        ))
    })
}

fn qemu_like() -> Vec<Vec<u8>> {
    vec![
        tag(1, &cstr("loglvl=debug")),
        tag(2, &cstr("GRUB 2.06")),
        module(0x40_0000, 0x40_1234, "name=dom0 mem=32M"),
        module(0x50_0000, 0x50_0000, ""),
        mmap(&[(0, 0x9fc00, 1), (0x9fc00, 0x400, 2), (0x10_0000, 0x7ee_0000, 1), (0xfffc_0000, 0x4_0000, 2)]),
    ]
}

#[test]
fn a_qemu_like_block_translates_to_cmdline_modules_and_memory() {
    let (cmdline, loader, memory, modules) = describe(&mbi(&qemu_like())).unwrap();
    assert_eq!(cmdline, "loglvl=debug");
    assert_eq!(loader, "GRUB 2.06");
    assert_eq!(memory.len(), 4);
    assert_eq!(memory[2], MemoryRegion { range: PhysRange::new(0x10_0000, 0x7fe_0000), kind: MemoryKind::Usable });
    assert_eq!(memory[3].kind, MemoryKind::Reserved);
    assert_eq!(modules[0], (PhysRange::new(0x40_0000, 0x40_1234), "name=dom0 mem=32M".to_string()));
    assert_eq!(modules[1].0.len(), 0);
}

#[test]
fn usable_bytes_counts_only_usable_regions() {
    with_aligned(&mbi(&qemu_like()), |b| {
        let info = load(b).unwrap();
        let d = BootDescription::from_multiboot(&info).unwrap();
        assert_eq!(d.usable_bytes(), 0x9fc00 + 0x7ee_0000);
    });
}

#[test]
fn a_block_without_memory_map_is_refused() {
    assert_eq!(describe(&mbi(&[tag(1, &cstr("x"))])).unwrap_err(), BootInfoError::NoMemoryMap);
}

#[test]
fn a_total_size_beyond_the_buffer_is_refused() {
    let mut b = mbi(&qemu_like());
    let too_big = (b.len() as u32 + 8).to_le_bytes();
    b[..4].copy_from_slice(&too_big);
    assert!(matches!(describe(&b), Err(BootInfoError::BadTotalSize(_))));
}

#[test]
fn tiny_or_empty_blocks_are_refused() {
    assert!(matches!(describe(&[]), Err(BootInfoError::BadTotalSize(0))));
    assert!(matches!(describe(&[8, 0, 0, 0, 0, 0, 0, 0]), Err(BootInfoError::BadTotalSize(8))));
}

#[test]
fn a_misaligned_block_is_refused() {
    let b = mbi(&qemu_like());
    let mut buf = vec![0u8; b.len() + 16];
    let off = buf.as_ptr().align_offset(8) + 4;
    buf[off..off + b.len()].copy_from_slice(&b);
    assert_eq!(load(&buf[off..off + b.len()]).unwrap_err(), BootInfoError::Misaligned);
}

#[test]
fn a_missing_end_tag_is_refused() {
    let mut b = mbi(&qemu_like());
    let n = b.len();
    b[n - 8..].copy_from_slice(&tag(4, &[0; 0])[..8]);
    assert_eq!(describe(&b).unwrap_err(), BootInfoError::BadTagChain);
}

#[test]
fn a_tag_running_past_the_end_is_refused() {
    let mut b = mbi(&qemu_like());
    // Inflate the first tag's size beyond the block.
    b[12..16].copy_from_slice(&4096u32.to_le_bytes());
    assert_eq!(describe(&b).unwrap_err(), BootInfoError::BadTagChain);
}

#[test]
fn a_memory_map_with_a_bad_entry_size_is_refused() {
    let mut m = mmap(&[(0x10_0000, 0x100_0000, 1)]);
    m[8..12].copy_from_slice(&20u32.to_le_bytes());
    assert!(matches!(describe(&mbi(&[m])), Err(BootInfoError::BadTag { tag: 6, .. })));
}

#[test]
fn a_memory_map_with_a_partial_entry_is_refused() {
    let mut body = 24u32.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 4]);
    body.extend_from_slice(&[1; 16]);
    assert!(matches!(describe(&mbi(&[tag(6, &body)])), Err(BootInfoError::BadTag { tag: 6, .. })));
}

#[test]
fn a_wrapping_memory_region_is_refused() {
    let m = mmap(&[(u64::MAX - 4095, 8192, 1)]);
    assert!(matches!(describe(&mbi(&[m])), Err(BootInfoError::BadTag { tag: 6, .. })));
}

#[test]
fn a_module_ending_before_it_starts_is_refused() {
    let tags = [module(0x50_0000, 0x40_0000, "x"), mmap(&[(0x10_0000, 0x100_0000, 1)])];
    assert!(matches!(describe(&mbi(&tags)), Err(BootInfoError::BadTag { tag: 3, .. })));
}

#[test]
fn a_truncated_module_tag_is_refused() {
    let tags = [tag(3, &[1, 2, 3]), mmap(&[(0x10_0000, 0x100_0000, 1)])];
    assert!(matches!(describe(&mbi(&tags)), Err(BootInfoError::BadTag { tag: 3, .. })));
}

#[test]
fn an_unterminated_or_non_utf8_command_line_is_refused() {
    let m = mmap(&[(0x10_0000, 0x100_0000, 1)]);
    assert!(matches!(describe(&mbi(&[tag(1, b"abc"), m.clone()])), Err(BootInfoError::BadTag { tag: 1, .. })));
    assert!(matches!(describe(&mbi(&[tag(1, &[0xff, 0xfe, 0]), m])), Err(BootInfoError::BadTag { tag: 1, .. })));
}

#[test]
fn too_many_modules_are_refused() {
    let mut tags: Vec<Vec<u8>> = (0..=MAX_MODULES as u32).map(|i| module(i * 4096, i * 4096 + 1, "m")).collect();
    tags.push(mmap(&[(0x10_0000, 0x100_0000, 1)]));
    assert_eq!(describe(&mbi(&tags)).unwrap_err(), BootInfoError::TooManyModules);
}

#[test]
fn unknown_tags_are_skipped() {
    let tags = [tag(21, &[1, 2, 3, 4]), tag(999, &[]), mmap(&[(0x10_0000, 0x100_0000, 1)])];
    assert_eq!(describe(&mbi(&tags)).unwrap().2.len(), 1);
}

/// The definition `io_frame_runs` must agree with, frame by frame.
fn io_frames_naive(d: &BootDescription<'_>, max_pfn: u64) -> Vec<u64> {
    (0..max_pfn)
        .filter(|&pfn| {
            let pa = pfn * 4096;
            !(pa >= 0x10_0000 && d.usable().any(|r| r.start.0 <= pa && pa + 4096 <= r.end.0))
        })
        .collect()
}

fn io_frames(d: &BootDescription<'_>, max_pfn: u64) -> Vec<u64> {
    let mut v = Vec::new();
    d.io_frame_runs(max_pfn, |s, e| {
        assert!(s < e, "empty run {s:#x}..{e:#x}");
        v.extend(s..e);
    });
    v
}

#[test]
fn io_frames_are_the_first_mib_and_every_hole_and_partial_frame_of_the_map() {
    with_aligned(&mbi(&qemu_like()), |b| {
        let info = load(b).unwrap();
        let d = BootDescription::from_multiboot(&info).unwrap();
        let io = io_frames(&d, 0x7fe0);
        assert_eq!(io, (0..0x100).collect::<Vec<u64>>());
        assert_eq!(io, io_frames_naive(&d, 0x7fe0));
    });
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Unsorted, overlapping, unaligned maps: the runs are exactly the
        /// frames the per-frame definition picks.
        #[test]
        fn io_frame_runs_agree_with_the_per_frame_definition(
            regions in prop::collection::vec((0u64..0x40_0000, 0u64..0x20_0000, 0u32..3), 0..8),
            max_pfn in 0u64..0x700,
        ) {
            let mut d = BootDescription::default();
            for (start, len, kind) in regions {
                let kind = if kind == 0 { MemoryKind::Reserved } else { MemoryKind::Usable };
                d.memory.push(MemoryRegion { range: PhysRange::new(start, start + len), kind }).unwrap();
            }
            prop_assert_eq!(io_frames(&d, max_pfn), io_frames_naive(&d, max_pfn));
        }

        /// Random corruption of a valid block is refused or accepted, never a panic.
        #[test]
        fn corrupted_blocks_never_panic(flips in prop::collection::vec((0usize..512, any::<u8>()), 1..8)) {
            let mut b = mbi(&qemu_like());
            for (pos, val) in flips {
                let n = b.len();
                b[pos % n] = val;
            }
            let _ = describe(&b);
        }

        /// Random bytes never panic either.
        #[test]
        fn random_bytes_never_panic(mut b in prop::collection::vec(any::<u8>(), 0..256), size in 0u32..300) {
            if b.len() >= 4 { b[..4].copy_from_slice(&size.to_le_bytes()); }
            let _ = describe(&b);
        }
    }
}
