//! Helpers shared by guest-kernel, the conformance guest and the hostile
//! guest, on top of the `guest-rt` runtime (which supplies the entry point,
//! ELF notes, panic handler and console): trap entry stubs, raw memory
//! access, FPU probes and user tasks. A binary using the trap stubs defines
//! `pv_page_fault` (the #PF policy).
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod arch;

#[doc(hidden)]
pub use guest_rt as __rt;

/// Prints one line (the runtime's `println!`).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::__rt::println!($($arg)*)
    };
}

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
