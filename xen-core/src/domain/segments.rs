//! Segment selectors and descriptors as the CPU checks them when the
//! hypervisor returns to a guest with IRETQ, and what the hypervisor loads
//! into the hardware GDT for a guest descriptor.
//!
//! A guest chooses its CS and SS through `iret` (and, with the extension
//! hypercall entries, by loading its own selectors before a hypercall), so
//! the hypervisor's own IRETQ could fault on them. On Xen 4.17 such a fault
//! is reported to the guest as that very exception, raised at the target
//! of the IRETQ. xen-core predicts the fault instead of taking it: the
//! checks below are the ones IRETQ makes on a return to CPL 3 in long
//! mode, over the GDT the hypervisor loads (its reserved entries plus the
//! guest's validated descriptors). A refused return names the exception and
//! error code the hardware would have raised.
//!
//! Guest descriptors are loaded only after [`descriptor_ok`] accepts them
//! (the same rule `set_gdt` applies when a frame takes the descriptor-page
//! type); one that fails it is loaded as a null (not-present) descriptor,
//! so a frame changed behind the model's back can never put a gate or a
//! TSS into the hardware GDT. Code and data descriptors get DPL 3, since
//! the guest kernel runs in ring 3.

use crate::mm::gdt::descriptor_ok;
use crate::mm::{DomainMm, PhysAddr, PhysMemory};
use abi::traps::{FIRST_RESERVED_GDT_ENTRY, FLAT_RING3_CS64, FLAT_RING3_SS64};

/// Entries in the hardware GDT: the guest's 7168 and the hypervisor's
/// page of 512. A selector with a higher index is beyond the GDT limit.
pub const GDT_ENTRIES: usize = FIRST_RESERVED_GDT_ENTRY + 512;

/// Descriptor bits.
const WRITABLE: u64 = 1 << 41; // data segments (readable, for code)
const CONFORMING: u64 = 1 << 42; // code only (data: expand-down)
const CODE: u64 = 1 << 43;
const CODE_OR_DATA: u64 = 1 << 44;
const DPL_SHIFT: u32 = 45;
const PRESENT: u64 = 1 << 47;
const LONG: u64 = 1 << 53;
const DEFAULT_32: u64 = 1 << 54;
const GRANULARITY: u64 = 1 << 55;

/// The hypervisor's descriptors (GDT page 14), by selector. The TSS's base
/// is filled in at boot; its type is all that matters here (a system
/// descriptor, never a code or stack segment).
pub const RESERVED_DESCRIPTORS: [(u16, u64); 6] = [
    (0xE008, 0x00AF_9A00_0000_FFFF), // hypervisor 64-bit code, DPL 0
    (0xE010, 0x00CF_9200_0000_FFFF), // hypervisor data, DPL 0
    (0xE020, 0x00CF_FA00_0000_FFFF), // FLAT_RING3_CS32: 32-bit code, DPL 3
    (0xE028, 0x00CF_F200_0000_FFFF), // FLAT_RING3_DS32/SS64: data, DPL 3
    (0xE030, 0x00AF_FA00_0000_FFFF), // FLAT_RING3_CS64: 64-bit code, DPL 3
    (0xE040, 0x0000_8900_0000_0067), // TSS (system descriptor, DPL 0)
];

/// What the hardware GDT holds for guest descriptor `d`: `d` with DPL 3 if
/// it is a present code or data descriptor, `d` unchanged if it is not
/// present, and null if [`descriptor_ok`] refuses it.
pub const fn hardware_descriptor(d: u64) -> u64 {
    if !descriptor_ok(d) {
        0
    } else if d & PRESENT != 0 {
        d | (3 << DPL_SHIFT)
    } else {
        d
    }
}

/// The GDT as the hardware sees it while a domain runs: the reserved
/// entries, the domain's first `guest_entries` descriptors as
/// [`hardware_descriptor`] loads them, null everywhere else.
pub struct GdtView<F: Fn(usize) -> u64> {
    /// Guest descriptors in use (`set_gdt`'s `entries`).
    pub guest_entries: usize,
    /// Entries of the domain's LDT (`MMUEXT_SET_LDT`; 0: none).
    pub ldt_entries: usize,
    /// Reads the guest's raw GDT descriptor `i` (`i < guest_entries`), or
    /// with `i` = [`LDT_INDEX`] + `n` its LDT descriptor `n` (`n <
    /// ldt_entries`), 0 if that LDT page is not mapped yet.
    pub read: F,
}

/// Added to an LDT index for [`GdtView::read`].
pub const LDT_INDEX: usize = 1 << 16;

impl<F: Fn(usize) -> u64> GdtView<F> {
    /// The descriptor `selector` names as the hardware holds it, or `None`
    /// if it is beyond the GDT or LDT limit. The hardware LDT holds the
    /// mapped pages' descriptors as [`hardware_descriptor`] loads them and
    /// null for pages not mapped yet (see [`crate::mm::ldt`]).
    pub fn descriptor(&self, selector: u16) -> Option<u64> {
        let index = usize::from(selector >> 3);
        if selector & 4 != 0 {
            return (index < self.ldt_entries).then(|| hardware_descriptor((self.read)(LDT_INDEX + index)));
        }
        if index >= GDT_ENTRIES {
            return None;
        }
        if index >= FIRST_RESERVED_GDT_ENTRY {
            let found = RESERVED_DESCRIPTORS.iter().find(|(sel, _)| *sel >> 3 == selector >> 3);
            return Some(found.map_or(0, |(_, d)| *d));
        }
        Some(if index < self.guest_entries.min(FIRST_RESERVED_GDT_ENTRY) {
            hardware_descriptor((self.read)(index))
        } else {
            0
        })
    }
}

/// The GDT domain `d` runs with, its descriptors read from its `set_gdt`
/// frames in `mem`.
pub fn domain_gdt<'a, M: PhysMemory>(mem: &'a M, d: &'a DomainMm) -> GdtView<impl Fn(usize) -> u64 + 'a> {
    let read = move |i: usize| {
        if i >= LDT_INDEX {
            let n = i - LDT_INDEX;
            return d.ldt_frames[n / 512].map_or(0, |m| mem.read_u64(PhysAddr(m.to_maddr() + (n % 512) as u64 * 8)));
        }
        mem.read_u64(PhysAddr(d.gdt[i / 512].to_maddr() + (i % 512) as u64 * 8))
    };
    GdtView { guest_entries: usize::from(d.gdt_entries), ldt_entries: d.ldt.entries as usize, read }
}

/// The mode a return lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 64-bit mode (CS.L = 1).
    Long,
    /// Compatibility mode: 32- or 16-bit code under a 64-bit kernel.
    Compat,
}

/// An exception a return would raise, as the hardware reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// 13 (#GP), 11 (#NP) or 12 (#SS).
    pub vector: u8,
    /// The selector with its RPL bits cleared, or 0.
    pub error_code: u64,
    /// The rule that refused it, for the log line.
    pub why: &'static str,
}

const fn gp(error_code: u64, why: &'static str) -> Fault {
    Fault { vector: 13, error_code, why }
}

const fn dpl(d: u64) -> u64 {
    (d >> DPL_SHIFT) & 3
}

/// Highest offset a segment allows, in bytes.
const fn limit(d: u64) -> u64 {
    let raw = (d & 0xFFFF) | ((d >> 32) & 0xF_0000);
    if d & GRANULARITY != 0 {
        (raw << 12) | 0xFFF
    } else {
        raw
    }
}

/// Whether `va` is canonical (48-bit virtual addresses).
pub(crate) const fn canonical(va: u64) -> bool {
    va < (1 << 47) || va >= 0xFFFF_8000_0000_0000
}

/// Checks a return to CPL 3 at `cs:rip` with stack `ss` (both with RPL 3,
/// as the hypervisor forces it), in the order IRETQ checks them: CS, SS,
/// then RIP against the mode CS selects.
///
/// # Errors
/// The [`Fault`] the hardware would raise:
/// * CS null → #GP(0); in the LDT, beyond the GDT, not a code segment, or
///   non-conforming with DPL ≠ 3 → #GP(CS); not present → #NP(CS);
///   L and D both set (reserved) → #GP(CS).
/// * SS null → #GP(0); in the LDT, beyond the GDT, not a writable data
///   segment, or DPL ≠ 3 → #GP(SS); not present → #SS(SS).
/// * RIP non-canonical in 64-bit mode, or beyond the CS limit in
///   compatibility mode → #GP(0).
#[inline(always)]
pub fn check_return<F: Fn(usize) -> u64>(cs: u16, ss: u16, rip: u64, gdt: &GdtView<F>) -> Result<Mode, Fault> {
    // The common return, to the flat 64-bit selectors: their descriptors
    // are the hypervisor's own (DPL 3 long-mode code, DPL 3 writable data),
    // which no guest can change, so no table lookup is needed.
    if cs | 3 == FLAT_RING3_CS64 && ss | 3 == FLAT_RING3_SS64 {
        return if canonical(rip) { Ok(Mode::Long) } else { Err(gp(0, "non-canonical RIP")) };
    }
    check_return_in_tables(cs, ss, rip, gdt)
}

/// [`check_return`] by the descriptor tables, for any selectors.
#[inline(never)]
fn check_return_in_tables<F: Fn(usize) -> u64>(cs: u16, ss: u16, rip: u64, gdt: &GdtView<F>) -> Result<Mode, Fault> {
    let (cs_code, ss_code) = (u64::from(cs & !3), u64::from(ss & !3));
    if cs & !3 == 0 {
        return Err(gp(0, "null code selector"));
    }
    let code = gdt.descriptor(cs).ok_or(gp(cs_code, "code selector in the LDT or beyond the GDT"))?;
    if code & CODE_OR_DATA == 0 || code & CODE == 0 {
        return Err(gp(cs_code, "code selector names no code segment"));
    }
    if code & CONFORMING == 0 && dpl(code) != 3 {
        return Err(gp(cs_code, "code segment is not DPL 3"));
    }
    if code & PRESENT == 0 {
        return Err(Fault { vector: 11, error_code: cs_code, why: "code segment not present" });
    }
    if code & LONG != 0 && code & DEFAULT_32 != 0 {
        return Err(gp(cs_code, "code segment has both L and D set"));
    }
    if ss & !3 == 0 {
        return Err(gp(0, "null stack selector"));
    }
    let stack = gdt.descriptor(ss).ok_or(gp(ss_code, "stack selector in the LDT or beyond the GDT"))?;
    if stack & CODE_OR_DATA == 0 || stack & CODE != 0 || stack & WRITABLE == 0 {
        return Err(gp(ss_code, "stack selector names no writable data segment"));
    }
    if dpl(stack) != 3 {
        return Err(gp(ss_code, "stack segment is not DPL 3"));
    }
    if stack & PRESENT == 0 {
        return Err(Fault { vector: 12, error_code: ss_code, why: "stack segment not present" });
    }
    if code & LONG != 0 {
        if !canonical(rip) {
            return Err(gp(0, "non-canonical RIP"));
        }
        Ok(Mode::Long)
    } else {
        if rip > limit(code) {
            return Err(gp(0, "RIP beyond the code segment limit"));
        }
        Ok(Mode::Compat)
    }
}

#[cfg(test)]
#[path = "segments_tests.rs"]
mod tests;
