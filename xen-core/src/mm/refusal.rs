//! Why a request was refused, for the debug log.
//!
//! One errno often has several causes (`EBUSY` for an L1 entry mapping a
//! frame the domain does not own, and for a writable mapping of a page
//! table). Each refusal site names its rule with [`Mm::refuse`]; the
//! hypercall layer takes the rule, adds the domain, hypercall and entry
//! index, and logs one line at `loglvl=debug`, rate-limited.
//!
//! Only error paths touch this: a successful request never writes it, so
//! the hypercall fast path costs the same with or without it. The record
//! lives with the model's hooks ([`MmHooks::refusals`]); hooks that keep
//! none (the default) make every refusal site a no-op.

use super::model::{Mm, MmHooks};
use super::PhysMemory;
use abi::Errno;
use core::cell::Cell;

/// Lines logged back to back before the limit applies.
pub const BURST: u32 = 10;
/// Timer ticks per line regained afterwards.
pub const TICKS_PER_LINE: u32 = 50;

/// The last refusal's details and the log's rate limit.
#[derive(Clone, Debug)]
pub struct Refusals {
    rule: Cell<Option<&'static str>>,
    entry: Cell<Option<u32>>,
    tokens: Cell<u32>,
    ticks: Cell<u32>,
    suppressed: Cell<u32>,
}

impl Default for Refusals {
    fn default() -> Self {
        Self::new()
    }
}

/// What is known about one refused hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that refused it, if the site named one.
    pub rule: Option<&'static str>,
    /// The index of the refused entry of a batch.
    pub entry: Option<u32>,
}

impl Refusals {
    /// Nothing refused yet; a full burst available.
    pub const fn new() -> Self {
        Refusals {
            rule: Cell::new(None),
            entry: Cell::new(None),
            tokens: Cell::new(BURST),
            ticks: Cell::new(0),
            suppressed: Cell::new(0),
        }
    }

    /// A refusal site: `rule` refused the request. The innermost site
    /// names the cause, so a rule already noted is kept.
    pub fn note_rule(&self, rule: &'static str) {
        if self.rule.get().is_none() {
            self.rule.set(Some(rule));
        }
    }

    /// The batch stopped at entry `index`.
    pub fn note_entry(&self, index: u32) {
        self.entry.set(Some(index));
    }

    /// Ends a refused hypercall: returns what was noted and clears it.
    pub fn take(&self) -> Refusal {
        Refusal { rule: self.rule.take(), entry: self.entry.take() }
    }

    /// Ends a refused hypercall whose line is not wanted: clears what was
    /// noted, as [`Self::take`] does, without reading it.
    pub fn forget(&self) {
        self.rule.set(None);
        self.entry.set(None);
    }

    /// The rate limit: whether a line may be printed now. `Some(n)`: yes,
    /// and `n` refusals went unlogged before it; `None`: no, and this one is
    /// counted as unlogged.
    pub fn admit(&self) -> Option<u32> {
        match self.tokens.get() {
            0 => {
                self.suppressed.set(self.suppressed.get().saturating_add(1));
                None
            }
            t => {
                self.tokens.set(t - 1);
                Some(self.suppressed.replace(0))
            }
        }
    }

    /// A timer tick: regains one line every [`TICKS_PER_LINE`] ticks, up to
    /// [`BURST`].
    pub fn tick(&self) {
        let t = self.ticks.get() + 1;
        if t < TICKS_PER_LINE {
            self.ticks.set(t);
            return;
        }
        self.ticks.set(0);
        self.tokens.set((self.tokens.get() + 1).min(BURST));
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Names the rule behind refusal `e` and returns `e`. Refusal sites
    /// write `return Err(self.refuse(Errno::EBUSY, "..."))`.
    #[cold]
    pub(crate) fn refuse(&self, e: Errno, rule: &'static str) -> Errno {
        if let Some(r) = self.hooks.refusals() {
            r.note_rule(rule);
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_rule_and_the_entry_are_reported_once() {
        let r = Refusals::new();
        r.note_rule("inner");
        r.note_rule("outer");
        r.note_entry(3);
        assert_eq!(r.take(), Refusal { rule: Some("inner"), entry: Some(3) });
        assert_eq!(r.take(), Refusal { rule: None, entry: None }, "taking clears it");
    }

    #[test]
    fn a_burst_is_logged_then_one_line_per_interval_with_the_unlogged_count() {
        let r = Refusals::new();
        for _ in 0..BURST {
            assert_eq!(r.admit(), Some(0));
        }
        assert_eq!(r.admit(), None);
        assert_eq!(r.admit(), None);
        for _ in 0..TICKS_PER_LINE - 1 {
            r.tick();
        }
        assert_eq!(r.admit(), None, "not yet a full interval");
        r.tick();
        assert_eq!(r.admit(), Some(3));
        assert_eq!(r.admit(), None);
    }

    #[test]
    fn ticks_never_bank_more_than_a_burst() {
        let r = Refusals::new();
        for _ in 0..TICKS_PER_LINE * BURST * 3 {
            r.tick();
        }
        let logged = (0..BURST * 2).filter(|_| r.admit().is_some()).count();
        assert_eq!(logged, BURST as usize);
    }

    #[test]
    fn the_rate_limit_never_hides_the_rule_from_the_record() {
        let r = Refusals::new();
        for _ in 0..BURST * 2 {
            let _ = r.admit();
        }
        r.note_rule("still named");
        assert_eq!(r.take().rule, Some("still named"));
    }
}
