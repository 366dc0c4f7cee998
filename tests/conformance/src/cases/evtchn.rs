//! Issue 10's event channels (platform §2, fact sheet §9.4): every
//! `EVTCHNOP_*` command's errno rows a domain can reach on its own (it
//! allocates unbound ports for itself and binds them to itself), the
//! 2-level bits in shared_info, and the FIFO ABI's control block and event
//! words. The vCPU keeps `evtchn_upcall_mask` set throughout, so the
//! events raised here are observed in memory, never delivered.

use super::{call, Fixture, Suite, N, RWF, SELF, VIRT_BASE};
use super::{EACCES, EFAULT, EINVAL, ENOSYS, EOPNOTSUPP, ESRCH, HV};
use abi::event_channel::*;
use abi::mmu::UVMF_INVLPG;
use core::sync::atomic::AtomicU64;
use guest_kernel::arch::x86_64::mem;

#[path = "evtchn_upcall.rs"]
mod upcall;

#[path = "iret_upcall.rs"]
mod iret_upcall;

const ENOENT: i64 = -2;
const EEXIST: i64 = -17;
const EBUSY: i64 = -16;
const EPERM: i64 = -1;

/// Page-aligned pages of the guest image: a FIFO control block, an event
/// array and a struct on a page that is then mapped read-only.
#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);
static CONTROL: Page = Page([const { AtomicU64::new(0) }; 512]);
static ARRAY: Page = Page([const { AtomicU64::new(0) }; 512]);

fn va(p: &Page) -> u64 {
    p as *const Page as u64
}

fn op<T>(cmd: u64, arg: &mut T) -> i64 {
    call(N::EVENT_CHANNEL_OP, &[cmd, arg as *mut T as u64])
}

fn port_op(cmd: u64, port: u32) -> i64 {
    let mut p = port;
    op(cmd, &mut p)
}

fn alloc_self() -> (i64, u32) {
    let mut a = AllocUnbound { dom: abi::DomId::SELF, remote_dom: abi::DomId::SELF, port: 0 };
    (op(EVTCHNOP_ALLOC_UNBOUND, &mut a), a.port)
}

fn bind_self(port: u32) -> (i64, u32) {
    let mut b = BindInterdomain { remote_dom: abi::DomId::SELF, pad: 0, remote_port: port, local_port: 0 };
    (op(EVTCHNOP_BIND_INTERDOMAIN, &mut b), b.local_port)
}

fn status(dom: u16, port: u32) -> (i64, Status) {
    let mut s = Status { dom: abi::DomId(dom), port, ..Default::default() };
    (op(EVTCHNOP_STATUS, &mut s), s)
}

fn virq(virq: u32, vcpu: u32) -> (i64, u32) {
    let mut b = BindVirq { virq, vcpu, port: 0 };
    (op(EVTCHNOP_BIND_VIRQ, &mut b), b.port)
}

fn ipi(vcpu: u32) -> (i64, u32) {
    let mut b = BindIpi { vcpu, port: 0 };
    (op(EVTCHNOP_BIND_IPI, &mut b), b.port)
}

fn bind_vcpu(port: u32, vcpu: u32) -> i64 {
    let mut b = BindVcpu { port, vcpu };
    op(EVTCHNOP_BIND_VCPU, &mut b)
}

fn set_priority(port: u32, priority: u32) -> i64 {
    let mut p = SetPriority { port, priority };
    op(EVTCHNOP_SET_PRIORITY, &mut p)
}

fn reset_self() -> i64 {
    let mut d = SELF as u16;
    op(EVTCHNOP_RESET, &mut d)
}

/// shared_info, mapped read-write at the fixture's scratch address while
/// the event cases run.
struct Si(u64);

impl Si {
    fn word(&self, off: u64) -> u64 {
        mem::read(self.0 + off)
    }
    fn set_word(&self, off: u64, v: u64) {
        mem::write(self.0 + off, v)
    }
    fn pending(&self, port: u32) -> bool {
        self.word(2048 + u64::from(port / 64) * 8) & (1 << (port % 64)) != 0
    }
    fn masked(&self, port: u32) -> bool {
        self.word(2560 + u64::from(port / 64) * 8) & (1 << (port % 64)) != 0
    }
    fn mask(&self, port: u32, on: bool) {
        let off = 2560 + u64::from(port / 64) * 8;
        let w = self.word(off);
        self.set_word(off, if on { w | 1 << (port % 64) } else { w & !(1 << (port % 64)) });
    }
    /// Clears every pending bit, the selector and upcall_pending; keeps
    /// the upcall mask set.
    fn quiet(&self) {
        for w in 0..64 {
            self.set_word(2048 + w * 8, 0);
        }
        self.set_word(8, 0);
        self.set_word(0, 1 << 8);
    }
    fn upcall_pending(&self) -> u64 {
        self.word(0) & 0xFF
    }
    fn sel(&self) -> u64 {
        self.word(8)
    }
}

pub(super) fn event_channels(s: &mut Suite, f: &mut Fixture) {
    let scratch = f.scratch;
    let own = f.mfn((scratch - VIRT_BASE) / 4096);
    let _ = call(N::UPDATE_VA_MAPPING, &[scratch, (f.shared_info << 12) | RWF, UVMF_INVLPG]);
    let si = Si(scratch);
    // Upcalls stay masked: events are observed in memory only.
    si.quiet();
    let me = if s.domu { 1 } else { 0 };
    console_read(s);
    two_level(s, &si, me);
    errno_rows(s, &si);
    buckets(s);
    fifo(s, f, &si);
    upcall::send_upcall(s, &si);
    iret_upcall::iret_upcall(s, &si);
    let ktop = crate::arch::user_kernel_stack_top();
    iret_upcall::user_iret_upcall(s, &si, super::usermode::UD2, super::usermode::STACK_TOP, ktop);
    si.quiet();
    let _ = call(N::UPDATE_VA_MAPPING, &[scratch, (own << 12) | RWF, UVMF_INVLPG]);
}

/// `CONSOLEIO_read`, the reader `VIRQ_CONSOLE` announces (nobody types
/// while the suite runs).
fn console_read(s: &mut Suite) {
    let mut buf = [0u8; 16];
    let read = |count: u64, ptr: u64| call(N::CONSOLE_IO, &[1, count, ptr]);
    s.by_privilege("console_io read with no input", 0, EPERM, read(16, buf.as_mut_ptr() as u64));
    s.by_privilege("console_io read of 0 bytes", 0, EPERM, read(0, 0));
    s.by_privilege("console_io read count 2^31", -7, EPERM, read(1 << 31, buf.as_mut_ptr() as u64));
    s.by_privilege("console_io read count 2^32 is 0", 0, EPERM, read(1 << 32, buf.as_mut_ptr() as u64));
    s.by_privilege("console_io read with no input into the hypervisor", 0, EPERM, read(16, HV));
}

fn two_level(s: &mut Suite, si: &Si, me: i64) {
    let (r, st) = status(SELF as u16, 0);
    s.check("evtchn status of reserved port 0", 0, r);
    s.check("evtchn port 0 is closed", i64::from(EVTCHNSTAT_CLOSED), i64::from(st.status));
    let (r, st) = status(SELF as u16, 1);
    s.check("evtchn status of an unused valid port", 0, r);
    // An unprivileged domain's port 1 is its console ring's (unbound).
    s.by_privilege("evtchn an unused port is closed", 0, i64::from(EVTCHNSTAT_UNBOUND), i64::from(st.status));
    let (r, a) = alloc_self();
    s.check("evtchn alloc_unbound for itself", 0, r);
    s.by_privilege("evtchn alloc_unbound gives the lowest free port 1", 1, 2, i64::from(a));
    let (_, st) = status(SELF as u16, a);
    s.check("evtchn status unbound", i64::from(EVTCHNSTAT_UNBOUND), i64::from(st.status));
    s.by_privilege("evtchn unbound port accepts its own domain id", 0, 1, i64::from(st.u[0] & 0xFFFF));
    let (r, b) = bind_self(a);
    s.check("evtchn bind_interdomain to its own unbound port", 0, r);
    s.by_privilege("evtchn bind_interdomain local port is 2", 2, 3, i64::from(b));
    let (_, st) = status(SELF as u16, a);
    s.check("evtchn status interdomain", i64::from(EVTCHNSTAT_INTERDOMAIN), i64::from(st.status));
    s.check("evtchn interdomain status names the peer port", i64::from(b), i64::from(st.u[1]));
    s.check("evtchn interdomain status names the peer domain", me, i64::from(st.u[0] & 0xFFFF));
    s.truth("evtchn bind_interdomain marks the local port pending", si.pending(b));
    s.truth("evtchn bind_interdomain sets the selector bit", si.sel() & 1 == 1);
    s.check("evtchn bind_interdomain sets upcall_pending", 1, si.upcall_pending() as i64);
    s.check("evtchn bind_interdomain to a port already bound", EINVAL, bind_self(a).0);
    si.quiet();
    s.check("evtchn send on the bound port", 0, port_op(EVTCHNOP_SEND, b));
    s.truth("evtchn send sets the peer's pending bit", si.pending(a));
    s.truth("evtchn send leaves the sender's bit clear", !si.pending(b));
    s.check("evtchn send raises upcall_pending", 1, si.upcall_pending() as i64);
    si.set_word(0, 1 << 8);
    s.check("evtchn send to an already pending port", 0, port_op(EVTCHNOP_SEND, b));
    s.check("evtchn an already pending port raises nothing", 0, si.upcall_pending() as i64);
    si.quiet();
    si.mask(b, true);
    s.check("evtchn send to a masked port", 0, port_op(EVTCHNOP_SEND, a));
    s.truth("evtchn a masked port still becomes pending", si.pending(b));
    s.check("evtchn a masked port sets no selector", 0, si.sel() as i64);
    s.check("evtchn a masked port sets no upcall_pending", 0, si.upcall_pending() as i64);
    s.check("evtchn unmask a masked pending port", 0, port_op(EVTCHNOP_UNMASK, b));
    s.truth("evtchn unmask clears the mask bit", !si.masked(b));
    s.check("evtchn unmask re-raises the selector", 1, si.sel() as i64);
    s.check("evtchn unmask re-raises upcall_pending", 1, si.upcall_pending() as i64);
    si.set_word(0, 1 << 8);
    si.set_word(8, 0);
    s.check("evtchn unmask of an unmasked pending port", 0, port_op(EVTCHNOP_UNMASK, b));
    s.check("evtchn unmask of an unmasked port raises nothing", 0, si.upcall_pending() as i64);
    s.check("evtchn close one end", 0, port_op(EVTCHNOP_CLOSE, b));
    s.truth("evtchn close clears the pending bit", !si.pending(b));
    let (_, st) = status(SELF as u16, a);
    s.check("evtchn the peer of a closed port is unbound again", i64::from(EVTCHNSTAT_UNBOUND), i64::from(st.status));
    s.check("evtchn close of a closed port", EINVAL, port_op(EVTCHNOP_CLOSE, b));
    si.quiet();
    s.check("evtchn send on an unbound port is dropped", 0, port_op(EVTCHNOP_SEND, a));
    s.truth("evtchn a dropped send sets nothing", !si.pending(a) && si.upcall_pending() == 0);
    let (r, b2) = bind_self(a);
    s.check("evtchn rebinding the unbound peer", 0, r);
    s.check("evtchn rebinding reuses the lowest free port", i64::from(b), i64::from(b2));
    s.check("evtchn close the other end", 0, port_op(EVTCHNOP_CLOSE, a));
    s.check("evtchn close the last end", 0, port_op(EVTCHNOP_CLOSE, b2));
}

fn errno_rows(s: &mut Suite, si: &Si) {
    s.check("evtchn status of port 0xFFFFFFFF", EINVAL, status(SELF as u16, u32::MAX).0);
    s.check("evtchn status of DOMID_IO", ESRCH, status(0x7FF1, 1).0);
    s.check("evtchn status of a domain that does not exist", ESRCH, status(9, 1).0);
    s.check("evtchn status into the hypervisor", EFAULT, call(N::EVENT_CHANNEL_OP, &[EVTCHNOP_STATUS, HV]));
    s.check("evtchn alloc_unbound at a NULL struct", EFAULT, call(N::EVENT_CHANNEL_OP, &[EVTCHNOP_ALLOC_UNBOUND, 0]));
    let mut a = AllocUnbound { dom: abi::DomId(9), remote_dom: abi::DomId::SELF, port: 0 };
    s.check("evtchn alloc_unbound in a domain that does not exist", ESRCH, op(EVTCHNOP_ALLOC_UNBOUND, &mut a));
    let mut b = BindInterdomain { remote_dom: abi::DomId(9), pad: 0, remote_port: 1, local_port: 0 };
    s.check("evtchn bind_interdomain to a domain that does not exist", ESRCH, op(EVTCHNOP_BIND_INTERDOMAIN, &mut b));
    s.check("evtchn bind_interdomain to reserved port 0", EINVAL, bind_self(0).0);
    s.check("evtchn bind_interdomain to a free port", EINVAL, bind_self(7).0);
    s.check("evtchn bind_interdomain to an invalid port", EINVAL, bind_self(100_000).0);
    s.check("evtchn close reserved port 0", EINVAL, port_op(EVTCHNOP_CLOSE, 0));
    s.check("evtchn close an invalid port", EINVAL, port_op(EVTCHNOP_CLOSE, 1 << 31));
    s.check("evtchn send on reserved port 0", EINVAL, port_op(EVTCHNOP_SEND, 0));
    s.check("evtchn send on a free port", EINVAL, port_op(EVTCHNOP_SEND, 9));
    s.check("evtchn send on an invalid port", EINVAL, port_op(EVTCHNOP_SEND, 5000));
    s.check("evtchn bind_virq 24", EINVAL, virq(24, 0).0);
    s.check("evtchn bind_virq 0xFFFFFFFF", EINVAL, virq(u32::MAX, 0).0);
    s.check("evtchn bind_virq global VIRQ_CONSOLE on vcpu 1", EINVAL, virq(virq::CONSOLE, 1).0);
    s.check("evtchn bind_virq timer on vcpu 1 that does not exist", ENOENT, virq(virq::TIMER, 1).0);
    let (r, t) = virq(virq::TIMER, 0);
    s.check("evtchn bind_virq timer", 0, r);
    s.by_privilege("evtchn bind_virq timer gets port 1", 1, 2, i64::from(t));
    s.check("evtchn bind_virq timer twice", EEXIST, virq(virq::TIMER, 0).0);
    let (_, st) = status(SELF as u16, t);
    s.check("evtchn status virq", i64::from(EVTCHNSTAT_VIRQ), i64::from(st.status));
    s.check("evtchn status virq number", 0, i64::from(st.u[0]));
    s.check("evtchn send on a virq port", EINVAL, port_op(EVTCHNOP_SEND, t));
    s.check("evtchn bind_vcpu of a per-vcpu virq", EINVAL, bind_vcpu(t, 0));
    let (r, d) = virq(virq::DOM_EXC, 0);
    s.by_privilege("evtchn bind_virq global VIRQ_DOM_EXC", 0, EBUSY, r);
    if r == 0 {
        s.check("evtchn bind_vcpu of a global virq", 0, bind_vcpu(d, 0));
        let _ = port_op(EVTCHNOP_CLOSE, d);
    }
    s.check("evtchn bind_ipi on vcpu 1 that does not exist", ENOENT, ipi(1).0);
    let (r, i) = ipi(0);
    s.check("evtchn bind_ipi", 0, r);
    let (_, st) = status(SELF as u16, i);
    s.check("evtchn status ipi", i64::from(EVTCHNSTAT_IPI), i64::from(st.status));
    s.check("evtchn status ipi vcpu", 0, i64::from(st.vcpu));
    si.quiet();
    s.check("evtchn send on an ipi port", 0, port_op(EVTCHNOP_SEND, i));
    s.truth("evtchn an ipi send sets its own port pending", si.pending(i));
    s.check("evtchn bind_vcpu of an ipi port", EINVAL, bind_vcpu(i, 0));
    let (_, u) = alloc_self();
    s.check("evtchn bind_vcpu of an unbound port", 0, bind_vcpu(u, 0));
    s.check("evtchn bind_vcpu to vcpu 1 that does not exist", ENOENT, bind_vcpu(u, 1));
    s.check("evtchn bind_vcpu of a free port", EINVAL, bind_vcpu(40, 0));
    s.check("evtchn bind_vcpu of an invalid port", EINVAL, bind_vcpu(5000, 0));
    s.check("evtchn unmask an invalid port", EINVAL, port_op(EVTCHNOP_UNMASK, 5000));
    s.check("evtchn unmask reserved port 0", 0, port_op(EVTCHNOP_UNMASK, 0));
    s.check("evtchn unmask a free valid port", 0, port_op(EVTCHNOP_UNMASK, 41));
    s.check("evtchn set_priority on the 2-level ABI", ENOSYS, set_priority(i, 0));
    s.check("evtchn set_priority of an invalid port", EINVAL, set_priority(5000, 0));
    let mut e = ExpandArray { array_gfn: 0 };
    s.check("evtchn expand_array on the 2-level ABI", EOPNOTSUPP, op(EVTCHNOP_EXPAND_ARRAY, &mut e));
    let mut p = BindPirq { pirq: u32::MAX, flags: 0, port: 0 };
    s.check("evtchn bind_pirq of a negative pirq", EINVAL, op(EVTCHNOP_BIND_PIRQ, &mut p));
    let mut p = BindPirq { pirq: 1, flags: 0, port: 0 };
    s.by_privilege("evtchn bind_pirq of an unmapped pirq", EPERM, EPERM, op(EVTCHNOP_BIND_PIRQ, &mut p));
    s.check("evtchn unknown command 15", ENOSYS, port_op(15, 0));
    s.check("evtchn unknown command 99", ENOSYS, port_op(99, 0));
    let mut d = SELF as u16;
    s.check("evtchn reset_cont with no reset in progress", EBUSY, op(EVTCHNOP_RESET_CONT, &mut d));
    let mut d = 9u16;
    s.check("evtchn reset of a domain that does not exist", ESRCH, op(EVTCHNOP_RESET, &mut d));
    s.check("evtchn reset itself", 0, reset_self());
    s.check("evtchn after reset the timer virq is unbound", 0, i64::from(status(SELF as u16, t).1.status));
    s.check("evtchn after reset the ports are free again", 1, i64::from(alloc_self().1));
    s.check("evtchn reset again", 0, reset_self());
}

/// Ports become valid 64 at a time, as Xen allocates them.
fn buckets(s: &mut Suite) {
    s.check("evtchn status past the first bucket", EINVAL, status(SELF as u16, 64).0);
    let mut last = 0;
    for _ in 0..64 {
        last = ipi(0).1;
    }
    s.check("evtchn the 64th port allocated is 64", 64, i64::from(last));
    s.check("evtchn status inside the second bucket", 0, status(SELF as u16, 127).0);
    s.check("evtchn status past the second bucket", EINVAL, status(SELF as u16, 128).0);
    s.check("evtchn reset after filling a bucket", 0, reset_self());
}

fn fifo(s: &mut Suite, f: &mut Fixture, si: &Si) {
    let cb_mfn = f.mfn((va(&CONTROL) - VIRT_BASE) / 4096);
    let arr_mfn = f.mfn((va(&ARRAY) - VIRT_BASE) / 4096);
    let mut ic = InitControl { control_gfn: cb_mfn, offset: 0, vcpu: 1, ..Default::default() };
    s.check("evtchn init_control on vcpu 1 that does not exist", ENOENT, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    ic.vcpu = 0;
    ic.offset = 4096 - 64;
    s.check("evtchn init_control crossing the page", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    ic.offset = 4;
    s.check("evtchn init_control at an unaligned offset", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    ic.offset = 0;
    ic.control_gfn = 0xFF_FFFF_FFFF;
    s.check("evtchn init_control on a frame that is not RAM", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    ic.control_gfn = f.l1;
    s.check("evtchn init_control on a page-table frame", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    s.check("evtchn init_control failing leaves 2-level", ENOSYS, set_priority(1, 0));
    s.check("evtchn init_control at a NULL struct", EFAULT, call(N::EVENT_CHANNEL_OP, &[EVTCHNOP_INIT_CONTROL, 0]));
    ic.control_gfn = cb_mfn;
    ic.offset = 4096 - 72;
    s.check("evtchn init_control at the last offset", 0, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    s.check("evtchn init_control reports 17 link bits", 17, i64::from(ic.link_bits));
    s.check("evtchn init_control twice", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    s.check("evtchn reset leaves FIFO", 0, reset_self());
    s.check("evtchn after reset set_priority is 2-level again", ENOSYS, set_priority(1, 0));
    ic.offset = 64;
    s.check("evtchn init_control again after reset", 0, op(EVTCHNOP_INIT_CONTROL, &mut ic));
    let (_, p) = ipi(0);
    s.check("evtchn set_priority 16", EINVAL, set_priority(p, 16));
    s.check("evtchn set_priority 15", 0, set_priority(p, 15));
    s.check("evtchn set_priority of an unused port", EACCES, set_priority(p + 1, 3));
    s.check("evtchn set_priority 16 of an unused port", EACCES, set_priority(p + 1, 16));
    s.check("evtchn set_priority of reserved port 0", EACCES, set_priority(0, 0));
    let mut e = ExpandArray { array_gfn: 0xFF_FFFF_FFFF };
    s.check("evtchn expand_array with a frame that is not RAM", EINVAL, op(EVTCHNOP_EXPAND_ARRAY, &mut e));
    // Every word masked, as Linux fills a new array page, but the IPI's.
    let masked = u64::from(FIFO_MASKED) * 0x1_0000_0001;
    for w in 0..512 {
        mem::write(va(&ARRAY) + w * 8, masked);
    }
    let word = |port: u32| (mem::read(va(&ARRAY) + u64::from(port / 2) * 8) >> ((port % 2) * 32)) as u32;
    let set_word = |port: u32, v: u32| {
        let at = va(&ARRAY) + u64::from(port / 2) * 8;
        let w = mem::read(at);
        let shift = (port % 2) * 32;
        mem::write(at, (w & !(0xFFFF_FFFFu64 << shift)) | u64::from(v) << shift);
    };
    set_word(p, 0);
    let cb = |off: u64| mem::read(va(&CONTROL) + 64 + off);
    e.array_gfn = arr_mfn;
    s.check("evtchn expand_array", 0, op(EVTCHNOP_EXPAND_ARRAY, &mut e));
    si.quiet();
    s.check("evtchn fifo send on an ipi", 0, port_op(EVTCHNOP_SEND, p));
    s.check("evtchn fifo word is PENDING|LINKED", i64::from(FIFO_PENDING | FIFO_LINKED), i64::from(word(p)));
    s.check("evtchn fifo head of priority 15 is the port", i64::from(p), (cb(8 + 56) >> 32) as i64 & 0x1_FFFF);
    s.check("evtchn fifo ready bit 15", 1 << 15, (cb(0) & 0xFFFF_FFFF) as i64);
    s.check("evtchn fifo send raises upcall_pending", 1, si.upcall_pending() as i64);
    s.truth("evtchn fifo leaves the 2-level bit alone", !si.pending(p));
    let (_, q) = ipi(0);
    si.quiet();
    s.check("evtchn fifo send on a masked word", 0, port_op(EVTCHNOP_SEND, q));
    s.check("evtchn fifo masked word is PENDING|MASKED", i64::from(FIFO_PENDING | FIFO_MASKED), i64::from(word(q)));
    s.check("evtchn fifo masked word raises nothing", 0, si.upcall_pending() as i64);
    s.check("evtchn fifo set_priority 15 of the masked port", 0, set_priority(q, 15));
    s.check("evtchn fifo unmask the pending port", 0, port_op(EVTCHNOP_UNMASK, q));
    s.check("evtchn fifo unmask links it after the tail", i64::from(q), i64::from(word(p) & FIFO_LINK_MASK));
    s.check("evtchn fifo unmasked word is PENDING|LINKED", i64::from(FIFO_PENDING | FIFO_LINKED), i64::from(word(q)));
    s.check("evtchn fifo a queue already ready raises nothing", 0, si.upcall_pending() as i64);
    s.check("evtchn fifo close clears PENDING", 0, port_op(EVTCHNOP_CLOSE, q));
    s.check("evtchn fifo closed word keeps LINKED", i64::from(FIFO_LINKED), i64::from(word(q)));
    let mut ic2 = InitControl { control_gfn: cb_mfn, offset: 0, vcpu: 0, ..Default::default() };
    s.check("evtchn fifo init_control with one registered", EINVAL, op(EVTCHNOP_INIT_CONTROL, &mut ic2));
    s.check("evtchn fifo reset back to 2-level", 0, reset_self());
    let mut e = ExpandArray { array_gfn: arr_mfn };
    s.check("evtchn expand_array after reset", EOPNOTSUPP, op(EVTCHNOP_EXPAND_ARRAY, &mut e));
}
