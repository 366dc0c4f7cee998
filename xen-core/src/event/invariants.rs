//! What must hold of the event-channel tables after every operation,
//! checked by the property test after each step.

use super::{Binding, EventChannels, BUCKET, MAX_PORTS};
use abi::event_channel::{virq, FIFO_MAX_ARRAY_PAGES, FIFO_PRIORITIES};
use abi::{DomId, Mfn};

extern crate alloc;
use alloc::collections::BTreeMap;

/// The page references the event channels hold: one general and one
/// writable-type reference per registration of a FIFO control block,
/// event-array frame or vcpu_info frame, for the memory model's invariant
/// checker.
pub struct FifoRefs(BTreeMap<u64, u64>);

impl crate::mm::check::ExternalRefs for FifoRefs {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let n = self.0.get(&mfn.0).copied().unwrap_or(0);
        (n, n)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
}

impl EventChannels {
    /// The FIFO and vcpu_info frames every live domain registered, with
    /// how often.
    pub fn frame_refs(&self) -> FifoRefs {
        let mut m = BTreeMap::new();
        for d in self.doms.iter().filter(|d| d.live) {
            if let Some(mfn) = d.vcpu_info_frame {
                *m.entry(mfn.0).or_default() += 1;
            }
            if let Some(f) = &d.fifo {
                for mfn in f.control.iter().map(|c| c.0).chain(f.array[..f.pages as usize].iter().copied()) {
                    *m.entry(mfn.0).or_default() += 1;
                }
            }
        }
        FifoRefs(m)
    }

    /// Checks the tables' invariants; the first one broken is named.
    ///
    /// # Errors
    /// A description of the broken invariant.
    pub fn check(&self) -> Result<(), &'static str> {
        for (i, d) in self.doms.iter().enumerate() {
            if !d.live {
                continue;
            }
            let me = DomId(i as u16);
            if d.ports[0].binding != Binding::Reserved {
                return Err("port 0 is not reserved");
            }
            if d.valid % BUCKET != 0 || d.valid > MAX_PORTS || d.valid == 0 {
                return Err("the valid range is not whole buckets inside the table");
            }
            if d.ports[d.valid as usize..].iter().any(|p| p.binding != super::Port::FREE.binding) {
                return Err("a port past the valid range is in use");
            }
            for (n, p) in d.ports[..d.valid as usize].iter().enumerate() {
                let n = n as u32;
                if p.vcpu != 0 || p.priority as usize >= FIFO_PRIORITIES {
                    return Err("a port names a vCPU or priority that does not exist");
                }
                if n != 0 && p.binding == Binding::Reserved {
                    return Err("a port other than 0 is reserved");
                }
                match p.binding {
                    Binding::Interdomain(rd, rp) => {
                        let Some(r) = self.domain(rd) else { return Err("interdomain port to a dead domain") };
                        if r.port(rp).map(|q| q.binding) != Some(Binding::Interdomain(me, n)) {
                            return Err("interdomain ports are not each other's peers");
                        }
                    }
                    Binding::Virq(v) if v >= virq::NR || d.virq[v as usize] != n => {
                        return Err("a virq port is not in the virq table");
                    }
                    _ => {}
                }
                if p.latched && d.fifo.is_none() {
                    return Err("a latched port on the 2-level ABI");
                }
            }
            for (v, &port) in d.virq.iter().enumerate() {
                if port != 0 && d.port(port).map(|p| p.binding) != Some(Binding::Virq(v as u32)) {
                    return Err("the virq table names a port not bound to it");
                }
            }
            if let Some(f) = &d.fifo {
                if f.pages > FIFO_MAX_ARRAY_PAGES {
                    return Err("more event-array frames than the ABI allows");
                }
                if f.queues.iter().any(|q| q.tail >= d.valid.max(f.num_ports()).max(1) && q.tail != 0) {
                    return Err("a queue tail past every port");
                }
            }
        }
        Ok(())
    }
}
