//! The xen-core QEMU test harness.
//!
//! A test boots the hypervisor and guest modules, through QEMU's multiboot1
//! loader (`-kernel`, the default) or from a GRUB ISO ([`Run::boot`]), follows
//! the serial log through timed phases and decides a [`Verdict`]:
//!
//! 1. **banner**: the hypervisor's `xen-core <version>` line must appear;
//! 2. **guest start**: for each expected guest, `Starting domain <n>`;
//! 3. **result**: QEMU must exit.
//!
//! Each phase has its own timeout, so a hang is reported with the phase it
//! hung in. The isa-debug-exit status is decoded (0x10 success, 0x20
//! failure; QEMU status 1 is a harness error and never a pass), and every
//! expected guest must print exactly one `Test result: SUCCESS|SKIP|ERROR|FAILURE`
//! line; a guest that prints none counts as a CRASH, and SKIP passes only
//! with [`Run::allow_skip`]. The guests' rules are `xen_tools::verdict`, the
//! same ones `xen-run --verdicts` applies.

pub mod harness;
pub mod serial;

pub use harness::{artifacts_dir, hypervisor_elf, Phase, Phases, Run, RunOutcome, Verdict};
pub use serial::{in_order, pvh_hello};
pub use xen_tools::verdict::{parse_results, GuestResult, TestResult};
