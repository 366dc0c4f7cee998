//! Guest user mode and segment bases (platform fact sheet §1.2–1.5): a
//! user root mapping only user space, `iret` to CS 0xE033, SYSCALL and
//! `ud2` from ring 3 back into the kernel on the `stack_switch` stack, and
//! `set_segment_base` with the bases read back through `%fs` and `%gs` in
//! both guest modes.

use super::{call, entry, me, mu, Fixture, Suite, EINVAL, N, RWF, VIRT_BASE};
use crate::arch::{fs_gs_words, user_callback_address, user_kernel_stack_top, user_run};
use abi::mmu::{MMUEXT_CLEAR_PAGE, MMUEXT_NEW_USER_BASEPTR, MMUEXT_PIN_L4_TABLE};
use abi::start_info::StartInfo;
use abi::traps::{CallbackRegister, CALLBACKOP_REGISTER, CALLBACKTYPE_SYSCALL};
use guest_kernel::arch::x86_64::mem;

/// User space for these cases: L4 slot 2, mapped by both roots.
const USER: u64 = 2 << 39;
/// Code page, then a data page, then the stack page.
const CODE: u64 = USER;
const DATA: u64 = USER + 0x1000;
pub(super) const STACK_TOP: u64 = USER + 0x3000;
/// A `ud2` in the user code (kept mapped for later cases).
pub(super) const UD2: u64 = CODE + 8;

/// The user code: `syscall; ud2` at 0, `ud2` at 8, `mov rax, fs:[0];
/// syscall` at 16, `mov rax, gs:[0]; syscall` at 32.
const CODE_BYTES: [(u64, &[u8]); 4] = [
    (0, &[0x0F, 0x05, 0x0F, 0x0B]),
    (8, &[0x0F, 0x0B]),
    (16, &[0x64, 0x48, 0x8B, 0x04, 0x25, 0, 0, 0, 0, 0x0F, 0x05, 0x0F, 0x0B]),
    (32, &[0x65, 0x48, 0x8B, 0x04, 0x25, 0, 0, 0, 0, 0x0F, 0x05, 0x0F, 0x0B]),
];

static KERNEL_WORDS: [u64; 2] = [0x4B45_524E_454C_4653, 0x4B45_524E_454C_4753]; // "KERNELFS", "KERNELGS"

fn register_syscall(address: u64) -> i64 {
    let cb = CallbackRegister { kind: CALLBACKTYPE_SYSCALL, flags: 0, pad: 0, address };
    call(N::CALLBACK_OP, &[CALLBACKOP_REGISTER, &cb as *const CallbackRegister as u64])
}

fn segbase(which: u64, base: u64) -> i64 {
    call(N::SET_SEGMENT_BASE, &[which, base])
}

/// A user root whose slot 2 is an L3 also hooked into the running root.
fn map_user(f: &mut Fixture, si: &StartInfo) -> i64 {
    let root = f.mfn((si.pt_base - VIRT_BASE) >> 12);
    let (ul4, l3, l2, l1, code, data, stack) =
        (f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh());
    for m in [ul4, l3, l2, l1, code, data, stack] {
        let _ = me(MMUEXT_CLEAR_PAGE, m, 0);
    }
    let steps = [
        mu(entry(l1, 0), (code << 12) | RWF),
        mu(entry(l1, 1), (data << 12) | RWF),
        mu(entry(l1, 2), (stack << 12) | RWF),
        mu(entry(l2, 0), (l1 << 12) | RWF),
        mu(entry(l3, 0), (l2 << 12) | RWF),
        mu(entry(ul4, 2), (l3 << 12) | RWF),
        mu(entry(root, 2), (l3 << 12) | RWF),
        me(MMUEXT_PIN_L4_TABLE, ul4, 0),
        me(MMUEXT_NEW_USER_BASEPTR, ul4, 0),
    ];
    steps.iter().copied().find(|&r| r != 0).unwrap_or(0)
}

fn write_code() {
    for (off, bytes) in CODE_BYTES {
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            mem::write(CODE + off + i as u64 * 8, u64::from_le_bytes(w));
        }
    }
    mem::write(DATA, 0x5553_4552_4653_3030); // user FS word
    mem::write(DATA + 8, 0x5553_4552_4753_3030); // user GS word
}

pub(super) fn user_mode(s: &mut Suite, f: &mut Fixture, si: &StartInfo) {
    s.check("user mode setup: user root with user space only, NEW_USER_BASEPTR", 0, map_user(f, si));
    write_code();
    let ktop = user_kernel_stack_top();
    s.check("stack_switch to the kernel stack for user entries", 0, call(N::STACK_SWITCH, &[0xE02B, ktop]));
    let (kfs, kgs) = (&KERNEL_WORDS[0] as *const u64 as u64, &KERNEL_WORDS[1] as *const u64 as u64);
    s.check("set_segment_base(GS_KERNEL) to a kernel word", 0, segbase(2, kgs));

    // SYSCALL from user mode with no callback: #UD at the SYSCALL.
    s.check("no syscall callback registered", 0, register_syscall(0));
    let r = user_run(CODE, STACK_TOP);
    s.check("user SYSCALL with no callback raises #UD", 6 << 16, r.fault);
    s.check("that user-mode #UD is raised at the SYSCALL instruction", 0, r.fault_rip.wrapping_sub(CODE) as i64);
    s.check("the #UD frame holds the user CS 0xE033", 0xE033, r.fault_cs as i64);
    s.check(
        "the #UD frame is on the stack_switch stack",
        1,
        i64::from(r.fault_frame < ktop && r.fault_frame >= ktop - 128),
    );

    // With the callback: Xen's frame on the kernel stack.
    s.check("register the syscall callback", 0, register_syscall(user_callback_address()));
    let r = user_run(CODE, STACK_TOP);
    s.check("user SYSCALL runs the syscall callback", 1, i64::from(r.callback));
    s.check("its frame sits 56 bytes below the stack_switch stack", (ktop & !15) as i64 - 56, r.sp as i64);
    s.check("its frame RIP is the user return address", 2, r.rip.wrapping_sub(CODE) as i64);
    s.check("its frame RCX is the user return address", 2, r.rcx.wrapping_sub(CODE) as i64);
    s.check("its frame CS is 0xE033 (user, RPL 3 kept)", 0xE033, r.cs as i64);
    s.check("its frame RSP is the user stack", STACK_TOP as i64, r.rsp as i64);
    s.check("its frame SS is 0xE02B", 0xE02B, r.ss as i64);
    s.check("the kernel GS base is active again in the callback", KERNEL_WORDS[1] as i64, r.kernel_gs_word as i64);

    // A fault in user mode.
    let r = user_run(CODE + 8, STACK_TOP);
    s.check("ud2 in user mode raises #UD", 6 << 16, r.fault);
    s.check("at the ud2", 8, r.fault_rip.wrapping_sub(CODE) as i64);
    s.check("with the user CS in the frame", 0xE033, r.fault_cs as i64);

    // set_segment_base: every sub-op's errors.
    let bad = 0x8000_0000_0000;
    s.check("set_segment_base(FS) non-canonical: -EINVAL", EINVAL, segbase(0, bad));
    s.check("set_segment_base(GS_USER) non-canonical: -EINVAL", EINVAL, segbase(1, bad));
    s.check("set_segment_base(GS_KERNEL) non-canonical: -EINVAL", EINVAL, segbase(2, bad));
    s.check("set_segment_base sub-op 4: -EINVAL", EINVAL, segbase(4, 0));

    // The bases are really used, in both modes.
    s.check("set_segment_base(FS) to a kernel word", 0, segbase(0, kfs));
    let (fs_word, gs_word) = fs_gs_words();
    s.check("kernel %fs:0 reads through the FS base", KERNEL_WORDS[0] as i64, fs_word as i64);
    s.check("kernel %gs:0 reads through the GS_KERNEL base", KERNEL_WORDS[1] as i64, gs_word as i64);
    s.check("set_segment_base(FS) to a user word", 0, segbase(0, DATA));
    let r = user_run(CODE + 16, STACK_TOP);
    s.check("user %fs:0 reads through the FS base", 0x5553_4552_4653_3030, r.rax as i64);
    s.check("set_segment_base(GS_USER) to a user word", 0, segbase(1, DATA + 8));
    let r = user_run(CODE + 32, STACK_TOP);
    s.check("user %gs:0 reads through the GS_USER base", 0x5553_4552_4753_3030, r.rax as i64);
    s.check("after the user round trip the kernel GS base is back", KERNEL_WORDS[1] as i64, r.kernel_gs_word as i64);
    let (_, gs_word) = fs_gs_words();
    s.check("kernel %gs:0 after the round trip: GS_KERNEL's word", KERNEL_WORDS[1] as i64, gs_word as i64);
    s.check("set_segment_base(GS_USER_SEL) with the null selector", 0, segbase(3, 0));
    let (_, gs_word) = fs_gs_words();
    s.check("GS_USER_SEL keeps the kernel GS base", KERNEL_WORDS[1] as i64, gs_word as i64);

    // Leave no user-mode state to later cases.
    let _ = register_syscall(0);
    let _ = segbase(0, 0);
    let _ = segbase(2, 0);
}
