//! ASIDs: the tags that let the TLB keep several guests' translations at
//! once, so a VM switch needs no flush. ASID 0 is the host's; guests get
//! 1 .. `count` − 1 (`count` from CPUID 8000_000A EBX).
//!
//! Generations, as Xen's `hvm_asid` does: each vCPU remembers the ASID and
//! the generation it was handed out in. When ASIDs run out, a new generation
//! starts with the whole TLB flushed, and every vCPU gets a fresh ASID the
//! next time it runs. So an ASID is used by one vCPU per generation, and a
//! vCPU never runs on translations tagged for another.
//!
//! Pure: the arch layer writes the choice into the VMCB (ASID, TLB_CONTROL).

/// What the TLB needs before VMRUN (the VMCB's TLB_CONTROL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbFlush {
    /// Nothing: the vCPU's ASID holds only its own translations.
    None,
    /// Flush every ASID (a new generation starts).
    All,
}

/// A vCPU's ASID and the generation it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VcpuAsid {
    /// The ASID (0: none yet).
    pub asid: u32,
    /// The generation it was handed out in.
    pub generation: u64,
}

/// The CPU's ASID allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsidPool {
    count: u32,
    next: u32,
    generation: u64,
}

impl AsidPool {
    /// A pool of `count` ASIDs (the host's included); at least 2.
    pub const fn new(count: u32) -> AsidPool {
        assert!(count >= 2, "SVM needs an ASID besides the host's");
        AsidPool { count, next: 1, generation: 1 }
    }

    /// The current generation.
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// Before `v` runs: its ASID, renewed if it belongs to an old
    /// generation, and the flush due first.
    pub fn assign(&mut self, v: &mut VcpuAsid) -> TlbFlush {
        if v.asid != 0 && v.generation == self.generation {
            return TlbFlush::None;
        }
        // An ASID not yet handed out in this generation holds nothing: the
        // generation began with a full flush (or, the first one, before any
        // guest ran).
        let mut flush = TlbFlush::None;
        if self.next == self.count {
            self.generation += 1;
            self.next = 1;
            flush = TlbFlush::All;
        }
        *v = VcpuAsid { asid: self.next, generation: self.generation };
        self.next += 1;
        flush
    }

    /// The vCPU's translations must go (its p2m or shadows changed): it
    /// gets a fresh ASID next time instead of a flush now.
    pub fn retire(v: &mut VcpuAsid) {
        v.asid = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_vcpu_keeps_its_asid_without_flushes_within_a_generation() {
        let mut pool = AsidPool::new(16);
        let mut a = VcpuAsid::default();
        assert_eq!(pool.assign(&mut a), TlbFlush::None);
        assert_eq!(a.asid, 1);
        assert_eq!(pool.assign(&mut a), TlbFlush::None);
        assert_eq!(a.generation, pool.generation());
        assert_eq!(a.asid, 1);
    }

    #[test]
    fn running_out_starts_a_new_generation_with_a_full_flush() {
        let mut pool = AsidPool::new(3);
        let (mut a, mut b, mut c) = Default::default();
        pool.assign(&mut a);
        pool.assign(&mut b);
        assert_eq!((a.asid, b.asid), (1, 2));
        assert_eq!(pool.assign(&mut c), TlbFlush::All);
        assert_eq!(c.asid, 1);
        // a's ASID 1 is c's now: a is of the old generation and moves on.
        assert_eq!(pool.assign(&mut a), TlbFlush::None);
        assert_eq!(a.asid, 2);
    }

    proptest! {
        /// Random runs of 6 vCPUs on few ASIDs, with a TLB that tags each
        /// translation with the ASID and the vCPU that made it: no vCPU
        /// ever runs where another's translations are still tagged with
        /// its ASID.
        #[test]
        fn no_vcpu_ever_sees_another_vcpus_translations(count in 2u32..6, runs in proptest::collection::vec((0usize..6, any::<bool>()), 1..200)) {
            let mut pool = AsidPool::new(count);
            let mut vcpus = [VcpuAsid::default(); 6];
            // tlb[asid] = the vCPU whose translations it holds.
            let mut tlb: Vec<Option<usize>> = vec![None; count as usize];
            for (v, retire) in runs {
                if retire {
                    AsidPool::retire(&mut vcpus[v]);
                }
                match pool.assign(&mut vcpus[v]) {
                    TlbFlush::None => {}
                    TlbFlush::All => tlb.iter_mut().for_each(|t| *t = None),
                }
                let a = vcpus[v].asid as usize;
                prop_assert!(a >= 1 && a < count as usize, "ASID {} out of range", a);
                prop_assert!(tlb[a].is_none() || tlb[a] == Some(v), "vCPU {} runs on vCPU {:?}'s ASID {}", v, tlb[a], a);
                tlb[a] = Some(v);
            }
        }
    }
}
