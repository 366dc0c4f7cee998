//! abi's typed wrappers (`abi::guest`) give the answers the raw calls do:
//! each wrapper the other cases do not reach is called once with a valid
//! and, where there is one, an invalid argument, and its `Result` is
//! turned back into RAX for the comparison with Xen.

use super::{Suite, EINVAL, ENOSYS, EPERM, HV};
use abi::guest;
use abi::memory::E820Entry;
use abi::vm_assist::*;
use abi::{DomId, Errno, Mfn};

const ENODEV: i64 = -19;
const ENODATA: i64 = -61;

fn rax<T>(r: Result<T, Errno>) -> i64 {
    match r {
        Ok(_) => 0,
        Err(e) => e.to_rax(),
    }
}

pub(super) fn wrappers(s: &mut Suite) {
    s.check(
        "wrapper vm_assist enable pae_extended_cr3",
        0,
        rax(guest::vm_assist(VMASST_CMD_ENABLE, VMASST_TYPE_PAE_EXTENDED_CR3)),
    );
    s.check(
        "wrapper vm_assist disable pae_extended_cr3",
        0,
        rax(guest::vm_assist(VMASST_CMD_DISABLE, VMASST_TYPE_PAE_EXTENDED_CR3)),
    );
    s.check("wrapper vm_assist unknown type", EINVAL, rax(guest::vm_assist(VMASST_CMD_ENABLE, 6)));
    s.check("wrapper vm_assist unknown command", ENOSYS, rax(guest::vm_assist(2, VMASST_TYPE_M2P_STRICT)));
    s.check("wrapper fpu_taskswitch clear", 0, rax(guest::fpu_taskswitch(false)));
    s.check("wrapper sched_op_compat yield", 0, rax(guest::sched_op_compat(abi::sched::SCHEDOP_YIELD, 0)));
    s.check("wrapper sched_op_compat unknown", ENOSYS, rax(guest::sched_op_compat(99, 0)));

    s.check("wrapper set_debugreg(7, 0)", 0, rax(guest::set_debugreg(7, 0)));
    s.check(
        "wrapper get_debugreg(7) forces bit 10",
        0x400,
        guest::get_debugreg(7).map_or_else(Errno::to_rax, |v| v as i64),
    );
    s.check("wrapper set_debugreg(0, hypervisor address)", EPERM, rax(guest::set_debugreg(0, HV)));
    s.check("wrapper get_debugreg(8)", ENODEV, rax(guest::get_debugreg(8)));
    s.check("wrapper set_iopl(4)", EINVAL, rax(guest::set_iopl(4)));
    s.check("wrapper set_iopl(0)", 0, rax(guest::set_iopl(0)));
    s.check(
        "wrapper unregister_callback(event)",
        EINVAL,
        rax(guest::unregister_callback(abi::traps::CALLBACKTYPE_EVENT)),
    );
    s.check("wrapper unregister_callback(99)", ENOSYS, rax(guest::unregister_callback(99)));

    s.check("wrapper page_size", 4096, guest::page_size() as i64);
    s.truth("wrapper platform_parameters", guest::platform_parameters().is_ok_and(|p| p.virt_start == HV));
    s.truth("wrapper capabilities", guest::capabilities().is_ok_and(|c| c.starts_with(b"xen-3.0-x86_64")));
    s.truth("wrapper compile_info", guest::compile_info().is_ok_and(|c| c.compiler[0] != 0));
    s.check("wrapper guest_handle", 0, rax(guest::guest_handle()));
    s.check("wrapper changeset", 0, rax(guest::changeset()));
    s.check("wrapper commandline", 0, rax(guest::commandline()));
    let mut id = [0u8; 64];
    let build_id = guest::build_id(&mut id).map_or_else(Errno::to_rax, |n| n as i64);
    if s.domu {
        s.by_privilege("wrapper build_id", 0, EPERM, build_id);
    } else {
        s.differs("wrapper build_id", ENODATA, 20, build_id);
    }

    let mapping = guest::machphys_mapping();
    s.truth("wrapper machphys_mapping", mapping.is_ok_and(|m| m.v_start == abi::MACH2PHYS_VIRT_START));
    let max_page = guest::maximum_ram_page().unwrap_or(0);
    s.truth("wrapper maximum_ram_page", max_page >= 4096);
    let mut mfns = [Mfn(0); 4];
    let n = guest::machphys_mfn_list(&mut mfns);
    s.truth("wrapper machphys_mfn_list", n.is_ok_and(|n| n > 0) && mfns[0].0 != 0 && mfns[0].0 < max_page);
    let mut map = [E820Entry::default(); 64];
    s.by_privilege("wrapper memory_map", ENOSYS, 0, rax(guest::memory_map(&mut map)));
    s.by_privilege("wrapper machine_memory_map", 0, EPERM, rax(guest::machine_memory_map(&mut map)));

    let cur = guest::current_reservation(DomId::SELF);
    let max = guest::maximum_reservation(DomId::SELF);
    s.truth("wrapper reservations", cur.is_ok() && max.is_ok_and(|m| m >= cur.unwrap_or(u64::MAX)));
    s.truth(
        "wrapper errno names print",
        Errno::EBUSY.name() == Some("EBUSY") && Errno::from_rax(-16) == Err(Errno::EBUSY),
    );

    // Event channels through the wrappers: a loopback channel, then gone.
    let unbound = guest::alloc_unbound(DomId::SELF, DomId::SELF);
    s.check("wrapper alloc_unbound to itself", 0, rax(unbound));
    let remote = unbound.unwrap_or(0);
    let local = guest::bind_interdomain(DomId::SELF, remote);
    s.check("wrapper bind_interdomain to its own unbound port", 0, rax(local));
    let local = local.unwrap_or(0);
    s.truth(
        "wrapper status of the bound port is interdomain",
        guest::status(DomId::SELF, local).is_ok_and(|st| st.status == abi::event_channel::EVTCHNSTAT_INTERDOMAIN),
    );
    s.check("wrapper unmask", 0, rax(guest::unmask(local)));
    s.check("wrapper bind_vcpu to vCPU 0", 0, rax(guest::bind_vcpu(local, 0)));
    s.check("wrapper set_priority under 2-level", ENOSYS, rax(guest::set_priority(local, 7)));
    s.check("wrapper close", 0, rax(guest::close(local)));
    s.check("wrapper close of the peer", 0, rax(guest::close(remote)));
    s.check("wrapper send on a closed port", EINVAL, rax(guest::send(local)));
    s.check("wrapper close of a closed port", EINVAL, rax(guest::close(local)));
    let ipi = guest::bind_ipi(0);
    s.check("wrapper bind_ipi", 0, rax(ipi));
    let _ = guest::close(ipi.unwrap_or(0));
    s.check("wrapper bind_ipi to a vCPU that does not exist", -2, rax(guest::bind_ipi(7)));
    let mut input = [0u8; 16];
    s.by_privilege("wrapper console_read with nothing typed", 0, EPERM, rax(guest::console_read(&mut input)));
}
