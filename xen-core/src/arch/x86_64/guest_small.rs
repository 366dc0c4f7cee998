//! Small guest accesses (reads of one to eight words, writes of one to
//! four, one 16-bit status, one 32-bit port) inlined at the caller:
//! `stac`, plain `mov`s, `clac`; no call, no string move, no second range
//! check. The words were range-checked once, by the caller's
//! [`CheckedWords`]. Every access instruction has an entry in the
//! `.guest_fixups` table (PC-relative: the instruction, the stub), which
//! [`fixup`] searches when a #PF/#GP hits the hypervisor: the stub marks
//! the access failed and rejoins the `clac`, so a fault is `EFAULT` exactly
//! as with the string copies.

use crate::hypercall::guest_mem::{CheckedU16, CheckedU32, CheckedWords};
use core::arch::asm;

/// One table entry for the access instruction labelled `2:` just above,
/// resuming at the next `4:` (the block's stub).
macro_rules! fixup_entry {
    () => {
        ".pushsection .guest_fixups,\"a\"\n.balign 4\n.long 2b - .\n.long 4f - .\n.popsection"
    };
}

/// The block's stub, out of line in its own text section: the access
/// faulted, so `f` = 1 and on to the `clac` at `5:`.
macro_rules! fixup_stub {
    () => {
        ".pushsection .text.guest_fixups,\"ax\"\n4:\nmov {f:e}, 1\njmp 5f\n.popsection\n5:"
    };
}

/// Loads `$w` words from `$p` (bracketed by `$on`/`$off`, the AC toggles
/// or nothing); `(failed, words)`.
macro_rules! load {
    ($on:literal, $off:literal, $p:expr; $($w:ident @ $o:literal),+) => {{
        let f: u32;
        $(let $w: u64;)+
        // SAFETY: the words lie in guest address space (`CheckedWords`);
        // a fault of any load resumes at the stub (table above), which
        // reports it. Only the named registers are written.
        unsafe {
            asm!(
                "xor {f:e}, {f:e}",
                $on,
                $(concat!("2: mov {", stringify!($w), "}, qword ptr [{p} + ", $o, "]"), fixup_entry!(),)+
                fixup_stub!(),
                $off,
                p = in(reg) $p,
                f = out(reg) f,
                $($w = out(reg) $w,)+
                options(nostack, readonly),
            );
        }
        (f != 0, [$($w),+])
    }};
}

/// Stores each `$w = value` at `$p + offset`; `true` if a store faulted.
macro_rules! store {
    ($on:literal, $off:literal, $p:expr; $($w:ident = $v:expr, $ins:literal),+) => {{
        let f: u32;
        // SAFETY: as in `load!`: checked guest memory, faults to the stub.
        unsafe {
            asm!(
                "xor {f:e}, {f:e}",
                $on,
                $(concat!("2: ", $ins), fixup_entry!(),)+
                fixup_stub!(),
                $off,
                p = in(reg) $p,
                f = out(reg) f,
                $($w = in(reg) $v,)+
                options(nostack),
            );
        }
        f != 0
    }};
}

/// Picks the AC-toggling or the plain form of an access for this CPU.
macro_rules! ac {
    ($m:ident!($($args:tt)*)) => {
        if super::entry::smap() {
            $m!("stac", "clac", $($args)*)
        } else {
            $m!("", "", $($args)*)
        }
    };
}

/// The `N` words at `at`, each read by one `mov`; `None` if one faulted.
/// More than eight words take the string move.
#[inline(always)]
pub fn read<const N: usize>(at: CheckedWords<N>) -> Option<[u64; N]> {
    let p = at.va().0 as *const u64;
    let (failed, w): (bool, [u64; 8]) = match N {
        1 => {
            let (f, [a]) = ac!(load!(p; a @ 0));
            (f, [a, 0, 0, 0, 0, 0, 0, 0])
        }
        2 => {
            let (f, [a, b]) = ac!(load!(p; a @ 0, b @ 8));
            (f, [a, b, 0, 0, 0, 0, 0, 0])
        }
        3 => {
            let (f, [a, b, c]) = ac!(load!(p; a @ 0, b @ 8, c @ 16));
            (f, [a, b, c, 0, 0, 0, 0, 0])
        }
        4 => {
            let (f, [a, b, c, d]) = ac!(load!(p; a @ 0, b @ 8, c @ 16, d @ 24));
            (f, [a, b, c, d, 0, 0, 0, 0])
        }
        5 => {
            let (f, [a, b, c, d, e]) = ac!(load!(p; a @ 0, b @ 8, c @ 16, d @ 24, e @ 32));
            (f, [a, b, c, d, e, 0, 0, 0])
        }
        6 => {
            let (f, [a, b, c, d, e, g]) = ac!(load!(p; a @ 0, b @ 8, c @ 16, d @ 24, e @ 32, g @ 40));
            (f, [a, b, c, d, e, g, 0, 0])
        }
        7 => {
            let (f, [a, b, c, d, e, g, h]) = ac!(load!(p; a @ 0, b @ 8, c @ 16, d @ 24, e @ 32, g @ 40, h @ 48));
            (f, [a, b, c, d, e, g, h, 0])
        }
        8 => {
            let (f, w) = ac!(load!(p; a @ 0, b @ 8, c @ 16, d @ 24, e @ 32, g @ 40, h @ 48, k @ 56));
            (f, w)
        }
        _ => {
            let mut out = [0u64; N];
            return super::entry::copy_words(out.as_mut_ptr(), p, N).then_some(out);
        }
    };
    if failed {
        return None;
    }
    let mut out = [0u64; N];
    out.copy_from_slice(&w[..N]);
    Some(out)
}

/// Writes `words` at `at`, each by one `mov`; `false` if one faulted.
/// More than four words take the string move.
#[inline(always)]
pub fn write<const N: usize>(at: CheckedWords<N>, words: &[u64; N]) -> bool {
    let p = at.va().0 as *mut u64;
    let w = |i: usize| words.get(i).copied().unwrap_or(0);
    let failed = match N {
        1 => ac!(store!(p; a = w(0), "mov qword ptr [{p}], {a}")),
        2 => ac!(store!(p; a = w(0), "mov qword ptr [{p}], {a}", b = w(1), "mov qword ptr [{p} + 8], {b}")),
        3 => ac!(store!(p;
            a = w(0), "mov qword ptr [{p}], {a}",
            b = w(1), "mov qword ptr [{p} + 8], {b}",
            c = w(2), "mov qword ptr [{p} + 16], {c}")),
        4 => ac!(store!(p;
            a = w(0), "mov qword ptr [{p}], {a}",
            b = w(1), "mov qword ptr [{p} + 8], {b}",
            c = w(2), "mov qword ptr [{p} + 16], {c}",
            d = w(3), "mov qword ptr [{p} + 24], {d}")),
        _ => return super::entry::copy_words(p, words.as_ptr(), N),
    };
    !failed
}

/// Writes the 16-bit `v` at `at` (a status field) by one `mov`; `false`
/// if it faulted.
#[inline(always)]
pub fn write_u16(at: CheckedU16, v: u16) -> bool {
    let p = at.va().0 as *mut u16;
    !ac!(store!(p; a = v, "mov word ptr [{p}], {a:x}"))
}

/// The 32-bit field at `at` by one `mov`; `None` if it faulted.
#[inline(always)]
pub fn read_u32(at: CheckedU32) -> Option<u32> {
    let p = at.va().0 as *const u32;
    let f: u32;
    let v: u32;
    macro_rules! load_u32 {
        ($on:literal, $off:literal) => {
            // SAFETY: the 4 bytes lie in guest address space (`CheckedU32`);
            // a fault resumes at the stub (the fixup table), which reports
            // it. Only the named registers are written.
            unsafe {
                asm!(
                    "xor {f:e}, {f:e}",
                    $on,
                    "2: mov {v:e}, dword ptr [{p}]",
                    fixup_entry!(),
                    fixup_stub!(),
                    $off,
                    p = in(reg) p,
                    f = out(reg) f,
                    v = out(reg) v,
                    options(nostack, readonly),
                )
            }
        };
    }
    if super::entry::smap() {
        load_u32!("stac", "clac");
    } else {
        load_u32!("", "");
    }
    (f == 0).then_some(v)
}

extern "C" {
    static __guest_fixups_start: u8;
    static __guest_fixups_end: u8;
}

/// If `rip` is one of the inlined accesses, the address of its stub.
pub fn fixup(rip: u64) -> Option<u64> {
    let end = &raw const __guest_fixups_end as u64;
    let mut e = &raw const __guest_fixups_start as u64;
    while e + 8 <= end {
        // SAFETY: the linker script bounds the table, made only of 8-byte
        // entries (two PC-relative 32-bit offsets) in read-only data.
        let (insn, stub) = unsafe { (*(e as *const i32), *((e + 4) as *const i32)) };
        if e.wrapping_add_signed(i64::from(insn)) == rip {
            return Some((e + 4).wrapping_add_signed(i64::from(stub)));
        }
        e += 8;
    }
    None
}
