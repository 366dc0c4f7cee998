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
mod time;
mod usermode;
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
    unknown(&mut s);
    sched(&mut s);
    trap_calls(&mut s, &table);
    iret_frames(&mut s);
    vm_assist(&mut s);
    mmu_basics(&mut s, &f);
    l1_rules(&mut s, &mut f);
    upper_rules(&mut s, &mut f);
    mmuext(&mut s, &mut f);
    big_tree(&mut s, &mut f);
    gdt(&mut s, &mut f);
    uvm(&mut s, &f);
    memory(&mut s, &mut f, si);
    cpuid::cpuid(&mut s);
    fpu::fpu(&mut s);
    emulation::emulation(&mut s);
    debug::debug(&mut s);
    exchange(&mut s, &mut f);
    compat::compat_syscall(&mut s, &mut f, si);
    hcalls::multicalls(&mut s);
    hcalls::update_descriptor(&mut s, &mut f);
    hcalls::set_ldt(&mut s);
    ldt::ldt(&mut s, &mut f);
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

fn mmu_basics(s: &mut Suite, f: &Fixture) {
    for cmd in 4..8u64 {
        let mut label = [0u8; 40];
        let n = fmt_into(&mut label, format_args!("mmu_update command {cmd}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), ENOSYS, mu(entry(f.l1, 5) | cmd, 0));
    }
    s.check("mmu_update count 0", 0, call(N::MMU_UPDATE, &[0, 0, 0, SELF]));
    s.check("mmu_update requests in the hypervisor", EFAULT, call(N::MMU_UPDATE, &[HV, 1, 0, SELF]));
    s.check("mmu_update requests across 2^47", EFAULT, call(N::MMU_UPDATE, &[(1 << 47) - 8, 1, 0, SELF]));
    s.check(
        "mmu_update requests at the end of the address space",
        EFAULT,
        call(N::MMU_UPDATE, &[u64::MAX - 7, 1, 0, SELF]),
    );
    let req = [MmuUpdate { ptr: entry(f.l1, 5), val: 0 }];
    let p = req.as_ptr() as u64;
    s.check("mmu_update foreigndom 100 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 100]));
    s.check("mmu_update foreigndom 5 never built", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 5]));
    s.check("mmu_update foreigndom 0x7ff5 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 0x7FF5]));
    // Domain 0's own numeric id must be given as DOMID_SELF; for another
    // domain, 0 names domain 0, which it may not act on.
    let domu = s.domu_naming_dom0();
    s.by_privilege("mmu_update foreigndom 0", ESRCH, domu, call(N::MMU_UPDATE, &[p, 1, 0, 0]));
    s.check("mmu_update table owner 100 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, (101 << 16) | SELF]));
    let mut done = 7u32;
    s.check("mmu_update with pdone", 0, call(N::MMU_UPDATE, &[p, 1, &mut done as *mut u32 as u64, SELF]));
    s.truth("mmu_update pdone counts the request", done == 1);
    s.check("mmu_update target frame beyond RAM", EINVAL, mu(0x007F_FFFF_F000, 0));
    s.check("mmu_update target frame number all ones", EINVAL, mu(ADDR_MASK, 0));
    let two = [MmuUpdate { ptr: entry(f.l1, 6), val: 0 }, MmuUpdate { ptr: entry(f.l1, 7) | 5, val: 0 }];
    let mut done2 = 0u32;
    s.check(
        "mmu_update stops at the failing request",
        ENOSYS,
        call(N::MMU_UPDATE, &[two.as_ptr() as u64, 2, &mut done2 as *mut u32 as u64, SELF]),
    );
    s.truth("mmu_update pdone counts requests before the failure", done2 == 1);
}

fn l1_rules(s: &mut Suite, f: &mut Fixture) {
    let target = f.fresh();
    s.check("L1 read-only data mapping", 0, mu(entry(f.l1, 10), (target << 12) | RO));
    s.check("L1 writable data mapping", 0, mu(entry(f.l1, 10), (target << 12) | RWF));
    s.check("L1 entry cleared", 0, mu(entry(f.l1, 10), 0));
    for (t, name) in [(f.l1, "L1"), (f.l2, "L2"), (f.l3, "L3"), (f.l4, "L4")] {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L1 writable mapping of an {name} table"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EBUSY, mu(entry(f.l1, 11), (t << 12) | RWF));
        let n = fmt_into(&mut label, format_args!("L1 read-only mapping of an {name} table"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), 0, mu(entry(f.l1, 11), (t << 12) | RO));
    }
    let _ = mu(entry(f.l1, 11), 0);
    // Domain 0 has I/O resources: cache attributes are allowed in L1.
    for (bit, name) in [(PWT, "PWT"), (PCD, "PCD"), (PAT_PSE, "PAT")] {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L1 {name} (cache attribute)"));
        s.by_privilege(
            core::str::from_utf8(&label[..n]).unwrap_or("?"),
            0,
            EINVAL,
            mu(entry(f.l1, 12), (target << 12) | RO | bit),
        );
    }
    s.by_privilege(
        "L1 uncached mapping of shared_info (hypervisor heap frame)",
        EACCES,
        EINVAL,
        mu(entry(f.l1, 12), (f.shared_info << 12) | RO | PCD),
    );
    s.check("L1 write-back mapping of shared_info", 0, mu(entry(f.l1, 12), (f.shared_info << 12) | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check("L1 mapping of the hypervisor's local APIC", -1, mu(entry(f.l1, 12), 0xFEE0_0000 | RO));
    s.by_privilege("L1 mapping of legacy VGA memory (I/O frame)", 0, -1, mu(entry(f.l1, 12), 0xB_8000 | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check("L1 global bit allowed", 0, mu(entry(f.l1, 12), (target << 12) | RO | GLOBAL));
    s.check("L1 frame number all ones", EINVAL, mu(entry(f.l1, 12), ADDR_MASK | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check(
        "MMU_PT_UPDATE_PRESERVE_AD on an L1 entry",
        0,
        mu(entry(f.l1, 1) | 2, (f.data << 12) | PRESENT | RW | USER),
    );
    s.check("MMU_PT_UPDATE_NO_TRANSLATE on an L1 entry", 0, mu(entry(f.l1, 1) | 3, (f.data << 12) | RWF));
    s.check("MMU_MACHPHYS_UPDATE of an owned frame", 0, mu((target << 12) | 1, f.nr_pages + 5));
    s.truth("the read-only M2P shows the update", mem::read(HV + target * 8) == f.nr_pages + 5);
}

fn upper_rules(s: &mut Suite, f: &mut Fixture) {
    let tables = [(f.l2, 2u8, f.l1), (f.l3, 3, f.l2), (f.l4, 4, f.l3)];
    for (t, level, lower) in tables {
        for (bit, name) in [(PWT, "PWT"), (PCD, "PCD"), (PAT_PSE, "PS"), (GLOBAL, "G")] {
            let mut label = [0u8; 48];
            let n = fmt_into(&mut label, format_args!("L{level} entry with {name}"));
            s.check(
                core::str::from_utf8(&label[..n]).unwrap_or("?"),
                EINVAL,
                mu(entry(t, 1), (lower << 12) | RWF | bit),
            );
        }
    }
    for slot in 256..272u64 {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L4 hypervisor slot {slot}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EINVAL, mu(entry(f.l4, slot), (f.l3 << 12) | RO));
    }
    s.check("L2 entry pointing at an L3 table", EINVAL, mu(entry(f.l2, 3), (f.l3 << 12) | RWF));
    s.check("L2 entry pointing at a writably mapped frame", EINVAL, mu(entry(f.l2, 3), (f.data << 12) | RWF));
    s.check("L3 entry pointing at an L1 table", EINVAL, mu(entry(f.l3, 3), (f.l1 << 12) | RWF));
    s.check("L4 entry pointing at a frame beyond RAM", EINVAL, mu(entry(f.l4, 3), 0x007F_FFFF_F000 | RWF));
    s.check("L4 writable self map", EINVAL, mu(entry(f.l4, 300), (f.l4 << 12) | RWF));
    s.check("L4 read-only self map", 0, mu(entry(f.l4, 300), (f.l4 << 12) | RO));
    s.check("L4 self map made writable (XSA-182)", EINVAL, mu(entry(f.l4, 300), (f.l4 << 12) | RWF | DIRTY));
    s.check("L4 self map cleared", 0, mu(entry(f.l4, 300), 0));
    s.check("L3 read-only self map", 0, mu(entry(f.l3, 300), (f.l3 << 12) | RO));
    s.check("L3 self map made writable (XSA-182)", EINVAL, mu(entry(f.l3, 300), (f.l3 << 12) | RWF));
    s.check("L3 self map cleared", 0, mu(entry(f.l3, 300), 0));
    s.check("PS set on a live L2 entry (XSA-148)", EINVAL, mu(entry(f.l2, 1), (f.l1 << 12) | RWF | PAT_PSE));
    s.check("accessed and dirty set on a live L2 entry", 0, mu(entry(f.l2, 1), (f.l1 << 12) | RWF | DIRTY));
    let fresh_l1 = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, fresh_l1, 0);
    s.check("L2 entry to a fresh frame validates it as L1", 0, mu(entry(f.l2, 4), (fresh_l1 << 12) | RWF));
    s.check("the new L1 can no longer be mapped writable", EBUSY, mu(entry(f.l1, 13), (fresh_l1 << 12) | RWF));
    s.check("L2 entry removed", 0, mu(entry(f.l2, 4), 0));
    s.check("the old L1 is plain memory again", 0, mu(entry(f.l1, 13), (fresh_l1 << 12) | RWF));
    let _ = mu(entry(f.l1, 13), 0);
    let domu = s.domu_naming_dom0();
    s.by_privilege(
        "L2 update with foreigndom 0",
        ESRCH,
        domu,
        call(N::MMU_UPDATE, &[[MmuUpdate { ptr: entry(f.l2, 5), val: 0 }].as_ptr() as u64, 1, 0, 0]),
    );
}

fn mmuext(s: &mut Suite, f: &mut Fixture) {
    let a = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, a, 0);
    s.check("pin L1 of a fresh frame", 0, me(MMUEXT_PIN_L1_TABLE, a, 0));
    s.check("pin it again", EINVAL, me(MMUEXT_PIN_L1_TABLE, a, 0));
    s.check("pin it as L2 while it is an L1", EINVAL, me(MMUEXT_PIN_L2_TABLE, a, 0));
    s.check("unpin it", 0, me(MMUEXT_UNPIN_TABLE, a, 0));
    s.check("unpin it again", EINVAL, me(MMUEXT_UNPIN_TABLE, a, 0));
    s.check("pin L1 of a writably mapped frame", EINVAL, me(MMUEXT_PIN_L1_TABLE, f.data, 0));
    s.check("pin L1 of a frame beyond RAM", EINVAL, me(MMUEXT_PIN_L1_TABLE, 0x07FF_FFFF, 0));
    s.check("unpin a table that is typed but not pinned", EINVAL, me(MMUEXT_UNPIN_TABLE, f.l3, 0));
    s.check("pin L3 of the typed L3", 0, me(MMUEXT_PIN_L3_TABLE, f.l3, 0));
    s.check("and unpin it", 0, me(MMUEXT_UNPIN_TABLE, f.l3, 0));
    for cmd in [14u32, 21, 100] {
        let mut label = [0u8; 40];
        let n = fmt_into(&mut label, format_args!("mmuext_op command {cmd}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), ENOSYS, me(cmd, 0, 0));
    }
    s.check("MMUEXT_MARK_SUPER removed", EOPNOTSUPP, me(MMUEXT_MARK_SUPER, a, 0));
    s.check("MMUEXT_UNMARK_SUPER removed", EOPNOTSUPP, me(MMUEXT_UNMARK_SUPER, a, 0));
    s.check("TLB_FLUSH_LOCAL", 0, me(MMUEXT_TLB_FLUSH_LOCAL, 0, 0));
    s.check("TLB_FLUSH_ALL", 0, me(MMUEXT_TLB_FLUSH_ALL, 0, 0));
    s.check("INVLPG_LOCAL", 0, me(MMUEXT_INVLPG_LOCAL, VIRT_BASE, 0));
    s.check("INVLPG_LOCAL of a hypervisor address is ignored", 0, me(MMUEXT_INVLPG_LOCAL, HV, 0));
    s.check("INVLPG_ALL", 0, me(MMUEXT_INVLPG_ALL, VIRT_BASE, 0));
    let mask = 1u64;
    s.check("TLB_FLUSH_MULTI", 0, me(MMUEXT_TLB_FLUSH_MULTI, 0, &mask as *const u64 as u64));
    s.check("TLB_FLUSH_MULTI with an unreadable bitmap", EINVAL, me(MMUEXT_TLB_FLUSH_MULTI, 0, HV));
    s.check("INVLPG_MULTI with an unreadable bitmap", EINVAL, me(MMUEXT_INVLPG_MULTI, VIRT_BASE, HV));
    s.by_privilege("FLUSH_CACHE", 0, -13, me(MMUEXT_FLUSH_CACHE, 0, 0));
    s.check("CLEAR_PAGE of a fresh frame", 0, me(MMUEXT_CLEAR_PAGE, a, 0));
    s.check("CLEAR_PAGE of a page table", EINVAL, me(MMUEXT_CLEAR_PAGE, f.l1, 0));
    let b = f.fresh();
    s.check("COPY_PAGE between fresh frames", 0, me(MMUEXT_COPY_PAGE, b, a));
    s.check("COPY_PAGE into a page table", EINVAL, me(MMUEXT_COPY_PAGE, f.l2, a));
    s.check("COPY_PAGE from a frame beyond RAM", EINVAL, me(MMUEXT_COPY_PAGE, b, 0x07FF_FFFF));
    s.check("NEW_BASEPTR of a writably mapped frame", EINVAL, me(MMUEXT_NEW_BASEPTR, f.data, 0));
    s.check("NEW_BASEPTR of an L3 table", EINVAL, me(MMUEXT_NEW_BASEPTR, f.l3, 0));
    s.check("NEW_USER_BASEPTR none", 0, me(MMUEXT_NEW_USER_BASEPTR, 0, 0));
    let op = [MmuextOp { cmd: MMUEXT_TLB_FLUSH_LOCAL, pad: 0, arg1: 0, arg2: 0 }];
    let domu = s.domu_naming_dom0();
    s.by_privilege("mmuext_op on domain 0 by number", ESRCH, domu, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 0]));
    s.check("mmuext_op on unknown domain", ESRCH, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 100]));
    s.check("mmuext_op on a domain never built", ESRCH, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 5]));
    s.check("mmuext_op ops in the hypervisor", EFAULT, call(N::MMUEXT_OP, &[HV, 1, 0, SELF]));
    s.check("mmuext_op count 0", 0, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 0, 0, SELF]));
    s.check("SET_LDT of no LDT", 0, me(MMUEXT_SET_LDT, 0, 0));
}

fn uvm(s: &mut Suite, f: &Fixture) {
    let va = f.scratch;
    let frame = f.mfn((va - VIRT_BASE) / 4096);
    let u = |va: u64, val: u64, flags: u64| call(N::UPDATE_VA_MAPPING, &[va, val, flags]);
    s.check("update_va_mapping read-only", 0, u(va, (frame << 12) | RO, UVMF_INVLPG));
    s.check("update_va_mapping writable with a full flush", 0, u(va, (frame << 12) | RWF, UVMF_TLB_FLUSH));
    s.check("update_va_mapping invlpg on all CPUs", 0, u(va, (frame << 12) | RWF, UVMF_INVLPG | UVMF_ALL));
    s.check("update_va_mapping of a hypervisor address", EINVAL, u(HV, 0, 0));
    s.check("update_va_mapping of a non-canonical address", EINVAL, u(0x8000_0000_0000_0000, 0, 0));
    s.check("update_va_mapping where no L1 exists", EINVAL, u(0x1000, 0, 0));
    s.check("update_va_mapping writable to a page table", EBUSY, u(va, (f.l1 << 12) | RWF, UVMF_INVLPG));
    s.check(
        "update_va_mapping with an unreadable vCPU bitmap",
        EFAULT,
        u(va, (frame << 12) | RWF, UVMF_INVLPG | 0x0000_7000_0000_0000),
    );
}

fn memory(s: &mut Suite, f: &mut Fixture, si: &StartInfo) {
    let dom = |d: u16| d;
    let m = |cmd: u64, arg: u64| call(N::MEMORY_OP, &[cmd, arg]);
    let own = dom(0x7FF0);
    let cur = m(3, &own as *const u16 as u64);
    s.check("current_reservation is nr_pages", si.nr_pages as i64, cur);
    let max = m(4, &own as *const u16 as u64);
    s.truth("maximum_reservation is at least current", max >= cur);
    s.check("current_reservation with a start extent", EINVAL, m(3 | (1 << 6), &own as *const u16 as u64));
    let unknown = dom(100);
    s.check("current_reservation of an unknown domain", ESRCH, m(3, &unknown as *const u16 as u64));
    // A domain id below the limit that was never built (xen-core has the
    // slot; Xen has no domain 5 either): it does not exist.
    let unused = dom(5);
    s.check("current_reservation of a domain never built", ESRCH, m(3, &unused as *const u16 as u64));
    s.check("maximum_reservation of a domain never built", ESRCH, m(4, &unused as *const u16 as u64));
    s.check("current_reservation from the hypervisor", EFAULT, m(3, HV));
    s.check("memory_op unknown sub-op 40", ENOSYS, m(40, 0));
    let res = |start: u64, n: u64, order: u32| abi::memory::MemoryReservation {
        extent_start: start,
        nr_extents: n,
        extent_order: order,
        ..Default::default()
    };
    let r = res(0, 1 << 40, 0);
    s.check("increase_reservation with a huge count does nothing", 0, m(0, &r as *const _ as u64));
    let r = res(0, 1, 30);
    s.check("increase_reservation of order 30 does nothing", 0, m(0, &r as *const _ as u64));
    let r = res(HV, 4, 0);
    s.check("decrease_reservation of an array in the hypervisor", 0, m(1, &r as *const _ as u64));
    let r = res(u64::MAX - 7, 2, 0);
    s.check("populate_physmap of an array at the end of the address space", 0, m(6, &r as *const _ as u64));
    let mut bogus = [0x07FF_FFFFu64];
    let r = res(bogus.as_mut_ptr() as u64, 1, 0);
    s.check("decrease_reservation of a frame beyond RAM", 0, m(1, &r as *const _ as u64));
    s.check("memory_op with an unreadable reservation", 0, m(1, HV));
    let r = abi::memory::MemoryReservation { domid: abi::DomId(5), ..res(0, 4, 0) };
    s.check("increase_reservation for a domain never built does nothing", 0, m(0, &r as *const _ as u64));
    // Give one fresh frame back, then take one frame again.
    let pfn = f.next_free;
    let mut frames = [f.fresh()];
    let r = res(frames.as_mut_ptr() as u64, 1, 0);
    s.check("decrease_reservation of one unused frame", 1, m(1, &r as *const _ as u64));
    s.check("current_reservation dropped by one", cur - 1, m(3, &own as *const u16 as u64));
    let mut gpfn = [pfn];
    let r = res(gpfn.as_mut_ptr() as u64, 1, 0);
    s.check("populate_physmap of one frame", 1, m(6, &r as *const _ as u64));
    s.truth("the M2P records the new frame's PFN", mem::read(HV + gpfn[0] * 8) == pfn);
    s.check("current_reservation is back", cur, m(3, &own as *const u16 as u64));
}

/// A pin that validates 24 full L1 tables (12,288 entries): long enough to
/// be preempted and transparently restarted on xen-core (and on Xen, whose
/// continuations are equally invisible to the guest).
fn big_tree(s: &mut Suite, f: &mut Fixture) {
    let l2 = f.fresh();
    let data = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, l2, 0);
    let mut l1s = [0u64; 24];
    let mut batch = [MmuUpdate::default(); 512];
    let mut ok = true;
    for (i, slot) in l1s.iter_mut().enumerate() {
        let l1 = f.fresh();
        *slot = l1;
        for (j, req) in batch.iter_mut().enumerate() {
            *req = MmuUpdate { ptr: entry(l1, j as u64), val: (data << 12) | RO };
        }
        ok &= call(N::MMU_UPDATE, &[batch.as_ptr() as u64, 512, 0, SELF]) == 0;
        ok &= mu(entry(l2, i as u64), (l1 << 12) | RWF) == 0;
    }
    s.truth("12,288 entries written with 25 batched mmu_updates", ok);
    let mut done = 0u32;
    let op = [MmuextOp { cmd: MMUEXT_PIN_L2_TABLE, pad: 0, arg1: l2, arg2: 0 }];
    s.check(
        "pin an L2 over 24 full L1 tables",
        0,
        call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, &mut done as *mut u32 as u64, SELF]),
    );
    s.truth("pdone reports the one operation", done == 1);
    s.check("the last L1 is now a page table", EBUSY, mu(entry(f.l1, 14), (l1s[23] << 12) | RWF));
    s.check("unpin the big tree", 0, me(MMUEXT_UNPIN_TABLE, l2, 0));
    s.check("the last L1 is plain memory again", 0, mu(entry(f.l1, 14), (l1s[23] << 12) | RWF));
    let _ = mu(entry(f.l1, 14), 0);
}

/// `set_gdt` (2): GDT frames must be the guest's, not writable, and hold
/// acceptable descriptors; they then take the descriptor-page type.
fn gdt(s: &mut Suite, f: &mut Fixture) {
    let frame = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, frame, 0);
    let set = |frames: &[u64], entries: u64| call(N::SET_GDT, &[frames.as_ptr() as u64, entries]);
    let put = |index: u64, desc: u64| mu(entry(frame, index), desc);
    s.check("set_gdt of a zeroed frame with 16 entries", 0, set(&[frame], 16));
    s.check("the GDT frame cannot be mapped writable", EBUSY, mu(entry(f.l1, 15), (frame << 12) | RWF));
    s.check("the GDT frame can be mapped read-only", 0, mu(entry(f.l1, 15), (frame << 12) | RO));
    let _ = mu(entry(f.l1, 15), 0);
    s.check("the GDT frame cannot be written with mmu_update", EINVAL, put(1, 0x00CF_F200_0000_FFFF));
    let other = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, other, 0);
    s.check("set_gdt of another frame replaces it", 0, set(&[other], 16));
    s.check("the first GDT frame is plain memory again", 0, mu(entry(f.l1, 15), (frame << 12) | RWF));
    let _ = mu(entry(f.l1, 15), 0);
    for (desc, name, want) in [
        (0x00CF_F200_0000_FFFFu64, "flat data descriptor, DPL 3", 0),
        (0x00AF_FA00_0000_FFFF, "64-bit code descriptor, DPL 3", 0),
        (0x00AF_9A00_0000_FFFF, "64-bit code descriptor, DPL 0", 0),
        (0x00CF_9200_0000_FFFF, "data descriptor, DPL 0", 0),
        (0x0000_8900_0000_0067, "TSS descriptor", EINVAL),
        (0x0000_8200_0000_0000, "LDT descriptor", EINVAL),
        (0x0000_EC00_E008_1000, "call gate into the hypervisor", EINVAL),
        (0x00CF_7200_0000_FFFF, "not-present data descriptor", 0),
    ] {
        let _ = put(3, desc);
        let mut label = [0u8; 64];
        let n = fmt_into(&mut label, format_args!("set_gdt with a {name}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), want, set(&[frame], 16));
        let _ = set(&[other], 16);
        let _ = put(3, 0);
    }
    s.check("set_gdt with 7169 entries", EINVAL, set(&[frame, frame], 7169));
    s.check("set_gdt of a writably mapped frame", EINVAL, set(&[f.data], 16));
    s.check("set_gdt of a page table", EINVAL, set(&[f.l1], 16));
    s.check("set_gdt of a frame beyond RAM", EINVAL, set(&[0x07FF_FFFF], 16));
    s.check("set_gdt with the frame list in the hypervisor", EFAULT, call(N::SET_GDT, &[HV, 16]));
    s.check("set_gdt with no entries", 0, set(&[], 0));
}

/// `XENMEM_exchange` (memory_op 11): frames for fresh ones, with Xen's
/// checks in Xen's order.
fn exchange(s: &mut Suite, f: &mut Fixture) {
    use abi::memory::{MemoryExchange, MemoryReservation};
    let m = |cmd: u64, arg: u64| call(N::MEMORY_OP, &[cmd, arg]);
    let own = 0x7FF0u16;
    let cur = m(3, &own as *const u16 as u64);
    let side = |start: u64, n: u64, order: u32| MemoryReservation {
        extent_start: start,
        nr_extents: n,
        extent_order: order,
        ..Default::default()
    };
    let ex = |x: &mut MemoryExchange| m(11, x as *mut MemoryExchange as u64);
    // One fresh frame for another.
    let pfn = f.next_free;
    let old = f.fresh();
    let mut input = [old];
    let mut output = [pfn];
    let mut x = MemoryExchange {
        input: side(input.as_mut_ptr() as u64, 1, 0),
        output: side(output.as_mut_ptr() as u64, 1, 0),
        nr_exchanged: 0,
    };
    s.check("exchange of one frame", 0, ex(&mut x));
    s.truth("exchange reports one extent exchanged", x.nr_exchanged == 1);
    s.truth("exchange writes a new frame back", output[0] != pfn && output[0] != old);
    s.truth("exchange sets the new frame's M2P entry", mem::read(HV + output[0] * 8) == pfn);
    s.check("exchange keeps the reservation", cur, m(3, &own as *const u16 as u64));
    let r = mu(entry(f.l1, 20), (old << 12) | RO);
    s.truth("the frame given up can no longer be mapped", r != 0);
    if r == 0 {
        let _ = mu(entry(f.l1, 20), 0);
    }
    s.check("exchange with nothing left to do", 0, ex(&mut x));
    s.check("exchange with a start extent", EINVAL, m(11 | (1 << 6), &mut x as *mut MemoryExchange as u64));
    s.check("exchange with an unreadable argument", EFAULT, m(11, HV));
    // Two fresh frames for one machine-contiguous order-1 extent.
    let (a, b) = (f.fresh(), f.fresh());
    let mut two = [a, b];
    let mut one = [pfn];
    let mut x = MemoryExchange {
        input: side(two.as_mut_ptr() as u64, 2, 0),
        output: side(one.as_mut_ptr() as u64, 1, 1),
        nr_exchanged: 0,
    };
    s.check("exchange of two frames for an order-1 extent", 0, ex(&mut x));
    s.truth("exchange reports both frames exchanged", x.nr_exchanged == 2);
    s.check("exchange keeps the reservation again", cur, m(3, &own as *const u16 as u64));
    // Refusals: each leaves nr_exchanged as it was.
    let fresh = f.fresh();
    let mut input = [fresh];
    let mut output = [pfn];
    let base = MemoryExchange {
        input: side(input.as_mut_ptr() as u64, 1, 0),
        output: side(output.as_mut_ptr() as u64, 1, 0),
        nr_exchanged: 0,
    };
    // Order 30 is above every domain's limit, on Xen as here.
    let mut x = MemoryExchange {
        input: side(base.input.extent_start, 1, 30),
        output: side(base.output.extent_start, 1, 30),
        ..base
    };
    s.check("exchange of order 30", EPERM, ex(&mut x));
    s.truth("a refused exchange leaves nr_exchanged", x.nr_exchanged == 0);
    let mut x = MemoryExchange { output: side(base.output.extent_start, 1, 1), ..base };
    s.check("exchange of one frame for two", EINVAL, ex(&mut x));
    let mut x = MemoryExchange { nr_exchanged: 2, ..base };
    s.check("exchange with more done than asked", EINVAL, ex(&mut x));
    s.truth("nr_exchanged is written back as it was", x.nr_exchanged == 2);
    let mut x = base;
    x.output.domid = abi::DomId(0);
    s.check("exchange between DOMID_SELF and domain 0 by number", EINVAL, ex(&mut x));
    let mut x = base;
    x.output.extent_start = HV;
    s.check("exchange with the output array in the hypervisor", EFAULT, ex(&mut x));
    let mut x = base;
    x.input.extent_start = HV;
    s.check("exchange with the input array in the hypervisor", EFAULT, ex(&mut x));
    // Xen checks only where the array starts, then faults on the first
    // element written (having given up the input frame); xen-core refuses
    // at once. Both answer EFAULT; the frames are not used again.
    let mut cross_in = [f.fresh(), f.fresh()];
    let mut x = MemoryExchange {
        input: side(cross_in.as_mut_ptr() as u64, 2, 0),
        output: side((1 << 47) - 8, 2, 0),
        nr_exchanged: 0,
    };
    s.check("exchange with the output array crossing 2^47", EFAULT, ex(&mut x));
    let mut x = base;
    x.input.domid = abi::DomId(5);
    x.output.domid = abi::DomId(5);
    s.check("exchange for a domain never built", ESRCH, ex(&mut x));
    for (frame, what) in [(f.data, "a mapped frame"), (f.l1, "a page table"), (f.shared_info, "shared_info")] {
        input[0] = frame;
        let mut x = base;
        let mut label = [0u8; 64];
        let n = fmt_into(&mut label, format_args!("exchange of {what}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EINVAL, ex(&mut x));
    }
    let mut twice = [fresh, fresh];
    let mut x = MemoryExchange {
        input: side(twice.as_mut_ptr() as u64, 2, 0),
        output: side(base.output.extent_start, 1, 1),
        nr_exchanged: 0,
    };
    s.check("exchange of the same frame twice", EINVAL, ex(&mut x));
    // A failure after a chunk: the chunk done stays done and is reported.
    let mut mixed = [fresh, f.data];
    let mut outs = [pfn, pfn];
    let mut x = MemoryExchange {
        input: side(mixed.as_mut_ptr() as u64, 2, 0),
        output: side(outs.as_mut_ptr() as u64, 2, 0),
        nr_exchanged: 0,
    };
    s.check("exchange failing at its second frame", EINVAL, ex(&mut x));
    s.truth("exchange reports the first frame exchanged", x.nr_exchanged == 1 && outs[0] != pfn);
    s.check("the reservation is unchanged after a failed exchange", cur, m(3, &own as *const u16 as u64));
}
