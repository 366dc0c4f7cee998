//! `wait-keys` (domain 0): the console's virtual IRQs end to end. It binds
//! `VIRQ_DEBUG` and `VIRQ_CONSOLE`, unmasks events and spins without a
//! hypercall, so a key can reach it only as an interrupt the hypervisor
//! takes while this guest runs: `q` on the console dumps the domains and
//! sends `VIRQ_DEBUG`; after Ctrl-A three times, the keys typed are domain
//! 0's input, announced by `VIRQ_CONSOLE` and read with `CONSOLEIO_read`.

use crate::story::{fail, fail_errno};
use abi::{evtchn, guest};
use guest_kernel::arch::x86_64::events;
use guest_kernel::say;

/// TSC ticks to spin before giving up on a key (tens of seconds on any
/// host QEMU runs on).
const PATIENCE_TICKS: u64 = 200_000_000_000;

/// Spins, events unmasked, until `port` has seen more than `seen` events.
fn spin_for(port: u32, seen: u32, what: &str) {
    let t0 = events::rdtsc();
    while events::count(port) <= seen {
        if events::rdtsc().wrapping_sub(t0) > PATIENCE_TICKS {
            fail(what);
        }
        core::hint::spin_loop();
    }
}

fn bind(virq: u32, name: &str) -> u32 {
    match evtchn::bind_virq(virq, 0) {
        Ok(p) => p,
        Err(e) => fail_errno(name, e),
    }
}

/// The `wait-keys` step.
pub fn wait_keys() {
    use abi::event_channel::virq;
    let debug = bind(virq::DEBUG, "bind_virq(VIRQ_DEBUG)");
    let console = bind(virq::CONSOLE, "bind_virq(VIRQ_CONSOLE)");
    events::set_mask(false);
    say!("keys: VIRQ_DEBUG on port {debug}, VIRQ_CONSOLE on port {console}; spinning until 'q' is typed");
    spin_for(debug, 0, "no VIRQ_DEBUG: the 'q' key never reached the hypervisor while this guest ran");
    say!("keys: VIRQ_DEBUG received on port {debug} while spinning; now type for domain 0");
    let mut got = [0u8; 16];
    let mut n = 0;
    let mut seen = 0;
    while n < 2 {
        spin_for(console, seen, "no VIRQ_CONSOLE: domain 0's input never came");
        seen = events::count(console);
        match guest::console_read(&mut got[n..]) {
            Ok(k) => n += k,
            Err(e) => fail_errno("CONSOLEIO_read", e),
        }
    }
    events::set_mask(true);
    let text = core::str::from_utf8(&got[..n]).unwrap_or("?");
    say!("keys: VIRQ_CONSOLE received on port {console} ({seen} events); CONSOLEIO_read gave {n} bytes: {text:?}");
}
