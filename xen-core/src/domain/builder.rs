//! Building a PV domain's start of day (fact sheet §8.4–§8.5) into frames
//! the caller has allocated and scrubbed: the kernel image, the hypercall
//! page, the p2m list, start_info, shared_info, and bootstrap page tables
//! that are validated and pinned through the page-type model.

use super::elf::Elf;
use super::hypercall_page::hypercall_page;
use super::layout::Layout;
use super::notes::KernelImage;
use super::vcpu::GuestContext;
use crate::mm::mmuext::Root;
use crate::mm::pte::table_index;
use crate::mm::requests::NoGuestMemory;
use crate::mm::{Mm, MmHooks, PageType, PhysAddr, PhysMemory};
use abi::mmu::pte::*;
use abi::mmu::{MmuextOp, MMUEXT_PIN_L4_TABLE};
use abi::start_info::{MAX_GUEST_CMDLINE, START_INFO_MAGIC};
use abi::{DomId, Errno, Mfn, PAGE_SIZE};

/// What the new domain starts with.
#[derive(Clone, Copy, Debug)]
pub struct Built {
    /// Initial registers.
    pub ctx: GuestContext,
    /// Its shared_info frame.
    pub shared_info: Mfn,
    /// The bootstrap L4 (pinned, and the kernel root).
    pub l4: Mfn,
    /// The start_info frame.
    pub start_info: Mfn,
    /// The console ring frame (scrubbed; named in start_info), if the
    /// layout has one.
    pub console: Option<Mfn>,
}

/// start_info's `console.domU.evtchn` (offset 80): written once the
/// domain's event channels exist, after the build.
pub const CONSOLE_EVTCHN_OFFSET: u64 = 80;

/// Lower-level flags of bootstrap entries (the domU builder's choice; the
/// model adds USER and the kernel marker when validating).
const L1_FLAGS: u64 = PRESENT | RW | ACCESSED;
const UPPER_FLAGS: u64 = PRESENT | RW | ACCESSED | DIRTY | USER;

/// Builds the domain. `frames[pfn]` are its `layout.nr_pages` frames, plus
/// one more for shared_info; all are scrubbed.
///
/// # Errors
/// Only an internal inconsistency can make validation fail; the errno is
/// passed on so the caller can refuse the domain instead of panicking.
#[allow(clippy::too_many_arguments)]
pub fn build<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    dom: DomId,
    frames: &[Mfn],
    elf: &Elf<'_>,
    image: &KernelImage,
    layout: &Layout,
    ramdisk: &[u8],
    cmdline: &[u8],
    si_flags: u32,
) -> Result<Built, Errno> {
    debug_assert_eq!(ramdisk.len() as u64, layout.ramdisk_len);
    let nr = layout.nr_pages as usize;
    let mfn = |va: u64| frames[layout.pfn(va) as usize];
    mm.assign_initial_frames(&frames[..nr], dom);
    let shared_info = frames[nr];
    mm.assign_xen_heap_frame(shared_info, dom);
    // vcpu_info[0].evtchn_upcall_mask = 1: events masked until the guest unmasks.
    mm.mem.write_bytes(PhysAddr(shared_info.to_maddr() + 1), &[1]);

    // The kernel image, page by page.
    for seg in elf.segments.as_slice() {
        let virt = seg.paddr - image.paddr_offset + image.virt_base;
        let file = &elf.bytes[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        let mut done = 0u64;
        while done < seg.filesz {
            let va = virt + done;
            let n = (PAGE_SIZE - va % PAGE_SIZE).min(seg.filesz - done);
            let dst = PhysAddr(mfn(va).to_maddr() + va % PAGE_SIZE);
            mm.mem.write_bytes(dst, &file[done as usize..(done + n) as usize]);
            done += n;
        }
    }
    // The ramdisk, page by page (its pages are contiguous in the region).
    for (i, chunk) in ramdisk.chunks(PAGE_SIZE as usize).enumerate() {
        mm.mem.write_bytes(PhysAddr(mfn(layout.ramdisk + i as u64 * PAGE_SIZE).to_maddr()), chunk);
    }
    if let Some(hp) = image.hypercall_page {
        mm.mem.write_bytes(PhysAddr(mfn(hp).to_maddr()), &hypercall_page());
    }
    // The p2m (page-aligned), a page of 512 entries at a time: one lookup
    // of the page's frame per 512 entries, not one per entry.
    for (page, chunk) in frames[..nr].chunks(512).enumerate() {
        let base = mfn(layout.p2m + page as u64 * PAGE_SIZE).to_maddr();
        for (i, m) in chunk.iter().enumerate() {
            mm.mem.write_u64(PhysAddr(base + i as u64 * 8), m.0);
        }
    }
    let console = (layout.console != 0).then(|| mfn(layout.console));
    write_start_info(mm, mfn(layout.start_info), layout, shared_info, console, cmdline, si_flags);

    // Bootstrap page tables: frames handed out in order from pt_base.
    let mut next_pt = 0u64;
    let mut take = |mm: &mut Mm<'_, M, H>| {
        let m = mfn(layout.pt_base + next_pt * PAGE_SIZE);
        next_pt += 1;
        mm.mem.zero_frame(m);
        m
    };
    let l4 = take(mm);
    let mut va = layout.v_start;
    while va != layout.v_end {
        let mut table = l4;
        for level in (2..=4).rev() {
            let slot = PhysAddr(table.to_maddr() + table_index(va, level) as u64 * 8);
            let e = mm.mem.read_u64(slot);
            table = if e & PRESENT == 0 {
                let t = take(mm);
                mm.mem.write_u64(slot, t.to_maddr() | UPPER_FLAGS);
                t
            } else {
                Mfn((e & ADDR_MASK) >> 12)
            };
        }
        let rw = if layout.is_page_table(va) { 0 } else { RW };
        let slot = PhysAddr(table.to_maddr() + table_index(va, 1) as u64 * 8);
        mm.mem.write_u64(slot, mfn(va).to_maddr() | (L1_FLAGS & !RW) | rw);
        va = va.wrapping_add(PAGE_SIZE);
    }
    debug_assert!(next_pt <= layout.nr_pt_frames);
    pin_bootstrap_tables(mm, dom, l4, next_pt)?;
    mm.set_root(dom, Root::Kernel, l4)?;
    debug_assert_eq!(mm.info(l4).page_type(), PageType::L4);
    let ctx = GuestContext::kernel(image.entry, layout.stack + PAGE_SIZE, layout.start_info);
    Ok(Built { ctx, shared_info, l4, start_info: mfn(layout.start_info), console })
}

/// Pins the bootstrap L4 (`tables` frames in all). A large tree (Linux 6.1
/// has 41 frames) outgrows one hypercall's preemption budget, and the pin
/// stops with `ERESTART`, its tables partially validated. There is no guest
/// to return to at build time, so it simply continues with a fresh budget
/// until done. Each round validates at least one entry, so the number of
/// rounds is bounded by the tree's entries; past that bound something is
/// wrong and the error is passed on rather than looping.
fn pin_bootstrap_tables<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    dom: DomId,
    l4: Mfn,
    tables: u64,
) -> Result<(), Errno> {
    let pin = MmuextOp { cmd: MMUEXT_PIN_L4_TABLE, pad: 0, arg1: l4.0, arg2: 0 };
    let max_rounds = tables * 512 + 1;
    let mut rounds = 0;
    loop {
        mm.hooks.fresh_budget();
        match mm.mmuext_one(dom, dom, pin, &mut NoGuestMemory) {
            Err(e) if e == Errno::ERESTART && rounds < max_rounds => rounds += 1,
            r => return r,
        }
    }
}

fn write_start_info<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    page: Mfn,
    layout: &Layout,
    shared_info: Mfn,
    console: Option<Mfn>,
    cmdline: &[u8],
    flags: u32,
) {
    let base = page.to_maddr();
    // store_mfn/store_evtchn (56, 64) stay 0: there is no store. The
    // console union (72–83) is `console.domU` {mfn, evtchn} for a domain
    // with a ring; domain 0's `console.dom0` {info_off, info_size} stays
    // 0: there is no VGA console to describe (Xen 4.17 describes its VGA
    // text console there, info_off 1168, info_size 40).
    mm.mem.write_bytes(PhysAddr(base), START_INFO_MAGIC);
    let words = [
        (32, layout.nr_pages),
        (40, shared_info.to_maddr()),
        (48, u64::from(flags)),
        (88, layout.pt_base),
        (96, layout.nr_pt_frames),
        (104, layout.p2m),
        // A virtual address (SIF_MOD_START_PFN clear), 0 without a ramdisk.
        (112, if layout.ramdisk_len == 0 { 0 } else { layout.ramdisk }),
        (120, layout.ramdisk_len),
        (72, console.map_or(0, |m| m.0)),
    ];
    for (off, v) in words {
        mm.mem.write_u64(PhysAddr(base + off), v);
    }
    let n = cmdline.len().min(MAX_GUEST_CMDLINE - 1);
    mm.mem.write_bytes(PhysAddr(base + 128), &cmdline[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::elf::tests::Fixture;
    use crate::domain::notes::XenNotes;
    use crate::mm::tests::world::{World, D1};
    use abi::start_info::SIF_PRIVILEGED;

    #[test]
    fn start_of_day_is_laid_out_validated_and_pinned_with_read_only_tables() {
        let mut w = World::new(2048);
        let bytes = Fixture::pv().bytes();
        let elf = Elf::parse(&bytes).unwrap();
        let image = KernelImage::accept(&elf, &XenNotes::read(&elf).unwrap()).unwrap();
        let layout = Layout::compute(&image, 1024).unwrap();
        let frames: Vec<Mfn> = (100..100 + 1025).map(Mfn).collect();
        let built = build(&mut w.mm(), D1, &frames, &elf, &image, &layout, &[], b"quiet", SIF_PRIVILEGED).unwrap();
        w.check();
        let info = w.info(built.l4);
        assert!(info.pinned() && info.validated());
        assert_eq!(w.doms[1].kernel_root, Some(built.l4));
        assert_eq!(w.doms[1].tot_pages, 1024, "shared_info is not counted");
        let si_info = w.info(built.shared_info);
        assert!(
            si_info.xen_heap() && si_info.owner() == D1 && si_info.count() == 1,
            "shared_info is shared with the domain"
        );
        // Registers.
        assert_eq!(built.ctx.rip, image.entry);
        assert_eq!(built.ctx.rsp, layout.stack + 4096);
        assert_eq!(built.ctx.gpr[crate::domain::vcpu::reg::RSI], layout.start_info);
        // start_info.
        let si = frames[layout.pfn(layout.start_info) as usize];
        assert_eq!(w.read(si, 0).to_le_bytes(), *b"xen-3.0-");
        assert_eq!(w.read(si, 4), 1024);
        assert_eq!(w.read(si, 5), built.shared_info.to_maddr());
        assert_eq!(w.read(si, 6), u64::from(SIF_PRIVILEGED));
        assert_eq!(w.read(si, 11), layout.pt_base);
        assert_eq!(w.read(si, 12), layout.nr_pt_frames);
        assert_eq!(w.read(si, 13), layout.p2m);
        assert_eq!((w.read(si, 14), w.read(si, 15)), (0, 0), "no ramdisk");
        assert_eq!(w.read(si, 16).to_le_bytes()[..5], *b"quiet");
        // p2m and m2p agree, for every page (two pages of p2m).
        for pfn in 0..1024usize {
            let p2m = frames[layout.pfn(layout.p2m) as usize + pfn / 512];
            assert_eq!(w.read(p2m, pfn % 512), frames[pfn].0, "p2m entry {pfn}");
            assert_eq!(w.m2p[frames[pfn].0 as usize], pfn as u64, "m2p entry of pfn {pfn}");
            let info = w.info(frames[pfn]);
            assert!(info.owner() == D1 && info.allocated(), "pfn {pfn} not given to the domain");
        }
        // Hypercall page stub 1, and events masked.
        let hp = frames[layout.pfn(image.hypercall_page.unwrap()) as usize];
        assert_eq!(w.read(hp, 4).to_le_bytes(), [0x51, 0x41, 0x53, 0xB8, 1, 0, 0, 0]);
        assert_eq!(w.read(built.shared_info, 0), 1 << 8);
        // Every page of the region is mapped, tables read-only, the rest RW.
        let mut va = layout.v_start;
        while va < layout.v_end {
            let l1 = w.mm().l1_for_va(D1, va).unwrap();
            let e = w.read(l1, crate::mm::pte::table_index(va, 1));
            assert_eq!(e & ADDR_MASK, frames[layout.pfn(va) as usize].to_maddr());
            assert_eq!(e & RW != 0, !layout.is_page_table(va), "va {va:#x}");
            va += PAGE_SIZE;
        }
    }

    #[test]
    fn a_console_page_after_start_info_is_named_in_start_info_and_mapped_writable() {
        let mut w = World::new(2048);
        let bytes = Fixture::pv().bytes();
        let elf = Elf::parse(&bytes).unwrap();
        let image = KernelImage::accept(&elf, &XenNotes::read(&elf).unwrap()).unwrap();
        let layout = Layout::with_console(&image, 0, 1024, true).unwrap();
        let frames: Vec<Mfn> = (100..100 + 1025).map(Mfn).collect();
        let built = build(&mut w.mm(), D1, &frames, &elf, &image, &layout, &[], b"", 0).unwrap();
        w.check();
        let ring = frames[layout.pfn(layout.console) as usize];
        assert_eq!(built.console, Some(ring));
        assert_eq!(built.start_info, frames[layout.pfn(layout.start_info) as usize]);
        let si = built.start_info;
        assert_eq!(w.read(si, 9), ring.0, "console.domU.mfn");
        assert_eq!(w.read(si, 10), 0, "the event channel comes later");
        assert_eq!((w.read(si, 7), w.read(si, 8)), (0, 0), "no store");
        assert_eq!(w.read(si, 11), layout.pt_base);
        assert!((0..512).all(|i| w.read(ring, i) == 0), "the ring starts empty");
        let l1 = w.mm().l1_for_va(D1, layout.console).unwrap();
        let e = w.read(l1, crate::mm::pte::table_index(layout.console, 1));
        assert_eq!(e & ADDR_MASK, ring.to_maddr());
        assert_ne!(e & RW, 0);
        // Without one the union stays zero (domain 0).
        let plain = Layout::compute(&image, 1024).unwrap();
        let mut w = World::new(2048);
        let built = build(&mut w.mm(), D1, &frames, &elf, &image, &plain, &[], b"", 0).unwrap();
        assert_eq!(built.console, None);
        assert_eq!((w.read(built.start_info, 9), w.read(built.start_info, 10)), (0, 0));
    }

    #[test]
    fn a_ramdisk_is_copied_after_the_kernel_and_named_in_start_info() {
        let mut w = World::new(2048);
        let bytes = Fixture::pv().bytes();
        let elf = Elf::parse(&bytes).unwrap();
        let image = KernelImage::accept(&elf, &XenNotes::read(&elf).unwrap()).unwrap();
        let ramdisk: Vec<u8> = (0..3 * 4096 + 100).map(|i| (i * 13 % 251) as u8).collect();
        let layout = Layout::with_ramdisk(&image, ramdisk.len() as u64, 1024).unwrap();
        let frames: Vec<Mfn> = (100..100 + 1025).map(Mfn).collect();
        build(&mut w.mm(), D1, &frames, &elf, &image, &layout, &ramdisk, b"", 0).unwrap();
        w.check();
        let si = frames[layout.pfn(layout.start_info) as usize];
        assert_eq!(w.read(si, 14), layout.ramdisk, "mod_start is the ramdisk's virtual address");
        assert_eq!(w.read(si, 15), ramdisk.len() as u64);
        assert_eq!(w.read(si, 6), 0, "SIF_MOD_START_PFN clear");
        let mut seen = Vec::new();
        for p in 0..4u64 {
            let m = frames[layout.pfn(layout.ramdisk + p * 4096) as usize];
            for word in 0..512 {
                seen.extend_from_slice(&w.read(m, word).to_le_bytes());
            }
        }
        assert_eq!(&seen[..ramdisk.len()], &ramdisk[..]);
        assert!(seen[ramdisk.len()..].iter().all(|&b| b == 0), "the last page's tail stays scrubbed");
        // It is mapped writable like the rest of the region.
        let l1 = w.mm().l1_for_va(D1, layout.ramdisk).unwrap();
        assert_ne!(w.read(l1, crate::mm::pte::table_index(layout.ramdisk, 1)) & RW, 0);
    }

    /// Builds the PV fixture for a domain of `pages` pages in a world whose
    /// hooks preempt validation after `budget` entries per budget.
    fn build_with_budget(pages: u64, budget: u32) -> (World, Result<Built, Errno>, Layout) {
        let mut w = World::new(pages as usize + 1100);
        w.hooks.budget = Some(budget);
        let bytes = Fixture::pv().bytes();
        let elf = Elf::parse(&bytes).unwrap();
        let image = KernelImage::accept(&elf, &XenNotes::read(&elf).unwrap()).unwrap();
        let layout = Layout::compute(&image, pages).unwrap();
        let frames: Vec<Mfn> = (100..100 + pages + 1).map(Mfn).collect();
        let r = build(&mut w.mm(), D1, &frames, &elf, &image, &layout, &[], b"", 0);
        (w, r, layout)
    }

    #[test]
    fn a_bootstrap_tree_larger_than_one_preemption_budget_is_pinned_in_several_rounds() {
        // Every present entry of every table costs one unit (empty slots
        // are free): at least one per page of the bootstrap mapping, with a
        // budget of 100 per round.
        let (mut w, r, layout) = build_with_budget(4096, 100);
        let built = r.expect("a preempted pin continues until done");
        let units = (layout.v_end - layout.v_start) / PAGE_SIZE;
        assert!(w.hooks.fresh_budgets as u64 >= units / 100, "{} rounds", w.hooks.fresh_budgets);
        w.check();
        let info = w.info(built.l4);
        assert!(info.pinned() && info.validated() && !info.partial_root());
        let l1 = w.mm().l1_for_va(D1, layout.v_end - PAGE_SIZE).unwrap();
        assert!(w.info(l1).validated());
    }

    #[test]
    fn a_pin_that_makes_no_progress_is_refused_instead_of_looping() {
        // A budget of zero preempts before the first entry, every round.
        let (_, r, _) = build_with_budget(1024, 0);
        assert_eq!(r.map(|_| ()), Err(Errno::ERESTART));
    }
}
