//! The balloon driver: gives frames back to the hypervisor and takes new
//! ones, following a list of targets from the command line
//! (`balloon=16M,8M,24M`). Frames leave from the top of the free PFN range
//! and come back in reverse order, so the ballooned range is contiguous.
//! Every frame taken again is mapped once and checked to be zeroed.

use abi::mmu::pte::*;
use abi::mmu::UVMF_INVLPG;
use abi::{guest, DomId};
use guest_kernel::arch::x86_64::mem;
use guest_kernel::say;

/// A p2m entry with no frame behind it.
const INVALID_MFN: u64 = u64::MAX;
const BATCH: usize = 1024;

/// Balloon state over the story's free-frame allocator.
pub struct Balloon {
    /// Pages given back so far (and not taken again).
    pub out: u64,
}

impl Balloon {
    /// Moves the reservation to `target` bytes; `next_free` is the story's
    /// free-PFN cursor (counting down), `p2m` the p2m list, `probe` a mapped
    /// scratch VA used to check new frames are zeroed.
    pub fn set_target(&mut self, target: u64, next_free: &mut u64, p2m: u64, probe: (u64, u64)) -> bool {
        let current = guest::current_reservation(DomId::SELF).unwrap_or(0);
        let want = target / 4096;
        if want < current {
            let mut left = current - want;
            while left > 0 {
                let n = left.min(BATCH as u64) as usize;
                let mut mfns = [abi::Mfn(0); BATCH];
                for (k, slot) in mfns[..n].iter_mut().enumerate() {
                    let pfn = *next_free - k as u64;
                    *slot = abi::Mfn(mem::read(p2m + pfn * 8));
                }
                let done = mem::decrease(&mut mfns[..n]);
                for k in 0..done {
                    let pfn = *next_free - k;
                    mem::write(p2m + pfn * 8, INVALID_MFN);
                }
                *next_free -= done;
                self.out += done;
                if done as usize != n {
                    say!("balloon: decrease_reservation stopped after {done} of {n} pages");
                    return false;
                }
                left -= done;
            }
            report(target, "gave back", current - want)
        } else if want > current {
            let n = (want - current).min(self.out);
            let mut left = n;
            let mut zeroed = true;
            while left > 0 {
                let k = left.min(BATCH as u64) as usize;
                let mut gpfns = [abi::Pfn(0); BATCH];
                for (j, slot) in gpfns[..k].iter_mut().enumerate() {
                    *slot = abi::Pfn(*next_free + 1 + j as u64);
                }
                let mut mfns = [abi::Mfn(0); BATCH];
                let done = guest::populate_physmap(&gpfns[..k], &mut mfns);
                for (j, &mfn) in mfns[..done as usize].iter().enumerate() {
                    mem::write(p2m + (*next_free + 1 + j as u64) * 8, mfn.0);
                }
                for &abi::Mfn(mfn) in &mfns[..done as usize] {
                    zeroed &= is_zeroed(mfn, probe);
                }
                *next_free += done;
                self.out -= done;
                if done as usize != k {
                    say!("balloon: populate_physmap stopped after {done} of {k} pages");
                    return false;
                }
                left -= done;
            }
            if !zeroed {
                say!("balloon: a frame from populate_physmap was not zeroed");
                return false;
            }
            report(target, "took back (zeroed)", n)
        } else {
            report(target, "no change,", 0)
        }
    }
}

fn report(target: u64, what: &str, pages: u64) -> bool {
    let now = guest::current_reservation(DomId::SELF).unwrap_or(0);
    let max = guest::maximum_reservation(DomId::SELF).unwrap_or(0);
    say!(
        "balloon: target {} MiB: {what} {pages} pages; reservation now {now} pages ({} MiB) of {max}",
        target >> 20,
        now >> 8
    );
    true
}

/// Maps `mfn` at the probe address for a moment and checks it reads as
/// zeroes; `probe` is (address, its usual PTE).
fn is_zeroed(mfn: u64, probe: (u64, u64)) -> bool {
    let (va, usual) = probe;
    if mem::update_va(va, (mfn << 12) | PRESENT | USER | ACCESSED, UVMF_INVLPG).is_err() {
        return false;
    }
    let zero = (0..512).all(|i| mem::read(va + i * 8) == 0);
    let _ = mem::update_va(va, usual, UVMF_INVLPG);
    zero
}
