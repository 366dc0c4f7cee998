//! A guest's own `iretq`, completed by the hypervisor when the CPU faulted
//! it spuriously.
//!
//! PV guests run in ring 3, so a guest `iretq` reads its frame with a
//! user-mode access. QEMU 7.2 TCG checks those reads as *supervisor*
//! accesses, and with SMAP on (xen-core keeps it on) every such read of
//! a user page raises #PF with the U/S bit clear. Linux does this at boot
//! (`sync_core()` returns to itself with `iretq`), which is why Xen 4.17
//! needs `-cpu max,smap=off` under this QEMU.
//!
//! xen-core recognizes the fault instead: a present-page read fault with
//! U/S clear, raised in ring 3 by an `iretq` whose frame holds the
//! faulting address, cannot come from a correct CPU (a ring-3 access is
//! never a supervisor access). The hypervisor then does what the CPU
//! should have done: it reads the 40-byte frame as the guest (through the
//! guest's own page tables, so a frame the guest cannot read faults as it
//! would on hardware, with U/S set), applies IRETQ's ring-3 rules and
//! raises IRETQ's #GP/#NP/#SS for a bad CS, SS or RIP with the checks of
//! the `iret` hypercall ([`check_return`]), at the `iretq` as the CPU does. The guest mode
//! (kernel or user) does not change: a native `iretq` never switches page
//! tables, only the `iret` hypercall does.
//!
//! On a correct CPU the fault never happens, and nothing here runs.

use super::bounce::{bounce, Crash, Roots};
use super::iret::Returned;
use super::segments::{check_return, Fault, GdtView};
use super::vcpu::{GuestContext, Vcpu, FLAG_FIXED, FLAG_IF, GUEST_FLAGS_MASK};
use crate::hypercall::{Guest, GuestMemory};

/// #PF error code bits.
const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 2;
const PF_USER: u64 = 4;
const PF_FETCH: u64 = 16;

/// RFLAGS.NT: IRETQ in 64-bit mode with NT set raises #GP(0).
const FLAG_NT: u64 = 1 << 14;

/// The frame IRETQ pops: RIP, CS, RFLAGS, RSP, SS.
const FRAME_BYTES: u64 = 40;

/// Whether a #PF taken in ring 3 is QEMU's spurious supervisor-access
/// fault on the frame read of an `iretq` at the guest's RIP. `insn` holds
/// the instruction bytes at RIP; only the 64-bit form (`REX.W CF`, with
/// any REX.W prefix) is recognized: it is the one 64-bit kernels use.
pub fn is_spurious_iretq_fault(error_code: u64, insn: &[u8], cr2: u64, rsp: u64) -> bool {
    let read_of_present_page = error_code & (PF_PRESENT | PF_WRITE | PF_USER | PF_FETCH) == PF_PRESENT;
    let iretq = insn.len() >= 2 && insn[0] & 0xF8 == 0x48 && insn[1] == 0xCF;
    let in_frame = cr2.wrapping_sub(rsp) < FRAME_BYTES;
    read_of_present_page && iretq && in_frame
}

/// What completing the `iretq` led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completed {
    /// The guest continues at the popped RIP, or IRETQ's fault on the
    /// popped CS, SS or RIP was delivered, raised at the `iretq`.
    Returned(Returned),
    /// The frame is unreadable by the guest itself: the #PF a correct CPU
    /// raises, at this address, with U/S set. `ctx` is unchanged.
    PageFault {
        /// The address to report in CR2.
        va: u64,
        /// The error code, U/S set.
        error_code: u64,
    },
}

/// Performs the `iretq` at `ctx.rip` for the guest, in ring 3: pops the
/// frame at `ctx.rsp`, loads RIP, CS, RFLAGS (the bits ring 3 may change;
/// IF stays set, as the guest's virtual IF lives in its vcpu_info), RSP
/// and SS. `fault_va` is the address the spurious fault reported. A CS, SS or RIP IRETQ would refuse gets IRETQ's fault
/// ([`check_return`]'s, as for the `iret` hypercall), raised at the
/// `iretq` with nothing popped, as the CPU raises it.
///
/// # Errors
/// IRETQ's fault could not be delivered (no handler, or its stack cannot
/// take the frame): the domain is crashed.
pub fn complete_iretq<G: GuestMemory, F: Fn(usize) -> u64>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    gdt: &GdtView<F>,
    fault_va: u64,
) -> Result<Completed, Crash> {
    let mut w = [0u64; 5];
    for (i, word) in w.iter_mut().enumerate() {
        let va = ctx.rsp.wrapping_add(i as u64 * 8);
        // Word by word, so an unreadable frame reports the first word the
        // CPU could not read.
        match Guest(guest).read_u64(va) {
            Ok(v) => *word = v,
            Err(_) => {
                // The page the CPU faulted on is present (its fault said
                // so); another one the frame runs into is taken as absent.
                let present = if va >> 12 == fault_va >> 12 { PF_PRESENT } else { 0 };
                return Ok(Completed::PageFault { va, error_code: present | PF_USER });
            }
        }
    }
    let [rip, cs, rflags, rsp, ss] = w;
    let checked = if ctx.rflags & FLAG_NT != 0 {
        Err(Fault { vector: 13, error_code: 0, why: "iretq with RFLAGS.NT set" })
    } else if cs & 3 != 3 {
        // Ring 3 cannot return to a more privileged ring.
        Err(Fault { vector: 13, error_code: cs & 0xFFFC, why: "iretq from ring 3 to CS RPL < 3" })
    } else if ss & 3 != 3 {
        Err(Fault { vector: 13, error_code: ss & 0xFFFC, why: "iretq with SS RPL != CS RPL" })
    } else {
        check_return(cs as u16, ss as u16, rip, gdt)
    };
    match checked {
        Ok(mode) => {
            ctx.rip = rip;
            ctx.cs = cs & 0xFFFF;
            ctx.rflags = (rflags & GUEST_FLAGS_MASK) | FLAG_IF | FLAG_FIXED;
            ctx.rsp = rsp;
            ctx.ss = ss & 0xFFFF;
            Ok(Completed::Returned(Returned::Resumed(mode)))
        }
        Err(f) => {
            // A faulting IRETQ pops nothing: the fault is raised at the
            // iretq itself, with the guest's registers as they were.
            bounce(ctx, vcpu, guest, roots, f.vector, Some(f.error_code))
                .map_err(|_| &"the guest's iretq faults (bad CS, SS or RIP) and the fault cannot be delivered")?;
            Ok(Completed::Returned(Returned::Faulted(f)))
        }
    }
}

#[cfg(test)]
#[path = "native_iret_tests.rs"]
mod tests;
