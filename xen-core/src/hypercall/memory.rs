//! `memory_op` (12): the balloon (`increase_reservation`,
//! `decrease_reservation`, `populate_physmap`), `exchange` and the
//! reservation queries. Other sub-ops return `-ENOSYS`.

use super::{Call, ConsoleSink, Guest, GuestMemory};
use crate::domain::vcpu::reg;
use crate::mm::exchange::{subrange_in_guest_space, Exchange, ExchangeArrays, ExchangeSide};
use crate::mm::reservation::{ExtentArray, ExtentsDone, Reservation};
use crate::mm::{MmHooks, PhysMemory};
use abi::memory::*;
use abi::{DomId, Errno};

/// `extent_start` in guest memory; each element is checked on its own.
struct GuestExtents<'g, G: GuestMemory> {
    guest: &'g G,
    base: u64,
}

impl<G: GuestMemory> GuestExtents<'_, G> {
    fn at(&self, i: u64) -> Result<u64, Errno> {
        i.checked_mul(8).and_then(|o| self.base.checked_add(o)).ok_or(Errno::EFAULT)
    }
}

impl<G: GuestMemory> ExtentArray for GuestExtents<'_, G> {
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        Guest(self.guest).read_u64(self.at(i)?)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        Guest(self.guest).write_u64(self.at(i)?, v)
    }
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `memory_op(cmd, arg)`.
    pub(super) fn memory_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let op = cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1);
        let start_extent = cmd >> MEMOP_EXTENT_SHIFT;
        match op {
            XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
                if start_extent != 0 {
                    return Err(Errno::EINVAL);
                }
                let raw = DomId(self.mem().read_u16(arg)?);
                let target = if raw == DomId::SELF { self.dom } else { raw };
                let d = *self.mm.domain(target).ok_or(Errno::ESRCH)?;
                if target != self.dom && !self.privileged() {
                    return Err(Errno::EPERM);
                }
                Ok(if op == XENMEM_CURRENT_RESERVATION { d.tot_pages } else { d.max_pages })
            }
            XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
                let r = self.reservation(op, start_extent, arg);
                if r.preempted {
                    // Xen's continuation: the progress rides in the command.
                    self.ctx.gpr[reg::RDI] = op | (r.done << MEMOP_EXTENT_SHIFT);
                    return Err(Errno::ERESTART);
                }
                Ok(r.done)
            }
            XENMEM_EXCHANGE => {
                if start_extent != 0 {
                    return Err(Errno::EINVAL);
                }
                self.exchange(arg)
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `exchange`: reads the 72-byte argument, runs it, and writes
    /// `nr_exchanged` back whenever Xen does (a failed write is `EFAULT`).
    /// When preempted, the arguments stay as they are: the progress is in
    /// the guest's structure.
    fn exchange(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut raw = [0u8; 72];
        self.mem().read(arg, &mut raw)?;
        let word = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
        let half = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap_or([0; 4]));
        let side = |o: usize| ExchangeSide {
            extent_start: word(o),
            nr_extents: word(o + 8),
            extent_order: half(o + 16),
            mem_flags: half(o + 20),
            domid: DomId(u16::from_le_bytes([raw[o + 24], raw[o + 25]])),
        };
        let x = Exchange { input: side(0), output: side(32), nr_exchanged: word(64) };
        let mut input = GuestExtents { guest: self.guest, base: x.input.extent_start };
        let mut output = GuestExtents { guest: self.guest, base: x.output.extent_start };
        let dom = self.dom;
        let done = self.mm.exchange(dom, &x, &mut ExchangeArrays { input: &mut input, output: &mut output });
        if let Some(n) = done.nr_exchanged {
            self.mem().write_u64(arg + 64, n)?;
        }
        done.result.map(|()| 0)
    }

    /// The balloon sub-ops. Every refusal (unreadable argument, unknown or
    /// forbidden domain, unsupported flags, bad counts, an array not wholly
    /// in guest space) does nothing and returns `start_extent`, as on Xen.
    fn reservation(&mut self, op: u64, start: u64, arg: u64) -> ExtentsDone {
        let refused = ExtentsDone { done: start, preempted: false };
        let mut raw = [0u8; 32];
        if self.mem().read(arg, &mut raw).is_err() {
            return refused;
        }
        let word = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
        let extent_start = word(0);
        let nr_extents = word(8);
        let extent_order = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
        let mem_flags = u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]]);
        let raw_dom = DomId(u16::from_le_bytes([raw[24], raw[25]]));
        let target = if raw_dom == DomId::SELF { self.dom } else { raw_dom };
        if self.mm.domain(target).is_none() || (target != self.dom && !self.privileged()) {
            return refused;
        }
        // Address-width limits, NUMA placement and populate-on-demand are
        // not supported: such requests are refused whole.
        if mem_flags != 0 {
            return refused;
        }
        let r = Reservation { nr_extents, extent_order, start };
        if !r.acceptable() {
            return refused;
        }
        // The part of the array still to do must lie in guest space, end
        // included (XSA-212); each element is checked again when accessed.
        let optional = op == XENMEM_INCREASE_RESERVATION && extent_start == 0;
        if !optional && !subrange_in_guest_space(extent_start, start, nr_extents, 8) {
            return refused;
        }
        let mut array = GuestExtents { guest: self.guest, base: extent_start };
        let done = match op {
            XENMEM_INCREASE_RESERVATION => {
                let array: Option<&mut dyn ExtentArray> = if extent_start == 0 { None } else { Some(&mut array) };
                self.mm.increase_reservation(target, r, array)
            }
            XENMEM_DECREASE_RESERVATION => self.mm.decrease_reservation(target, r, &mut array),
            _ => self.mm.populate_physmap(target, r, &mut array),
        };
        // Debug only: the balloon may call this thousands of times, and an
        // info line costs about 2,900 instructions per call.
        if done.done != start {
            if let Some(d) = self.mm.domain(target) {
                log::debug!(
                    "domain {}: memory {} of at most {} pages after {} extents of order {extent_order}",
                    target.0,
                    d.tot_pages,
                    d.max_pages,
                    done.done - start
                );
            }
        }
        done
    }
}
