//! The page-fault intercept in shadow mode: decide whose fault it is, and
//! for the hypervisor's own (a shadow not built yet, a dirty bit to set) fix
//! the shadows so that the instruction can be retried.
//!
//! Order: walk the guest tables (a guest fault goes back to the guest with
//! the error code the hardware would have given), look up the frame in the
//! p2m, set the guest's accessed/dirty bits as the hardware would, build
//! the shadows along the path, and finally hand a write to a page-table
//! page to the emulator instead of letting it through.

use super::cache::{entry_addr, Full, Kind};
use super::guest::{self, Stop};
use super::{entries, Access, Env, PhysMemory, Shadow, ShadowFrames, ShadowHooks, WriteTarget};
use abi::Gfn;

/// Why the domain must be crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashReason {
    /// The guest has no (valid) root: CR3 never set, or its frame is gone.
    NoRoot,
    /// A guest table frame is not RAM of the domain.
    TableNotRam(Gfn),
    /// Even with every other shadow dropped, one path does not fit in the
    /// shadow pool.
    OutOfShadowMemory,
}

/// What the intercept decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The shadows now allow the access (or were rebuilt): retry.
    Fixed,
    /// The guest's own tables refuse it: inject `#PF(error_code)`, CR2 = va.
    GuestFault {
        /// The error code the hardware would report.
        error_code: u32,
    },
    /// A write the guest may do, into a frame backing a shadowed guest
    /// table: decode the instruction and pass it to
    /// [`Shadow::emulate_write`] with this target, then skip it.
    EmulateWrite(WriteTarget),
    /// The guest's tables name a guest frame the p2m does not map
    /// (emulated MMIO, or a bad guest: crash it).
    NoP2m(Gfn),
    /// The p2m forbids the access (a write to a read-only grant, say):
    /// crash the domain.
    P2mDenied(Gfn),
    /// Crash the domain.
    Crash(CrashReason),
}

impl Shadow<'_> {
    /// Handles a #PF the hardware raised at `va` with `error_code` while
    /// walking the shadows.
    pub fn page_fault<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        va: u64,
        error_code: u32,
    ) -> Outcome {
        let access = Access::from_error_code(error_code);
        let Some(cr3) = self.cr3 else { return Outcome::Crash(CrashReason::NoRoot) };
        // Whose fault: the guest's tables first.
        let w = match guest::walk(env.p2m, env.mem, cr3, va) {
            Ok(w) => w,
            Err(Stop::TableNotRam(g)) => return Outcome::Crash(CrashReason::TableNotRam(g)),
            Err(stop) => return Outcome::GuestFault { error_code: guest::error_code(access, Some(stop)) },
        };
        if !w.rights.permits(access) {
            return Outcome::GuestFault { error_code: guest::error_code(access, None) };
        }
        let Some((p, _)) = env.p2m.get(w.gfn) else { return Outcome::NoP2m(w.gfn) };
        if (access.write && !p.rights.write) || (access.exec && !p.rights.exec) {
            return Outcome::P2mDenied(w.gfn);
        }
        // The hardware's A/D updates, each resynced like any change to a
        // guest table; then the path as it now reads.
        for u in guest::ad_updates(&w, access.write) {
            self.hypervisor_write(env, u.table, u.index, u.entry);
        }
        let w = match guest::walk(env.p2m, env.mem, cr3, va) {
            Ok(w) => w,
            Err(Stop::TableNotRam(g)) => return Outcome::Crash(CrashReason::TableNotRam(g)),
            Err(stop) => return Outcome::GuestFault { error_code: guest::error_code(access, Some(stop)) },
        };
        if self.propagate(env, &w, va).is_err() {
            // Start again from an empty cache; if one path does not fit
            // even then, the domain cannot run.
            self.blow(env);
            if self.propagate(env, &w, va).is_err() {
                return Outcome::Crash(CrashReason::OutOfShadowMemory);
            }
        }
        if access.write && self.is_protected(p.mfn) {
            return Outcome::EmulateWrite(WriteTarget { gfn: w.gfn, mfn: p.mfn });
        }
        Outcome::Fixed
    }

    /// Builds the shadows along a successful guest walk `w` of `va`.
    fn propagate<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        w: &guest::Walk,
        va: u64,
    ) -> Result<(), Full> {
        let root = self.root().ok_or(Full)?;
        let mut table = root.smfn;
        for level in (2..=4u8).rev() {
            let step = w.steps[4 - level as usize];
            if guest::is_leaf(step.entry, level) {
                // A guest 2 MiB page: its split table, then the one entry.
                let base = Gfn(guest::entry_gfn(step.entry).0 & !511);
                let split = self.find_or_create(env, Kind::Split { base }, base)?;
                env.mem.write_u64(entry_addr(table, step.index), entries::upper_2m(step.entry, split.smfn));
                let p = env.p2m.get(w.gfn).ok_or(Full)?.0;
                let e = entries::split_leaf(p, self.is_protected(p.mfn));
                env.mem.write_u64(entry_addr(split.smfn, guest::index(va, 1)), e);
                return Ok(());
            }
            let child_gfn = guest::entry_gfn(step.entry);
            let child_mfn = guest::table_mfn(env.p2m, child_gfn).ok_or(Full)?;
            let child = self.find_or_create(env, Kind::Table { mfn: child_mfn, level: level - 1 }, child_gfn)?;
            env.mem.write_u64(entry_addr(table, step.index), entries::upper(step.entry, child.smfn));
            table = child.smfn;
        }
        let step = w.steps[3];
        let p = env.p2m.get(w.gfn).ok_or(Full)?.0;
        env.mem.write_u64(entry_addr(table, step.index), entries::leaf(step.entry, p, self.is_protected(p.mfn)));
        Ok(())
    }
}
