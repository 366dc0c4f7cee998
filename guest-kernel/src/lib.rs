//! The guest runtime shared by guest-kernel and the conformance guest: the
//! PV entry point and Xen ELF notes, trap entry stubs, raw memory access and
//! console output. A binary using it defines `pv_main` (called with
//! start_info) and `pv_page_fault` (the #PF policy).
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod arch;
#[cfg(target_os = "none")]
pub mod console;

/// Parses `16M`, `512K`, `1G` or a byte count.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}
