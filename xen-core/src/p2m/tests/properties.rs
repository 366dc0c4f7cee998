//! Property test: random p2m changes (populate, balloon out, grants,
//! rights, merges, teardown). After every step the memory model's invariant
//! checker passes with the p2m's references counted, the 2 MiB invariant
//! holds, and the nested tables built from the p2m map exactly what it maps.

use super::world::{P2mWorld, GFNS};
use crate::mm::tests::world::D2;
use crate::p2m::{Order, P2mEntry, P2mType, Rights};
use abi::Gfn;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Populate { gfn: u16, big: bool },
    Decrease { gfn: u16, big: bool },
    Grant { gfn: u16, frame: u8, write: bool },
    Unmap { gfn: u16 },
    Rights { gfn: u16, write: bool, exec: bool },
    Merge { gfn: u16 },
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    let gfn = 0..GFNS as u16;
    prop_oneof![
        4 => (gfn.clone(), any::<bool>()).prop_map(|(gfn, big)| Op::Populate { gfn, big }),
        3 => (gfn.clone(), any::<bool>()).prop_map(|(gfn, big)| Op::Decrease { gfn, big }),
        2 => (gfn.clone(), 0..4u8, any::<bool>()).prop_map(|(gfn, frame, write)| Op::Grant { gfn, frame, write }),
        1 => gfn.clone().prop_map(|gfn| Op::Unmap { gfn }),
        2 => (gfn.clone(), any::<bool>(), any::<bool>()).prop_map(|(gfn, write, exec)| Op::Rights { gfn, write, exec }),
        2 => gfn.prop_map(|gfn| Op::Merge { gfn }),
        1 => Just(Op::Clear),
    ]
}

/// Chunk-aligned guest frames make 2 MiB operations likely to apply.
fn aligned(gfn: u16, big: bool) -> (Gfn, Order) {
    if big {
        (Gfn(u64::from(gfn) & !511), Order::Page2M)
    } else {
        (Gfn(u64::from(gfn)), Order::Page4K)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn p2m_references_and_nested_tables_stay_exact(ops in proptest::collection::vec(op(), 1..40)) {
        let mut t = P2mWorld::new();
        let granted = t.w.give(D2, 4);
        for op in ops {
            match op {
                Op::Populate { gfn, big } => {
                    let (g, o) = aligned(gfn, big);
                    let _ = t.with(|p, mm| p.populate(mm, g, o));
                }
                Op::Decrease { gfn, big } => {
                    let (g, o) = aligned(gfn, big);
                    let _ = t.with(|p, mm| p.decrease(mm, g, o));
                }
                Op::Grant { gfn, frame, write } => {
                    let rights = Rights { write, exec: false };
                    let e = P2mEntry { mfn: granted[frame as usize], ty: P2mType::Grant, rights };
                    let _ = t.with(|p, mm| p.set_entry(mm, Gfn(gfn.into()), Order::Page4K, Some(e)));
                }
                Op::Unmap { gfn } => {
                    let _ = t.with(|p, mm| p.set_entry(mm, Gfn(gfn.into()), Order::Page4K, None));
                }
                Op::Rights { gfn, write, exec } => {
                    let _ = t.with(|p, mm| p.set_rights(mm, Gfn(gfn.into()), Rights { write, exec }));
                }
                Op::Merge { gfn } => {
                    t.with(|p, _| p.merge(Gfn(gfn.into())));
                }
                Op::Clear => t.with(|p, mm| p.clear(mm)),
            }
            prop_assert_eq!(t.check(), Ok(()));
            prop_assert_eq!(t.check_npt(), Ok(()));
        }
        // Teardown gives everything back: the grants' frames keep only the
        // granter's allocation reference, domain 1 owns nothing.
        t.with(|p, mm| p.clear(mm));
        crate::mm::teardown::Teardown::new(&t.w.mm(), crate::mm::tests::world::D1).run(&mut t.w.mm());
        prop_assert_eq!(t.w.doms[1].tot_pages, 0);
        prop_assert!(granted.iter().all(|&m| t.w.info(m).count() == 1));
        prop_assert_eq!(t.check(), Ok(()));
    }
}
