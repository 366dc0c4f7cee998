//! start_info's store and console fields, and (unprivileged run only) the
//! console ring xen-core serves. Xen 4.17 runs the suite as domain 0,
//! which has no ring: what it can be compared on is domain 0's start_info
//! (no store, no console event channel; the `console.dom0` union, where
//! Xen describes a VGA console and xen-core none, is a deliberate
//! difference). The ring cases exist in the unprivileged run
//! only, where there is no Xen counterpart (Xen's domU console is served
//! by a daemon in domain 0).

use super::{call, Suite, N, VIRT_BASE};
use abi::console::{out_slot, IN_CONS_OFFSET, OUT_CONS_OFFSET, OUT_OFFSET};
use abi::event_channel::{Status, EVTCHNOP_SEND, EVTCHNOP_STATUS, EVTCHNSTAT_CLOSED, EVTCHNSTAT_UNBOUND};
use abi::start_info::StartInfo;
use guest_kernel::arch::x86_64::mem;

fn status(port: u32) -> (i64, Status) {
    let mut s = Status { dom: abi::DomId::SELF, port, ..Default::default() };
    (call(N::EVENT_CHANNEL_OP, &[EVTCHNOP_STATUS, &mut s as *mut Status as u64]), s)
}

fn send(port: u32) -> i64 {
    let p = port;
    call(N::EVENT_CHANNEL_OP, &[EVTCHNOP_SEND, &p as *const u32 as u64])
}

/// The PFN the M2P gives `mfn`.
fn m2p(mfn: u64) -> u64 {
    mem::read(abi::MACH2PHYS_VIRT_START + mfn * 8)
}

pub(super) fn start_info_console(s: &mut Suite, si: &StartInfo) {
    s.check("start_info store_mfn is 0 (no store)", 0, si.store_mfn as i64);
    s.check("start_info store_evtchn is 0 (no store)", 0, i64::from(si.store_evtchn));
    // Domain 0: console.dom0 {info_off, info_size}. Xen 4.17 describes its
    // VGA text console there (a dom0_vga_console_info of 40 bytes right
    // after start_info, at 1168), even under QEMU's -vga none; xen-core
    // drives no VGA console and leaves both 0 (a deliberate difference).
    // An unprivileged domain: console.domU.mfn, its ring.
    let word = si.console_mfn;
    if s.domu {
        s.by_privilege("start_info console union word 72", 0, 1, i64::from(word != 0));
    } else {
        s.differs("start_info console union word 72", 0, 40 << 32 | 1168, word as i64);
    }
    s.by_privilege("start_info console evtchn", 0, 1, i64::from(si.console_evtchn));
    // Domain 0's "port" 0 is the reserved one; a domU's is unbound, its
    // remote end the hypervisor (DOMID_XEN).
    let (r, st) = status(si.console_evtchn);
    s.check("evtchn status of the console port", 0, r);
    s.by_privilege(
        "console port is unbound",
        i64::from(EVTCHNSTAT_CLOSED),
        i64::from(EVTCHNSTAT_UNBOUND),
        i64::from(st.status),
    );
    s.by_privilege("console port's remote end is DOMID_XEN", 0, 0x7FF2, i64::from(st.u[0] & 0xFFFF));
    if s.domu {
        ring(s, si);
    }
}

/// The ring of an unprivileged domain: where it is, how it starts, and a
/// line through it taken at the notification.
fn ring(s: &mut Suite, si: &StartInfo) {
    let pfn = m2p(si.console_mfn);
    let si_pfn = (si as *const StartInfo as u64 - VIRT_BASE) / 4096;
    s.by_privilege("console page is the page after start_info", 0, 1, pfn.wrapping_sub(si_pfn) as i64);
    let va = VIRT_BASE + pfn * 4096;
    let idx = mem::read(va + OUT_CONS_OFFSET as u64);
    let (cons, prod) = (idx as u32, (idx >> 32) as u32);
    s.by_privilege("console ring out_prod - out_cons at start", 0, 0, i64::from(prod.wrapping_sub(cons)));
    let in_idx = mem::read(va + IN_CONS_OFFSET as u64);
    s.by_privilege("console ring input indices stay 0", 0, 0, in_idx as i64);
    let line = b"conformance: a line through the console ring\n";
    for (i, &b) in line.iter().enumerate() {
        let slot = out_slot(prod.wrapping_add(i as u32));
        let word = va + (OUT_OFFSET + (slot & !7)) as u64;
        let shift = (slot & 7) * 8;
        mem::write(word, (mem::read(word) & !(0xFF << shift)) | u64::from(b) << shift);
    }
    let new = prod.wrapping_add(line.len() as u32);
    mem::write(va + OUT_CONS_OFFSET as u64, u64::from(cons) | u64::from(new) << 32);
    s.by_privilege("evtchn send on the console port", 0, 0, send(si.console_evtchn));
    let after = mem::read(va + OUT_CONS_OFFSET as u64);
    s.by_privilege("console ring taken at the notification", 0, i64::from(new), i64::from(after as u32));
    s.by_privilege("console ring out_prod untouched", 0, i64::from(new), (after >> 32) as i64);
}
