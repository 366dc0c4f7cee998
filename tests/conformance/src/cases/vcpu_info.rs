//! `VCPUOP_register_vcpu_info` (Xen 4.17's `map_vcpu_info`): the errno
//! rows in Xen's order, then the one registration a vCPU may make, into a
//! fresh frame, and what follows from it: the old contents copied, every
//! selector bit and `evtchn_upcall_pending` set, the time stamped there,
//! the frame held writable, events and CR2 written there and no longer in
//! shared_info. Run last: nothing after it reads vcpu_info in shared_info.

use super::{call, me, Fixture, Suite, EFAULT, EINVAL, HV, N, RO, RWF, VIRT_BASE};
use crate::arch::priv_insn;
use abi::event_channel::*;
use abi::mmu::{MMUEXT_CLEAR_PAGE, MMUEXT_PIN_L1_TABLE, UVMF_INVLPG};
use abi::vcpu::{VcpuRegisterVcpuInfo, VCPUOP_REGISTER_VCPU_INFO};
use guest_kernel::arch::x86_64::mem;

const ENOENT: i64 = -2;
const ENXIO: i64 = -6;
/// Where the new vcpu_info goes in its frame: the last place that fits.
const OFFSET: u64 = 4096 - 64;

fn register_on(vcpu: u64, mfn: u64, offset: u32) -> i64 {
    let arg = VcpuRegisterVcpuInfo { mfn, offset, rsvd: 0 };
    call(N::VCPU_OP, &[VCPUOP_REGISTER_VCPU_INFO, vcpu, &arg as *const _ as u64])
}

fn register(mfn: u64, offset: u32) -> i64 {
    register_on(0, mfn, offset)
}

/// Maps frame `mfn` at the scratch page with `flags`.
fn map(f: &Fixture, mfn: u64, flags: u64) {
    let _ = call(N::UPDATE_VA_MAPPING, &[f.scratch, (mfn << 12) | flags, UVMF_INVLPG]);
}

/// The eight words of a vcpu_info at `offset` in frame `mfn`, read through
/// a read-only mapping at the scratch page.
fn look(f: &Fixture, mfn: u64, offset: u64) -> [u64; 8] {
    map(f, mfn, RO);
    core::array::from_fn(|w| mem::read(f.scratch + offset + w as u64 * 8))
}

fn evtchn<T>(cmd: u64, arg: &mut T) -> i64 {
    call(N::EVENT_CHANNEL_OP, &[cmd, arg as *mut T as u64])
}

pub(super) fn vcpu_info(s: &mut Suite, f: &mut Fixture) {
    let own = f.mfn((f.scratch - VIRT_BASE) / 4096);
    let vi = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, vi, 0);
    errno_rows(s, f, vi);
    let old = look(f, f.shared_info, 0);
    s.check("register_vcpu_info into a fresh frame at offset 4032", 0, register(vi, OFFSET as u32));
    s.check("register_vcpu_info again", EINVAL, register(vi, OFFSET as u32));
    s.check("register_vcpu_info again, at offset 4 (the offset is checked first)", ENXIO, register(vi, 4));
    s.check("register_vcpu_info again, another frame", EINVAL, register(f.fresh(), 0));
    s.check("the registered frame cannot be pinned as an L1 table", EINVAL, me(MMUEXT_PIN_L1_TABLE, vi, 0));
    let new = look(f, vi, OFFSET);
    s.check("after register_vcpu_info: evtchn_upcall_pending set", 1, (new[0] & 0xFF) as i64);
    s.check(
        "after register_vcpu_info: evtchn_upcall_mask copied",
        ((old[0] >> 8) & 0xFF) as i64,
        ((new[0] >> 8) & 0xFF) as i64,
    );
    s.check("after register_vcpu_info: every evtchn_pending_sel bit set", -1, new[1] as i64);
    s.truth("after register_vcpu_info: arch.cr2 copied", old[2] == new[2]);
    s.truth(
        "after register_vcpu_info: time version even and moved on",
        new[4] as u32 & 1 == 0 && new[4] as u32 > old[4] as u32,
    );
    s.truth("after register_vcpu_info: tsc_to_system_mul as in shared_info", old[7] as u32 == new[7] as u32);
    s.truth("after register_vcpu_info: system_time stamped again", new[6] >= old[6]);
    s.check("the frame before the new vcpu_info is untouched", 0, look(f, vi, 0)[0] as i64);
    delivery(s, f, vi);
    s.check("a page fault after register_vcpu_info", 14, priv_insn::load(0x7000_0000_0000) as i64);
    s.check("its address is in the new vcpu_info's arch.cr2", 0x7000_0000_0000, look(f, vi, OFFSET)[2] as i64);
    s.truth("and not in shared_info's slot", old[2] == look(f, f.shared_info, 0)[2]);
    map(f, own, RWF);
}

fn errno_rows(s: &mut Suite, f: &Fixture, vi: u64) {
    s.check("register_vcpu_info with a NULL argument", EFAULT, call(N::VCPU_OP, &[VCPUOP_REGISTER_VCPU_INFO, 0, 0]));
    s.check(
        "register_vcpu_info with its struct in hypervisor space",
        EFAULT,
        call(N::VCPU_OP, &[VCPUOP_REGISTER_VCPU_INFO, 0, HV]),
    );
    s.check("register_vcpu_info on vCPU 1", ENOENT, register_on(1, vi, 0));
    s.check("register_vcpu_info at offset 4033 (crosses the page)", ENXIO, register(vi, 4033));
    s.check("register_vcpu_info at offset 4096", ENXIO, register(vi, 4096));
    s.check("register_vcpu_info at offset 0xffffffff", ENXIO, register(vi, u32::MAX));
    s.check("register_vcpu_info at offset 4 (misaligned)", ENXIO, register(vi, 4));
    s.check("register_vcpu_info at offset 4033 of no frame (offset first)", ENXIO, register(u64::MAX, 4033));
    s.check("register_vcpu_info into no frame (mfn ~0)", EINVAL, register(u64::MAX, 0));
    s.check("register_vcpu_info into the fixture's pinned L4", EINVAL, register(f.l4, 0));
    s.check("register_vcpu_info into the fixture's L1 table", EINVAL, register(f.l1, 0));
}

/// An event sent after the move marks the new place, not shared_info's.
fn delivery(s: &mut Suite, f: &Fixture, vi: u64) {
    // The spurious rescan the move asked for, done by hand.
    let w0 = look(f, vi, OFFSET)[0];
    map(f, vi, RWF);
    mem::write(f.scratch + OFFSET, w0 & !0xFF);
    mem::write(f.scratch + OFFSET + 8, 0);
    let slot = look(f, f.shared_info, 0);
    let mut a = AllocUnbound { dom: abi::DomId::SELF, remote_dom: abi::DomId::SELF, port: 0 };
    let _ = evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut a);
    let mut b = BindInterdomain { remote_dom: abi::DomId::SELF, pad: 0, remote_port: a.port, local_port: 0 };
    let _ = evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut b);
    let mut port = b.local_port;
    s.check("send after register_vcpu_info", 0, evtchn(EVTCHNOP_SEND, &mut port));
    let new = look(f, vi, OFFSET);
    s.check("it sets evtchn_upcall_pending in the new vcpu_info", 1, (new[0] & 0xFF) as i64);
    s.check("it sets the port's selector bit in the new vcpu_info", 1 << (a.port / 64), new[1] as i64);
    let after = look(f, f.shared_info, 0);
    s.check("shared_info's old slot: upcall_pending unchanged", (slot[0] & 0xFF) as i64, (after[0] & 0xFF) as i64);
    s.check("shared_info's old slot: selector unchanged", slot[1] as i64, after[1] as i64);
    for p in [b.local_port, a.port] {
        let mut p = p;
        let _ = evtchn(EVTCHNOP_CLOSE, &mut p);
    }
}
