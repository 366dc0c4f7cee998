//! Shadow paging for a PVH domain (`paging=shadow`): the hardware glue
//! around the pure [`crate::shadow`] model, with the guest's own control
//! registers kept by [`crate::hvm::shadow_cr`].
//!
//! NPT is off; the VMCB's CR3 is the hypervisor's: the identity map of
//! the p2m (the NPT image, kept in step with the balloon) while the guest
//! has paging off, the shadow of its root once it has turned 4-level
//! paging on. Shadow frames come from the frame allocator, at most
//! [`MAX_SHADOWS`]; the slot array is on the heap. Every change of the
//! shadows or of the identity map asks for the ASID to be flushed before
//! the guest runs again.

use super::super::paging::DirectMap;
use super::vmrun::Gprs;
use crate::domain::emulate::{read_reg, write_reg};
use crate::domain::vcpu::GuestContext;
use crate::emulate::pte_write::{self, SegBases};
use crate::hvm::gmem::{GuestPaging, GuestView};
use crate::hvm::shadow_cr::GuestCrs;
use crate::hvm::shadow_fault::{self, PfAction};
use crate::hvm::vmcb::VmcbSave;
use crate::mm::FrameAllocator;
use crate::p2m::P2m;
use crate::shadow::fault::CrashReason;
use crate::shadow::ptwr::ShadowPteTables;
use crate::shadow::{guest, Kind};
use crate::shadow::{Env, Shadow, ShadowFrames, ShadowHooks, Slot, WriteTarget};
use abi::{Gfn, Mfn};
use alloc::vec;
use alloc::vec::Vec;

/// Most shadow tables one domain may hold (frames and slots): past it the
/// model drops them all and rebuilds on demand.
pub const MAX_SHADOWS: usize = 128;

/// Shadow frames from the allocator, counted.
struct Pool<'a> {
    alloc: &'a mut FrameAllocator,
    live: &'a mut usize,
}

impl ShadowFrames for Pool<'_> {
    fn alloc(&mut self) -> Option<Mfn> {
        if *self.live >= MAX_SHADOWS {
            return None;
        }
        let m = self.alloc.alloc_zeroed(&mut DirectMap)?;
        *self.live += 1;
        Some(m)
    }

    fn free(&mut self, mfn: Mfn) {
        self.alloc.free(mfn, &mut DirectMap);
        *self.live -= 1;
    }
}

/// TLB work: every request becomes a flush of the domain's ASID at the
/// next VMRUN (TCG's TLB is not tagged finer than that anyway).
struct Hooks<'a>(&'a mut bool);

impl ShadowHooks for Hooks<'_> {
    fn flush_tlb(&mut self) {
        *self.0 = true;
    }

    fn invlpg(&mut self, _va: u64) {
        *self.0 = true;
    }
}

/// Shadow-mode exits by kind, for the end-of-run line.
#[derive(Default)]
pub struct Counts {
    /// #PF fixed by filling shadows.
    pub fixed: u64,
    /// #PF reflected to the guest.
    pub reflected: u64,
    /// Writes to guest page tables emulated.
    pub emulated: u64,
    /// CR reads and writes.
    pub cr: u64,
    /// INVLPG.
    pub invlpg: u64,
    /// Times every shadow was dropped after a p2m change.
    pub blown: u64,
    /// Root switches (paging turned on, CR3 loads).
    pub roots: u64,
    /// Of those, roots whose shadow was still in the cache.
    pub cached_roots: u64,
}

/// One shadow-paged vCPU.
pub struct ShadowVcpu {
    slots: Vec<Option<Slot>>,
    /// The model's idea of the guest root (kept between exits).
    root: Option<Gfn>,
    live: usize,
    /// The guest's own control registers.
    pub crs: GuestCrs,
    /// The identity map of the p2m (the NPT image's root).
    ident: Mfn,
    /// The real CR3 while paging is on.
    shadow_root: Option<Mfn>,
    /// Flush the ASID before the next VMRUN.
    pub flush: bool,
    /// Exits by kind.
    pub counts: Counts,
}

/// Why the domain is crashed (logged by the caller).
pub type Crash = alloc::string::String;

impl ShadowVcpu {
    /// A vCPU entering at the PVH start state in `save` (the guest's own
    /// view), run on the identity map `ident`.
    pub fn new(save: &VmcbSave, ident: Mfn) -> ShadowVcpu {
        ShadowVcpu {
            slots: vec![None; MAX_SHADOWS],
            root: None,
            live: 0,
            crs: GuestCrs { cr0: save.cr0, cr3: save.cr3, cr4: save.cr4, efer: save.efer },
            ident,
            shadow_root: None,
            flush: true,
            counts: Counts::default(),
        }
    }

    /// The guest's paging as its own registers say (for hypercall pointers).
    pub fn guest_paging(&self) -> GuestPaging {
        GuestPaging::of(self.crs.cr0, self.crs.cr3, self.crs.cr4, self.crs.efer)
    }

    /// Shadows held now.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Writes the real registers into the VMCB.
    pub fn apply(&self, save: &mut VmcbSave) {
        save.cr0 = self.crs.real_cr0();
        save.cr4 = self.crs.real_cr4();
        save.efer = self.crs.real_efer();
        save.cr3 = self.shadow_root.filter(|_| self.crs.paged()).unwrap_or(self.ident).to_maddr();
    }

    fn with<R>(
        &mut self,
        p2m: &P2m<'_>,
        alloc: &mut FrameAllocator,
        f: impl FnOnce(&mut Shadow<'_>, &mut Env<'_, '_, DirectMap, Pool<'_>, Hooks<'_>>) -> R,
    ) -> R {
        let mut mem = DirectMap;
        let mut frames = Pool { alloc, live: &mut self.live };
        let mut hooks = Hooks(&mut self.flush);
        let mut env = Env { p2m, mem: &mut mem, frames: &mut frames, hooks: &mut hooks };
        let mut shadow = Shadow::reopen(&mut self.slots, self.root);
        let r = f(&mut shadow, &mut env);
        self.root = shadow.cr3();
        r
    }

    /// The guest's root is now guest frame `gfn` (paging turned on, or a
    /// CR3 load): the real CR3 becomes its shadow, from the cache if the
    /// guest has been there before.
    pub fn set_root(&mut self, p2m: &P2m<'_>, alloc: &mut FrameAllocator, gfn: u64) -> Result<(), CrashReason> {
        self.counts.roots += 1;
        let cached = guest::table_mfn(p2m, Gfn(gfn))
            .is_some_and(|mfn| self.slots.iter().flatten().any(|s| s.kind == Kind::Table { mfn, level: 4 }));
        self.counts.cached_roots += u64::from(cached);
        let r = self.with(p2m, alloc, |s, env| s.write_cr3(env, Gfn(gfn)));
        self.shadow_root = Some(r?);
        Ok(())
    }

    /// The p2m changed (balloon): no shadow may keep what it derived from
    /// the old entries, so all are dropped and rebuilt on demand.
    pub fn p2m_changed(&mut self, p2m: &P2m<'_>, alloc: &mut FrameAllocator) {
        self.counts.blown += 1;
        self.with(p2m, alloc, |s, env| s.blow(env));
        self.flush = true;
    }

    /// A #PF at `va` with `error_code`.
    pub fn page_fault(&mut self, p2m: &P2m<'_>, alloc: &mut FrameAllocator, va: u64, error_code: u32) -> PfAction {
        if !self.crs.paged() {
            return shadow_fault::unpaged(va);
        }
        let outcome = self.with(p2m, alloc, |s, env| s.page_fault(env, va, error_code));
        let a = shadow_fault::action(outcome);
        match a {
            PfAction::Retry => self.counts.fixed += 1,
            PfAction::Reflect(_) => self.counts.reflected += 1,
            _ => {}
        }
        a
    }

    /// Emulates the write at RIP (bytes `code`) that faulted at `cr2` into
    /// `target`, on the guest's registers.
    #[allow(clippy::too_many_arguments)]
    pub fn emulate_write(
        &mut self,
        p2m: &P2m<'_>,
        alloc: &mut FrameAllocator,
        save: &mut VmcbSave,
        gprs: &mut Gprs,
        code: &[u8],
        cr2: u64,
        target: WriteTarget,
    ) -> Result<(), Crash> {
        let mut ctx = GuestContext::default();
        for r in 0..16u8 {
            let v = if r == 0 { save.rax } else { gprs.0[r as usize] };
            write_reg(&mut ctx, r, v);
        }
        ctx.rsp = save.rsp;
        ctx.rip = save.rip;
        ctx.rflags = save.rflags;
        let seg = SegBases { fs: save.fs.base, gs: save.gs.base };
        let r = self.with(p2m, alloc, |s, env| {
            let mut t = ShadowPteTables { shadow: s, env, target, page_va: cr2 & !0xFFF };
            pte_write::emulate(code, &mut ctx, cr2, seg, &mut t)
        });
        r.map_err(|e| alloc::format!("its write to its page table at {cr2:#x} was not emulated ({e:?})"))?;
        for r in 1..16u8 {
            if r != 4 {
                gprs.0[r as usize] = read_reg(&ctx, r);
            }
        }
        save.rax = read_reg(&ctx, 0);
        save.rsp = ctx.rsp;
        save.rip = ctx.rip;
        save.rflags = ctx.rflags;
        self.counts.emulated += 1;
        Ok(())
    }

    /// Gives every shadow frame back.
    pub fn teardown(&mut self, alloc: &mut FrameAllocator) {
        for s in self.slots.iter_mut() {
            if let Some(slot) = s.take() {
                alloc.free(slot.smfn, &mut DirectMap);
                self.live -= 1;
            }
        }
    }
}

/// Up to 15 bytes of the instruction at `cs_base + rip`, read through the
/// guest's own paging and p2m (fewer if a page is unreachable).
pub fn fetch(p2m: &P2m<'_>, paging: GuestPaging, linear: u64) -> ([u8; 15], usize) {
    let mut mem = DirectMap;
    let view = GuestView { p2m, mem: &mut mem, paging };
    let mut buf = [0u8; 15];
    let first = (4096 - (linear & 0xFFF) as usize).min(15);
    if view.read(linear, &mut buf[..first]).is_err() {
        return (buf, 0);
    }
    if first < 15 && view.read(linear + first as u64, &mut buf[first..]).is_ok() {
        return (buf, 15);
    }
    (buf, first)
}
