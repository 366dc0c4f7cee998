//! The end-of-run verdict: whether the hypervisor ends QEMU with success.
//! Pure, so the rule is tested on the host.
//!
//! A run succeeds only if every boot module became a domain and, unless
//! `exit-success=always`, every domain powered off. A refused module (not
//! an ELF, bad notes, bad `mem=`, no memory, past the domain limit) always
//! fails the run: what ran is not what was asked for, even if the domains
//! that were built all powered off.

use crate::sched::RunState;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunVerdict {
    /// Every module ran, and ended as required.
    Success,
    /// This many modules were refused at build time.
    ModulesRefused(usize),
    /// A domain crashed, or shut down for a reason other than poweroff.
    NotPoweredOff,
}

impl RunVerdict {
    /// Decides from the number of refused modules and how each built
    /// domain ended.
    pub fn decide(refused: usize, ended: impl IntoIterator<Item = RunState>, all_poweroff_required: bool) -> Self {
        if refused > 0 {
            return RunVerdict::ModulesRefused(refused);
        }
        let all_poweroff = ended.into_iter().all(|s| s == RunState::Shutdown(0));
        if all_poweroff || !all_poweroff_required {
            RunVerdict::Success
        } else {
            RunVerdict::NotPoweredOff
        }
    }
}

impl core::fmt::Display for RunVerdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RunVerdict::Success => write!(f, "success"),
            RunVerdict::ModulesRefused(1) => write!(f, "failure (1 module was refused)"),
            RunVerdict::ModulesRefused(n) => write!(f, "failure ({n} modules were refused)"),
            RunVerdict::NotPoweredOff => write!(f, "failure (a domain did not power off)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    const OFF: RunState = RunState::Shutdown(0);

    #[test]
    fn every_domain_powering_off_is_a_success() {
        assert_eq!(RunVerdict::decide(0, [OFF, OFF], true), RunVerdict::Success);
        assert_eq!(RunVerdict::decide(0, [OFF, OFF], true).to_string(), "success");
    }

    #[test]
    fn a_crash_fails_unless_any_ending_counts() {
        assert_eq!(RunVerdict::decide(0, [OFF, RunState::Crashed], true), RunVerdict::NotPoweredOff);
        assert_eq!(RunVerdict::decide(0, [RunState::Shutdown(1)], true), RunVerdict::NotPoweredOff);
        assert_eq!(RunVerdict::decide(0, [OFF, RunState::Crashed], false), RunVerdict::Success);
    }

    #[test]
    fn every_module_refused_is_a_failure_not_an_empty_success() {
        let v = RunVerdict::decide(2, [], true);
        assert_eq!(v, RunVerdict::ModulesRefused(2));
        assert_eq!(v.to_string(), "failure (2 modules were refused)");
    }

    #[test]
    fn one_refused_module_fails_the_run_even_when_the_rest_powered_off_and_any_ending_counts() {
        assert_eq!(RunVerdict::decide(1, [OFF], true), RunVerdict::ModulesRefused(1));
        assert_eq!(RunVerdict::decide(1, [OFF], false), RunVerdict::ModulesRefused(1));
    }
}
