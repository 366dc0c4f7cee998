//! `vcpuprobe` on the PVH entry's command line: a PVH vCPU's own
//! hypercalls asked with fixed arguments, each answer printed as
//! `guest-kernel: probe NAME = VALUE`, so that the same binary's answers
//! on xen-core and on Xen 4.17 (a PVH dom0 with HAP) can be compared
//! (`xen-modes --probe`). Only calls whose answer does not depend on the
//! domain being dom0 or a domU, or on time, are asked; no upcall is taken
//! (no vector is bound: the probe sets none but a refused one).

use abi::hvm::{HVMOP_FLUSH_TLBS, HVMOP_SET_EVTCHN_UPCALL_VECTOR};
use abi::hypercall::HypercallNr;
use abi::vcpu::*;
use abi::version::{XENVER_PAGESIZE, XENVER_VERSION};
use abi::DomId;
use guest_rt::println;

/// A hypercall of the PVH entry's (through its page).
pub type Hypercall = fn(HypercallNr, u64, u64, u64) -> i64;

fn say(name: &str, v: i64) {
    println!("guest-kernel: probe {name} = {v}");
}

/// Asks every probe and prints its answer.
pub fn run(hc: Hypercall) {
    let vop = |cmd: u64, id: u64, arg: u64| hc(HypercallNr::VCPU_OP, cmd, id, arg);
    let leaf4 = core::arch::x86_64::__cpuid(0x4000_0004);
    say("cpuid 0x40000004 eax upcall_vector bit", i64::from(leaf4.eax >> 6 & 1));
    let vec = |vcpu: u32, vector: u8| {
        let op = [u64::from(vcpu) | (u64::from(vector) << 32)];
        hc(HypercallNr::HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, op.as_ptr() as u64, 0)
    };
    say("set_evtchn_upcall_vector(vcpu 0, vector 0x0f)", vec(0, 0x0F));
    say("set_evtchn_upcall_vector(vcpu 1000, vector 0x0f)", vec(1000, 0x0F));
    say("set_evtchn_upcall_vector(vcpu 1000, vector 0xf4)", vec(1000, 0xF4));
    say("vcpu_op is_up(0)", vop(VCPUOP_IS_UP, 0, 0));
    say("vcpu_op is_up(1000)", vop(VCPUOP_IS_UP, 1000, 0));
    let mut ctx = [0u64; 16];
    say("vcpu_op initialise(0)", vop(VCPUOP_INITIALISE, 0, ctx.as_mut_ptr() as u64));
    say("vcpu_op up(0)", vop(VCPUOP_UP, 0, 0));
    say("vcpu_op send_nmi(0, non-null)", vop(VCPUOP_SEND_NMI, 0, ctx.as_mut_ptr() as u64));
    say("vcpu_op 99(0)", vop(99, 0, 0));
    let period = |ns: u64| {
        let p = [ns];
        vop(VCPUOP_SET_PERIODIC_TIMER, 0, p.as_ptr() as u64)
    };
    say("set_periodic_timer(999999)", period(999_999));
    say("set_periodic_timer(2^62)", period(1 << 62));
    say("set_periodic_timer(10 ms)", period(10_000_000));
    say("stop_periodic_timer", vop(VCPUOP_STOP_PERIODIC_TIMER, 0, 0));
    let shot = |t: u64, flags: u32| {
        let s = [t, u64::from(flags)];
        vop(VCPUOP_SET_SINGLESHOT_TIMER, 0, s.as_ptr() as u64)
    };
    // Far ahead, then stopped: no timer event while the probe runs.
    say("set_singleshot_timer(2^62, VCPU_SSHOTTMR_future)", shot(1 << 62, VCPU_SSHOTTMR_FUTURE));
    say("stop_singleshot_timer", vop(VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0));
    let mut info = [0u64; 6];
    let r = vop(VCPUOP_GET_RUNSTATE_INFO, 0, info.as_mut_ptr() as u64);
    say("get_runstate_info", r);
    say("get_runstate_info state", info[0] as u32 as i64);
    let mut area = [u64::MAX; 6];
    let a = [area.as_mut_ptr() as u64];
    say("register_runstate_memory_area", vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, a.as_ptr() as u64));
    say("runstate area state", area[0] as u32 as i64);
    let none = [0u64];
    say("register_runstate_memory_area(0)", vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, none.as_ptr() as u64));
    let unmapped = [0x0000_7000_0000_0000u64];
    say(
        "register_runstate_memory_area(unmapped)",
        vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, unmapped.as_ptr() as u64),
    );
    say("register_runstate_memory_area(0) again", vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, none.as_ptr() as u64));
    say("vm_assist(enable, runstate_update_flag)", hc(HypercallNr::VM_ASSIST, 0, 5, 0));
    say("vm_assist(disable, runstate_update_flag)", hc(HypercallNr::VM_ASSIST, 1, 5, 0));
    say("vm_assist(enable, writable_pagetables)", hc(HypercallNr::VM_ASSIST, 0, 2, 0));
    say("vm_assist(2, runstate_update_flag)", hc(HypercallNr::VM_ASSIST, 2, 5, 0));
    // A multicall: xen_version(version), xen_version(pagesize), a nested
    // multicall, an unknown hypercall.
    let mut list = [0u64; 32];
    list[0] = HypercallNr::XEN_VERSION.0;
    list[2] = XENVER_VERSION;
    list[8] = HypercallNr::XEN_VERSION.0;
    list[10] = XENVER_PAGESIZE;
    list[16] = HypercallNr::MULTICALL.0;
    list[24] = 60;
    let mc = hc(HypercallNr::MULTICALL, list.as_mut_ptr() as u64, 4, 0);
    say("multicall", mc);
    say("multicall entry 0 (xen_version)", list[1] as i64);
    say("multicall entry 1 (pagesize)", list[9] as i64);
    say("multicall entry 2 (nested multicall)", list[17] as i64);
    say("multicall entry 3 (hypercall 60)", list[25] as i64);
    say("multicall at an unmapped address", hc(HypercallNr::MULTICALL, 0x0000_7000_0000_0000, 1, 0));
    // mmuext_op's fourth argument (foreigndom) only a multicall entry can
    // set here (the entry's hypercall helper passes three).
    let op = [0u64; 4];
    let mmuext = |dom: DomId| {
        let mut e = [0u64; 8];
        e[0] = HypercallNr::MMUEXT_OP.0;
        e[2] = op.as_ptr() as u64;
        e[3] = 1;
        e[5] = u64::from(dom.0);
        let r = hc(HypercallNr::MULTICALL, e.as_mut_ptr() as u64, 1, 0);
        if r != 0 {
            return r;
        }
        e[1] as i64
    };
    say("mmuext_op(DOMID_SELF)", mmuext(DomId::SELF));
    say("mmuext_op(DOMID_XEN)", mmuext(DomId::XEN));
    say("mmuext_op(DOMID_IO)", mmuext(DomId::IO));
    say("mmuext_op(domain 77)", mmuext(DomId(77)));
    say("hvm_op flush_tlbs(NULL)", hc(HypercallNr::HVM_OP, HVMOP_FLUSH_TLBS, 0, 0));
    say("hvm_op flush_tlbs(non-null)", hc(HypercallNr::HVM_OP, HVMOP_FLUSH_TLBS, op.as_ptr() as u64, 0));
    say("hvm_op 200", hc(HypercallNr::HVM_OP, 200, 0, 0));
}
