//! The decoder against the `xz` tool's output (round trips over data
//! kinds, filters, checks, dictionary sizes and block sizes), against
//! hand-built streams that probe each bound (distances, sizes, resets),
//! and against truncated and corrupted input, which must give an error,
//! never a panic.

use super::crc::crc32;
use super::{decode, XzError};
use proptest::prelude::*;
use std::io::Write;
use std::process::{Command, Stdio};

/// `data` compressed by the `xz` tool with `args`.
fn xz(data: &[u8], args: &[&str]) -> Vec<u8> {
    let mut child = Command::new("xz")
        .args(["--format=xz", "-c", "--threads=1"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the xz tool (xz-utils) is needed by these tests");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "xz {args:?} failed");
    out.stdout
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    (0..n).map(|_| r.next() as u8).collect()
}

/// Text-like data: words from a small vocabulary, so long matches and
/// every rep kind occur.
fn text(n: usize, seed: u64) -> Vec<u8> {
    let words: [&[u8]; 8] = [b"xen ", b"core ", b"domain ", b"grant ", b"event\n", b"page ", b"0x1000 ", b"frame "];
    let mut r = Rng(seed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(words[(r.next() % 8) as usize]);
    }
    v.truncate(n);
    v
}

/// Machine-code-like data: many E8/E9 with small displacements, which
/// the x86 filter rewrites, among random bytes and runs.
fn code(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        match r.next() % 6 {
            0 => {
                v.push(0xe8 | (r.next() & 1) as u8);
                let d = (r.next() % 0x20000) as i32 - 0x10000;
                v.extend_from_slice(&d.to_le_bytes());
            }
            1 => v.extend_from_slice(&[0x48, 0x89, 0xe5, 0x90]),
            2 => v.extend(std::iter::repeat_n(0, (r.next() % 40) as usize)),
            3 => v.push(0xe8),
            _ => v.push(r.next() as u8),
        }
    }
    v.truncate(n);
    v
}

fn unxz(stream: &[u8], out_len: usize) -> Result<Vec<u8>, XzError> {
    let mut out = vec![0u8; out_len];
    let d = decode(stream, &mut out)?;
    assert_eq!(d.consumed, stream.len());
    out.truncate(d.produced);
    Ok(out)
}

fn round_trip(data: &[u8], args: &[&str]) {
    let stream = xz(data, args);
    // Exactly the size, and with room to spare (matches may overrun into it).
    assert_eq!(unxz(&stream, data.len()).as_deref(), Ok(data), "xz {args:?}, {} bytes", data.len());
    assert_eq!(unxz(&stream, data.len() + 100).as_deref(), Ok(data), "xz {args:?}, {} bytes", data.len());
}

#[test]
fn streams_from_the_xz_tool_decode_to_their_data_for_each_data_kind_filter_and_check() {
    let inputs = [
        random(100_000, 1),
        text(300_000, 2),
        code(300_000, 3),
        vec![0u8; 200_000],
        text(10, 4),
        code(1, 5),
        Vec::new(),
    ];
    for data in &inputs {
        for args in [
            &["--check=crc32", "--x86", "--lzma2=dict=1MiB"][..],
            &["--check=crc64", "--lzma2=preset=6"],
            &["--check=none", "--x86", "--lzma2=preset=0"],
            &["--check=crc32", "--lzma2=preset=9e,lc=0,lp=4,pb=4"],
            &["--check=crc64", "--x86", "--lzma2=dict=4KiB,lc=4,lp=0,pb=0"],
            &["--check=crc32", "--lzma2=dict=64KiB,lc=1,lp=3,pb=1,mode=fast,nice=8"],
        ] {
            round_trip(data, args);
        }
    }
}

#[test]
fn a_stream_of_many_blocks_decodes_and_each_block_is_filtered_from_its_own_start() {
    let data = code(500_000, 6);
    round_trip(&data, &["--check=crc32", "--x86", "--lzma2=dict=64KiB", "--block-size=70000"]);
    round_trip(&text(500_000, 7), &["--check=crc64", "--block-size=4096"]);
}

#[test]
fn stored_chunks_from_incompressible_data_decode() {
    // Random data makes xz emit LZMA2's uncompressed chunks between coded ones.
    let mut data = random(300_000, 8);
    data.extend_from_slice(&text(100_000, 9));
    data.extend_from_slice(&random(100_000, 10));
    round_trip(&data, &["--check=crc32", "--lzma2=preset=6"]);
}

#[test]
fn a_dictionary_far_bigger_than_the_output_needs_no_memory_for_it() {
    round_trip(&text(50_000, 11), &["--check=crc32", "--lzma2=dict=1536MiB"]);
}

#[test]
fn the_x86_filter_with_a_start_offset_decodes() {
    round_trip(&code(100_000, 12), &["--check=crc32", "--x86=start=4096", "--lzma2=preset=1"]);
}

#[test]
fn an_output_buffer_one_byte_short_is_refused_as_full() {
    for (data, args) in [
        (text(100_000, 13), &["--check=crc32"][..]),
        (random(100_000, 14), &["--check=crc32"]),
        (code(5, 15), &["--check=none"]),
    ] {
        let stream = xz(&data, args);
        assert_eq!(unxz(&stream, data.len() - 1), Err(XzError::OutputFull));
    }
}

#[test]
fn data_after_the_stream_is_not_read() {
    let data = text(1000, 16);
    let mut stream = xz(&data, &["--check=crc32"]);
    let len = stream.len();
    stream.extend_from_slice(&[0x34, 0x12, 0, 0]);
    let mut out = vec![0u8; data.len()];
    assert_eq!(decode(&stream, &mut out).map(|d| (d.consumed, d.produced)), Ok((len, data.len())));
    assert_eq!(out, data);
}

#[test]
fn other_filters_and_checks_are_refused_as_unsupported() {
    let data = text(1000, 17);
    for args in [
        &["--check=sha256"][..],
        &["--delta=dist=4", "--lzma2"],
        &["--arm", "--lzma2"],
        &["--x86", "--delta", "--lzma2"],
    ] {
        let stream = xz(&data, args);
        assert_eq!(unxz(&stream, data.len()), Err(XzError::Unsupported), "{args:?}");
    }
}

#[test]
fn every_truncation_of_a_stream_is_an_error() {
    let data = code(20_000, 18);
    let stream = xz(&data, &["--check=crc64", "--x86", "--lzma2", "--block-size=7000"]);
    for n in 0..stream.len() {
        assert!(unxz(&stream[..n], data.len()).is_err(), "truncated at {n}");
    }
}

#[test]
fn every_single_bit_flip_of_a_checked_stream_is_an_error() {
    let data = text(3000, 19);
    let stream = xz(&data, &["--check=crc32", "--x86", "--lzma2"]);
    for i in 0..stream.len() {
        for bit in 0..8 {
            let mut s = stream.clone();
            s[i] ^= 1 << bit;
            assert!(unxz(&s, data.len()).is_err(), "byte {i} bit {bit}");
        }
    }
}

/// A minimal LZMA range encoder for hand-built chunks.
struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl RangeEncoder {
    fn new() -> Self {
        RangeEncoder { low: 0, range: u32::MAX, cache: 0, cache_size: 1, out: Vec::new() }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xff00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xff;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.cache_size += 1;
        self.low = u64::from((self.low as u32) << 8);
    }

    /// Encodes `bit` with a fresh probability (one half), as every bit of
    /// the hand-built chunks below uses a model slot not used before.
    fn bit(&mut self, bit: u32) {
        let bound = (self.range >> 11) * 1024;
        if bit == 0 {
            self.range = bound;
        } else {
            self.low += u64::from(bound);
            self.range -= bound;
        }
        while self.range < 1 << 24 {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn bits(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

/// An LZMA2 chunk (dictionary reset, lc=0 lp=0 pb=2) holding a literal
/// `b` at position 0, then a match of length 2 at distance `dist`
/// (`dist` 0 repeats the previous byte) at position 1: every model slot
/// it uses is fresh.
fn literal_then_match(b: u8, dist_slot: u32) -> Vec<u8> {
    let mut rc = RangeEncoder::new();
    rc.bit(0); // is_match[0][0]: literal
    rc.bits(u32::from(b), 8);
    rc.bit(1); // is_match[0][1]: a match
    rc.bit(0); // is_rep[0]: a new one
    rc.bit(0); // length choice: low
    rc.bits(0, 3); // length 2
    rc.bits(dist_slot, 6); // distance slots 0..3 are the distance itself
    let packed = rc.finish();
    lzma2_chunk(0xe0, 3, &packed, Some(90))
}

fn lzma2_chunk(control: u8, unpacked: usize, packed: &[u8], props: Option<u8>) -> Vec<u8> {
    let (u, p) = (unpacked - 1, packed.len() - 1);
    let mut c = vec![control | (u >> 16) as u8, (u >> 8) as u8, u as u8, (p >> 8) as u8, p as u8];
    c.extend(props);
    c.extend_from_slice(packed);
    c
}

/// An xz stream around LZMA2 data (end marker added), one block, no check.
fn container(lzma2: &[u8], unpacked: u64) -> Vec<u8> {
    let mut s = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    s.extend_from_slice(&crc32(&[0, 0]).to_le_bytes());
    let header = [0x02, 0x00, 0x21, 0x01, 0x16, 0, 0, 0];
    s.extend_from_slice(&header);
    s.extend_from_slice(&crc32(&header).to_le_bytes());
    s.extend_from_slice(lzma2);
    s.push(0);
    let data_len = lzma2.len() + 1;
    s.extend(std::iter::repeat_n(0, (4 - data_len % 4) % 4));
    let mut index = vec![0, 1];
    for v in [(12 + data_len) as u64, unpacked] {
        let mut v = v;
        while v >= 0x80 {
            index.push(v as u8 | 0x80);
            v >>= 7;
        }
        index.push(v as u8);
    }
    index.extend(std::iter::repeat_n(0, (4 - index.len() % 4) % 4));
    let crc = crc32(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let backward = (index.len() / 4 - 1) as u32;
    s.extend_from_slice(&index);
    let mut tail = backward.to_le_bytes().to_vec();
    tail.extend_from_slice(&[0, 0]);
    s.extend_from_slice(&crc32(&tail).to_le_bytes());
    s.extend_from_slice(&tail);
    s.extend_from_slice(b"YZ");
    s
}

#[test]
fn a_match_may_reach_back_to_the_first_byte_but_not_before_it() {
    let ok = container(&literal_then_match(b'a', 0), 3);
    assert_eq!(unxz(&ok, 3).as_deref(), Ok(&b"aaa"[..]));
    let before = container(&literal_then_match(b'a', 1), 3);
    assert_eq!(unxz(&before, 3), Err(XzError::Corrupt));
    let far = container(&literal_then_match(b'a', 3), 3);
    assert_eq!(unxz(&far, 64), Err(XzError::Corrupt));
}

#[test]
fn a_match_running_past_its_chunk_is_refused() {
    // The same symbols in a chunk that claims two bytes: the match of two
    // at position 1 would end at 3.
    let mut chunk = literal_then_match(b'a', 0);
    chunk[2] = 1;
    assert_eq!(unxz(&container(&chunk, 2), 8), Err(XzError::Corrupt));
}

#[test]
fn a_chunk_must_consume_exactly_its_compressed_size() {
    let good = literal_then_match(b'z', 0);
    let packed = &good[6..];
    let mut longer = packed.to_vec();
    longer.push(0);
    assert_eq!(unxz(&container(&lzma2_chunk(0xe0, 3, &longer, Some(90)), 3), 3), Err(XzError::Corrupt));
    let shorter = &packed[..packed.len() - 1];
    assert_eq!(unxz(&container(&lzma2_chunk(0xe0, 3, shorter, Some(90)), 3), 3), Err(XzError::Corrupt));
}

#[test]
fn the_first_chunk_must_reset_the_dictionary_and_set_properties() {
    let good = literal_then_match(b'q', 0);
    for control in [0x80, 0xa0, 0xc0, 0x02] {
        let mut c = good.clone();
        c[0] = control;
        assert_eq!(unxz(&container(&c, 3), 3), Err(XzError::Corrupt), "control {control:#x}");
    }
    // A stored chunk resets the dictionary but sets no properties.
    let mut c = vec![0x01, 0x00, 0x00, b'x'];
    c.extend_from_slice(&good[..5]);
    c[4] = 0x80;
    c.extend_from_slice(&good[6..]);
    assert_eq!(unxz(&container(&c, 4), 4), Err(XzError::Corrupt));
}

#[test]
fn invalid_properties_and_control_bytes_are_refused() {
    let good = literal_then_match(b'q', 0);
    for props in [225u8, 255, 4 * 9 + 1 /* lc 1 + lp 4 */] {
        let mut c = good.clone();
        c[5] = props;
        assert_eq!(unxz(&container(&c, 3), 3), Err(XzError::Corrupt), "props {props}");
    }
    for control in [0x03u8, 0x40, 0x7f] {
        assert_eq!(unxz(&container(&[control, 0, 0, 0], 1), 8), Err(XzError::Corrupt));
    }
}

#[test]
fn a_huge_claimed_chunk_is_refused_before_any_work() {
    // 2 MiB claimed, an output of 16 bytes: refused at once.
    let c = lzma2_chunk(0xe0, 2 << 20, &[0, 0, 0, 0, 0], Some(90));
    assert_eq!(unxz(&container(&c, 2 << 20), 16), Err(XzError::OutputFull));
    let stored = [0x01, 0xff, 0xff];
    assert_eq!(unxz(&container(&stored, 1 << 16), 16), Err(XzError::Truncated));
}

#[test]
fn the_index_must_list_the_blocks_decoded() {
    let good = container(&literal_then_match(b'a', 0), 3);
    assert_eq!(unxz(&good, 3).as_deref(), Ok(&b"aaa"[..]));
    let wrong_size = container(&literal_then_match(b'a', 0), 4);
    assert_eq!(unxz(&wrong_size, 8), Err(XzError::Corrupt));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_streams_never_panic_and_success_stays_in_bounds(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
        out_len in 0usize..5000,
    ) {
        // Check none: mutations of the compressed data reach the LZMA
        // decoder instead of stopping at a CRC.
        static STREAM: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let stream = STREAM.get_or_init(|| xz(&code(4000, 20), &["--check=none", "--x86", "--lzma2=dict=4KiB"]));
        let mut s = stream.clone();
        for (at, v) in edits {
            let i = 12 + at % (s.len() - 12);
            s[i] = v;
        }
        s.truncate(cut % (s.len() + 1));
        let mut out = vec![0u8; out_len];
        if let Ok(d) = decode(&s, &mut out) {
            prop_assert!(d.produced <= out_len && d.consumed <= s.len());
        }
    }

    #[test]
    fn arbitrary_lzma2_data_in_a_valid_container_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        out_len in 0usize..3000,
    ) {
        // A valid first chunk header, then the fuzzer's bytes as its data
        // and as the chunks after it.
        let mut l = vec![0xe0, 0x03, 0xff, 0x01, 0xff, 0x5d];
        l.extend_from_slice(&body);
        let s = container(&l, 1024);
        let mut out = vec![0u8; out_len];
        if let Ok(d) = decode(&s, &mut out) {
            prop_assert!(d.produced <= out_len);
        }
    }
}
