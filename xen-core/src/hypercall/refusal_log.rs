//! The debug log line for a refused hypercall: domain, hypercall, entry
//! index, the rule that refused it and the errno, rate-limited
//! ([`crate::mm::refusal`]). Only the error arm of dispatch comes here, so
//! hypercalls that succeed cost the same; at the default log level nothing
//! is printed.

use super::{Call, ConsoleSink, GuestMemory};
use crate::mm::refusal::{Refusal, Refusals};
use crate::mm::{MmHooks, PhysMemory};
use abi::hypercall::HypercallNr;
use abi::{DomId, Errno};
use core::fmt::{self, Write};

/// One refusal as the log shows it.
pub struct RefusalLine {
    /// The caller.
    pub dom: DomId,
    /// The hypercall number.
    pub nr: u64,
    /// What it returned.
    pub errno: Errno,
    /// Rule and entry.
    pub refusal: Refusal,
    /// Refusals left unlogged before this one (rate limit).
    pub unlogged: u32,
}

impl fmt::Display for RefusalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "domain {}: hypercall {} (", self.dom.0, self.nr)?;
        for c in HypercallNr(self.nr).name().unwrap_or("unknown").chars() {
            f.write_char(c.to_ascii_lowercase())?;
        }
        f.write_char(')')?;
        if let Some(i) = self.refusal.entry {
            write!(f, " entry {i}")?;
        }
        f.write_str(" refused")?;
        if let Some(rule) = self.refusal.rule {
            write!(f, ": {rule}")?;
        }
        match self.errno.name() {
            Some(n) => write!(f, " (-{n})")?,
            None => write!(f, " (-{})", self.errno.0)?,
        }
        if self.unlogged > 0 {
            write!(f, "; {} earlier refusals not logged", self.unlogged)?;
        }
        Ok(())
    }
}

/// Hypercall `nr` of `dom` failed with `errno`: logs it at debug level,
/// rate-limited by `refusals` (the rule or entry noted for it is taken
/// whatever the level, so nothing is left for the next refusal), and
/// returns the value for RAX. Also the entries' answer for a number with
/// no handler, before any `Call` is built.
/// Inline up to the level test (below debug level the note is only
/// cleared); the line itself is out of line.
#[inline(always)]
pub fn refuse(refusals: Option<&Refusals>, dom: DomId, nr: u64, errno: Errno) -> u64 {
    if let Some(r) = refusals {
        if log::max_level() >= log::LevelFilter::Debug {
            log_refusal(r, dom, nr, errno);
        } else {
            r.forget();
        }
    }
    errno.to_rax() as u64
}

/// Takes the note and prints the line, unless the logger or the rate
/// limit holds it back (it then counts as unlogged).
#[cold]
#[inline(never)]
fn log_refusal(r: &Refusals, dom: DomId, nr: u64, errno: Errno) {
    let refusal = r.take();
    if log::log_enabled!(log::Level::Debug) {
        if let Some(unlogged) = r.admit() {
            log::debug!("{}", RefusalLine { dom, nr, errno, refusal, unlogged });
        }
    }
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// Hypercall `nr` failed with `errno`: logs it at debug level,
    /// rate-limited, and returns the value for RAX.
    #[cold]
    #[inline(never)]
    pub(super) fn refused(&mut self, nr: u64, errno: Errno) -> u64 {
        refuse(self.hv.mm.hooks.refusals(), self.dom, nr, errno)
    }

    /// A batch stopped at entry `index` with `e`; returns `e`.
    #[cold]
    pub(super) fn refused_entry(&self, e: Errno, index: u32) -> Errno {
        if let Some(r) = self.hv.mm.hooks.refusals().filter(|_| e != Errno::ERESTART) {
            r.note_entry(index);
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn the_line_names_domain_hypercall_entry_rule_and_errno() {
        let refusal = Refusal { rule: Some("L1 entry maps a frame the domain does not own"), entry: Some(3) };
        let line = RefusalLine { dom: DomId(1), nr: 1, errno: Errno::EBUSY, refusal, unlogged: 0 };
        assert_eq!(
            line.to_string(),
            "domain 1: hypercall 1 (mmu_update) entry 3 refused: L1 entry maps a frame the domain does not own (-EBUSY)"
        );
    }

    #[test]
    fn a_line_without_rule_or_entry_still_says_what_was_refused_and_what_was_dropped() {
        let refusal = Refusal { rule: None, entry: None };
        let line = RefusalLine { dom: DomId(0), nr: 99, errno: Errno::ENOSYS, refusal, unlogged: 7 };
        assert_eq!(
            line.to_string(),
            "domain 0: hypercall 99 (unknown) refused (-ENOSYS); 7 earlier refusals not logged"
        );
    }
}
