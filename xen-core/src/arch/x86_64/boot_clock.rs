//! Marks on the boot path for the boot figure. Under QEMU's `-icount` the
//! TSC counts retired instructions, so the marks split reset → shutdown into
//! the firmware's and loader's share (before `_start32`, whose first act is
//! to record the TSC) and the hypervisor's phases. One line at shutdown.

use super::cpu;
use core::fmt;

extern "C" {
    /// Written by `_start32` before anything else.
    static boot_entry_tsc: u64;
}

const MAX_MARKS: usize = 12;

struct Marks {
    count: usize,
    at: [(&'static str, u64); MAX_MARKS],
}

static mut MARKS: Marks = Marks { count: 0, at: [("", 0); MAX_MARKS] };

fn marks() -> &'static mut Marks {
    // SAFETY: one CPU; marks are taken on the boot path and at shutdown,
    // never from an interrupt or trap handler that could nest.
    unsafe { &mut *core::ptr::addr_of_mut!(MARKS) }
}

/// The TSC at `_start32`.
pub fn entry() -> u64 {
    // SAFETY: a plain u64 in .data that `_start32` wrote once before Rust ran.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(boot_entry_tsc)) }
}

/// Records the TSC now under `name` (the first [`MAX_MARKS`] marks only).
/// Never inlined, so a boot trace (`tools/trace/boot-trace.sh`) can split
/// at its calls.
#[inline(never)]
pub fn mark(name: &'static str) {
    let m = marks();
    if m.count < MAX_MARKS {
        m.at[m.count] = (name, cpu::rdtsc());
        m.count += 1;
    }
}

/// [`mark`], unless `name` was marked already.
pub fn mark_once(name: &'static str) {
    let m = marks();
    if !m.at[..m.count].iter().any(|(n, _)| *n == name) {
        mark(name);
    }
}

struct Line(u64);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}", self.0)?;
        let m = marks();
        for (name, tsc) in &m.at[..m.count] {
            write!(f, ", {name} +{}", tsc.wrapping_sub(self.0))?;
        }
        Ok(())
    }
}

/// Logs the entry TSC and each mark as an offset from it.
pub fn report() {
    mark("shutdown");
    log::info!("Boot clock (TSC; instructions under -icount): {}", Line(entry()));
}
