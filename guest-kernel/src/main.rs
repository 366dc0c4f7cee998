//! guest-kernel: a small paravirtualized kernel for xen-core (and Xen).
//!
//! It tells its start-of-day story on the console, one line per step:
//! banner, trap table, new page tables built through `mmu_update` (direct
//! paging), the switch to them, a deliberate page fault fixed up by its own
//! handler, and a clean shutdown.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod balloon;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod story;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-kernel is a PV guest: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}

/// Parses `16M`, `512K`, `1G` or bytes.
#[cfg(target_os = "none")]
fn balloon_size(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}
