//! The cases, grouped by hypercall.

use crate::arch::{hc, iret_to};
use abi::hypercall::HypercallNr as N;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::start_info::StartInfo;
use abi::{guest, Errno};
use guest_kernel::arch::x86_64::{mem, traps};
use guest_kernel::say;

mod compat;
mod console_ring;
mod cpuid;
mod debug;
mod emulation;
mod evtchn;
mod fpu;
mod grant;
mod grant_v1;
mod grant_v2;
mod hcalls;
mod ldt;
mod mce;
mod paging;
mod physmap;
mod ptwr;
mod time;
mod usermode;
mod vcpu_info;
mod vcpu_op;
mod wrappers;

const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
const SELF: u64 = 0x7FF0;
const EINVAL: i64 = -22;
const EFAULT: i64 = -14;
const ESRCH: i64 = -3;
const EPERM: i64 = -1;
const EBUSY: i64 = -16;
const ERANGE: i64 = -34;
const EACCES: i64 = -13;
const ENOSYS: i64 = -38;
const EOPNOTSUPP: i64 = -95;
const HV: u64 = 0xFFFF_8000_0000_0000;
const RO: u64 = PRESENT | USER | ACCESSED;
const RWF: u64 = PRESENT | RW | USER | ACCESSED;

/// Results so far.
struct Suite {
    n: u32,
    passed: u32,
    failed: u32,
    differ: u32,
    /// Running as an unprivileged domain (xen-core only; Xen runs the
    /// suite as domain 0).
    domu: bool,
    /// Running on xen-core (its extraversion is "-xen-core"), not Xen.
    on_xen_core: bool,
}

impl Suite {
    fn check(&mut self, name: &str, want: i64, got: i64) {
        self.n += 1;
        let ok = want == got;
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        say!("[C{}] {name}: want {} got {} {}", CaseId(name), show(want), show(got), if ok { "ok" } else { "FAIL" });
    }

    /// A case where xen-core deliberately differs from Xen: the answer of
    /// the platform the suite runs on is checked, the other one printed.
    fn differs(&mut self, name: &str, ours: i64, xen: i64, got: i64) {
        self.differ += 1;
        self.n += 1;
        let (want, other) = if self.on_xen_core { (ours, xen) } else { (xen, ours) };
        let ok = want == got;
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        let other_name = if self.on_xen_core { "Xen" } else { "xen-core" };
        say!(
            "[C{}] {name}: want {} got {} {} DIFF ({other_name}: {})",
            CaseId(name),
            show(want),
            show(got),
            if ok { "ok" } else { "FAIL" },
            show(other)
        );
    }

    /// A case whose answer depends on privilege: domain 0 expects `dom0`;
    /// an unprivileged domain expects `domu` and has no Xen counterpart in
    /// the reference setup.
    fn by_privilege(&mut self, name: &str, dom0: i64, domu: i64, got: i64) {
        if self.domu {
            self.n += 1;
            let ok = domu == got;
            if ok {
                self.passed += 1;
            } else {
                self.failed += 1;
            }
            say!(
                "[C{}] {name}: want {} got {} {} DOMU (no Xen counterpart)",
                CaseId(name),
                show(domu),
                show(got),
                if ok { "ok" } else { "FAIL" }
            );
        } else {
            self.check(name, dom0, got);
        }
    }

    /// A value that depends on the machine (the CPU QEMU models), so no
    /// answer is fixed here: the case passes on its own, and the Xen
    /// comparison requires both platforms to give the same value.
    fn observe(&mut self, name: &str, got: i64) {
        self.check(name, got, got);
    }

    /// What an unprivileged domain gets for naming domain 0 by number:
    /// `EPERM` while domain 0 exists, `ESRCH` once it has shut down (a
    /// domain that is gone does not exist). Asked right before each case,
    /// since domain 0 may finish while this suite runs.
    fn domu_naming_dom0(&self) -> i64 {
        let zero = 0u16;
        let r = call(N::MEMORY_OP, &[3, &zero as *const u16 as u64]);
        if r == ESRCH {
            ESRCH
        } else {
            EPERM
        }
    }

    fn truth(&mut self, name: &str, cond: bool) {
        self.check(name, 1, i64::from(cond));
    }
}

/// A case's stable identifier: 24 bits of the FNV-1a hash of its name, so
/// it does not change when cases are added or reordered.
struct CaseId<'a>(&'a str);

impl core::fmt::Display for CaseId<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let h = self.0.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3));
        write!(f, "{:06x}", (h ^ (h >> 24) ^ (h >> 48)) & 0xFF_FFFF)
    }
}

fn show(v: i64) -> Show {
    Show(v)
}

struct Show(i64);

impl core::fmt::Display for Show {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match Errno::from_rax(self.0) {
            Err(e) => write!(f, "-{}", e.name().unwrap_or("E?")),
            Ok(v) if v > 0xFFFF => write!(f, "{v:#x}"),
            Ok(v) => write!(f, "{v}"),
        }
    }
}

fn call(nr: N, a: &[u64]) -> i64 {
    let mut args = [0u64; 5];
    args[..a.len()].copy_from_slice(a);
    hc(nr.0, args)
}

/// Frames and tables the cases work on.
struct Fixture {
    p2m: u64,
    nr_pages: u64,
    next_free: u64,
    /// A chain L4→L3→L2→L1→data built from fresh frames, L4 pinned.
    l4: u64,
    l3: u64,
    l2: u64,
    l1: u64,
    data: u64,
    /// A mapped, unused page of the initial region (after the boot stack).
    scratch: u64,
    /// The shared_info frame: the hypervisor's, shared with the domain.
    shared_info: u64,
}

impl Fixture {
    fn mfn(&self, pfn: u64) -> u64 {
        mem::read(self.p2m + pfn * 8)
    }

    /// A fresh, unmapped frame from the top of memory.
    fn fresh(&mut self) -> u64 {
        let m = self.mfn(self.next_free);
        self.next_free -= 1;
        m
    }
}

fn mu(ptr: u64, val: u64) -> i64 {
    let req = [MmuUpdate { ptr, val }];
    call(N::MMU_UPDATE, &[req.as_ptr() as u64, 1, 0, SELF])
}

fn me(cmd: u32, arg1: u64, arg2: u64) -> i64 {
    let op = [MmuextOp { cmd, pad: 0, arg1, arg2 }];
    call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, SELF])
}

fn entry(table: u64, index: u64) -> u64 {
    (table << 12) + index * 8
}

/// Runs the suite and shuts down.
pub fn run(si: &'static StartInfo) -> ! {
    say!("conformance: {} pages, flags {:#x}", si.nr_pages, si.flags);
    let table = traps::table();
    let _ = traps::install(&table);
    let mut f = setup(si);
    let domu = si.flags & abi::start_info::SIF_PRIVILEGED == 0;
    let on_xen_core = guest::extra_version().is_ok_and(|e| e.starts_with(b"-xen-core"));
    let mut s = Suite { n: 0, passed: 0, failed: 0, differ: 0, domu, on_xen_core };
    say!("conformance: running on {}", if on_xen_core { "xen-core" } else { "Xen" });
    version(&mut s);
    console(&mut s);
    console_ring::start_info_console(&mut s, si);
    unknown(&mut s);
    sched(&mut s);
    trap_calls(&mut s, &table);
    iret_frames(&mut s);
    vm_assist(&mut s);
    paging::mmu_basics(&mut s, &f);
    paging::l1_rules(&mut s, &mut f);
    paging::upper_rules(&mut s, &mut f);
    paging::mmuext(&mut s, &mut f);
    paging::big_tree(&mut s, &mut f);
    paging::gdt(&mut s, &mut f);
    paging::uvm(&mut s, &f);
    paging::memory(&mut s, &mut f, si);
    cpuid::cpuid(&mut s);
    fpu::fpu(&mut s);
    emulation::emulation(&mut s);
    mce::mce(&mut s);
    debug::debug(&mut s);
    paging::exchange(&mut s, &mut f);
    physmap::add_to_physmap(&mut s);
    compat::compat_syscall(&mut s, &mut f, si);
    hcalls::multicalls(&mut s);
    hcalls::update_descriptor(&mut s, &mut f);
    hcalls::set_ldt(&mut s);
    ldt::ldt(&mut s, &mut f);
    ptwr::ptwr(&mut s, &mut f);
    hcalls::version(&mut s);
    hcalls::memory(&mut s);
    usermode::user_mode(&mut s, &mut f, si);
    evtchn::event_channels(&mut s, &mut f);
    time::time(&mut s, &f);
    time_vcpu_op(&mut s, &f);
    let g = grant::table_ops(&mut s);
    grant_v1::grant_v1(&mut s, &mut f, &g);
    grant_v2::grant_v2(&mut s, &mut f, &g);
    wrappers::wrappers(&mut s);
    // Last: it moves vcpu_info out of shared_info for good.
    vcpu_info::vcpu_info(&mut s, &mut f);
    say!(
        "conformance: {} cases, {} deliberate differences from Xen{}",
        s.n,
        s.differ,
        if domu { ", run as an unprivileged domain" } else { "" }
    );
    say!("{} passed, {} failed", s.passed, s.failed);
    say!("Test result: {}", if s.failed == 0 { "SUCCESS" } else { "FAILURE" });
    if !domu {
        wait_for_other_domains();
    }
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// The `vcpu_op` cases, with shared_info mapped at the scratch page for
/// the system time they arm timers against.
fn time_vcpu_op(s: &mut Suite, f: &Fixture) {
    let va = f.scratch;
    let own = f.mfn((va - VIRT_BASE) / 4096);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (f.shared_info << 12) | RO, abi::mmu::UVMF_INVLPG]);
    vcpu_op::vcpu_op(s, va);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (own << 12) | RWF, abi::mmu::UVMF_INVLPG]);
}

/// Domain 0 stays alive while other domains run, so the unprivileged run's
/// cases that name domain 0 meet a live domain: Xen looks a domain up before
/// it checks permission, so a domain 0 that is gone answers `-ESRCH` where
/// a live one answers `-EPERM`. On Xen (dom0 alone) this returns at once.
fn wait_for_other_domains() {
    for id in 1..abi::DomId::FIRST_RESERVED.0 {
        while guest::current_reservation(abi::DomId(id)).is_ok() {
            guest::yield_now();
        }
    }
}

fn setup(si: &StartInfo) -> Fixture {
    let mut f = Fixture {
        p2m: si.mfn_list,
        nr_pages: si.nr_pages,
        next_free: si.nr_pages - 1,
        l4: 0,
        l3: 0,
        l2: 0,
        l1: 0,
        data: 0,
        scratch: si.pt_base + (si.nr_pt_frames + 1) * 4096,
        shared_info: si.shared_info >> 12,
    };
    let (l4, l3, l2, l1, data) = (f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh());
    for m in [l4, l3, l2, l1, data] {
        let _ = me(MMUEXT_CLEAR_PAGE, m, 0);
    }
    // Written while untyped, then validated by the pin.
    let _ = mu(entry(l1, 1), (data << 12) | RWF);
    let _ = mu(entry(l2, 1), (l1 << 12) | RWF);
    let _ = mu(entry(l3, 1), (l2 << 12) | RWF);
    let _ = mu(entry(l4, 1), (l3 << 12) | RWF);
    let pinned = me(MMUEXT_PIN_L4_TABLE, l4, 0);
    say!(
        "conformance: fixture chain L4 {l4:#x} L3 {l3:#x} L2 {l2:#x} L1 {l1:#x} data {data:#x}; pin returned {pinned}"
    );
    f.l4 = l4;
    f.l3 = l3;
    f.l2 = l2;
    f.l1 = l1;
    f.data = data;
    f
}

fn version(s: &mut Suite) {
    let v = |cmd: u64, arg: u64| call(N::XEN_VERSION, &[cmd, arg]);
    s.check("xen_version version is 4.17", 0x0004_0011, v(0, 0));
    let mut extra = [0u8; 16];
    s.check("xen_version extraversion", 0, v(1, extra.as_mut_ptr() as u64));
    let mut caps = [0u8; 1024];
    s.check("xen_version capabilities", 0, v(3, caps.as_mut_ptr() as u64));
    s.truth("capabilities name xen-3.0-x86_64", caps.starts_with(b"xen-3.0-x86_64"));
    let mut pp = 0u64;
    s.check("xen_version platform_parameters", 0, v(5, &mut pp as *mut u64 as u64));
    s.truth("platform_parameters virt_start is HYPERVISOR_VIRT_START", pp == HV);
    let mut fi = [0u32; 2];
    s.check("xen_version get_features submap 0", 0, v(6, fi.as_mut_ptr() as u64));
    s.by_privilege("feature dom0 reflects the hardware domain", 1, 0, i64::from(fi[1] & (1 << 11) != 0));
    s.truth("feature mmu_pt_update_preserve_ad is set", fi[1] & (1 << 5) != 0);
    s.truth("feature writable_page_tables is not set for PV", fi[1] & 1 == 0);
    let mut fi1 = [1u32, 0];
    s.check("xen_version get_features submap 1 is -EINVAL", EINVAL, v(6, fi1.as_mut_ptr() as u64));
    s.check("xen_version pagesize with NULL", 4096, v(7, 0));
    s.check("xen_version pagesize with a pointer is -EINVAL", EINVAL, v(7, 0x1000));
    s.check("xen_version unknown command 99", ENOSYS, v(99, 0));
    s.check("xen_version extraversion into the hypervisor", EFAULT, v(1, HV));
    s.check("xen_version capabilities across 2^47", EFAULT, v(3, (1 << 47) - 512));
    s.check("xen_version get_features at a non-canonical address", EFAULT, v(6, 0x8000_0000_0000_0000));
}

fn console(s: &mut Suite) {
    let msg = b"conformance: console_io write\n";
    s.check("console_io write", 0, call(N::CONSOLE_IO, &[0, msg.len() as u64, msg.as_ptr() as u64]));
    s.check("console_io write of 0 bytes", 0, call(N::CONSOLE_IO, &[0, 0, 0]));
    s.check("console_io write from the hypervisor", EFAULT, call(N::CONSOLE_IO, &[0, 16, HV]));
    s.check("console_io write across 2^47", EFAULT, call(N::CONSOLE_IO, &[0, 64, (1 << 47) - 16]));
    s.check(
        "console_io write from a non-canonical address",
        EFAULT,
        call(N::CONSOLE_IO, &[0, 8, 0x0000_9000_0000_0000]),
    );
    s.check("console_io unknown command", ENOSYS, call(N::CONSOLE_IO, &[7, 0, 0]));
}

fn unknown(s: &mut Suite) {
    for nr in [11u64, 43, 44, 45, 46, 47, 63] {
        let mut name = [0u8; 32];
        let n = fmt_into(&mut name, format_args!("hypercall {nr} does not exist"));
        s.check(core::str::from_utf8(&name[..n]).unwrap_or("?"), ENOSYS, hc(nr, [0; 5]));
    }
}

fn fmt_into(buf: &mut [u8], args: core::fmt::Arguments<'_>) -> usize {
    struct W<'a>(&'a mut [u8], usize);
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &b in s.as_bytes() {
                if self.1 < self.0.len() {
                    self.0[self.1] = b;
                    self.1 += 1;
                }
            }
            Ok(())
        }
    }
    let mut w = W(buf, 0);
    let _ = core::fmt::write(&mut w, args);
    w.1
}

fn sched(s: &mut Suite) {
    s.check("sched_op yield", 0, call(N::SCHED_OP, &[0, 0]));
    s.check("sched_op unknown command 99", ENOSYS, call(N::SCHED_OP, &[99, 0]));
    s.check("sched_op shutdown with an unreadable argument", EFAULT, call(N::SCHED_OP, &[2, HV]));
}

/// `iret` frames the CPU would refuse: the guest gets the fault, raised
/// at the frame's RIP, as `(vector << 16) | error code`.
fn iret_frames(s: &mut Suite) {
    const GP: i64 = 13 << 16;
    s.check("iret to the flat kernel selectors returns", 0, iret_to(0xE030, 0xE02B, 0));
    s.check("iret with a null CS raises #GP(0)", GP, iret_to(0, 0xE02B, 0));
    s.check("iret to the hypervisor's CS 0xE008 raises #GP(0xE008)", GP | 0xE008, iret_to(0xE008, 0xE02B, 0));
    s.check("iret with a null SS raises #GP(0)", GP, iret_to(0xE030, 0, 0));
    s.check("iret with the hypervisor's SS 0xE010 raises #GP(0xE010)", GP | 0xE010, iret_to(0xE030, 0xE010, 0));
    s.check("iret with a data segment as CS raises #GP(0xE028)", GP | 0xE028, iret_to(0xE028, 0xE02B, 0));
    s.check("iret with a code segment as SS raises #GP(0xE030)", GP | 0xE030, iret_to(0xE030, 0xE030, 0));
    s.check("iret to a non-canonical RIP raises #GP(0)", GP, iret_to(0xE030, 0xE02B, 1 << 47));
}

fn trap_calls(s: &mut Suite, table: &[abi::traps::TrapInfo]) {
    use abi::traps::*;
    let handler = table[0].address;
    s.check("set_trap_table(NULL) clears the table", 0, call(N::SET_TRAP_TABLE, &[0]));
    let _ = traps::install(table);
    let bad = [
        TrapInfo { vector: 40, flags: 0, cs: FLAT_KERNEL_CS64, pad: 0, address: 0x8000_0000_0000_0000 },
        TrapInfo::default(),
    ];
    s.check("set_trap_table with a non-canonical handler", EINVAL, call(N::SET_TRAP_TABLE, &[bad.as_ptr() as u64]));
    s.check("set_trap_table from the hypervisor", EFAULT, call(N::SET_TRAP_TABLE, &[HV]));
    s.check("set_trap_table reinstalled", 0, call(N::SET_TRAP_TABLE, &[table.as_ptr() as u64]));
    s.check("set_callbacks", 0, call(N::SET_CALLBACKS, &[handler, handler, handler]));
    for (kind, name) in
        [(0u16, "event"), (1, "failsafe"), (2, "syscall"), (4, "nmi"), (5, "sysenter"), (7, "syscall32")]
    {
        let cb = CallbackRegister { kind, flags: 0, pad: 0, address: handler };
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("callback_op register {name}"));
        s.check(
            core::str::from_utf8(&label[..n]).unwrap_or("?"),
            0,
            call(N::CALLBACK_OP, &[0, &cb as *const _ as u64]),
        );
    }
    for (kind, name) in [
        (3u16, "callback_op register sysenter_deprecated (32-bit only)"),
        (6, "callback_op register type 6"),
        (99, "callback_op register type 99"),
    ] {
        let cb = CallbackRegister { kind, flags: 0, pad: 0, address: handler };
        s.check(name, ENOSYS, call(N::CALLBACK_OP, &[0, &cb as *const _ as u64]));
    }
    let cb = CallbackRegister { kind: 0, flags: 0, pad: 0, address: 0x0000_8000_0000_0000 };
    s.check("callback_op register a non-canonical address", EINVAL, call(N::CALLBACK_OP, &[0, &cb as *const _ as u64]));
    let un = CallbackUnregister { kind: 0, pad: 0 };
    s.check("callback_op unregister event", EINVAL, call(N::CALLBACK_OP, &[1, &un as *const _ as u64]));
    let un = CallbackUnregister { kind: 4, pad: 0 };
    s.check("callback_op unregister nmi", 0, call(N::CALLBACK_OP, &[1, &un as *const _ as u64]));
    s.check("callback_op unknown command", ENOSYS, call(N::CALLBACK_OP, &[9, &un as *const _ as u64]));
    s.check("callback_op from the hypervisor", EFAULT, call(N::CALLBACK_OP, &[0, HV]));
    s.check("stack_switch", 0, call(N::STACK_SWITCH, &[0xE02B, 0xFFFF_FFFF_8000_0000]));
    s.check("set_segment_base fs 0", 0, call(N::SET_SEGMENT_BASE, &[0, 0]));
    s.check("set_segment_base kernel gs 0", 0, call(N::SET_SEGMENT_BASE, &[2, 0]));
    s.check("set_segment_base fs non-canonical", EINVAL, call(N::SET_SEGMENT_BASE, &[0, 0x8000_0000_0000_0000]));
    s.check("set_segment_base unknown selector 7", EINVAL, call(N::SET_SEGMENT_BASE, &[7, 0]));
    s.check("fpu_taskswitch", 0, call(N::FPU_TASKSWITCH, &[0]));
}

fn vm_assist(s: &mut Suite) {
    for t in [0u64, 1, 2, 3, 4, 5, 32] {
        let mut label = [0u8; 40];
        let n = fmt_into(&mut label, format_args!("vm_assist enable type {t}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), 0, call(N::VM_ASSIST, &[0, t]));
        let _ = call(N::VM_ASSIST, &[1, t]);
    }
    s.check("vm_assist disable type 2", 0, call(N::VM_ASSIST, &[1, 2]));
    s.check("vm_assist type 6 is -EINVAL", EINVAL, call(N::VM_ASSIST, &[0, 6]));
    s.check("vm_assist type 33 is -EINVAL", EINVAL, call(N::VM_ASSIST, &[0, 33]));
    s.check("vm_assist unknown command", ENOSYS, call(N::VM_ASSIST, &[2, 0]));
}
