//! A PVH vCPU's `vcpu_op`, `vm_assist`, per-vCPU upcall vector, TLB flush
//! and `multicall` on the p2m test world (paging off: guest-virtual =
//! guest-physical; RAM at gfns 0..32): Xen's errno per case, the shared
//! timer and runstate cores, and the multicall's rules.

use super::*;
use crate::hvm::pvh_vcpu::{write_runstate, HvmVcpu, VCPU_HVM_CONTEXT_SIZE};
use crate::mm::tests::world::{D0, D1};
use crate::mm::PhysAddr;
use crate::time::runstate::{BLOCKED, RUNNING};
use crate::time::SystemTime;
use abi::event_channel::*;
use abi::vcpu::*;
use abi::Mfn;

const SI1: Mfn = Mfn(2550);
/// The end of the guest's RAM (gfns 0..32).
const END: u64 = 32 << 12;

fn world() -> T {
    let mut t = T::new();
    t.w.with(|_, mm| mm.assign_xen_heap_frame(SI1, D1));
    t.events.create_domain(D0, Mfn(2560), true);
    t.events.create_domain(D1, SI1, false);
    t.vcpu.set_vcpu_info_location(PhysAddr(SI1.to_maddr()));
    t
}

impl T {
    fn vcpu_op(&mut self, cmd: u64, id: u64, arg: &[u8]) -> (u64, Outcome) {
        self.poke(0x3000, arg);
        self.call(HypercallNr::VCPU_OP, [cmd, id, 0x3000, 0, 0])
    }

    fn u64_at(&mut self, gpa: u64) -> u64 {
        u64::from_le_bytes(self.peek(gpa, 8).try_into().unwrap())
    }

    fn upcall_pending(&mut self) -> bool {
        self.w.with(|_, mm| mm.mem.read_u64(PhysAddr(SI1.to_maddr())) & 0xFF != 0)
    }

    fn bind_timer(&mut self) {
        self.poke(0x3800, &[virq::TIMER.to_le_bytes(), [0; 4], [0; 4]].concat());
        assert_eq!(self.call(HypercallNr::EVENT_CHANNEL_OP, [EVTCHNOP_BIND_VIRQ, 0x3800, 0, 0, 0]).0, 0);
    }
}

fn le(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

#[test]
fn vcpu_ids_past_0_are_enoent_before_anything_else_and_unknown_commands_enosys() {
    let mut t = world();
    for cmd in [VCPUOP_INITIALISE, VCPUOP_IS_UP, VCPUOP_SET_PERIODIC_TIMER, VCPUOP_REGISTER_VCPU_INFO, 99] {
        assert_eq!(t.call(HypercallNr::VCPU_OP, [cmd, 1, END + 0x1000, 0, 0]).0, ERR(Errno::ENOENT));
    }
    // The id is 32-bit: the upper half of the register is ignored.
    assert_eq!(t.vcpu_op(VCPUOP_IS_UP, 1 << 32, &[]).0, 1);
    assert_eq!(t.vcpu_op(99, 0, &[]).0, ERR(Errno::ENOSYS));
    assert_eq!(t.vcpu_op(VCPUOP_SEND_NMI, 0, &[]).0, ERR(Errno::ENOSYS), "as for PV");
    assert_eq!(t.vcpu_op(VCPUOP_GET_PHYSID, 0, &[]).0, ERR(Errno::EINVAL), "never the hardware domain");
}

#[test]
fn initialise_copies_a_whole_hvm_context_then_says_eexist_and_up_is_up() {
    let mut t = world();
    assert_eq!(t.vcpu_op(VCPUOP_INITIALISE, 0, &[0; 128]).0, ERR(Errno::EEXIST));
    // 128 bytes ending one byte past the RAM: the copy faults.
    let arg = END - VCPU_HVM_CONTEXT_SIZE as u64 + 1;
    assert_eq!(t.call(HypercallNr::VCPU_OP, [VCPUOP_INITIALISE, 0, arg, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::VCPU_OP, [VCPUOP_INITIALISE, 0, arg - 1, 0, 0]).0, ERR(Errno::EEXIST));
    assert_eq!(t.vcpu_op(VCPUOP_UP, 0, &[]).0, 0);
    assert_eq!(t.vcpu_op(VCPUOP_IS_UP, 0, &[]).0, 1);
    assert_eq!(t.vcpu_op(VCPUOP_DOWN, 0, &[]), (0, Outcome::Shutdown(abi::sched::SHUTDOWN_POWEROFF)));
}

#[test]
fn the_periodic_timer_takes_xens_bounds_on_the_shared_core() {
    let mut t = world();
    t.vcpu.time.timers.stop_periodic();
    assert_eq!(t.vcpu_op(VCPUOP_SET_PERIODIC_TIMER, 0, &le(999_999)).0, ERR(Errno::EINVAL));
    assert_eq!(t.vcpu_op(VCPUOP_SET_PERIODIC_TIMER, 0, &le(1 << 62)).0, ERR(Errno::EINVAL));
    assert_eq!(t.vcpu.time.timers.period_ns, 0, "a refused period changes nothing");
    assert_eq!(t.call(HypercallNr::VCPU_OP, [VCPUOP_SET_PERIODIC_TIMER, 0, END, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.vcpu_op(VCPUOP_SET_PERIODIC_TIMER, 0, &le(2_000_000)).0, 0);
    assert_eq!(t.vcpu.time.timers.period_ns, 2_000_000);
    assert_eq!(t.vcpu.time.timers.next_deadline(true), Some(SystemTime(t.now + 2_000_000)), "from now");
    assert_eq!(t.vcpu_op(VCPUOP_STOP_PERIODIC_TIMER, 0, &[]).0, 0);
    assert_eq!(t.vcpu.time.timers.next_deadline(true), None);
}

#[test]
fn the_singleshot_timer_arms_stops_and_fires_at_once_when_past_whatever_the_future_flag() {
    let mut t = world();
    t.bind_timer();
    let shot = |at: u64, flags: u32| [le(at), u64::from(flags).to_le_bytes()].concat();
    assert_eq!(t.vcpu_op(VCPUOP_SET_SINGLESHOT_TIMER, 0, &shot(t.now + 5000, 0)).0, 0);
    assert_eq!(t.vcpu.time.timers.singleshot, Some(SystemTime(t.now + 5000)));
    assert!(!t.upcall_pending());
    assert_eq!(t.vcpu_op(VCPUOP_STOP_SINGLESHOT_TIMER, 0, &[]).0, 0);
    assert_eq!(t.vcpu.time.timers.singleshot, None);
    // Past, with VCPU_SSHOTTMR_future: Xen 4.17 ignores the flag (no
    // -ETIME) and sends the timer event now.
    assert_eq!(t.vcpu_op(VCPUOP_SET_SINGLESHOT_TIMER, 0, &shot(t.now - 1, VCPU_SSHOTTMR_FUTURE)).0, 0);
    assert!(t.upcall_pending(), "VIRQ_TIMER at once");
    assert_eq!(t.vcpu.time.timers.singleshot, None);
    // The 16-byte structure must be readable.
    assert_eq!(t.call(HypercallNr::VCPU_OP, [VCPUOP_SET_SINGLESHOT_TIMER, 0, END - 8, 0, 0]).0, ERR(Errno::EFAULT));
}

#[test]
fn get_runstate_info_counts_the_stay_in_progress() {
    let mut t = world();
    t.vcpu.time.runstate.change(BLOCKED, SystemTime(100));
    t.vcpu.time.runstate.change(RUNNING, SystemTime(400));
    assert_eq!(t.vcpu_op(VCPUOP_GET_RUNSTATE_INFO, 0, &[]).0, 0);
    let b = t.peek(0x3000, 48);
    let w = |k: usize| u64::from_le_bytes(b[k * 8..k * 8 + 8].try_into().unwrap());
    assert_eq!(w(0) as u32, RUNNING);
    assert_eq!(w(1), 400, "state_entry_time");
    assert_eq!([w(2), w(3), w(4), w(5)], [t.now - 400, 0, 300, 100]);
    assert_eq!(w(2) + w(3) + w(4) + w(5), t.now, "the times add up to now");
    assert_eq!(t.call(HypercallNr::VCPU_OP, [VCPUOP_GET_RUNSTATE_INFO, 0, END - 40, 0, 0]).0, ERR(Errno::EFAULT));
}

#[test]
fn a_runstate_area_is_any_address_written_at_once_as_it_stands() {
    let mut t = world();
    t.vcpu.time.runstate.change(RUNNING, SystemTime(400));
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, &le(0x5000)).0, 0);
    assert_eq!(t.hvcpu.runstate_area, 0x5000);
    assert_eq!(t.u64_at(0x5008), 400);
    assert_eq!(t.u64_at(0x5010), 0, "the stay in progress is not counted, as Xen writes its own copy");
    assert_eq!(t.u64_at(0x5028), 400, "offline before it ran");
    // Not the guest's RAM: accepted (Xen's handle check passes every
    // address of an externally paged guest), nothing written.
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, &le(END + 0x100)).0, 0);
    assert_eq!(t.hvcpu.runstate_area, END + 0x100);
    // The argument itself must be readable.
    let r = t.call(HypercallNr::VCPU_OP, [VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, END - 4, 0, 0]).0;
    assert_eq!(r, ERR(Errno::EFAULT));
}

#[test]
fn the_update_flag_protocol_leaves_bit_63_clear_and_a_fault_writes_nothing() {
    let mut t = world();
    let mut r = crate::time::runstate::Runstate::default();
    r.change(RUNNING, SystemTime(0x10));
    t.w.with(|p2m, mm| {
        let mut v = GuestView { p2m, mem: mm.mem, paging: GuestPaging::Off };
        write_runstate(&mut v, 0x6000, &r, true);
        // Straddling the end of the RAM: the first byte written is the
        // flag's, past the end: nothing is written at all.
        write_runstate(&mut v, END - 12, &r, true);
    });
    assert_eq!(t.u64_at(0x6008), 0x10, "bit 63 cleared at the end");
    assert_eq!(t.peek(END - 12, 12), vec![0; 12]);
    // vm_assist turns the protocol on for the registered area.
    assert_eq!(t.call(HypercallNr::VM_ASSIST, [0, 5, 0, 0, 0]).0, 0);
    assert_eq!(t.vcpu.vm_assist, 1 << 5);
    assert_eq!(t.call(HypercallNr::VM_ASSIST, [1, 5 | (1 << 32), 0, 0, 0]).0, 0, "type is 32-bit");
    assert_eq!(t.vcpu.vm_assist, 0);
}

#[test]
fn vm_assist_knows_only_the_runstate_update_flag_as_xen_for_hvm() {
    let mut t = world();
    for kind in [0, 2, 3, 4, 32, 64] {
        assert_eq!(t.call(HypercallNr::VM_ASSIST, [0, kind, 0, 0, 0]).0, ERR(Errno::EINVAL), "type {kind}");
    }
    assert_eq!(t.call(HypercallNr::VM_ASSIST, [2, 5, 0, 0, 0]).0, ERR(Errno::ENOSYS));
    assert_eq!(t.vcpu.vm_assist, 0);
}

#[test]
fn a_time_area_gets_the_stamp_with_an_even_version() {
    let mut t = world();
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, &le(0x7000)).0, 0);
    assert_eq!(t.hvcpu.time_area, 0x7000);
    assert_eq!(t.u64_at(0x7000) as u32, 2, "version 0 -> 1 -> 2");
    assert_eq!(t.u64_at(0x7008), t.stamp.tsc);
    assert_eq!(t.u64_at(0x7010), t.stamp.system_time.0);
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, &le(END)).0, 0, "any address");
}

#[test]
fn register_vcpu_info_restamps_the_time_where_vcpu_info_now_is() {
    let mut t = world();
    let reg = [le(5), 64u64.to_le_bytes()].concat();
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_VCPU_INFO, 0, &reg).0, 0);
    let (mfn, _) = t.w.with(|p, _| p.get(Gfn(5)).map(|(e, _)| (e.mfn, ()))).unwrap();
    let vi = mfn.to_maddr() + 64;
    assert_eq!(t.w.with(|_, mm| mm.mem.read_u64(PhysAddr(vi + 32 + 8))), t.stamp.tsc);
    // A refused move still restamps the old place.
    let bad = [le(5), 4090u64.to_le_bytes()].concat();
    assert_eq!(t.vcpu_op(VCPUOP_REGISTER_VCPU_INFO, 0, &bad).0, ERR(Errno::ENXIO));
}

#[test]
fn the_upcall_vector_takes_xens_checks_in_xens_order() {
    let mut t = world();
    let op = |vcpu: u32, vector: u8| [vcpu.to_le_bytes(), [vector, 0, 0, 0]].concat();
    let set = |t: &mut T, b: &[u8]| {
        t.poke(0x3000, b);
        t.call(HypercallNr::HVM_OP, [abi::hvm::HVMOP_SET_EVTCHN_UPCALL_VECTOR, 0x3000, 0, 0, 0]).0
    };
    assert_eq!(set(&mut t, &op(1, 0x0F)), ERR(Errno::EINVAL), "the vector first");
    assert_eq!(set(&mut t, &op(1, 0x10)), ERR(Errno::ENOENT));
    assert_eq!(t.hvcpu.upcall_vector, 0);
    assert_eq!(set(&mut t, &op(0, 0xF4)), 0);
    assert_eq!(t.hvcpu.upcall_vector, 0xF4);
    let r = t.call(HypercallNr::HVM_OP, [abi::hvm::HVMOP_SET_EVTCHN_UPCALL_VECTOR, END - 4, 0, 0, 0]).0;
    assert_eq!(r, ERR(Errno::EFAULT), "8 bytes are read");
    assert_eq!(t.hvcpu.upcall_vector, 0xF4);
}

#[test]
fn flush_tlbs_wants_a_null_argument() {
    let mut t = world();
    assert_eq!(t.call(HypercallNr::HVM_OP, [abi::hvm::HVMOP_FLUSH_TLBS, 0x3000, 0, 0, 0]).0, ERR(Errno::EINVAL));
    assert!(!t.hvcpu.flush_tlb);
    assert_eq!(t.call(HypercallNr::HVM_OP, [abi::hvm::HVMOP_FLUSH_TLBS, 0, 0, 0, 0]).0, 0);
    assert!(t.hvcpu.flush_tlb);
    assert_eq!(t.call(HypercallNr::HVM_OP, [7, 0, 0, 0, 0]).0, ERR(Errno::ENOSYS));
}

/// A 64-bit multicall list at 0x4000: (op, args).
fn list(t: &mut T, entries: &[(u64, [u64; 2])]) {
    let mut b = Vec::new();
    for (op, a) in entries {
        for w in [*op, 0xDEAD, a[0], a[1], 0, 0, 0, 0] {
            b.extend_from_slice(&w.to_le_bytes());
        }
    }
    t.poke(0x4000, &b);
}

fn result(t: &mut T, i: u64) -> u64 {
    t.u64_at(0x4000 + 64 * i + 8)
}

const VERSION: (u64, [u64; 2]) = (17, [0, 0]);
const PAGESIZE: (u64, [u64; 2]) = (17, [abi::version::XENVER_PAGESIZE, 0]);

#[test]
fn a_multicall_runs_each_entry_through_the_dispatch_and_refuses_a_nested_one() {
    let mut t = world();
    list(&mut t, &[VERSION, (13, [0x4000, 1]), PAGESIZE, (99, [0, 0])]);
    assert_eq!(t.call(HypercallNr::MULTICALL, [0x4000, 4, 0, 0, 0]), (0, Outcome::Continue));
    assert_eq!(result(&mut t, 0), (4 << 16) | 17);
    assert_eq!(result(&mut t, 1), ERR(Errno::EINVAL), "no multicall inside a multicall");
    assert_eq!(result(&mut t, 2), 4096);
    assert_eq!(result(&mut t, 3), ERR(Errno::ENOSYS), "a failing entry does not stop the list");
    assert_eq!(t.hvcpu.restart, None);
    // The count is 32-bit.
    list(&mut t, &[PAGESIZE]);
    assert_eq!(t.call(HypercallNr::MULTICALL, [0x4000, 1 | (1 << 32), 0, 0, 0]).0, 0);
    assert_eq!(result(&mut t, 0), 4096);
}

#[test]
fn a_multicall_entry_that_cannot_be_read_or_written_stops_the_list_with_efault() {
    let mut t = world();
    // Entry 0 in RAM, entry 1 straddling its end.
    let at = END - 64 - 32;
    let mut b = Vec::new();
    for w in [17u64, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    t.poke(at, &b);
    assert_eq!(t.call(HypercallNr::MULTICALL, [at, 2, 0, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.u64_at(at + 8), (4 << 16) | 17, "the entry before stays done");
    // A list wholly outside the RAM.
    assert_eq!(t.call(HypercallNr::MULTICALL, [END, 1, 0, 0, 0]).0, ERR(Errno::EFAULT));
    assert_eq!(t.call(HypercallNr::MULTICALL, [END, 0, 0, 0, 0]).0, 0, "nothing to read");
}

#[test]
fn from_32_bit_code_the_entries_are_xens_compat_layout() {
    let mut t = world();
    t.long_mode = false;
    let mut b = Vec::new();
    for w in [17u32, 0, 7, 0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    t.poke(0x4000, &b);
    assert_eq!(t.call(HypercallNr::MULTICALL, [0x4000, 2, 0, 0, 0]).0, 0);
    let r = t.peek(0x4000, 64);
    assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 4096);
    assert_eq!(u32::from_le_bytes(r[36..40].try_into().unwrap()), ERR(Errno::EINVAL) as u32);
}

#[test]
fn a_preempted_or_yielding_multicall_continues_from_the_first_entry_not_run() {
    let mut t = world();
    list(&mut t, &[VERSION, VERSION, PAGESIZE]);
    t.w.with(|_, mm| mm.hooks.preempt_batch_after = Some(8));
    let (_, o) = t.call(HypercallNr::MULTICALL, [0x4000, 3, 0, 0, 0]);
    assert_eq!(o, Outcome::Continue);
    assert_eq!(t.hvcpu.restart.take(), Some([0x4000 + 128, 1]), "two done, one left");
    assert_eq!(result(&mut t, 1), (4 << 16) | 17);
    assert_eq!(result(&mut t, 2), 0xDEAD, "not run yet");
    t.w.with(|_, mm| mm.hooks.preempt_batch_after = None);
    // A yield in the middle ends the slice; the rest is the continuation.
    list(&mut t, &[VERSION, (29, [0, 0]), PAGESIZE]);
    assert_eq!(t.call(HypercallNr::MULTICALL, [0x4000, 3, 0, 0, 0]).1, Outcome::Yield);
    assert_eq!(result(&mut t, 1), 0, "the yield's own result");
    assert_eq!(t.hvcpu.restart.take(), Some([0x4000 + 128, 1]));
    // As the last entry: nothing left to continue.
    list(&mut t, &[VERSION, (29, [0, 0])]);
    assert_eq!(t.call(HypercallNr::MULTICALL, [0x4000, 2, 0, 0, 0]), (0, Outcome::Yield));
    assert_eq!(t.hvcpu.restart, None);
}

#[test]
fn hvm_vcpu_state_starts_empty() {
    assert_eq!(
        HvmVcpu::default(),
        HvmVcpu { upcall_vector: 0, runstate_area: 0, time_area: 0, flush_tlb: false, restart: None }
    );
}

#[test]
fn mmuext_op_is_refused_as_xen_refuses_an_hvm_guest() {
    let mut t = world();
    let mmuext =
        |t: &mut T, uops: u64, count: u64, dom: u64| t.call(HypercallNr::MMUEXT_OP, [uops, count, 0, dom, 0]).0;
    let me = u64::from(D1.0);
    assert_eq!(mmuext(&mut t, 0x3000, 1, u64::from(DomId::SELF.0)), ERR(Errno::EINVAL), "not a PV page owner");
    assert_eq!(mmuext(&mut t, 0x3000, 1, me), ERR(Errno::ESRCH), "its own numeric id");
    assert_eq!(mmuext(&mut t, 0x3000, 1, u64::from(DomId::IO.0)), ERR(Errno::EINVAL), "a system domain");
    assert_eq!(mmuext(&mut t, 0x3000, 1, u64::from(DomId::XEN.0)), ERR(Errno::EINVAL), "as Xen 4.17 answers");
    assert_eq!(mmuext(&mut t, 0x3000, 1, u64::from(D0.0)), ERR(Errno::EPERM), "another domain's");
    assert_eq!(mmuext(&mut t, 0x3000, 1, 77), ERR(Errno::ESRCH));
    assert_eq!(mmuext(&mut t, 0x3000, 1, u64::from(DomId::COW.0)), ERR(Errno::ESRCH));
    // foreigndom is a domid_t: the upper bits are dropped.
    assert_eq!(mmuext(&mut t, 0x3000, 1, (1 << 16) | u64::from(DomId::SELF.0)), ERR(Errno::EINVAL));
    // The end of a continuation: foreigndom is the result, as an int.
    assert_eq!(mmuext(&mut t, 0, u64::from(abi::mmu::MMU_UPDATE_PREEMPTED), 5), 5);
    assert_eq!(mmuext(&mut t, 0, u64::from(abi::mmu::MMU_UPDATE_PREEMPTED), u64::from(u32::MAX)), u64::MAX);
}
