//! The arch side of the page-type model's hooks, guest memory access, and
//! the guest console.

use super::entry;
use super::paging::DirectMap;
use super::serial;
use crate::hypercall::guest_mem::{CheckedU16, CheckedWords};
use crate::hypercall::{ConsoleSink, GuestMemory};
use crate::mm::refusal::Refusals;
use crate::mm::{FrameAllocator, MmHooks, PhysMemory};
use crate::sched::MAX_DOMAINS;
use abi::{DomId, GuestVa, Mfn};

/// Side effects of the model, carried out here.
pub struct ArchHooks {
    /// Where freed frames go.
    pub frames: FrameAllocator,
    /// `PENDING_*` work due before returning to the guest; one byte so the
    /// hypercall exit tests it once.
    pub pending: u8,
    /// Work done in this hypercall entry so far, in page-table entries'
    /// worth (validated entries, batch requests, extents, console chunks).
    pub work: u32,
    /// The last refusal's rule and entry, and the debug log's rate limit.
    pub refusals: Refusals,
}

/// A TLB flush is due.
pub const PENDING_FLUSH: u8 = 1;
/// The current domain's root changed.
pub const PENDING_ROOT: u8 = 2;
/// The current domain's GDT frames changed.
pub const PENDING_GDT: u8 = 4;
/// `check=N` is on: every SYSCALL hypercall leaves through the slow path,
/// which counts it (so the fast path costs nothing without the option).
pub const PENDING_CHECK: u8 = 8;
/// The current domain's virtual CR0.TS changed.
pub const PENDING_FPU_TS: u8 = 16;
/// The current domain's debug registers changed (`set_debugreg`, an
/// emulated `mov drN`): the hardware follows before it runs again.
pub const PENDING_DEBUGREG: u8 = 32;
/// An event was sent: wake blocked domains it reached.
pub const PENDING_EVENT: u8 = 64;
/// Guest timers changed: reprogram the hypervisor timer.
pub const PENDING_TIMER: u8 = 128;

/// Work per hypercall entry before it is preempted and continued: 8192
/// page-table entries' worth, a few milliseconds under QEMU. A continuation
/// returns to the guest, where a pending timer tick is taken, so a
/// hypercall of any size cannot keep the tick, and through it the
/// scheduler's slice, from running.
pub const PREEMPT_ENTRIES: u32 = 8192;

impl ArchHooks {
    /// A batch request found the budget spent: the count stops one past it
    /// (past the budget it is only ever compared with it). Out of line, so
    /// the common test is a compare, a branch and an increment.
    #[cold]
    #[inline(never)]
    fn out_of_budget(&mut self) -> bool {
        self.work = PREEMPT_ENTRIES + 1;
        true
    }
}

impl MmHooks for ArchHooks {
    fn flush_domain_tlb(&mut self, _: DomId) {
        self.pending |= PENDING_FLUSH;
    }
    fn flush_local_tlb(&mut self) {
        self.pending |= PENDING_FLUSH;
    }
    fn flush_tlb_now(&mut self) {
        // A type change or a freed frame waits for this; it also does any
        // flush requested earlier in this hypercall.
        super::run::flush_all();
        self.pending &= !PENDING_FLUSH;
    }
    fn flush_waiting(&self) -> bool {
        self.pending & PENDING_FLUSH != 0
    }
    fn invlpg_local(&mut self, va: u64) {
        // Removes one address (global entries too); the model's flush clock
        // does not move, since other cached translations stay.
        // SAFETY: INVLPG only drops a translation.
        unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) };
    }
    fn flush_cache(&mut self) {
        // SAFETY: WBINVD writes back and invalidates caches; no memory effect.
        unsafe { core::arch::asm!("wbinvd", options(nostack)) };
    }
    fn root_changed(&mut self, _: DomId) {
        self.pending |= PENDING_ROOT;
    }
    fn p2m_entry(&self, dom: DomId, gfn: abi::Gfn) -> Option<crate::p2m::P2mEntry> {
        super::svm::pvh::p2m_entry(dom, gfn)
    }
    fn frame_freed(&mut self, mfn: Mfn) {
        self.frames.free(mfn, &mut DirectMap);
    }
    fn preempt(&mut self) -> bool {
        self.work += 1;
        self.work > PREEMPT_ENTRIES
    }
    fn budget_room(&self) -> u32 {
        PREEMPT_ENTRIES.saturating_sub(self.work)
    }
    fn charge(&mut self, n: u32) {
        self.work += n;
    }
    fn preempt_batch(&mut self, cost: u32) -> bool {
        if cost > PREEMPT_ENTRIES.saturating_sub(self.work) {
            return self.out_of_budget();
        }
        self.work += cost;
        false
    }
    fn batch_room(&self) -> u32 {
        PREEMPT_ENTRIES.saturating_sub(self.work)
    }
    fn charge_batch(&mut self, n: u32) {
        self.work += n;
    }
    fn fresh_budget(&mut self) {
        self.work = 0;
    }
    fn defer_devalidation(&mut self) -> bool {
        true
    }
    fn gdt_changed(&mut self, _: DomId) {
        self.pending |= PENDING_GDT;
    }
    fn fpu_ts_changed(&mut self, _: DomId) {
        self.pending |= PENDING_FPU_TS;
    }
    fn descriptor_written(&mut self, _: DomId, ldt: bool, index: usize, desc: u64) {
        super::gdt::write_entry(ldt, index, desc);
    }
    fn debugregs_changed(&mut self, _: DomId) {
        self.pending |= PENDING_DEBUGREG;
    }
    fn event_kicked(&mut self) {
        self.pending |= PENDING_EVENT;
    }
    fn vcpu_info_moved(&mut self) {
        super::events::follow_vcpu_info();
    }
    fn timers_changed(&mut self, _: DomId) {
        self.pending |= PENDING_TIMER;
    }
    fn refusals(&self) -> Option<&Refusals> {
        Some(&self.refusals)
    }
    fn alloc_extent(&mut self, order: u32) -> Option<Mfn> {
        if order == 0 {
            // Zero, from the frames idle time scrubbed when there are any.
            return self.frames.alloc_zeroed(&mut DirectMap);
        }
        let first = self.frames.alloc_contiguous(1 << order)?;
        // Scrubbed before the domain gets them.
        for j in 0..1u64 << order {
            DirectMap.zero_frame(Mfn(first.0 + j));
        }
        Some(first)
    }
}

/// Guest memory through the current page tables, with fault fixups.
pub struct ArchGuest;

impl GuestMemory for ArchGuest {
    fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool {
        entry::copy_from_guest(va.0, buf)
    }
    fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool {
        entry::copy_to_guest(va.0, buf)
    }
    #[inline(always)]
    fn copy_words_from(&self, va: GuestVa, words: &mut [u64]) -> bool {
        entry::copy_words_from_guest(va.0, words)
    }
    #[inline(always)]
    fn copy_words_to(&self, va: GuestVa, words: &[u64]) -> bool {
        entry::copy_words_to_guest(va.0, words)
    }
    #[inline(always)]
    fn read_array<const N: usize>(&self, va: GuestVa) -> Option<[u64; N]> {
        let mut buf = core::mem::MaybeUninit::uninit();
        entry::read_words_from_guest(va.0, &mut buf).copied()
    }
    #[inline(always)]
    fn load<const N: usize>(&self, at: CheckedWords<N>) -> Option<[u64; N]> {
        super::guest_small::read(at)
    }
    #[inline(always)]
    fn store<const N: usize>(&self, at: CheckedWords<N>, words: &[u64; N]) -> bool {
        super::guest_small::write(at, words)
    }
    #[inline(always)]
    fn store_u16(&self, at: CheckedU16, v: u16) -> bool {
        super::guest_small::write_u16(at, v)
    }
    fn toggle_mode(&self, to_user: bool, root: u64) {
        super::segstate::toggle(to_user, root);
    }
    fn load_segment(&self, load: crate::domain::guest_segs::SegLoad) {
        super::segstate::apply(load);
    }
    fn upcall_mask(&self) -> u8 {
        (super::events::current_upcall_word() >> 8) as u8
    }
    fn set_upcall_mask(&self, mask: u8) {
        super::events::set_current_upcall_mask(mask);
    }
    fn upcall_pending(&self) -> bool {
        super::events::current_upcall_word() & 0xFF != 0
    }
}

pub struct Console {
    pub(super) at_line_start: [bool; MAX_DOMAINS],
    /// Keys typed on the serial console, and domain 0's input ring.
    pub(super) input: crate::event::ConsoleInput,
}

impl ConsoleSink for Console {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        self.input.read(buf)
    }
    fn unread(&mut self, n: usize) {
        self.input.unread(n);
    }
    #[inline(always)]
    fn notified(&mut self, mem: &mut dyn crate::event::EventEnv, dom: DomId, port: u32) {
        super::console_rings::notified(self, mem, dom, port);
    }
    fn write(&mut self, dom: DomId, bytes: &[u8]) {
        let start = &mut self.at_line_start[dom.0 as usize % MAX_DOMAINS];
        for part in bytes.split_inclusive(|&b| b == b'\n') {
            if *start {
                serial::print(format_args!("(d{}) ", dom.0));
            }
            serial::write_bytes(part);
            *start = part.ends_with(b"\n");
        }
    }
}
