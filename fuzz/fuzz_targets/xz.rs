//! Fuzzes the single-call xz decoder over raw bytes: the first two bytes
//! pick the output buffer's size (0 to 64 KiB), the rest is the stream.
//! Checked: no panic, and a success reports no more output than the
//! buffer holds and no more input than was given. Seed it with real
//! streams (`xz -c`) for depth; the LZMA decoder is reached only behind
//! valid header CRCs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_core::domain::xz::decode;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let out_len = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let stream = &data[2..];
    let mut out = vec![0u8; out_len];
    if let Ok(d) = decode(stream, &mut out) {
        assert!(d.produced <= out_len && d.consumed <= stream.len());
    }
});
