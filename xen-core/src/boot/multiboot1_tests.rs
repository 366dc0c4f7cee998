//! Byte-fixture tests: multiboot1 boot information in a fake physical memory
//! → boot description, and malformed structures refused without a panic.
use super::*;
use proptest::prelude::*;

/// Physical memory from address 0, as long as the vector.
struct Mem(Vec<u8>);

impl<'a> PhysWindow<'a> for &'a Mem {
    fn read(&self, range: PhysRange) -> Option<&'a [u8]> {
        self.0.get(usize::try_from(range.start.0).ok()?..usize::try_from(range.end.0).ok()?)
    }
}

const INFO: u64 = 0x9500;
const MMAP: u64 = 0x2_4000;
const MODS: u64 = 0x2_0000;
const STRINGS: u64 = 0x2_1000;
const MEM_BYTES: usize = 0x3_0000;

impl Mem {
    fn put(&mut self, at: u64, bytes: &[u8]) {
        self.0[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    }
    fn put32(&mut self, at: u64, v: u32) {
        self.put(at, &v.to_le_bytes());
    }
}

/// What QEMU 7.2's loader builds for `-kernel xen-core -append "loglvl=debug"
/// -initrd "guest.elf name=dom0 mem=32M,initrd.img ramdisk"`: page-aligned
/// modules, every string prefixed with its file's path, an e820 map.
fn qemu_like() -> Mem {
    let mut m = Mem(vec![0; MEM_BYTES]);
    m.put32(INFO, FLAG_MEMORY | 1 << 1 | FLAG_CMDLINE | FLAG_MODULES | FLAG_MMAP | FLAG_BOOTLOADER);
    m.put32(INFO + 4, 639);
    m.put32(INFO + 8, 130_944);
    let strings: [&[u8]; 4] =
        [b"/tmp/xen-core loglvl=debug\0", b"qemu\0", b"/tmp/guest.elf name=dom0 mem=32M\0", b"initrd.img ramdisk\0"];
    let mut at = STRINGS;
    let mut addrs = Vec::new();
    for s in strings {
        m.put(at, s);
        addrs.push(at as u32);
        at += s.len() as u64;
    }
    m.put32(INFO + 16, addrs[0]);
    m.put32(INFO + 64, addrs[1]);
    m.put32(INFO + 20, 2);
    m.put32(INFO + 24, MODS as u32);
    for (i, (start, end)) in [(0x30_0000u32, 0x30_1234u32), (0x30_2000, 0x30_2000)].into_iter().enumerate() {
        let e = MODS + 16 * i as u64;
        m.put32(e, start);
        m.put32(e + 4, end);
        m.put32(e + 8, addrs[2 + i]);
    }
    let map = [(0u64, 0x9_fc00u64, 1u32), (0x9_fc00, 0x400, 2), (0x10_0000, 0x7ee_0000, 1), (0xfffc_0000, 0x4_0000, 2)];
    set_mmap(&mut m, &map.map(|(b, l, k)| entry(20, b, l, k)).concat());
    m
}

fn entry(size: u32, base: u64, len: u64, kind: u32) -> Vec<u8> {
    let mut e = size.to_le_bytes().to_vec();
    e.extend_from_slice(&base.to_le_bytes());
    e.extend_from_slice(&len.to_le_bytes());
    e.extend_from_slice(&kind.to_le_bytes());
    e.resize(4 + size as usize, 0);
    e
}

fn set_mmap(m: &mut Mem, bytes: &[u8]) {
    m.put(MMAP, bytes);
    m.put32(INFO + 44, bytes.len() as u32);
    m.put32(INFO + 48, MMAP as u32);
}

fn parse(m: &Mem) -> Result<Multiboot1<'_>, BootInfoError> {
    Multiboot1::parse(&m, INFO)
}

fn field_error(m: &Mem) -> &'static str {
    match parse(m) {
        Err(BootInfoError::BadField { field, .. }) => field,
        other => panic!("expected a refused field, got {other:?}"),
    }
}

#[test]
fn a_qemu_block_gives_cmdlines_without_image_paths_modules_and_the_memory_map() {
    let m = qemu_like();
    let mb = parse(&m).unwrap();
    let d = &mb.desc;
    assert_eq!(d.cmdline, "loglvl=debug");
    assert_eq!(d.bootloader, "qemu");
    let modules: Vec<(PhysRange, &str)> = d.modules.as_slice().iter().map(|m| (m.range, m.cmdline)).collect();
    assert_eq!(
        modules,
        [
            (PhysRange::new(0x30_0000, 0x30_1234), "name=dom0 mem=32M"),
            (PhysRange::new(0x30_2000, 0x30_2000), "ramdisk")
        ]
    );
    let kinds: Vec<MemoryKind> = d.memory.as_slice().iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MemoryKind::Usable, MemoryKind::Reserved, MemoryKind::Usable, MemoryKind::Reserved]);
    assert_eq!(d.memory.as_slice()[2].range, PhysRange::new(0x10_0000, 0x7fe_0000));
    assert_eq!(d.usable_bytes(), 0x9_fc00 + 0x7ee_0000);
}

#[test]
fn every_borrowed_string_is_listed_nul_included_for_reservation() {
    let m = qemu_like();
    let mb = parse(&m).unwrap();
    let lens = [b"/tmp/xen-core loglvl=debug\0".len(), 5, b"/tmp/guest.elf name=dom0 mem=32M\0".len()];
    let first = mb.strings.as_slice();
    assert_eq!(first.len(), 4);
    assert_eq!(first[0], PhysRange::from_len(STRINGS, lens[0] as u64).unwrap());
    assert_eq!(first[1].len(), lens[1] as u64);
    assert_eq!(first[2].len(), lens[2] as u64);
}

#[test]
fn only_the_first_word_of_a_command_line_is_the_image_path() {
    assert_eq!(without_image_path("  /boot/x  a=1  b "), "a=1  b ");
    assert_eq!(without_image_path("/boot/x"), "");
    assert_eq!(without_image_path(""), "");
}

#[test]
fn memory_maps_with_longer_unaligned_entries_are_walked_by_their_size_field() {
    let mut m = qemu_like();
    set_mmap(&mut m, &[entry(21, 0x10_0000, 0x100_0000, 1), entry(20, 0, 0x1000, 3)].concat());
    let d = parse(&m).unwrap().desc;
    assert_eq!(d.memory.as_slice()[0].range, PhysRange::new(0x10_0000, 0x110_0000));
    assert_eq!(d.memory.as_slice()[1].kind, MemoryKind::AcpiReclaimable);
    assert_eq!(d.memory.len(), 2);
}

#[test]
fn without_a_memory_map_the_lower_and_upper_sizes_are_used_and_without_either_boot_is_refused() {
    let mut m = qemu_like();
    m.put32(INFO, FLAG_MEMORY);
    let d = parse(&m).unwrap().desc;
    let ranges: Vec<PhysRange> = d.usable().collect();
    assert_eq!(ranges, [PhysRange::new(0, 639 << 10), PhysRange::new(0x10_0000, 0x10_0000 + (130_944 << 10))]);
    assert!(d.modules.is_empty() && d.cmdline.is_empty());
    m.put32(INFO, FLAG_CMDLINE);
    assert_eq!(parse(&m).unwrap_err(), BootInfoError::NoMemoryMap);
}

#[test]
fn a_module_without_a_command_line_pointer_has_an_empty_command_line() {
    let mut m = qemu_like();
    m.put32(MODS + 8, 0);
    assert_eq!(parse(&m).unwrap().desc.modules.as_slice()[0].cmdline, "");
}

#[test]
fn pointers_outside_memory_are_refused_by_field() {
    let m = qemu_like();
    assert!(matches!(
        Multiboot1::parse(&&m, MEM_BYTES as u64 - 2),
        Err(BootInfoError::BadField { field: "flags", .. })
    ));
    assert!(matches!(Multiboot1::parse(&&m, u64::MAX - 1), Err(BootInfoError::BadField { field: "flags", .. })));
    let cases: [(u64, u32, &str); 4] = [
        (INFO + 16, 0xffff_fff0, "command line"),
        (INFO + 64, MEM_BYTES as u32, "bootloader name"),
        (INFO + 24, MEM_BYTES as u32 - 16, "module list"),
        (INFO + 48, MEM_BYTES as u32 - 8, "memory map"),
    ];
    for (at, value, field) in cases {
        let mut bad = qemu_like();
        bad.put32(at, value);
        assert_eq!(field_error(&bad), field, "pointer at {at:#x}");
    }
    let mut bad = qemu_like();
    bad.put32(MODS + 8, 0xffff_ffff);
    assert_eq!(field_error(&bad), "module command line");
}

#[test]
fn an_information_structure_cut_short_by_the_end_of_memory_is_refused() {
    let mut m = qemu_like();
    let at = MEM_BYTES as u64 - 40;
    m.put32(at, FLAG_MMAP | FLAG_BOOTLOADER);
    assert!(matches!(Multiboot1::parse(&&m, at), Err(BootInfoError::BadField { field: "information structure", .. })));
}

#[test]
fn strings_must_end_within_memory_and_8_kib_and_be_utf8() {
    let mut m = qemu_like();
    let tail = MEM_BYTES as u64 - 10;
    m.put(tail, &[b'a'; 10]);
    m.put32(INFO + 16, tail as u32);
    assert_eq!(field_error(&m), "command line");
    let mut m = qemu_like();
    m.put(STRINGS, &[b'a'; 9000]);
    assert_eq!(field_error(&m), "command line");
    let mut m = qemu_like();
    m.put(STRINGS, &[0xff, 0xfe, 0]);
    assert_eq!(field_error(&m), "command line");
    // 8191 characters and the NUL, across page boundaries, are accepted.
    let mut m = qemu_like();
    m.put(STRINGS + 0x800, &[b'b'; 8191]);
    m.put(STRINGS + 0x800 + 8191, &[0]);
    m.put32(INFO + 16, (STRINGS + 0x800) as u32);
    assert_eq!(parse(&m).unwrap().desc.cmdline, "");
    assert_eq!(parse(&m).unwrap().strings.as_slice()[0].len(), 8192);
}

#[test]
fn too_many_modules_are_refused_before_the_list_is_read() {
    for count in [17u32, u32::MAX] {
        let mut m = qemu_like();
        m.put32(INFO + 20, count);
        assert_eq!(parse(&m).unwrap_err(), BootInfoError::TooManyModules, "{count} modules");
    }
}

#[test]
fn a_module_ending_before_it_starts_is_refused() {
    let mut m = qemu_like();
    m.put32(MODS + 4, 0x2f_ffff);
    assert_eq!(field_error(&m), "module list");
}

#[test]
fn malformed_memory_maps_are_refused() {
    let short = entry(16, 0, 0x1000, 1);
    let truncated = entry(20, 0, 0x1000, 1)[..20].to_vec();
    let wraps = entry(20, u64::MAX - 0xfff, 0x2000, 1);
    for (name, map) in [("short entry", short), ("truncated entry", truncated), ("wrapping entry", wraps)] {
        let mut m = qemu_like();
        set_mmap(&mut m, &map);
        assert_eq!(field_error(&m), "memory map", "{name}");
    }
    let mut m = qemu_like();
    m.put32(INFO + 44, 0x1_0000);
    assert_eq!(field_error(&m), "memory map");
    let mut m = qemu_like();
    set_mmap(&mut m, &vec![entry(20, 0x10_0000, 0x1000, 1); 65].concat());
    assert_eq!(parse(&m).unwrap_err(), BootInfoError::TooManyRegions);
}

proptest! {
    /// Whatever the bootloader left in memory, parsing returns.
    #[test]
    fn random_bytes_anywhere_never_panic(
        flags in any::<u32>(),
        fields in proptest::collection::vec(any::<u32>(), 17),
        mmap in proptest::collection::vec(any::<u8>(), 0..200),
        mods in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut m = qemu_like();
        m.put32(INFO, flags);
        for (i, f) in fields.iter().enumerate() {
            // Keep pointers mostly inside memory so the deeper checks run.
            m.put32(INFO + 4 + 4 * i as u64, if f & 1 == 0 { f % 0x3_2000 } else { *f });
        }
        m.put(MMAP, &mmap);
        m.put(MODS, &mods);
        let _ = parse(&m);
    }
}
