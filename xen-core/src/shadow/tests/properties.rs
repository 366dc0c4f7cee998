//! The property test of issue 15: random guest page-table updates (through
//! the guest's own mappings, so through the write protection and the
//! emulator, or through stale TLB entries), interleaved with translations,
//! CR3 switches, `invlpg`s and balloon changes. After every step every
//! shadow translation equals the translation through the guest tables and
//! the p2m, and no shadow entry (nor TLB entry) grants more than both allow.

use super::world::*;
use crate::p2m::Order;
use crate::shadow::guest::GuestRights;
use crate::shadow::{ec, Access};
use abi::mmu::pte::*;
use abi::Gfn;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Load {
        va: usize,
        user: bool,
        exec: bool,
    },
    Store {
        va: usize,
        user: bool,
        word: usize,
        value: u64,
    },
    /// A store that flips one flag of the entry already there (keeps the
    /// tables' shape, changes their rights).
    Toggle {
        va: usize,
        word: usize,
        flag: u64,
    },
    Cr3 {
        root: u64,
    },
    Invlpg {
        va: usize,
    },
    Balloon {
        gfn: u64,
    },
    Rebuild,
}

fn entry() -> impl Strategy<Value = u64> {
    (0..18u64, any::<u8>(), 0..8u8).prop_map(|(gfn, bits, rare)| {
        let mut e = gfn << 12;
        for (bit, flag) in [(0, RW), (1, USER), (2, ACCESSED), (3, DIRTY)] {
            if bits & (1 << bit) != 0 {
                e |= flag;
            }
        }
        if rare != 0 {
            e |= PRESENT;
        }
        if bits & 0x30 == 0x30 {
            e |= PAT_PSE;
        }
        if bits & 0xC0 == 0xC0 {
            e |= NX;
        }
        e
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..VAS, any::<bool>(), any::<bool>()).prop_map(|(va, user, exec)| Op::Load { va, user, exec }),
        3 => (0..VAS, any::<bool>(), 0..16usize, entry()).prop_map(|(va, user, word, value)| Op::Store { va, user, word, value }),
        6 => (0..16usize, 0..16usize, prop::sample::select(vec![PRESENT, RW, USER, NX, DIRTY, ACCESSED, PAT_PSE]))
            .prop_map(|(page, word, flag)| Op::Toggle { va: page, word, flag }),
        1 => (0..4u64).prop_map(|root| Op::Cr3 { root }),
        1 => (0..VAS).prop_map(|va| Op::Invlpg { va }),
        1 => (4..16u64).prop_map(|gfn| Op::Balloon { gfn }),
        2 => Just(Op::Rebuild),
    ]
}

/// Checks an access's end against the reference taken before it.
fn agrees(expected: Reference, acc: Access, ended: Ended) -> Result<(), String> {
    let ok = match (expected, ended) {
        (_, Ended::Crashed) => matches!(expected, Reference::BadTable),
        (Reference::Page(_, Some(p), g), Ended::Done(m) | Ended::Emulated(m)) => g.permits(acc) && p.mfn == m,
        (Reference::Page(gfn, None, g), Ended::NoP2m(n)) => g.permits(acc) && gfn == n,
        (Reference::Page(_, _, g), Ended::GuestFault(code)) => !g.permits(acc) && code & ec::PRESENT != 0,
        (Reference::Fault { rsvd }, Ended::GuestFault(code)) => {
            code & ec::RSVD != 0 && rsvd || code & (ec::PRESENT | ec::RSVD) == 0 && !rsvd
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{acc:?}: reference {expected:?}, ended {ended:?}"))
    }
}

fn run(ops: Vec<Op>, slots: usize, frames: u64) -> Result<(), TestCaseError> {
    let mut s = ShadowWorld::new(slots, frames);
    s.check().map_err(TestCaseError::fail)?;
    for op in ops {
        if s.crashed {
            break;
        }
        match op {
            Op::Load { va: i, user, exec } => {
                let acc = Access { write: false, user, exec };
                let expected = s.reference_of(va(i));
                let ended = s.access(va(i), acc, None);
                agrees(expected, acc, ended).map_err(TestCaseError::fail)?;
            }
            Op::Store { va: i, user, word, value } => {
                let acc = Access { write: true, user, exec: false };
                let tlb_hit = s.tlb.entries.get(&va(i)).is_some_and(|(_, r)| r.write && (!user || r.user));
                let expected = s.reference_of(va(i));
                let ended = s.access(va(i), acc, Some((word, value)));
                // A stale writable TLB entry may be used, as on hardware;
                // what it may reach is checked by the invariants.
                if !tlb_hit {
                    agrees(expected, acc, ended).map_err(TestCaseError::fail)?;
                }
            }
            Op::Toggle { va: i, word, flag } => {
                // Page i of the first 64 KiB is guest frame i while the
                // starting tables hold; the value is what is there now.
                let acc = Access { write: true, user: false, exec: false };
                let expected = s.reference_of(va(i));
                let Reference::Page(_, Some(p), _) = expected else { continue };
                let old = s.pw.w.read(p.mfn, word);
                let tlb_hit = s.tlb.entries.get(&va(i)).is_some_and(|(_, r)| r.write);
                let ended = s.access(va(i), acc, Some((word, old ^ flag)));
                if !tlb_hit {
                    agrees(expected, acc, ended).map_err(TestCaseError::fail)?;
                }
            }
            Op::Cr3 { root } => s.write_cr3(Gfn(root)),
            Op::Invlpg { va: i } => s.run(|sh, env| sh.invlpg(env, va(i))),
            Op::Balloon { gfn } => {
                let old = s.pw.get(gfn).map(|(e, _)| e);
                if old.is_some() {
                    s.pw.with(|p, mm| p.decrease(mm, Gfn(gfn), Order::Page4K)).unwrap();
                } else {
                    let _ = s.pw.with(|p, mm| p.populate(mm, Gfn(gfn), Order::Page4K));
                }
                if s.run(|sh, env| sh.p2m_changed(env, old)).is_err() {
                    s.crashed = true;
                }
            }
            Op::Rebuild => s.build_tables(),
        }
        s.check().map_err(TestCaseError::fail)?;
    }
    Ok(())
}

impl ShadowWorld {
    fn reference_of(&mut self, v: u64) -> Reference {
        let Some(cr3) = self.cr3 else { return Reference::BadTable };
        let p2m = crate::p2m::P2m::reopen(crate::mm::tests::world::D1, &mut self.pw.slots, &mut self.pw.supers);
        reference(&p2m, &self.pw.w.mem, cr3, v)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn shadows_always_agree_with_the_guest_tables_and_the_p2m(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, 64, 256)?;
    }

    #[test]
    fn shadows_agree_with_a_pool_that_keeps_running_out(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, 8, 6)?;
    }
}

#[test]
fn guest_rights_permit_only_what_every_level_allows() {
    let r = GuestRights { write: false, user: true, exec: true };
    assert!(r.permits(Access { write: false, user: true, exec: true }));
    assert!(!r.permits(Access { write: true, user: false, exec: false }));
}
