//! Random grant sequences from three domains (granting, revoking, mapping,
//! unmapping, copying, overwriting grant PTEs, ballooning granted frames,
//! switching versions, growing tables, dying), with the combined checker
//! (frame table + grant + maptrack tables) after every step; and the same
//! with translated domains: domain 1 maps into its p2m and grants its
//! guest frames, domain 2 grants guest frames its p2m (the hook) maps.

use super::harness::*;
use crate::grant::unmap::Unmap;
use crate::mm::tests::world::Chain;
use abi::grant_table::{gntcopy, gntmap, gtf, CopyPtr, GnttabCopy, MapGrantRef};
use abi::{DomId, Mfn};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Grant { granter: u8, r: u32, grantee: u8, frame: u8, ro: bool, sub: bool },
    Revoke { granter: u8, r: u32 },
    Map { ld: u8, granter: u8, r: u32, slot: usize, flags: u32, pte: bool },
    Unmap { ld: u8, handle: u32, slot: usize, dev: bool, pte: bool },
    Copy { ld: u8, src: (u8, u32, bool), dst: (u8, u32, bool), off: u16, len: u16 },
    Overwrite { dom: u8, slot: usize, frame: Option<u8> },
    Balloon { dom: u8, frame: u8 },
    Version { dom: u8, v: u32 },
    Setup { dom: u8, n: u32 },
    Die { dom: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0u8..3;
    prop_oneof![
        4 => (d.clone(), 0u32..12, d.clone(), 0u8..8, any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(granter, r, grantee, frame, ro, sub)| Op::Grant { granter, r, grantee, frame, ro, sub }),
        1 => (d.clone(), 0u32..12).prop_map(|(granter, r)| Op::Revoke { granter, r }),
        5 => (d.clone(), d.clone(), 0u32..14, 2usize..7, 0u32..32, prop::bool::weighted(0.2))
            .prop_map(|(ld, granter, r, slot, flags, pte)| Op::Map { ld, granter, r, slot, flags, pte }),
        4 => (d.clone(), 0u32..6, 2usize..7, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(ld, handle, slot, dev, pte)| Op::Unmap { ld, handle, slot, dev, pte }),
        2 => (d.clone(), (d.clone(), 0u32..12, any::<bool>()), (d.clone(), 0u32..12, any::<bool>()), 0u16..4200, 0u16..4200)
            .prop_map(|(ld, src, dst, off, len)| Op::Copy { ld, src, dst, off: off % 4100, len }),
        2 => (d.clone(), 2usize..7, prop::option::of(0u8..8)).prop_map(|(dom, slot, frame)| Op::Overwrite { dom, slot, frame }),
        1 => (d.clone(), 0u8..8).prop_map(|(dom, frame)| Op::Balloon { dom, frame }),
        1 => (d.clone(), 0u32..4).prop_map(|(dom, v)| Op::Version { dom, v }),
        1 => (d.clone(), 0u32..6).prop_map(|(dom, n)| Op::Setup { dom, n }),
        1 => (1u8..3).prop_map(|dom| Op::Die { dom }),
    ]
}

struct Setup {
    chains: Vec<Chain>,
    data: Vec<Vec<Mfn>>,
    /// Domains 1 and 2 are translated.
    translated: bool,
}

/// The guest frame a translated domain has frame `i` ([`frame`]) at; 8 and
/// 9 are holes.
fn gfn_of(i: u8) -> u64 {
    16 + u64::from(i)
}

fn is_tr(s: &Setup, d: u8) -> bool {
    s.translated && d != 0
}

/// Domain 1's p2m as the hook reports it to other domains (domain 2's
/// stays as the setup and the balloon left it).
fn mirror(g: &mut GWorld) {
    for gfn in 0..P2M_GFNS as u64 {
        match g.p2m_at(gfn) {
            Some(e) => g.w.hooks.p2m.insert((1, gfn), e),
            None => g.w.hooks.p2m.remove(&(1, gfn)),
        };
    }
}

/// Frame `i` a domain may name: its data frames, its L1, its root.
fn frame(s: &Setup, dom: usize, i: u8) -> Mfn {
    match i {
        6 => s.chains[dom].l1,
        7 => s.chains[dom].l4,
        _ => s.data[dom][i as usize],
    }
}

fn step(g: &mut GWorld, s: &Setup, op: &Op) {
    let dom = |i: u8| DomId(u16::from(i));
    match *op {
        Op::Grant { granter, r, grantee, frame: f, ro, sub } => {
            if g.active[granter as usize * crate::grant::MAX_REFS + r as usize].pin != 0
                || g.tables[granter as usize].version == 0
            {
                return; // A real guest never rewrites an entry in use.
            }
            let m = if is_tr(s, granter) { Mfn(gfn_of(f)) } else { frame(s, granter as usize, f) };
            let flags = gtf::PERMIT_ACCESS | if ro { gtf::READONLY } else { 0 };
            if sub && g.tables[granter as usize].version == 2 {
                g.grant_sub(dom(granter), r, dom(grantee), m, 128, 512);
            } else {
                g.grant(dom(granter), r, dom(grantee), m, flags);
            }
        }
        Op::Revoke { granter, r } => {
            // Linux's gnttab_end_foreign_access_ref: only when not in use.
            let t = g.tables[granter as usize];
            if t.version != 0
                && r < t.nr_entries()
                && g.status_flags(dom(granter), r) & (gtf::READING | gtf::WRITING) == 0
            {
                g.grant(dom(granter), r, DomId(0), Mfn(0), 0);
            }
        }
        // A dead domain 1 makes no more calls (a PVH domain's first grant
        // call gives it a table).
        Op::Map { ld: 1, .. } | Op::Unmap { ld: 1, .. } | Op::Copy { ld: 1, .. }
            if s.translated && g.tables[1].version == 0 => {}
        Op::Map { ld: 1, granter, r, slot, flags, pte } if s.translated => {
            // Half of them with the flags a translated mapper may use.
            let flags = if flags >= 16 {
                gntmap::HOST_MAP | flags & gntmap::READONLY
            } else {
                flags | if pte { gntmap::CONTAINS_PTE } else { 0 }
            };
            let op =
                MapGrantRef { host_addr: (slot as u64) << 12, flags, ref_: r, dom: dom(granter), ..Default::default() };
            g.map_p2m(op);
        }
        // A translated domain's host mappings are p2m entries; domain 2 has
        // no p2m here (it only grants and copies).
        Op::Map { ld: 2, .. } if s.translated => {}
        Op::Unmap { ld: 1, handle, slot, .. } if s.translated => {
            g.unmap_p2m(Unmap { host_addr: (slot as u64) << 12, dev_bus_addr: 0, new_addr: 0, handle });
        }
        Op::Map { ld, granter, r, slot, flags, pte } => {
            let host_addr = if pte { s.chains[ld as usize].l1.to_maddr() + slot as u64 * 8 } else { va(slot) };
            let flags = flags & 0xF | if pte { gntmap::CONTAINS_PTE } else { 0 };
            g.map(dom(ld), MapGrantRef { host_addr, flags, ref_: r, dom: dom(granter), ..Default::default() });
        }
        Op::Unmap { ld, handle, slot, dev, pte } => {
            let host_addr = if pte { s.chains[ld as usize].l1.to_maddr() + slot as u64 * 8 } else { va(slot) };
            let m = g.maptrack[ld as usize * crate::grant::MAX_MAPTRACK + handle as usize];
            let dev_bus_addr = match (dev, m.flags) {
                (false, _) => 0,
                (true, 0) => 0x1000,
                (true, _) => g.active[m.dom.0 as usize * crate::grant::MAX_REFS + m.ref_ as usize].mfn.to_maddr(),
            };
            g.with(|mm, gr| gr.unmap(mm, dom(ld), Unmap { host_addr, dev_bus_addr, new_addr: 0, handle }));
        }
        Op::Copy { ld, src, dst, off, len } => {
            let side = |(d, x, gref): (u8, u32, bool)| {
                if gref {
                    CopyPtr { u: u64::from(x), domid: dom(d), offset: off, pad: 0 }
                } else {
                    CopyPtr { u: frame(s, ld as usize, (x % 8) as u8).0, domid: DomId::SELF, offset: off / 2, pad: 0 }
                }
            };
            let flags = if src.2 { gntcopy::SOURCE_GREF } else { 0 } | if dst.2 { gntcopy::DEST_GREF } else { 0 };
            let op = GnttabCopy { source: side(src), dest: side(dst), len, flags, ..Default::default() };
            if is_tr(s, ld) && ld == 1 {
                g.copy_p2m(op);
            } else {
                g.copy(dom(ld), op);
            }
        }
        Op::Overwrite { dom: d, slot, frame: f } => {
            let val = f.map_or(0, |f| frame(s, d as usize, f).to_maddr() | crate::mm::tests::world::RO);
            let _ = g.w.update(dom(d), s.chains[d as usize].l1, slot, val);
        }
        Op::Balloon { dom: d, frame: f } => {
            let m = frame(s, d as usize, f);
            if is_tr(s, d) && d == 1 {
                let _ = g.with_p2m(|mm, _, p2m, _| p2m.remove_ram(mm, abi::Gfn(gfn_of(f))));
            } else {
                if is_tr(s, d) {
                    g.w.hooks.p2m.remove(&(u16::from(d), gfn_of(f)));
                }
                let _ = g.with(|mm, _| mm.release_frame(dom(d), m));
            }
        }
        Op::Version { dom: d, v } => {
            if g.tables[d as usize].version != 0 {
                let _ = g.with(|mm, gr| gr.set_version(mm, dom(d), v));
            }
        }
        Op::Setup { dom: d, n } => {
            let _ = g.with(|mm, gr| gr.setup_table(mm, dom(d), DomId::SELF, n));
        }
        Op::Die { dom: d } => {
            if g.tables[d as usize].version != 0 {
                let tr = is_tr(s, d);
                g.with_p2m(|mm, gr, p2m, _| {
                    gr.release_domain(mm, dom(d));
                    if tr && d == 1 {
                        p2m.clear(mm);
                    }
                    let _ = crate::mm::teardown::Teardown::new(mm, dom(d)).run(mm);
                });
                g.w.hooks.p2m.retain(|&(o, _), _| o != u16::from(d));
            }
        }
    }
}

proptest! {
    /// After every step: pins equal what the maptrack slots explain, status
    /// flags follow the pins, every mapped frame is referenced (and typed
    /// writable for writable mappings), foreign frames appear only in the
    /// L1s of domains holding a host mapping of them, and the frame table's
    /// own invariants hold with the grant references counted.
    #[test]
    fn random_grant_sequences_keep_every_invariant(ops in prop::collection::vec(op(), 1..50)) {
        let mut g = GWorld::new();
        let chains: Vec<Chain> = DOMS.iter().map(|&d| g.address_space(d)).collect();
        let data = DOMS.iter().map(|&d| g.w.give(d, 6)).collect();
        let s = Setup { chains, data, translated: false };
        g.check();
        for (i, op) in ops.iter().enumerate() {
            step(&mut g, &s, op);
            if let Err(e) = g.check_all() {
                panic!("step {i} ({op:?}) broke an invariant: {e}");
            }
        }
    }

    /// The same with domain 1 a translated mapper and granter (its p2m
    /// holds its frames at guest frames 16 on, its grant mappings at 2..7)
    /// and domain 2 a translated granter: also, every p2m grant entry is a
    /// live mapping's, and the p2m's references are counted.
    #[test]
    fn random_grant_sequences_with_translated_domains_keep_every_invariant(ops in prop::collection::vec(op(), 1..50)) {
        let mut g = GWorld::new();
        let chains: Vec<Chain> = DOMS.iter().map(|&d| g.address_space(d)).collect();
        let data: Vec<Vec<Mfn>> = DOMS.iter().map(|&d| g.w.give(d, 6)).collect();
        let s = Setup { chains, data, translated: true };
        for d in [1u8, 2] {
            g.make_translated(DomId(u16::from(d)));
            for i in 0..8u8 {
                let e = crate::p2m::P2mEntry { mfn: frame(&s, d as usize, i), ty: crate::p2m::P2mType::Ram, rights: crate::p2m::Rights::RWX };
                if d == 1 {
                    g.with_p2m(|mm, _, p2m, _| p2m.set_entry(mm, abi::Gfn(gfn_of(i)), crate::p2m::Order::Page4K, Some(e))).unwrap();
                } else {
                    g.w.hooks.p2m.insert((2, gfn_of(i)), e);
                }
            }
        }
        // Domains 0 and 2 start with refs 0..6 granted to domain 1 (then
        // most of its maps meet a real grant).
        for r in 0..6u32 {
            let (d0, d2) = (frame(&s, 0, r as u8), Mfn(gfn_of(r as u8)));
            g.grant(DomId(0), r, DomId(1), d0, gtf::PERMIT_ACCESS);
            g.grant(DomId(2), r, DomId(1), d2, gtf::PERMIT_ACCESS | if r == 5 { gtf::READONLY } else { 0 });
        }
        mirror(&mut g);
        g.check();
        for (i, op) in ops.iter().enumerate() {
            step(&mut g, &s, op);
            mirror(&mut g);
            if let Err(e) = g.check_all() {
                panic!("step {i} ({op:?}) broke an invariant: {e}");
            }
            let stray = (0..P2M_GFNS as u64).find(|&gfn| {
                g.p2m_at(gfn).is_some_and(|e| e.ty == crate::p2m::P2mType::Grant)
                    && !(0..crate::grant::MAX_MAPTRACK).any(|h| {
                        let m = g.maptrack[crate::grant::MAX_MAPTRACK + h];
                        m.flags & gntmap::HOST_MAP != 0
                            && g.active[m.dom.0 as usize * crate::grant::MAX_REFS + m.ref_ as usize].mfn == g.p2m_at(gfn).unwrap().mfn
                    })
            });
            if let Some(gfn) = stray {
                panic!("step {i} ({op:?}): p2m grant entry at gfn {gfn} without a mapping");
            }
        }
    }
}
