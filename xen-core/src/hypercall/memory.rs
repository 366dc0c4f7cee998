//! `memory_op` (12): the balloon (`increase_reservation`,
//! `decrease_reservation`, `populate_physmap`), `exchange` and the
//! reservation queries; `add_to_physmap` refused as Xen refuses it a PV
//! domain. Other sub-ops return `-ENOSYS`.

use super::guest_mem::CheckedArray;
use super::{Args, Call, ConsoleSink, Guest, GuestMemory};
use crate::mm::exchange::{Exchange, ExchangeArrays, ExchangeSide};
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
    // Whole words, one range check and one `mov` each (a byte copy costs
    // one count per byte under icount).
    #[inline(always)]
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        let [w] = Guest(self.guest).read_array(self.at(i)?)?;
        Ok(w)
    }
    #[inline(always)]
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        Guest(self.guest).write_array(self.at(i)?, &[v])
    }
}

/// `extent_start` of a balloon sub-op: the part still to do was checked
/// once to lie in guest space, so an element needs only its index test.
struct CheckedExtents<'g, G: GuestMemory> {
    guest: &'g G,
    at: CheckedArray<1>,
}

impl<G: GuestMemory> ExtentArray for CheckedExtents<'_, G> {
    // One `mov` each, read or written when it is used (XSA-212: never an
    // element outside the checked part).
    #[inline(always)]
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        let at = self.at.element(i).ok_or(Errno::EFAULT)?;
        let [w] = self.guest.load(at).ok_or(Errno::EFAULT)?;
        Ok(w)
    }
    #[inline(always)]
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        let at = self.at.element(i).ok_or(Errno::EFAULT)?;
        if self.guest.store(at, &[v]) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }
}

/// The highest MFN the M2P may describe: for the hardware domain, the last
/// RAM frame (xen-core has no memory hotplug, as Xen without it); for other
/// domains, the M2P area's capacity.
pub const fn machphys_max_mfn(hardware: bool, max_page: u64) -> u64 {
    if hardware {
        max_page.saturating_sub(1)
    } else {
        (abi::MACH2PHYS_VIRT_END - abi::MACH2PHYS_VIRT_START) / 8 - 1
    }
}

/// The number of 2 MiB pieces of the M2P that cover `max_page` entries.
pub const fn m2p_extents(max_page: u64) -> u64 {
    (max_page * 8).div_ceil(1 << 21)
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `memory_op(cmd, arg)`.
    pub(super) fn memory_op(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let [cmd, arg, ..] = *a;
        let op = cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1);
        let start_extent = cmd >> MEMOP_EXTENT_SHIFT;
        match op {
            XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
                if start_extent != 0 {
                    return Err(Errno::EINVAL);
                }
                let raw = DomId(self.mem().read_u16(arg)?);
                let target = if raw == DomId::SELF { self.dom } else { raw };
                let d = *self.hv.mm.domain(target).ok_or(Errno::ESRCH)?;
                if target != self.dom && !self.privileged() {
                    return Err(Errno::EPERM);
                }
                Ok(if op == XENMEM_CURRENT_RESERVATION { d.tot_pages } else { d.max_pages })
            }
            XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
                let r = self.reservation(op, start_extent, arg);
                if r.preempted {
                    // Xen's continuation: the progress rides in the command.
                    a[0] = op | (r.done << MEMOP_EXTENT_SHIFT);
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
            XENMEM_MAXIMUM_RAM_PAGE if start_extent != 0 => Err(Errno::EINVAL),
            XENMEM_MAXIMUM_RAM_PAGE => Ok(self.hv.host.max_page),
            XENMEM_ADD_TO_PHYSMAP | XENMEM_ADD_TO_PHYSMAP_BATCH => self.add_to_physmap(op, start_extent, arg),
            // The remaining sub-ops are Xen's arch ones, which match the
            // whole command: progress bits make them unknown.
            _ if start_extent != 0 => Err(Errno::ENOSYS),
            XENMEM_MACHPHYS_MAPPING => {
                let hardware = self.hv.mm.domain(self.dom).is_some_and(|d| d.io_caps);
                let mut out = [0u8; 24];
                out[..8].copy_from_slice(&abi::MACH2PHYS_VIRT_START.to_le_bytes());
                out[8..16].copy_from_slice(&abi::MACH2PHYS_VIRT_END.to_le_bytes());
                out[16..].copy_from_slice(&machphys_max_mfn(hardware, self.hv.host.max_page).to_le_bytes());
                self.mem().write(arg, &out).map(|()| 0)
            }
            XENMEM_MACHPHYS_MFN_LIST => self.machphys_mfn_list(arg),
            XENMEM_MEMORY_MAP => self.memory_map(arg),
            XENMEM_MACHINE_MEMORY_MAP => self.machine_memory_map(arg),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `add_to_physmap` and its batch: for translated guests only, so every
    /// domain here (all PV) is refused, with Xen 4.17's checks in Xen's
    /// order: progress beyond the 16-bit `size` is `-EDOM`, an unreadable
    /// argument `-EFAULT`, the space the call form does not take
    /// (`gmfn_foreign` unbatched: `-ENOSYS`; `gmfn_range` batched:
    /// `-EOPNOTSUPP`), an unknown domain `-ESRCH`, and then `-EACCES` (the
    /// target is not translated) before any privilege check.
    fn add_to_physmap(&mut self, op: u64, start_extent: u64, arg: u64) -> Result<u64, Errno> {
        if start_extent > u64::from(u16::MAX) {
            return Err(Errno::EDOM);
        }
        let batch = op == XENMEM_ADD_TO_PHYSMAP_BATCH;
        let mut raw = [0u8; 32];
        let len = if batch { 32 } else { 24 };
        self.mem().read(arg, &mut raw[..len])?;
        let domid = DomId(u16::from_le_bytes([raw[0], raw[1]]));
        let space = if batch {
            u32::from(u16::from_le_bytes([raw[2], raw[3]]))
        } else {
            u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]])
        };
        if !batch && space == XENMAPSPACE_GMFN_FOREIGN {
            return Err(Errno::ENOSYS);
        }
        if batch && space == XENMAPSPACE_GMFN_RANGE {
            return Err(Errno::EOPNOTSUPP);
        }
        let target = if domid == DomId::SELF { self.dom } else { domid };
        self.hv.mm.domain(target).ok_or(Errno::ESRCH)?;
        Err(Errno::EACCES)
    }

    /// `machphys_mfn_list`: the frame of each 2 MiB of the M2P, up to
    /// `max_extents`; `nr_extents` says how many were written.
    fn machphys_mfn_list(&mut self, arg: u64) -> Result<u64, Errno> {
        let max = self.mem().read_u32(arg)?;
        let start = self.mem().read_u64(arg + 8)?;
        let n = m2p_extents(self.hv.host.max_page).min(u64::from(max));
        for i in 0..n {
            self.mem().write_u64(start.wrapping_add(i * 8), self.hv.host.m2p_mfn.0 + i * 512)?;
        }
        self.mem().write_u32(arg + 16, n as u32).map(|()| 0)
    }

    /// `memory_map`: the domain's pseudo-physical map. Domain 0 has none,
    /// as Xen's PV domain 0 (`-ENOSYS`); other domains get what Xen's
    /// toolstack sets for a PV guest: one RAM entry covering its maximum
    /// reservation.
    fn memory_map(&mut self, arg: u64) -> Result<u64, Errno> {
        let room = self.mem().read_u32(arg)?;
        let buffer = self.mem().read_u64(arg + 8)?;
        let d = *self.hv.mm.domain(self.dom).ok_or(Errno::ESRCH)?;
        if d.io_caps {
            return Err(Errno::ENOSYS);
        }
        let n = room.min(1);
        if n == 1 {
            let ram = E820Entry { addr: 0, size: d.max_pages << abi::PAGE_SHIFT, kind: E820_RAM };
            self.mem().write(buffer, &ram.to_bytes())?;
        }
        self.mem().write_u32(arg, n).map(|()| 0)
    }

    /// `machine_memory_map`: the host's map, for the control domain only.
    /// A NULL buffer asks for the count; otherwise the buffer must have
    /// room for one entry more than the map, as on Xen.
    fn machine_memory_map(&mut self, arg: u64) -> Result<u64, Errno> {
        if !self.privileged() {
            return Err(Errno::EPERM);
        }
        let room = self.mem().read_u32(arg)?;
        let buffer = self.mem().read_u64(arg + 8)?;
        let map = self.hv.host.e820.as_slice();
        if buffer != 0 {
            if (room as usize) < map.len() + 1 {
                return Err(Errno::EINVAL);
            }
            for (i, e) in map.iter().enumerate() {
                self.mem().write(buffer.wrapping_add(i as u64 * 20), &e.to_bytes())?;
            }
        }
        self.mem().write_u32(arg, map.len() as u32).map(|()| 0)
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
        let done = self.hv.mm.exchange(dom, &x, &mut ExchangeArrays { input: &mut input, output: &mut output });
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
        if self.hv.mm.domain(target).is_none() || (target != self.dom && !self.privileged()) {
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
        // included (XSA-212); an element is accessed only if it is in it.
        let checked = CheckedArray::<1>::new(extent_start, start, nr_extents);
        let optional = op == XENMEM_INCREASE_RESERVATION && extent_start == 0;
        let Some(at) = checked.or(if optional { Some(CheckedArray::EMPTY) } else { None }) else {
            return refused;
        };
        let mut array = CheckedExtents { guest: self.guest, at };
        let done = match op {
            XENMEM_INCREASE_RESERVATION => {
                let array: Option<&mut dyn ExtentArray> = if extent_start == 0 { None } else { Some(&mut array) };
                self.hv.mm.increase_reservation(target, r, array)
            }
            XENMEM_DECREASE_RESERVATION => self.hv.mm.decrease_reservation(target, r, &mut array),
            _ => self.hv.mm.populate_physmap(target, r, &mut array),
        };
        // Debug only: the balloon may call this thousands of times, and an
        // info line costs about 2,900 instructions per call.
        if done.done != start {
            if let Some(d) = self.hv.mm.domain(target) {
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
