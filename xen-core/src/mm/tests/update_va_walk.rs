//! `update_va_mapping`'s walk and fast map (`mm/update_va.rs`) against
//! what they replaced: the one-compare walk step against its three tests,
//! the walk against the per-level checks on random tables (entries not
//! present, superpages, frames past the frame table, every page type,
//! owner and count of the L1 reached), the fast map against `mmu_update`
//! on the same slot, and the flags' decode against Xen's rules.

use super::world::*;
use crate::mm::pte::{table_index, Pte};
use crate::mm::update_va::{walk_step, UvmFlush};
use crate::mm::{Mm, PageType, PhysMemory};
use abi::mmu::pte::*;
use abi::mmu::{MmuUpdate, UVMF_ALL, UVMF_INVLPG, UVMF_NONE, UVMF_TLB_FLUSH};
use abi::{DomId, Errno, GuestVa, Mfn};
use proptest::prelude::*;

/// The walk before the one-compare step: each level's entry tested for
/// PRESENT, PS and RAM one after the other, then the L1's type, count,
/// validation and owner field by field.
fn reference_l1_for_va<M: PhysMemory, H: crate::mm::MmHooks>(
    mm: &Mm<'_, M, H>,
    dom: DomId,
    va: u64,
) -> Result<Mfn, Errno> {
    if !GuestVa(va).is_guest_accessible() {
        return Err(Errno::EINVAL);
    }
    let mut table = mm.domain(dom).and_then(|d| d.kernel_root).ok_or(Errno::EINVAL)?;
    for level in (2..=4).rev() {
        let e = Pte(mm.read_entry(table, table_index(va, level)));
        if !e.present() || e.0 & PAT_PSE != 0 || !mm.is_ram(e.mfn()) {
            return Err(Errno::EINVAL);
        }
        table = e.mfn();
    }
    let info = mm.info(table);
    if info.owner() != dom || info.page_type() != PageType::L1 || info.type_count() == 0 || !info.validated() {
        return Err(Errno::EINVAL);
    }
    Ok(table)
}

const FRAMES: u64 = 48;
/// Frames 0..TABLES hold the random tables.
const TABLES: u64 = 12;

#[test]
fn the_walk_step_is_present_not_a_superpage_and_below_the_bound_in_one_compare() {
    let flags = [0, PRESENT, PAT_PSE, PRESENT | PAT_PSE];
    let others =
        [0, RW | USER | ACCESSED | DIRTY | GLOBAL, NX | AVAIL_HIGH | GUEST_KERNEL, !(ADDR_MASK | PRESENT | PAT_PSE)];
    for frames in [1u64, 2, FRAMES, 1 << 20, (1 << 40) - 1, 1 << 40] {
        // Every frame number an entry can hold (40 bits).
        for mfn in [0, 1, frames - 1, frames, frames + 1, (1 << 40) - 1].into_iter().filter(|&m| m < 1 << 40) {
            for f in flags {
                for o in others {
                    let e = (mfn << 12) | f | o;
                    let want = e & PRESENT != 0 && e & PAT_PSE == 0 && mfn < frames;
                    let step = walk_step(e);
                    assert_eq!(step < frames << 4, want, "entry {e:#x} frames {frames}");
                    assert_eq!((step >> 4) < frames, want, "as a frame number: entry {e:#x} frames {frames}");
                    if want {
                        assert_eq!(step << 8, e & ADDR_MASK, "the table address of {e:#x}");
                        assert_eq!(step >> 4, mfn);
                    }
                }
            }
        }
    }
}

/// What one entry of a table on the walk holds: mostly a present entry
/// naming one of the tables, so that many walks get to an L1.
fn entry() -> impl Strategy<Value = u64> {
    let frame = prop_oneof![
        6 => 0..TABLES,
        2 => TABLES..FRAMES,
        1 => Just(FRAMES),
        1 => FRAMES + 1..1 << 40,
    ];
    let flags = prop::collection::vec(
        prop::sample::select(vec![RW, USER, ACCESSED, NX, GLOBAL, PWT, AVAIL_LOW, GUEST_KERNEL]),
        0..4,
    )
    .prop_map(|v| v.into_iter().fold(0, |a, b| a | b));
    let present = prop::bool::weighted(0.85).prop_map(|p| if p { PRESENT } else { 0 });
    let superpage = prop::bool::weighted(0.1).prop_map(|p| if p { PAT_PSE } else { 0 });
    prop_oneof![
        1 => Just(0u64),
        1 => any::<u64>(),
        12 => (frame, present, superpage, flags).prop_map(|(m, p, s, f)| (m << 12) | p | s | f),
    ]
}

/// The metadata of one frame: type, validated, type count, owner.
fn meta() -> impl Strategy<Value = (u8, bool, u32, bool)> {
    (
        prop::sample::select(vec![0u8, 1, 1, 1, 1, 2, 3, 4, 5, 6]),
        prop::bool::weighted(0.8),
        prop::sample::select(vec![0u32, 1, 1, 2, 9]),
        prop::bool::weighted(0.85),
    )
}

/// Indices the walks use: few, so that walks meet the entries written.
fn index() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![0u64, 1, 511])
}

fn va() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (index(), index(), index(), index(), 0u64..512).prop_map(|(a, b, c, d, e)| {
            let va = (a << 39) | (b << 30) | (c << 21) | (d << 12) | (e << 3);
            // The upper half too, sign-extended.
            if a >= 256 { va | 0xFFFF_0000_0000_0000 } else { va }
        }),
        1 => any::<u64>(),
        1 => prop::sample::select(vec![abi::HYPERVISOR_VIRT_START, abi::HYPERVISOR_VIRT_END - 8, 1 << 47]),
    ]
}

type Table = Vec<(u64, u64)>;

fn tables() -> impl Strategy<Value = Vec<Table>> {
    prop::collection::vec(prop::collection::vec((index(), entry()), 0..8), TABLES as usize)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The walk gives the same frame or refusal as the per-level checks.
    #[test]
    fn the_walk_matches_the_per_level_checks_on_random_tables(
        tables in tables(),
        metas in prop::collection::vec(meta(), FRAMES as usize),
        root in prop::option::weighted(0.95, 0..TABLES),
        vas in prop::collection::vec(va(), 1..12),
    ) {
        let mut w = World::new(FRAMES as usize);
        for (m, &(ty, validated, count, mine)) in metas.iter().enumerate() {
            let info = &mut w.frames[m];
            info.set_owner(if mine { D1 } else { D2 });
            info.set_count(count + 1);
            info.set_type(match ty { 1 => PageType::L1, 2 => PageType::L2, 3 => PageType::L3, 4 => PageType::L4, 5 => PageType::SegDesc, 6 => PageType::Writable, _ => PageType::None });
            info.set_validated(validated);
            info.set_type_count(count);
        }
        // Tables live in frames 0..TABLES (the walk may reach any other).
        for (t, entries) in tables.iter().enumerate() {
            for &(i, e) in entries {
                w.poke(Mfn(t as u64), i as usize, e);
                // The frame just past the frame table holds the same, so a
                // walk that went past the bound would go on.
                if t == 0 {
                    w.poke(Mfn(FRAMES), i as usize, e);
                }
            }
        }
        w.doms[1].kernel_root = root.map(Mfn);
        let mm = w.mm();
        for &va in &vas {
            prop_assert_eq!(mm.l1_for_va(D1, va), reference_l1_for_va(&mm, D1, va), "va {:#x}", va);
        }
    }
}

/// Two copies of one world in which `table` is D1's pinned L1 under its
/// root at `Chain::va`, slot `index` holding `old`.
fn twin(old: u64, index: usize) -> (World, Chain) {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    w.give(D1, 4);
    w.update(D1, c.l1, index, old).unwrap();
    (w, c)
}

fn l1_value() -> impl Strategy<Value = u64> {
    // Frames 1..20 are the chain's tables and data and D1's spare frames;
    // 0 is the hypervisor's.
    let frame = prop_oneof![8 => 1u64..20, 1 => Just(0u64), 1 => Just(63u64), 1 => Just(0xF_0000u64)];
    let flags = prop::collection::vec(
        prop::sample::select(vec![PRESENT, PRESENT, RW, USER, GLOBAL, GUEST_KERNEL, ACCESSED, DIRTY, NX, PCD, PAT_PSE]),
        0..6,
    )
    .prop_map(|v| v.into_iter().fold(0, |a, b| a | b));
    prop_oneof![1 => Just(0u64), 9 => (frame, flags).prop_map(|(m, f)| (m << 12) | f)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `update_va_mapping` (fast map or not, with each flags value that has
    /// a path of its own) leaves the same result, frame table and memory as
    /// a `mmu_update` of the same slot, and flushes as its flags ask once it
    /// succeeded.
    #[test]
    fn update_va_mapping_changes_an_entry_as_mmu_update_does(
        old in l1_value(),
        new in l1_value(),
        index in 2usize..8,
        flags in prop::sample::select(vec![UVMF_NONE, UVMF_INVLPG, UVMF_TLB_FLUSH]),
    ) {
        let (mut a, c) = twin(0, index);
        // Some old values are refused: then the slot stays empty.
        let _ = a.update(D1, c.l1, index, old);
        let mut b = a.clone();
        let va = (1 << 39) | (1 << 30) | (1 << 21) | ((index as u64) << 12);
        let mut g = crate::mm::requests::NoGuestMemory;
        let (invlpgs, flushes) = (a.hooks.invlpgs.len(), a.hooks.local_flushes);
        let r1 = a.uvm(D1, va, new, flags, &mut g);
        let req = [MmuUpdate { ptr: c.l1.to_maddr() + index as u64 * 8, val: new }];
        let r2 = b.mmu_batch(D1, &req, u32::from(DomId::SELF.0)).result;
        prop_assert_eq!(r1, r2);
        let done = r1.is_ok();
        prop_assert_eq!(&a.hooks.invlpgs[invlpgs..], if done && flags == UVMF_INVLPG { &[va][..] } else { &[][..] });
        prop_assert_eq!(a.hooks.local_flushes - flushes, usize::from(done && flags == UVMF_TLB_FLUSH));
        prop_assert!(a.snapshot() == b.snapshot(), "{}{}", a.snapshot().frame_diff(&b.snapshot()), a.snapshot().mem_diff(&b.snapshot()));
        a.check();
    }
}

#[test]
fn the_flags_decode_as_xen_reads_them() {
    assert_eq!(UvmFlush::decode(UVMF_NONE), UvmFlush::None);
    assert_eq!(UvmFlush::decode(UVMF_TLB_FLUSH), UvmFlush::Tlb);
    assert_eq!(UvmFlush::decode(UVMF_INVLPG), UvmFlush::Invlpg);
    assert_eq!(UvmFlush::decode(UVMF_TLB_FLUSH | UVMF_ALL), UvmFlush::Tlb);
    assert_eq!(UvmFlush::decode(UVMF_INVLPG | UVMF_ALL), UvmFlush::Invlpg);
    assert_eq!(UvmFlush::decode(UVMF_INVLPG | 0x8000), UvmFlush::Masked { full: false, mask: 0x8000 });
    assert_eq!(UvmFlush::decode(UVMF_TLB_FLUSH | 0x8008), UvmFlush::Masked { full: true, mask: 0x8008 });
    // Kind 0 and the unnamed kind 3 flush nothing and read no bitmap.
    for target in [0, UVMF_ALL, 0x8000, 0xFFFF_FFFF_FFFF_FFFC] {
        assert_eq!(UvmFlush::decode(target), UvmFlush::None);
        assert_eq!(UvmFlush::decode(target | 3), UvmFlush::None);
    }
}

#[test]
fn update_va_mapping_without_a_flush_reads_no_vcpu_bitmap() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    // The bitmap pointer is unreadable: as on Xen, no flush kind, no read.
    let mut g = OneWord(0x8000, 1);
    for kind in [UVMF_NONE, 3] {
        assert_eq!(w.uvm(D1, Chain::va(1), c.data.to_maddr() | RO, kind | 0x9000, &mut g), Ok(()), "kind {kind}");
        assert_eq!(w.uvm(D1, Chain::va(1), 0, kind | 0x9000, &mut g), Ok(()), "kind {kind}");
    }
    assert_eq!(w.hooks.local_flushes, 0);
    assert!(w.hooks.invlpgs.is_empty());
    assert_eq!(w.uvm(D1, Chain::va(1), 0, UVMF_INVLPG | 0x9000, &mut g), Err(Errno::EFAULT));
    assert_eq!(w.uvm(D1, Chain::va(1), 0, UVMF_INVLPG | 0x8000, &mut g), Ok(()));
    assert_eq!(w.hooks.invlpgs, vec![Chain::va(1)]);
    w.check();
}

#[test]
fn the_fast_map_takes_the_references_and_stores_the_adjusted_entry() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    let data = w.give(D1, 1)[0];
    let va = Chain::va(1) + 0x3000;
    let (count, types) = (w.info(data).count(), w.info(data).type_count());
    let mut g = crate::mm::requests::NoGuestMemory;
    assert_eq!(w.uvm(D1, va, data.to_maddr() | PRESENT | RW, UVMF_INVLPG, &mut g), Ok(()));
    assert_eq!(w.read(c.l1, 4), data.to_maddr() | PRESENT | RW | USER | GUEST_KERNEL, "kernel mapping marked");
    assert_eq!((w.info(data).count(), w.info(data).type_count()), (count + 1, types + 1));
    assert_eq!(w.info(data).page_type(), PageType::Writable);
    assert_eq!(w.hooks.invlpgs, vec![va]);
    w.check();
    // Over a present entry it is the general path: the old references go.
    assert_eq!(w.uvm(D1, va, data.to_maddr() | PRESENT | USER, UVMF_NONE, &mut g), Ok(()));
    assert_eq!((w.info(data).count(), w.info(data).type_count()), (count + 1, types));
    assert_eq!(w.uvm(D1, va, 0, UVMF_NONE, &mut g), Ok(()));
    assert_eq!(w.info(data).count(), count);
    w.check();
}
