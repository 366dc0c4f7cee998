//! The direct-paging model: frame table, domains' memory state, and the
//! general and type reference operations every rule is built from.
//!
//! This is pure code. Machine memory is reached through [`PhysMemory`];
//! TLB flushes, cache flushes and freed frames are reported through
//! [`MmHooks`], which the arch layer implements. Nothing here allocates.
//!
//! TLB coherence (fact sheet §10, [`super::tlb_clock`]): a frame is stamped
//! whenever a reference through which a translation of it could be cached
//! goes, and flushed for ([`Mm::flush_if_stale`]) before it takes a
//! different type or returns to the allocator.
//!
//! Reference rules (fact sheet §7.2): a general reference can be taken only
//! on an allocated frame with the expected owner; a type reference is always
//! taken on top of a general one. A type may change only while the type
//! count is zero. Taking a page-table type at type count zero validates the
//! table (and, transitively, every table below it); dropping the last type
//! reference devalidates it.

use super::page_info::{PageInfo, PageType, MAX_COUNT};
use super::test_modes::{injected, Fault};
use super::tlb_clock::TlbClock;
use super::{PhysAddr, PhysMemory};
use abi::{DomId, Mfn};

/// Memory-management state of one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DomainMm {
    /// Its id.
    pub id: DomId,
    /// Built and not torn down. Only such a domain can be named by a
    /// hypercall ([`Mm::domain`]); a slot never built or torn down answers
    /// `ESRCH`, and its `tot_pages` still counts frames other domains keep alive.
    pub exists: bool,
    /// May act on other domains' memory (foreign `foreigndom`): the control domain.
    pub privileged: bool,
    /// Has I/O resources (the hardware domain): may use cache attributes in
    /// L1 entries and map non-RAM frames.
    pub io_caps: bool,
    /// Frames currently owned (including zombies still referenced).
    pub tot_pages: u64,
    /// Most frames it may own.
    pub max_pages: u64,
    /// Kernel-mode root table (the guest's CR3).
    pub kernel_root: Option<Mfn>,
    /// User-mode root table.
    pub user_root: Option<Mfn>,
    /// Tables whose devalidation was deferred, oldest first.
    pub deferred: [Mfn; DEFER_SLOTS],
    /// How many of `deferred` are in use.
    pub deferred_len: usize,
    /// GDT frames (`set_gdt`), each holding a descriptor-page type reference.
    pub gdt: [Mfn; super::gdt::MAX_GDT_FRAMES],
    /// How many of `gdt` are in use.
    pub gdt_frames: u8,
    /// Descriptors in the guest GDT.
    pub gdt_entries: u16,
    /// Its LDT (`MMUEXT_SET_LDT`): see [`super::ldt`].
    pub ldt: super::ldt::Ldt,
    /// The LDT's pages mapped so far (on first use, as Xen maps them), each
    /// holding a general and a descriptor-page type reference.
    pub ldt_frames: [Option<Mfn>; super::ldt::LDT_PAGES],
    /// Frames ever assigned to it (at build, by the balloon, by exchange).
    pub given: u64,
    /// Of those, frames that went back to the allocator, whenever they did.
    pub returned: u64,
}

/// Devalidations a domain may have waiting.
pub const DEFER_SLOTS: usize = 16;

impl DomainMm {
    /// A slot with no domain in it.
    pub const fn empty(id: DomId) -> DomainMm {
        let mut d = DomainMm::new(id, 0);
        d.exists = false;
        d
    }

    /// A domain with no memory yet.
    pub const fn new(id: DomId, max_pages: u64) -> DomainMm {
        DomainMm {
            id,
            exists: true,
            privileged: false,
            io_caps: false,
            tot_pages: 0,
            max_pages,
            kernel_root: None,
            user_root: None,
            deferred: [Mfn(0); DEFER_SLOTS],
            deferred_len: 0,
            gdt: [Mfn(0); super::gdt::MAX_GDT_FRAMES],
            gdt_frames: 0,
            gdt_entries: 0,
            ldt: super::ldt::Ldt::NONE,
            ldt_frames: [None; super::ldt::LDT_PAGES],
            given: 0,
            returned: 0,
        }
    }
}

/// Side effects the model asks of the arch layer.
pub trait MmHooks {
    /// Flush the TLB of every CPU that may hold translations for `dom`
    /// (after an L2+ entry change, XSA-286, or a guest's request); may be
    /// deferred to the end of the hypercall.
    fn flush_domain_tlb(&mut self, dom: DomId);
    /// Flush this CPU's TLB; may be deferred to the end of the hypercall.
    fn flush_local_tlb(&mut self);
    /// Flush every TLB entry of every CPU, global ones included, *now*,
    /// before this returns: a type change or a freed frame waits for it.
    /// The model advances its flush clock after it.
    fn flush_tlb_now(&mut self);
    /// Whether a flush [`Self::flush_domain_tlb`] or
    /// [`Self::flush_local_tlb`] deferred is still waiting for the end of
    /// the hypercall. None by default.
    fn flush_waiting(&self) -> bool {
        false
    }
    /// Invalidate one guest virtual address on this CPU.
    fn invlpg_local(&mut self, va: u64);
    /// Write back and invalidate caches.
    fn flush_cache(&mut self);
    /// `dom`'s kernel root changed: reload CR3 if it is running.
    fn root_changed(&mut self, dom: DomId);
    /// A frame's last reference went: it must be scrubbed before reuse.
    fn frame_freed(&mut self, mfn: Mfn);
    /// 2^`order` contiguous free frames, scrubbed, for a domain; the first
    /// is returned. `None` when memory is short.
    fn alloc_extent(&mut self, order: u32) -> Option<Mfn>;
    /// Called once per page-table entry validated. Returning true preempts
    /// the validation: it stops with `ERESTART`, leaving the tables
    /// partially validated, and the hypercall is restarted later to resume.
    fn preempt(&mut self) -> bool {
        false
    }
    /// How many more calls of [`MmHooks::preempt`] would return false now.
    /// A loop whose work fits asks once, does its entries without a test
    /// each, and then [`MmHooks::charge`]s them, leaving the budget where
    /// the per-entry tests would have. Implementors that override
    /// `preempt` override both.
    fn budget_room(&self) -> u32 {
        u32::MAX
    }
    /// Counts `n` units of work (`n` ≤ [`MmHooks::budget_room`]) as `n`
    /// calls of [`MmHooks::preempt`] returning false would.
    fn charge(&mut self, _n: u32) {}
    /// Starts a fresh preemption budget: the work counted by [`preempt`]
    /// and [`preempt_batch`] begins again from zero. The domain builder
    /// calls it before each round of a preempted bootstrap pin, since at
    /// build time there is no guest to return to and the pin simply
    /// continues.
    ///
    /// [`preempt`]: MmHooks::preempt
    /// [`preempt_batch`]: MmHooks::preempt_batch
    fn fresh_budget(&mut self) {}
    /// Called between two requests of a guest-sized batch (`mmu_update` and
    /// `mmuext_op` entries, memory-op extents, console chunks) with the cost
    /// of the next one, in page-table entries' worth of work. Returning true
    /// stops the batch there: the hypercall returns a continuation and is
    /// re-executed by the guest, so timer ticks and other domains run
    /// between the pieces of one long hypercall (Xen's
    /// `hypercall_preempt_check`).
    fn preempt_batch(&mut self, _cost: u32) -> bool {
        false
    }
    /// How many more calls of [`MmHooks::preempt_batch`] with cost 1 would
    /// return false now. A batch of cheap requests asks once, makes no
    /// test for that many of them, and then [`MmHooks::charge_batch`]es
    /// them, leaving the budget where the per-request tests would have.
    /// Implementors that override `preempt_batch` override both.
    fn batch_room(&self) -> u32 {
        u32::MAX
    }
    /// Counts `n` (≤ [`MmHooks::batch_room`]) calls of
    /// [`MmHooks::preempt_batch`] with cost 1 returning false.
    fn charge_batch(&mut self, _n: u32) {}
    /// Whether a table whose last type reference goes may be devalidated
    /// later, in slices, instead of at once (true under a hypercall).
    fn defer_devalidation(&mut self) -> bool {
        false
    }
    /// `dom`'s GDT frames changed: reload the descriptors if it is running.
    fn gdt_changed(&mut self, _dom: DomId) {}
    /// `dom`'s virtual CR0.TS changed (`fpu_taskswitch`): the hardware TS
    /// must follow before it runs again. Not memory, but the same channel
    /// back to the arch layer as [`MmHooks::gdt_changed`].
    fn fpu_ts_changed(&mut self, _dom: DomId) {}
    /// `update_descriptor` wrote descriptor `index` of `dom`'s live GDT
    /// (`ldt` false) or LDT (`ldt` true): the hardware copy follows at once,
    /// so later calls of the same batch see what the checks saw.
    fn descriptor_written(&mut self, _dom: DomId, _ldt: bool, _index: usize, _desc: u64) {}
    /// `dom`'s debug registers changed (`set_debugreg`): the hardware must
    /// follow before it runs again (same channel as the FPU's TS).
    fn debugregs_changed(&mut self, _dom: DomId) {}
    /// An event became pending for some domain's vCPU (an upcall may be
    /// due, or a blocked domain must wake): the arch layer looks before
    /// it returns to the guest. Same channel as [`MmHooks::gdt_changed`].
    fn event_kicked(&mut self) {}
    /// The calling vCPU's vcpu_info moved (`VCPUOP_register_vcpu_info`):
    /// whatever caches where it is must follow.
    fn vcpu_info_moved(&mut self) {}
    /// `dom`'s guest timers changed: the hypervisor timer may need a new
    /// deadline before the guest runs again.
    fn timers_changed(&mut self, _dom: DomId) {}
    /// Where refusal sites name their rule for the debug log; `None` (the
    /// default) keeps nothing.
    fn refusals(&self) -> Option<&super::refusal::Refusals> {
        None
    }
    /// What guest frame `gfn` of the translated (PVH) domain `dom` maps to
    /// in its p2m, for the grant core's translated granters. `None`: a
    /// hole, beyond its map, or no such translated domain (the default: no
    /// translated domains). Never asked for a PVH domain whose own p2m the
    /// caller already holds (the grant core uses that one).
    fn p2m_entry(&self, _dom: DomId, _gfn: abi::Gfn) -> Option<crate::p2m::P2mEntry> {
        None
    }
}

/// Why a general reference could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefError {
    /// Not a frame of the frame table.
    NoSuchFrame,
    /// Not allocated, or owned by someone else.
    WrongOwner,
    /// The count would overflow.
    Overflow,
}

/// The model: everything the page-type rules read and write.
pub struct Mm<'a, M: PhysMemory, H: MmHooks> {
    /// Per-frame metadata, indexed by MFN.
    pub frames: &'a mut [PageInfo],
    /// The machine-to-physical table, indexed by MFN.
    pub m2p: &'a mut [u64],
    /// Domains, indexed by domain id.
    pub domains: &'a mut [DomainMm],
    /// Machine memory.
    pub mem: &'a mut M,
    /// Arch side effects.
    pub hooks: &'a mut H,
    /// The hypervisor's L4 entries for slots 256–271, copied into every
    /// guest L4 when it is validated.
    pub l4_template: &'a [u64; 16],
    /// The TLB flush clock ([`super::tlb_clock`]).
    pub clock: &'a mut TlbClock,
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Whether `mfn` is a frame of the frame table (RAM managed by us).
    pub fn is_ram(&self, mfn: Mfn) -> bool {
        (mfn.0 as usize) < self.frames.len()
    }

    /// Whether L1 entries mapping `mfn` are I/O mappings: frames outside the
    /// frame table, and frames of it that are not RAM (the first MiB, holes)
    /// which belong to `DOMID_IO`.
    pub fn is_mmio(&self, mfn: Mfn) -> bool {
        !self.is_ram(mfn) || self.info(mfn).owner() == DomId::IO
    }

    /// Gives a frame that is not RAM to `DOMID_IO`.
    pub fn mark_io(&mut self, mfn: Mfn) {
        let info = self.info_mut(mfn);
        debug_assert_eq!(info.count(), 0);
        info.set_owner(DomId::IO);
    }

    /// Metadata of a frame known to be RAM.
    pub fn info(&self, mfn: Mfn) -> &PageInfo {
        &self.frames[mfn.0 as usize]
    }

    pub(crate) fn info_mut(&mut self, mfn: Mfn) -> &mut PageInfo {
        &mut self.frames[mfn.0 as usize]
    }

    /// The domain with id `id`, if it exists (built and not torn down).
    pub fn domain(&self, id: DomId) -> Option<&DomainMm> {
        self.domains.get(id.0 as usize).filter(|d| d.id == id && d.exists)
    }

    pub(crate) fn domain_mut(&mut self, id: DomId) -> &mut DomainMm {
        &mut self.domains[id.0 as usize]
    }

    /// Reads entry `index` of table `table`.
    pub fn read_entry(&self, table: Mfn, index: usize) -> u64 {
        self.mem.read_u64(PhysAddr(table.to_maddr() + index as u64 * 8))
    }

    pub(crate) fn write_entry(&mut self, table: Mfn, index: usize, value: u64) {
        self.mem.write_u64(PhysAddr(table.to_maddr() + index as u64 * 8), value);
    }

    /// The arch layer did a full TLB flush (every translation, global ones
    /// included) on its own: a domain switch, a guest's flush request.
    pub fn tlb_flushed(&mut self) {
        self.clock.flushed();
    }

    /// A full TLB flush now (the arch layer's), with the flush clock told.
    #[inline(always)]
    pub(crate) fn flush_tlb_now(&mut self) {
        self.hooks.flush_tlb_now();
        self.clock.flushed();
    }

    /// Does now a deferred flush that waits for the end of the hypercall
    /// ([`MmHooks::flush_waiting`]), so that the exit does not: for a
    /// hypercall about to return whose work requested one (a grant
    /// unmap's). One test when none waits.
    #[inline(always)]
    pub(crate) fn flush_waiting_now(&mut self) {
        if self.hooks.flush_waiting() {
            self.flush_tlb_now();
        }
    }

    /// A reference through which a translation of `mfn` could have been
    /// cached goes: stamp it with the flush clock.
    #[inline(always)]
    pub(crate) fn stamp(&mut self, mfn: Mfn) {
        let now = self.clock.stamp();
        self.info_mut(mfn).set_stamp(now);
    }

    /// Flushes every TLB now if a translation of `mfn` may still be cached
    /// since its stamp: before it takes a different type (writable ↔ page
    /// table or descriptor page) and before it is freed.
    #[inline(always)]
    pub(crate) fn flush_if_stale(&mut self, mfn: Mfn, fault: Fault) {
        if self.clock.needs_flush(self.info(mfn).stamp()) && !injected(fault) {
            self.hooks.flush_tlb_now();
            self.clock.flushed();
        }
    }

    /// A new domain's frames, pfn `i` at `mfns[i]`: each assigned as
    /// [`Self::assign_frame`] does and its M2P entry set to `i`, with the
    /// domain's counts updated once for all (a domain builder's loop over
    /// thousands of frames, about half the instructions per frame).
    pub fn assign_initial_frames(&mut self, mfns: &[Mfn], dom: DomId) {
        for (pfn, &m) in mfns.iter().enumerate() {
            self.info_mut(m).allocate_to(dom);
            self.m2p[m.0 as usize] = pfn as u64;
        }
        if let Some(d) = self.domains.get_mut(dom.0 as usize) {
            d.tot_pages += mfns.len() as u64;
            d.given += mfns.len() as u64;
        }
    }

    /// Assigns a free frame to `dom` (count 1: the allocation reference).
    /// The caller has scrubbed it. No translation from its previous life
    /// can be cached: it was flushed for when it was freed.
    #[inline(always)]
    pub fn assign_frame(&mut self, mfn: Mfn, dom: DomId) {
        self.info_mut(mfn).allocate_to(dom);
        if let Some(d) = self.domains.get_mut(dom.0 as usize) {
            d.tot_pages += 1;
            d.given += 1;
        }
    }

    /// Shares a hypervisor frame (shared_info) with `dom`: owned by it and
    /// mappable, but not counted in its pages.
    pub fn assign_xen_heap_frame(&mut self, mfn: Mfn, dom: DomId) {
        let info = self.info_mut(mfn);
        *info = PageInfo::default();
        info.set_owner(dom);
        info.set_allocated(true);
        info.set_xen_heap(true);
        info.set_count(1);
        if let Some(d) = self.domains.get_mut(dom.0 as usize) {
            d.given += 1;
        }
    }

    /// Ends the sharing of a hypervisor frame (a grant status frame): drops
    /// its allocation reference. The caller checked nothing else holds it.
    pub fn release_xen_heap_frame(&mut self, mfn: Mfn) {
        debug_assert!(self.info(mfn).xen_heap() && self.info(mfn).allocated());
        self.info_mut(mfn).set_allocated(false);
        self.put_page(mfn);
    }

    /// Takes a general reference on `mfn`, which must be allocated to `owner`.
    pub fn get_page(&mut self, mfn: Mfn, owner: DomId) -> Result<(), RefError> {
        if !self.is_ram(mfn) {
            return Err(RefError::NoSuchFrame);
        }
        let info = self.info_mut(mfn);
        if info.count() == 0 || info.owner() != owner {
            return Err(RefError::WrongOwner);
        }
        if info.count() >= MAX_COUNT {
            return Err(RefError::Overflow);
        }
        info.set_count(info.count() + 1);
        Ok(())
    }

    /// Whether [`Mm::get_page`] would succeed now, with nothing taken.
    #[inline(always)]
    pub(crate) fn could_get_page(&self, mfn: Mfn, owner: DomId) -> bool {
        self.frames.get(mfn.0 as usize).is_some_and(|i| i.owner() == owner && (1..MAX_COUNT).contains(&i.count()))
    }

    /// Drops a general reference. At zero the frame leaves its owner and is
    /// handed to [`MmHooks::frame_freed`].
    pub fn put_page(&mut self, mfn: Mfn) {
        self.put_page_inline(mfn);
    }

    /// [`Mm::put_page`], inlined into the loops that free a frame per
    /// element (`decrease_reservation`).
    #[inline(always)]
    pub(crate) fn put_page_inline(&mut self, mfn: Mfn) {
        let info = self.info_mut(mfn);
        debug_assert!(info.count() > 0, "put_page on a free frame {mfn:?}");
        let count = info.count() - 1;
        info.set_count(count);
        if count == 0 {
            self.free_page(mfn);
        }
    }

    /// The last general reference on `mfn` went: the frame leaves its
    /// owner and goes to [`MmHooks::frame_freed`].
    #[inline(always)]
    fn free_page(&mut self, mfn: Mfn) {
        let info = self.info_mut(mfn);
        let owner = info.owner();
        let counted = !info.xen_heap();
        // Freed frames keep their stamp.
        let stamp = info.stamp();
        *info = PageInfo::default();
        info.set_stamp(stamp);
        if let Some(d) = self.domains.get_mut(owner.0 as usize) {
            d.tot_pages -= u64::from(counted);
            d.returned += 1;
        }
        // Rule 2: no translation of it may survive into the allocator.
        self.flush_if_stale(mfn, Fault::NoFreeFlush);
        self.hooks.frame_freed(mfn);
    }

    /// Takes a *writable* or *descriptor* type reference (types whose
    /// contents need no validation) on a frame the caller holds a general
    /// reference on.
    pub fn get_simple_type(&mut self, mfn: Mfn, ty: PageType) -> Result<(), RefError> {
        // A hypervisor frame shared with the domain (shared_info) is only
        // ever data, as on Xen (a permanent writable type): the hypervisor
        // writes it, so as a descriptor page or page table its own stores
        // would forge descriptors or PTEs.
        if ty != PageType::Writable && self.info(mfn).xen_heap() {
            return Err(RefError::WrongOwner);
        }
        self.settle(mfn);
        let info = *self.info(mfn);
        if info.type_count() == 0 && info.page_type() != ty {
            self.flush_if_stale(mfn, Fault::NoTypeChangeFlush);
        }
        let info = self.info_mut(mfn);
        if info.type_count() == 0 {
            info.set_type(ty);
            info.set_validated(true);
            info.set_type_count(1);
            Ok(())
        } else if info.page_type() == ty && info.type_count() < MAX_COUNT {
            info.set_type_count(info.type_count() + 1);
            Ok(())
        } else {
            Err(RefError::WrongOwner)
        }
    }

    /// Takes a type reference of type `ty` on a frame the caller holds a
    /// general reference on, validating page tables at type count zero.
    pub fn get_type(&mut self, mfn: Mfn, ty: PageType) -> Result<(), abi::Errno> {
        match ty.level() {
            None => self.get_simple_type(mfn, ty).map_err(|_| abi::Errno::EINVAL),
            Some(_) if self.info(mfn).xen_heap() => {
                Err(self.refuse(abi::Errno::EINVAL, "shared_info cannot be a page table"))
            }
            Some(level) => {
                self.settle(mfn);
                let info = *self.info(mfn);
                if info.type_count() == 0 || (info.partial_root() && info.page_type() == ty) {
                    self.validate_table(mfn, level)
                } else if info.page_type() == ty && info.validated() && info.type_count() < MAX_COUNT {
                    self.info_mut(mfn).set_type_count(info.type_count() + 1);
                    Ok(())
                } else {
                    Err(abi::Errno::EINVAL)
                }
            }
        }
    }

    /// Drops a type reference; the last one of a page table devalidates it.
    pub fn put_type(&mut self, mfn: Mfn) {
        let info = self.info_mut(mfn);
        debug_assert!(info.type_count() > 0, "put_type at type count 0 on {mfn:?}");
        let count = info.type_count() - 1;
        info.set_type_count(count);
        if count == 0 {
            match info.page_type().level() {
                Some(level) if info.validated() && !(self.hooks.defer_devalidation() && self.defer(mfn)) => {
                    self.devalidate_table(mfn, level)
                }
                _ => {}
            }
        }
    }

    /// Drops a type reference and then a general reference.
    pub fn put_page_and_type(&mut self, mfn: Mfn) {
        self.put_type(mfn);
        self.put_page(mfn);
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Takes `mfn` away from `dom` as `decrease_reservation` does: drops the
    /// allocation reference only. A frame still mapped, pinned or used as a
    /// root stays alive (and owned, and counted) until its last reference
    /// goes; nothing is unpinned implicitly (XSA-252).
    ///
    /// # Errors
    /// `EINVAL` if `mfn` is not RAM; `ENXIO` if `dom` does not own it or
    /// already released it.
    #[inline(always)]
    pub fn release_frame(&mut self, dom: DomId, mfn: Mfn) -> Result<(), abi::Errno> {
        if !self.is_ram(mfn) {
            return Err(abi::Errno::EINVAL);
        }
        let info = self.info(mfn);
        if info.owner() != dom || !info.allocated() || info.count() == 0 {
            return Err(abi::Errno::ENXIO);
        }
        // shared_info is the hypervisor's, only lent: freed, it could be
        // handed to anyone while the hypervisor still writes it.
        if info.xen_heap() {
            return Err(self.refuse(abi::Errno::ENXIO, "shared_info cannot be given back"));
        }
        // The allocation's reference goes. When it was the last (the
        // common case) the frame is freed at once, which clears
        // everything; otherwise only the flag and the count change.
        let info = self.info_mut(mfn);
        let count = info.count();
        if count != 1 {
            info.set_allocated(false);
            info.set_count(count - 1);
            return Ok(());
        }
        self.free_page(mfn);
        Ok(())
    }
}
