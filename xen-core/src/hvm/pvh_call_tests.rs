//! PVH hypercalls on the p2m test world: arguments in guest-physical
//! memory (paging off), the balloon through the p2m, refusals with Xen's
//! errno.

use super::*;
use crate::hvm::gmem::{write_phys, GuestPaging};
use crate::p2m::tests::world::P2mWorld;
use abi::hvm::callback;

/// Records the nested-table updates asked for; fails when told to.
#[derive(Default)]
pub(super) struct Rec {
    pub(super) changed: Vec<(u64, Order)>,
    pub(super) fail: bool,
}

impl<M: PhysMemory, H: MmHooks> NptSync<M, H> for Rec {
    fn changed(&mut self, _: &P2m<'_>, _: &mut Mm<'_, M, H>, gfn: Gfn, order: Order) -> Result<(), Errno> {
        self.changed.push((gfn.0, order));
        if self.fail {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }
}

/// Grant storage for a few domains.
pub(super) struct GrantStore {
    tables: Vec<crate::grant::GrantTable>,
    active: Vec<crate::grant::Active>,
    maptrack: Vec<crate::grant::MapTrack>,
}

impl Default for GrantStore {
    fn default() -> Self {
        let (t, a, m) = crate::grant::storage_for(4);
        GrantStore {
            tables: vec![crate::grant::GrantTable::NONE; t],
            active: vec![crate::grant::Active::FREE; a],
            maptrack: vec![crate::grant::MapTrack::FREE; m],
        }
    }
}

impl GrantStore {
    pub(super) fn grants(&mut self) -> crate::grant::Grants<'_> {
        crate::grant::Grants {
            tables: &mut self.tables,
            active: &mut self.active,
            maptrack: &mut self.maptrack,
            nx: true,
        }
    }
}

pub(super) struct T {
    pub(super) w: P2mWorld,
    pub(super) gt: GrantStore,
    params: HvmParams,
    line: LineBuf,
    out: Vec<u8>,
    pub(super) npt: Rec,
    pub(super) events: Box<crate::event::EventChannels>,
    pub(super) vcpu: crate::domain::vcpu::Vcpu,
    pub(super) now: u64,
    pub(super) hvcpu: crate::hvm::pvh_vcpu::HvmVcpu,
    pub(super) long_mode: bool,
    pub(super) stamp: crate::time::info::TimeStamp,
}

pub(super) const ERR: fn(Errno) -> u64 = |e| (-i64::from(e.0)) as u64;

impl T {
    /// Domain 1 with RAM at gfns 0..32.
    pub(super) fn new() -> T {
        let mut w = P2mWorld::new();
        w.with(|p, mm| {
            (0..32).for_each(|g| {
                p.populate(mm, Gfn(g), Order::Page4K).unwrap();
            })
        });
        T {
            w,
            params: HvmParams::default(),
            line: LineBuf::new(),
            out: Vec::new(),
            npt: Rec::default(),
            events: Box::default(),
            gt: GrantStore::default(),
            vcpu: crate::domain::vcpu::Vcpu::new(Default::default()),
            now: 1_000_000,
            hvcpu: Default::default(),
            long_mode: true,
            stamp: crate::time::info::TimeStamp {
                tsc: 0x1234_5678,
                system_time: crate::time::SystemTime(1_000_000),
                mul: 0x8000_0000,
                shift: 1,
                flags: 1,
            },
        }
    }

    pub(super) fn poke(&mut self, gpa: u64, bytes: &[u8]) {
        self.w.with(|p, mm| write_phys(p, mm.mem, gpa, bytes)).unwrap();
    }

    pub(super) fn peek(&mut self, gpa: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.w.with(|p, mm| GuestView { p2m: p, mem: mm.mem, paging: GuestPaging::Off }.read(gpa, &mut b)).unwrap();
        b
    }

    pub(super) fn call(&mut self, nr: HypercallNr, a: [u64; 5]) -> (u64, Outcome) {
        let T { w, params, line, out, npt, events, vcpu, now, gt, hvcpu, long_mode, stamp } = self;
        let mut sink = |b: &[u8]| out.extend_from_slice(b);
        let mut grants = gt.grants();
        w.with(|p2m, mm| {
            let mut c = PvhCall {
                dom: crate::mm::tests::world::D1,
                mm,
                p2m,
                paging: GuestPaging::Off,
                params,
                line,
                console: &mut sink,
                npt,
                events,
                grants: &mut grants,
                vcpu,
                now: crate::time::SystemTime(*now),
                stamp: *stamp,
                hvcpu,
                long_mode: *long_mode,
            };
            c.dispatch(nr.0, a)
        })
    }

    fn reservation(&mut self, op: u64, extents: &[u64], order: u32) -> (u64, Outcome) {
        let mut r = [0u8; 32];
        r[..8].copy_from_slice(&0x2000u64.to_le_bytes());
        r[8..16].copy_from_slice(&(extents.len() as u64).to_le_bytes());
        r[16..20].copy_from_slice(&order.to_le_bytes());
        r[24..26].copy_from_slice(&DomId::SELF.0.to_le_bytes());
        self.poke(0x1000, &r);
        let list: Vec<u8> = extents.iter().flat_map(|g| g.to_le_bytes()).collect();
        self.poke(0x2000, &list);
        self.call(HypercallNr::MEMORY_OP, [op, 0x1000, 0, 0, 0])
    }
}

#[test]
fn arguments_follow_xens_hvm_register_convention() {
    let gpr: [u64; 16] = core::array::from_fn(|i| 0x1_0000_0000 + i as u64);
    assert_eq!(args(&gpr, true), [gpr[7], gpr[6], gpr[2], gpr[10], gpr[8]], "rdi rsi rdx r10 r8");
    assert_eq!(args(&gpr, false), [3, 1, 2, 6, 7], "ebx ecx edx esi edi, 32 bits");
}

#[test]
fn the_hypercall_number_is_rax_in_64_bit_code_and_eax_otherwise() {
    let l = crate::hvm::pvh_entry::attrib::L;
    let lma = 1 << 10;
    assert!(long_mode(lma, l));
    assert!(!long_mode(lma, 0), "compatibility mode");
    assert!(!long_mode(0, l), "EFER.LMA clear");
    assert_eq!(number(0x1_0000_0011, true), 0x1_0000_0011);
    assert_eq!(number(0x1_0000_0011, false), 0x11);
}

#[test]
fn console_writes_go_out_a_line_at_a_time_and_bad_pointers_are_efault() {
    let mut t = T::new();
    t.poke(0x3000, b"hello\x1b pvh\n");
    assert_eq!(t.call(HypercallNr::CONSOLE_IO, [CONSOLEIO_WRITE, 11, 0x3000, 0, 0]), (0, Outcome::Continue));
    assert_eq!(t.out, b"hello pvh\n", "the escape byte was dropped");
    assert_eq!(t.call(HypercallNr::CONSOLE_IO, [CONSOLEIO_WRITE, 4, 0x40_0000, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::CONSOLE_IO, [CONSOLEIO_WRITE, 8, 0x1F_FFC, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::CONSOLE_IO, [CONSOLEIO_READ, 4, 0x3000, 0, 0]).0, ERR(Errno::EPERM));
    assert_eq!(t.call(HypercallNr::CONSOLE_IO, [7, 4, 0x3000, 0, 0]).0, ERR(Errno::ENOSYS));
}

#[test]
fn xen_version_reports_4_17_and_the_translated_features() {
    let mut t = T::new();
    assert_eq!(t.call(HypercallNr::XEN_VERSION, [XENVER_VERSION, 0, 0, 0, 0]).0, 0x4_0011);
    assert_eq!(t.call(HypercallNr::XEN_VERSION, [XENVER_GET_FEATURES, 0x3000, 0, 0, 0]).0, 0);
    assert_eq!(
        t.peek(0x3004, 4),
        0x1_0305u32.to_le_bytes(),
        "page tables, translated, callback vector, safe PV clock, not direct mapped"
    );
    assert_eq!(t.call(HypercallNr::XEN_VERSION, [XENVER_CAPABILITIES, 0x3000, 0, 0, 0]).0, 0);
    assert_eq!(&t.peek(0x3000, 15), b"hvm-3.0-x86_64 ");
    assert_eq!(t.call(HypercallNr::XEN_VERSION, [XENVER_EXTRAVERSION, 0x40_0000, 0, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::XEN_VERSION, [XENVER_COMMANDLINE, 0x3000, 0, 0, 0]).0, ERR(Errno::ENOSYS));
}

#[test]
fn sched_op_yields_blocks_and_shuts_down_with_the_reason() {
    let mut t = T::new();
    assert_eq!(t.call(HypercallNr::SCHED_OP, [SCHEDOP_YIELD, 0, 0, 0, 0]), (0, Outcome::Yield));
    assert_eq!(t.call(HypercallNr::SCHED_OP, [SCHEDOP_BLOCK, 0, 0, 0, 0]), (0, Outcome::Block));
    t.poke(0x3000, &3u32.to_le_bytes());
    assert_eq!(t.call(HypercallNr::SCHED_OP, [SCHEDOP_SHUTDOWN, 0x3000, 0, 0, 0]), (0, Outcome::Shutdown(3)));
    let bad = t.call(HypercallNr::SCHED_OP, [SCHEDOP_SHUTDOWN, 0x80_0000, 0, 0, 0]);
    assert_eq!(bad, (ERR(Errno::EFAULT), Outcome::Continue));
    assert_eq!(t.call(HypercallNr::SCHED_OP, [99, 0, 0, 0, 0]).0, ERR(Errno::ENOSYS));
}

#[test]
fn the_balloon_changes_the_p2m_and_tells_the_nested_tables() {
    let mut t = T::new();
    let before = t.w.w.doms[1].tot_pages;
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[20, 21, 22], 0), (3, Outcome::Continue));
    assert!(t.w.get(21).is_none());
    assert_eq!(t.w.w.doms[1].tot_pages, before - 3);
    assert_eq!(t.npt.changed, [(20, Order::Page4K), (21, Order::Page4K), (22, Order::Page4K)]);
    // Again: gfn 20 is no longer RAM, so nothing is done.
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[20], 0).0, 0);
    // In again, and one past what the p2m can hold stops the list.
    let res = t.reservation(XENMEM_POPULATE_PHYSMAP, &[20, 21, 1 << 40], 0);
    assert_eq!(res, (2, Outcome::Continue));
    assert!(t.w.get(20).is_some() && t.w.get(22).is_none());
    assert_eq!(t.w.w.doms[1].tot_pages, before - 1);
    t.w.check().unwrap();
}

#[test]
fn reservations_that_name_other_domains_or_bad_orders_do_nothing() {
    let mut t = T::new();
    let mut r = [0u8; 32];
    r[8..16].copy_from_slice(&1u64.to_le_bytes());
    r[24..26].copy_from_slice(&2u16.to_le_bytes());
    t.poke(0x1000, &r);
    assert_eq!(t.call(HypercallNr::MEMORY_OP, [XENMEM_DECREASE_RESERVATION, 0x1000, 0, 0, 0]).0, 0);
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[5], 3).0, 0, "order 3");
    assert_eq!(t.call(HypercallNr::MEMORY_OP, [XENMEM_DECREASE_RESERVATION, 0x40_0000, 0, 0, 0]).0, ERR(Errno::EFAULT));
    assert!(t.w.get(5).is_some() && t.npt.changed.is_empty());
    assert_eq!(t.call(HypercallNr::MEMORY_OP, [XENMEM_EXCHANGE, 0x1000, 0, 0, 0]).0, ERR(Errno::ENOSYS));
    t.poke(0x1000, &DomId::SELF.0.to_le_bytes());
    let cur = t.call(HypercallNr::MEMORY_OP, [XENMEM_CURRENT_RESERVATION, 0x1000, 0, 0, 0]).0;
    assert_eq!(cur, t.w.w.doms[1].tot_pages);
}

#[test]
fn a_nested_table_that_cannot_follow_crashes_the_domain() {
    let mut t = T::new();
    t.npt.fail = true;
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[9, 10], 0), (0, Outcome::Crash));
}

#[test]
fn hvm_params_follow_xens_guest_permissions() {
    let mut t = T::new();
    let param = |t: &mut T, op: u64, dom: u16, index: u32, value: u64| {
        let mut b = [0u8; 16];
        b[..2].copy_from_slice(&dom.to_le_bytes());
        b[4..8].copy_from_slice(&index.to_le_bytes());
        b[8..].copy_from_slice(&value.to_le_bytes());
        t.poke(0x3000, &b);
        let r = t.call(HypercallNr::HVM_OP, [op, 0x3000, 0, 0, 0]).0;
        (r, u64::from_le_bytes(t.peek(0x3008, 8).try_into().unwrap()))
    };
    let self_ = DomId::SELF.0;
    let v = callback::vector(0xF3);
    assert_eq!(param(&mut t, HVMOP_SET_PARAM, self_, param::CALLBACK_IRQ, v).0, 0);
    assert_eq!(t.params.0[param::CALLBACK_IRQ as usize], v, "the vector type is stored");
    assert_eq!(param(&mut t, HVMOP_GET_PARAM, self_, param::CALLBACK_IRQ, 0), (0, v));
    assert_eq!(param(&mut t, HVMOP_GET_PARAM, 1, param::STORE_PFN, 7), (0, 0), "by own id; unset is 0");
    assert_eq!(param(&mut t, HVMOP_SET_PARAM, self_, param::STORE_PFN, 7).0, ERR(Errno::EPERM));
    assert_eq!(param(&mut t, HVMOP_GET_PARAM, self_, param::IDENT_PT, 0).0, ERR(Errno::EPERM));
    assert_eq!(param(&mut t, HVMOP_SET_PARAM, self_, param::HVM_NR_PARAMS, 0).0, ERR(Errno::EINVAL));
    assert_eq!(param(&mut t, HVMOP_SET_PARAM, 2, param::CALLBACK_IRQ, 0).0, ERR(Errno::EPERM), "another domain");
    assert_eq!(param(&mut t, HVMOP_SET_PARAM, 77, param::CALLBACK_IRQ, 0).0, ERR(Errno::ESRCH), "no such domain");
    assert_eq!(t.call(HypercallNr::HVM_OP, [HVMOP_SET_PARAM, 0x40_0000, 0, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::HVM_OP, [9, 0x3000, 0, 0, 0]).0, ERR(Errno::ENOSYS));
    assert_eq!(t.call(HypercallNr::MMU_UPDATE, [0; 5]).0, ERR(Errno::ENOSYS), "no PV MMU for a PVH guest");
}

/// Keeps real nested tables (in a scratch memory) in step, as the arch
/// layer's does.
struct RealNpt {
    mem: crate::mm::phys_mem::fake::FakeMemory,
    frames: crate::p2m::tests::world::Bump,
    root: abi::Mfn,
}

impl<M: PhysMemory, H: MmHooks> NptSync<M, H> for RealNpt {
    fn changed(&mut self, p2m: &P2m<'_>, _: &mut Mm<'_, M, H>, gfn: Gfn, order: Order) -> Result<(), Errno> {
        crate::p2m::npt::update(p2m, &mut self.mem, &mut self.frames, self.root, gfn, order)
    }
}

mod fuzz {
    //! The PVH hypercall fuzzer, on the host: random hypercalls with
    //! arguments biased to the edges (pointers at page ends, outside the
    //! p2m, non-canonical; reservations naming other domains, odd orders,
    //! huge counts, gfns inside and outside the map) against a domain with
    //! real nested tables. After every call the memory model's invariants
    //! hold with the p2m's references counted, the 2 MiB invariant holds,
    //! and a walk of the nested tables equals the p2m for every frame.
    use super::*;
    use crate::p2m::tests::world::{Bump, GFNS};
    use proptest::prelude::*;

    fn pointer() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0x1000u64),
            Just(0x2000),
            Just(0x1FFF8),
            Just(0x20000),
            Just(0x40_0000),
            Just(0x8000_0000_0000),
            Just(u64::MAX - 7),
            any::<u64>(),
        ]
    }

    #[derive(Clone, Debug)]
    struct Step {
        nr: u64,
        a: [u64; 3],
        res: [u64; 4],
        gfns: [u64; 4],
    }

    /// A well-formed balloon request (most steps), so the p2m and the
    /// tables really change; `res` and `gfns` still vary.
    fn balloon() -> impl Strategy<Value = Step> {
        let gfn = prop_oneof![0..32u64, 0..GFNS as u64 + 16, Just(512), Just(1024)];
        (
            prop_oneof![Just(1u64), Just(6)],
            1..5u64,
            prop_oneof![3 => Just(0u64), 1 => Just(9)],
            prop_oneof![4 => Just(u64::from(DomId::SELF.0)), 1 => Just(1)],
            [gfn.clone(), gfn.clone(), gfn.clone(), gfn],
        )
            .prop_map(|(cmd, n, order, dom, gfns)| Step {
                nr: 12,
                a: [cmd, 0x1000, 0],
                res: [0x2000, n, order, dom],
                gfns,
            })
    }

    fn step() -> impl Strategy<Value = Step> {
        // Boxed: five unboxed strategies make a union whose value tree
        // overflows a test thread's stack in a debug build.
        prop_oneof![
            3 => balloon().boxed(),
            2 => any_step().boxed(),
            2 => event_step().boxed(),
            2 => grant_step().boxed(),
            2 => vcpu_step().boxed(),
            3 => grant_map_step().boxed()
        ]
    }

    /// vcpu_op (every command, ids 0, 1 and 0 with upper bits), vm_assist,
    /// the vCPU's hvm_ops (upcall vector, TLB flush) and multicall: a
    /// structure at 0x1000 of small fields (periods, deadlines, vectors,
    /// addresses in and out of the RAM, hypercall numbers as multicall
    /// entries' ops), or a bad pointer.
    fn vcpu_step() -> impl Strategy<Value = Step> {
        let small = prop_oneof![0..4u64, Just(1_000_000), Just(999_999), 0x10..0x20u64, Just(0x1F000), any::<u64>()];
        let op = prop_oneof![Just(17u64), Just(13), Just(24), Just(12), Just(29), Just(34), Just(21), 0..64u64];
        let word = (small.clone(), small.clone()).prop_map(|(a, b)| a | (b << 32));
        (
            prop_oneof![3 => Just(24u64), 1 => Just(21), 1 => Just(34), 2 => Just(13)],
            prop_oneof![0..15u64, Just(5), Just(23), Just(1 << 32), any::<u64>()],
            prop_oneof![Just(0u64), Just(0), Just(1), Just(1 << 32), 1..4u64],
            prop_oneof![3 => Just(0x1000u64), 1 => pointer()],
            (op, word.clone(), small, word).prop_map(|(a, b, c, d)| [a, b, c, d]),
        )
            .prop_map(|(nr, cmd, id, arg, res)| {
                let a = match nr {
                    24 => [cmd, id, arg],
                    21 => [cmd & 3, cmd >> 2, 0],
                    34 => [cmd, if cmd == 5 && id == 0 { 0 } else { arg }, 0],
                    _ => [arg, id, 0],
                };
                Step { nr, a, res, gfns: [0; 4] }
            })
    }

    /// grant_table_op: a structure at 0x1000 of small fields (domains,
    /// frame counts, guest frames, references, copy flags), or a bad
    /// pointer; counts around the limits.
    fn grant_step() -> impl Strategy<Value = Step> {
        let small = prop_oneof![0..4u64, Just(0x7FF0), 0..40u64, Just(0xFFFF), any::<u64>()];
        let word = (small.clone(), small.clone()).prop_map(|(a, b)| a | (b << 32));
        (
            prop_oneof![0..13u64, Just(6 | (1 << 12)), any::<u64>()],
            prop_oneof![3 => Just(0x1000u64), 1 => pointer()],
            prop_oneof![Just(1u64), Just(0), Just(2), Just(513), Just(1 << 31)],
            [word.clone(), word.clone(), word.clone(), word],
        )
            .prop_map(|(cmd, arg, count, res)| Step { nr: 20, a: [cmd, arg, count], res, gfns: [0; 4] })
    }

    /// Grant map, unmap, unmap_and_replace and swap: one element at 0x1000
    /// naming domain 0's references (granted to domain 1 by the setup, some
    /// read-only, some not granted), guest frames of RAM, holes and beyond
    /// the map, every map flag, handles in and out of use.
    fn grant_map_step() -> impl Strategy<Value = Step> {
        let gfn = prop_oneof![0..32u64, 32..48u64, Just(GFNS as u64), any::<u64>()];
        let flags = prop_oneof![Just(2u64), Just(6), 0..32u64, Just(2 | 1 << 16)];
        (
            prop_oneof![3 => Just(0u64), 2 => Just(1), 1 => Just(7), 1 => Just(11)],
            gfn,
            flags,
            prop_oneof![0..12u64, Just(9999)],
            prop_oneof![6 => Just(0u64), 1 => Just(1), 1 => Just(7), 1 => Just(u64::from(DomId::SELF.0))],
            prop_oneof![3 => 0..4u64, 1 => any::<u32>().prop_map(u64::from)],
            prop_oneof![3 => Just(0u64), 1 => 32..48u64],
        )
            .prop_map(|(cmd, gfn, flags, r, dom, handle, second)| {
                let host = gfn << 12;
                let res = match cmd {
                    0 => [host, flags | r << 32, dom | handle << 32, 0],
                    11 => [r | (handle & 15) << 32, 0, 0, 0],
                    _ => [host, second << 12, handle, 0],
                };
                Step { nr: 20, a: [cmd, 0x1000, 1], res, gfns: [0; 4] }
            })
    }

    /// Event channels, vcpu_info, the timer and add_to_physmap: a
    /// structure at 0x1000 of small fields (ports, domains, spaces, gfns).
    fn event_step() -> impl Strategy<Value = Step> {
        let small = prop_oneof![0..4u64, Just(0x7FF0), 0..40u64, any::<u64>()];
        let word = (small.clone(), small.clone()).prop_map(|(a, b)| a | (b << 32));
        (
            prop_oneof![3 => Just(32u64), 1 => Just(24), 1 => Just(15), 1 => Just(12)],
            prop_oneof![0..12u64, Just(XENMEM_ADD_TO_PHYSMAP), Just(10)],
            [word.clone(), word.clone(), word.clone(), word],
        )
            .prop_map(|(nr, cmd, res)| {
                // vcpu_op: (cmd, vcpuid, arg); the others: (cmd, arg).
                let a = if nr == 24 { [cmd, 0, 0x1000] } else { [cmd, 0x1000, 0] };
                let cmd = if nr == 12 { XENMEM_ADD_TO_PHYSMAP } else { cmd };
                let a = if nr == 12 { [cmd, 0x1000, 0] } else { a };
                Step { nr, a, res, gfns: [0; 4] }
            })
    }

    fn any_step() -> impl Strategy<Value = Step> {
        let nr = prop_oneof![Just(12u64), Just(12), Just(18), Just(17), Just(29), Just(34), 0..64u64];
        let cmd = prop_oneof![0..8u64, Just(1 | (1 << 6)), any::<u64>()];
        let gfn = prop_oneof![0..32u64, 0..GFNS as u64 + 16, Just(512), any::<u64>()];
        (
            nr,
            cmd,
            pointer(),
            pointer(),
            prop_oneof![Just(0x2000u64), pointer()],
            prop_oneof![0..6u64, any::<u64>()],
            prop_oneof![Just(0u64), Just(9), Just(3), any::<u64>()],
            prop_oneof![Just(u64::from(DomId::SELF.0)), Just(1), Just(2), Just(77)],
            [gfn.clone(), gfn.clone(), gfn.clone(), gfn],
        )
            .prop_map(|(nr, cmd, p1, p2, ext, n, order, dom, gfns)| Step {
                nr,
                a: [cmd, p1, p2],
                res: [ext, n, order, dom],
                gfns,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn random_pvh_hypercalls_keep_every_invariant_and_the_nested_tables_exact(
            steps in proptest::collection::vec(step(), 1..24)
        ) {
            let mut t = T::new();
            t.w.with(|_, mm| mm.assign_xen_heap_frame(abi::Mfn(2550), crate::mm::tests::world::D1));
            t.events.create_domain(crate::mm::tests::world::D0, abi::Mfn(2560), true);
            t.events.create_domain(crate::mm::tests::world::D1, abi::Mfn(2550), false);
            t.vcpu.set_vcpu_info_location(crate::mm::PhysAddr(abi::Mfn(2550).to_maddr()));
            // Domain 0 (PV) grants frames of its own to domain 1: refs 0..8
            // (3 and 6 read-only), ref 8 to someone else.
            let d0 = crate::mm::tests::world::D0;
            let frames = t.w.w.give(d0, 9);
            t.w.with(|_, mm| t.gt.grants().init_domain(mm, d0)).unwrap();
            let tab = t.gt.tables[0];
            for (r, f) in frames.iter().enumerate() {
                let ro = if r % 3 == 0 && r > 0 { abi::grant_table::gtf::READONLY } else { 0 };
                let to: u64 = if r == 8 { 2 } else { 1 };
                let v = u64::from(abi::grant_table::gtf::PERMIT_ACCESS | ro) | to << 16 | f.0 << 32;
                t.w.with(|_, mm| mm.mem.write_u64(tab.entry_addr(r as u32), v));
            }
            let mut npt = RealNpt { mem: Default::default(), frames: Bump(1 << 20), root: abi::Mfn(0) };
            npt.root = t.w.with(|p, _| crate::p2m::npt::build(p, &mut npt.mem, &mut npt.frames)).unwrap();
            for s in steps {
                let mut r = [0u8; 32];
                for (i, v) in s.res.iter().enumerate() {
                    r[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
                }
                // The guest may have ballooned out its own argument pages:
                // then the call meets EFAULT, which is a case too.
                let list: Vec<u8> = s.gfns.iter().flat_map(|g| g.to_le_bytes()).collect();
                let _ = t.w.with(|p, mm| {
                    write_phys(p, mm.mem, 0x1000, &r).and_then(|()| write_phys(p, mm.mem, 0x2000, &list))
                });
                let T { w, params, line, out, events, vcpu, now, gt, hvcpu, long_mode, stamp, .. } = &mut t;
                let mut sink = |b: &[u8]| out.extend_from_slice(b);
                let mut grants = gt.grants();
                let (_, outcome) = w.with(|p2m, mm| {
                    PvhCall {
                        dom: crate::mm::tests::world::D1,
                        mm,
                        p2m,
                        paging: GuestPaging::Off,
                        params,
                        line,
                        console: &mut sink,
                        npt: &mut npt,
                        events,
                        grants: &mut grants,
                        vcpu,
                        now: crate::time::SystemTime(*now),
                        stamp: *stamp,
                        hvcpu,
                        long_mode: *long_mode,
                    }
                    .dispatch(s.nr, [s.a[0], s.a[1], s.a[2], 0, 0])
                });
                prop_assert_ne!(outcome, Outcome::Crash);
                let refs = t.events.frame_refs();
                let checked = t.w.check_grants_with(&t.gt.grants(), &refs);
                prop_assert!(checked.is_ok(), "{:?}", checked);
                prop_assert_eq!(t.events.check(), Ok(()));
                let bad = t.w.with(|p, _| {
                    (0..GFNS as u64).find(|&g| crate::p2m::npt::walk(&npt.mem, npt.root, Gfn(g)).entry != p.get(Gfn(g)))
                });
                prop_assert_eq!(bad, None, "the nested tables differ from the p2m");
            }
        }
    }
}

#[path = "pvh_events_tests.rs"]
mod events;

#[path = "pvh_grant_tests.rs"]
mod grant;

#[path = "pvh_vcpu_tests.rs"]
mod vcpu;
