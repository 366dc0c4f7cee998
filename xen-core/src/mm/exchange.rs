//! `XENMEM_exchange` (`memory_op` 11, platform fact sheet §8.2): a domain
//! gives up extents of one order and gets the same number of pages back as
//! extents of another, for example 512 scattered frames for one
//! machine-contiguous 2 MiB extent (what Linux's swiotlb-xen asks for).
//!
//! The checks come in Xen's order, each with Xen's errno: orders above the
//! limit `EPERM`; bad progress, different domains, sizes that overflow or
//! differ `EINVAL`; nothing left to do succeeds at once; either guest array
//! not wholly in guest space over the part still to do, end and overflow
//! included, `EFAULT` (XSA-212: only the start used to be checked, and the
//! MFNs written back could land in the hypervisor); bad NUMA flags
//! `EINVAL`; an unknown domain `ESRCH`, another one without privilege
//! `EPERM`.
//!
//! Then chunk by chunk (one extent of the larger order): the chunk's input
//! pages are taken, each of which must be the domain's, not a hypervisor
//! frame, and held by nothing but its allocation (unmapped, untyped,
//! unpinned), else `EINVAL`; its output extents are allocated, scrubbed
//! (`ENOMEM` if short); then the inputs are freed and the outputs assigned,
//! with their M2P entries set to the PFNs read from the output array and
//! their MFNs written back over them. A chunk that fails before that point
//! is undone; chunks done before it stay done, and `nr_exchanged` says how
//! many input extents that is. Between chunks the call may be preempted.

use super::model::{Mm, MmHooks};
use super::reservation::{ExtentArray, MAX_ORDER};
use super::PhysMemory;
use abi::{DomId, Errno, GuestVa, Mfn};

/// One side of an exchange (a `xen_memory_reservation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeSide {
    /// Guest address of the array of frame numbers.
    pub extent_start: u64,
    /// Extents on this side.
    pub nr_extents: u64,
    /// Each extent is 2^order pages.
    pub extent_order: u32,
    /// Output side: address bits (7:0) and NUMA node (15:8) of the new
    /// extents. Ignored on the input side, as on Xen.
    pub mem_flags: u32,
    /// The domain whose memory it is, as the guest gave it.
    pub domid: DomId,
}

/// A `xen_memory_exchange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The extents given up, by MFN.
    pub input: ExchangeSide,
    /// The extents wanted: PFNs in, MFNs out.
    pub output: ExchangeSide,
    /// Input extents already exchanged.
    pub nr_exchanged: u64,
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeDone {
    /// Progress to write back into `nr_exchanged`, if the call writes it.
    pub nr_exchanged: Option<u64>,
    /// `Err(ERESTART)`: preempted; the same arguments continue it.
    pub result: Result<(), Errno>,
}

impl ExchangeDone {
    const fn stop(nr_exchanged: u64, result: Result<(), Errno>) -> ExchangeDone {
        ExchangeDone { nr_exchanged: Some(nr_exchanged), result }
    }
}

/// Most output extents of one chunk.
const MAX_CHUNK_OUTPUTS: usize = 1 << MAX_ORDER;
/// `XENMEMF_exact_node_request`.
const EXACT_NODE: u32 = 1 << 17;

/// Whether elements `[first, end)` of the array of `size`-byte elements at
/// `base` lie in guest space, end included and without overflow (Xen's
/// `guest_handle_subrange_okay`, with the end checked too).
pub fn subrange_in_guest_space(base: u64, first: u64, end: u64, size: u64) -> bool {
    let Some(len) = end.checked_sub(first).and_then(|n| n.checked_mul(size)) else { return false };
    let Some(start) = first.checked_mul(size).and_then(|o| base.checked_add(o)) else { return false };
    GuestVa(start).range_is_guest_accessible(len)
}

/// The guest's arrays for one exchange.
pub struct ExchangeArrays<'a> {
    /// Input MFNs.
    pub input: &'a mut dyn ExtentArray,
    /// Output PFNs, overwritten with MFNs.
    pub output: &'a mut dyn ExtentArray,
}

/// Where one chunk's pages are.
#[derive(Clone, Copy)]
struct Chunk {
    dom: DomId,
    /// First input extent and how many.
    in_first: u64,
    inputs: u64,
    in_order: u32,
    /// First output extent and how many.
    out_first: u64,
    outputs: usize,
    out_order: u32,
    /// Highest address bit the outputs may use (0: any).
    address_bits: u32,
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// `XENMEM_exchange` for `caller`. Reading the argument, writing
    /// `nr_exchanged` back and continuing after `ERESTART` are the caller's.
    pub fn exchange(&mut self, caller: DomId, x: &Exchange, arrays: &mut ExchangeArrays<'_>) -> ExchangeDone {
        let early = |e| ExchangeDone::stop(x.nr_exchanged, Err(e));
        let (i, o) = (&x.input, &x.output);
        if i.extent_order.max(o.extent_order) > MAX_ORDER {
            return early(self.refuse(Errno::EPERM, "exchange order above the limit"));
        }
        if x.nr_exchanged > i.nr_extents
            || i.domid != o.domid
            || (u64::MAX >> i.extent_order) < i.nr_extents
            || (u64::MAX >> o.extent_order) < o.nr_extents
            || i.nr_extents << i.extent_order != o.nr_extents << o.extent_order
        {
            return early(self.refuse(Errno::EINVAL, "exchange progress, domains or sizes inconsistent"));
        }
        if x.nr_exchanged == i.nr_extents {
            return ExchangeDone { nr_exchanged: None, result: Ok(()) };
        }
        // A chunk is one extent of the larger order.
        let (in_chunk, out_chunk) = if i.extent_order <= o.extent_order {
            (o.extent_order - i.extent_order, 0)
        } else {
            (0, i.extent_order - o.extent_order)
        };
        let out_done = if in_chunk > 0 { x.nr_exchanged >> in_chunk } else { x.nr_exchanged << out_chunk };
        if !subrange_in_guest_space(i.extent_start, x.nr_exchanged, i.nr_extents, 8)
            || !subrange_in_guest_space(o.extent_start, out_done, o.nr_extents, 8)
        {
            return early(self.refuse(Errno::EFAULT, "exchange array not wholly in guest space (XSA-212)"));
        }
        if !self.node_acceptable(caller, o.mem_flags) {
            return early(self.refuse(Errno::EINVAL, "exchange NUMA node not allowed"));
        }
        let dom = if i.domid == DomId::SELF { caller } else { i.domid };
        if self.domain(dom).is_none() {
            return early(self.refuse(Errno::ESRCH, "no such domain"));
        }
        if !self.may_act_on(caller, dom) {
            return early(self.refuse(Errno::EPERM, "exchange of another domain's memory without privilege"));
        }
        let first = x.nr_exchanged >> in_chunk;
        for c in first..i.nr_extents >> in_chunk {
            if c != first && self.hooks.preempt_batch(1 << i.extent_order.max(o.extent_order)) {
                return ExchangeDone::stop(c << in_chunk, Err(Errno::ERESTART));
            }
            let chunk = Chunk {
                dom,
                in_first: c << in_chunk,
                inputs: 1 << in_chunk,
                in_order: i.extent_order,
                out_first: c << out_chunk,
                outputs: 1 << out_chunk,
                out_order: o.extent_order,
                address_bits: o.mem_flags & 0xFF,
            };
            if let Err(e) = self.exchange_chunk(&chunk, arrays) {
                return ExchangeDone::stop(c << in_chunk, Err(e));
            }
        }
        ExchangeDone::stop(i.nr_extents, Ok(()))
    }

    /// Xen's rule for the output NUMA node: none is always fine; the
    /// control or hardware domain may name any node below 64 (there is one,
    /// so the placement is moot); others may not insist on one.
    fn node_acceptable(&self, caller: DomId, flags: u32) -> bool {
        let node = ((flags >> 8) & 0xFF).wrapping_sub(1) & 0xFF;
        if node == 0xFF {
            return true;
        }
        if self.domain(caller).is_some_and(|d| d.privileged || d.io_caps) {
            node < 64
        } else {
            flags & EXACT_NODE == 0
        }
    }

    fn exchange_chunk(&mut self, c: &Chunk, arrays: &mut ExchangeArrays<'_>) -> Result<(), Errno> {
        let mut taken = 0;
        if let Err(e) = self.take_inputs(c, arrays.input, &mut taken) {
            self.each_input(c, arrays.input, taken, |mm, mfn| mm.put_page(mfn));
            return Err(e);
        }
        let mut outs = [Mfn(0); MAX_CHUNK_OUTPUTS];
        for j in 0..c.outputs {
            match self.hooks.alloc_extent(c.out_order) {
                Some(m) if below(c.address_bits, m, c.out_order) => outs[j] = m,
                other => {
                    if let Some(m) = other {
                        self.free_unassigned(m, c.out_order);
                    }
                    for &m in &outs[..j] {
                        self.free_unassigned(m, c.out_order);
                    }
                    self.each_input(c, arrays.input, taken, |mm, mfn| mm.put_page(mfn));
                    return Err(self.refuse(Errno::ENOMEM, "no memory (below the address limit) for exchange outputs"));
                }
            }
        }
        // Nothing can fail from here on but writing the results back.
        self.each_input(c, arrays.input, taken, |mm, mfn| {
            let _ = mm.release_frame(c.dom, mfn);
            mm.put_page(mfn);
        });
        let mut result = Ok(());
        for (j, &m) in outs[..c.outputs].iter().enumerate() {
            for k in 0..1 << c.out_order {
                self.assign_frame(Mfn(m.0 + k), c.dom);
            }
            let index = c.out_first + j as u64;
            let Ok(gpfn) = arrays.output.read(index) else {
                result = Err(Errno::EFAULT);
                continue;
            };
            for k in 0..1 << c.out_order {
                self.m2p[(m.0 + k) as usize] = gpfn.wrapping_add(k);
            }
            if arrays.output.write(index, m.0).is_err() {
                result = Err(Errno::EFAULT);
            }
        }
        result
    }

    /// Takes a reference on every input page of the chunk, each of which
    /// must hold nothing but its allocation reference; counts them in
    /// `taken`. A page named twice fails the second time (it then holds two).
    fn take_inputs(&mut self, c: &Chunk, input: &mut dyn ExtentArray, taken: &mut u64) -> Result<(), Errno> {
        for j in 0..c.inputs {
            let gmfn = input.read(c.in_first + j)?;
            for k in 0..1u64 << c.in_order {
                let Some(mfn) = gmfn.checked_add(k).map(Mfn).filter(|&m| self.is_ram(m)) else {
                    return Err(self.refuse(Errno::EINVAL, "exchange input frame not RAM"));
                };
                let info = self.info(mfn);
                if info.owner() != c.dom || !info.allocated() || info.xen_heap() || info.count() != 1 {
                    return Err(self.refuse(Errno::EINVAL, "exchange input frame in use or not the domain's"));
                }
                self.get_page(mfn, c.dom).map_err(|_| self.refuse(Errno::EINVAL, "exchange input frame reference"))?;
                *taken += 1;
            }
        }
        Ok(())
    }

    /// Runs `f` on the first `n` input pages of the chunk, in the order
    /// [`Mm::take_inputs`] took them (the array is read again: nothing has
    /// written guest memory since).
    fn each_input(&mut self, c: &Chunk, input: &mut dyn ExtentArray, n: u64, mut f: impl FnMut(&mut Self, Mfn)) {
        let mut left = n;
        for j in 0..c.inputs {
            let Ok(gmfn) = input.read(c.in_first + j) else { return };
            for k in 0..1u64 << c.in_order {
                if left == 0 {
                    return;
                }
                left -= 1;
                f(self, Mfn(gmfn + k));
            }
        }
    }

    /// Gives an allocated but never assigned extent back.
    fn free_unassigned(&mut self, first: Mfn, order: u32) {
        for k in 0..1 << order {
            self.hooks.frame_freed(Mfn(first.0 + k));
        }
    }
}

/// Whether the 2^`order` frames from `first` lie below 2^`bits` bytes
/// (`bits` 0: no limit).
fn below(bits: u32, first: Mfn, order: u32) -> bool {
    bits == 0 || bits >= 64 || first.0.saturating_add(1 << order).saturating_mul(4096) <= 1u64 << bits
}
