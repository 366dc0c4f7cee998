//! Event-channel rows: a loopback channel (an unbound port of domain 0's
//! own, bound to by domain 0 itself), `EVTCHNOP_send` on it with upcalls
//! masked (the sender's path: pending, selector and upcall_pending set),
//! then with upcalls unmasked (send → upcall to the event callback →
//! `iret` back). shared_info is mapped at an empty bench-L1 slot; between
//! iterations the bench clears what the send set.

use crate::arch::{self, page_call, Timed};
use crate::fixture::{self, mmu_update, pte, Fixture, BENCH_VA, RWF};
use crate::ops::{ok, Bench, Sample};
use abi::event_channel::*;
use abi::hypercall::HypercallNr as N;
use abi::start_info::StartInfo;
use abi::DomId;

const SHARED_SLOT: usize = 509;
/// vCPU 0's vcpu_info word 0: upcall_pending (byte 0), upcall_mask (byte 1).
const UPCALL_MASKED: u64 = 1 << 8;
const PENDING_SEL: u64 = 8;
const PENDING: u64 = 2048;
const MASK: u64 = 2048 + 64 * 8;
const KEYS: [&str; 2] = ["evtchn_send", "evtchn_upcall"];

fn evtchn<T>(cmd: u64, op: &mut T) -> Timed {
    page_call(N::EVENT_CHANNEL_OP.0, [cmd, op as *mut T as u64, 0, 0, 0])
}

/// Sets up the channel and runs the rows (`n/a` where the hypervisor has
/// no event channels).
pub fn rows(b: &mut Bench, f: &Fixture, si: &StartInfo) {
    let mut unbound = AllocUnbound { dom: DomId::SELF, remote_dom: DomId::SELF, port: 0 };
    let t = evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut unbound);
    if t.rax != 0 {
        for key in KEYS {
            b.unavailable(key, t.rax);
        }
        return;
    }
    let si_va = BENCH_VA + SHARED_SLOT as u64 * 4096;
    if mmu_update(&[pte(f.l1, SHARED_SLOT, (si.shared_info & !0xFFF) | RWF)]) != 0 {
        fixture::fail("map shared_info", -1);
    }
    if let Err(e) = arch::event_setup(si_va) {
        fixture::fail("register the event callback", -i64::from(e.0));
    }
    let clear = || {
        arch::write(si_va, UPCALL_MASKED);
        arch::write(si_va + PENDING_SEL, 0);
        arch::write(si_va + PENDING, 0);
    };
    // Binding marks the new port pending (Xen's rule, for notifications
    // the unbound end may have missed): upcalls stay masked until a row
    // wants one.
    clear();
    let mut bind = BindInterdomain { remote_dom: DomId::SELF, pad: 0, remote_port: unbound.port, local_port: 0 };
    let t = evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut bind);
    if t.rax != 0 || unbound.port >= 64 || bind.local_port >= 64 {
        fixture::fail("bind a loopback event channel", t.rax);
    }
    clear();
    arch::write(si_va + MASK, 0);
    let port = bind.local_port;
    b.row(KEYS[0], 1, 1, || {
        let s = ok(evtchn(EVTCHNOP_SEND, &mut { port }));
        clear();
        s
    });
    b.row(KEYS[1], 1, 1, || {
        arch::write(si_va, 0);
        let s = ok(evtchn(EVTCHNOP_SEND, &mut { port }));
        // The callback cleared everything; a pending word still set means
        // no upcall came.
        let delivered = arch::read(si_va + PENDING) == 0;
        clear();
        if delivered {
            s
        } else {
            Sample::Failed(-1)
        }
    });
    let _ = mmu_update(&[pte(f.l1, SHARED_SLOT, 0)]);
}
