//! The fuzzer's memory generators: `mmu_update`, `mmuext_op`,
//! `update_va_mapping` and the `memory_op` family (reservations, exchange,
//! the read-only sub-ops).

use super::*;

impl Fuzz<'_> {
    pub(super) fn mmu_update(&mut self) -> bool {
        let n = 1 + self.rng.below(8) as usize;
        let mut reqs = [MmuUpdate::default(); 8];
        for r in reqs.iter_mut().take(n) {
            let cmd = match self.rng.below(100) {
                0..=79 => MMU_NORMAL_PT_UPDATE,
                80..=87 => MMU_PT_UPDATE_PRESERVE_AD,
                88..=91 => MMU_PT_UPDATE_NO_TRANSLATE,
                92..=96 => MMU_MACHPHYS_UPDATE,
                _ => 4 + self.rng.below(4),
            };
            *r = if cmd == MMU_MACHPHYS_UPDATE {
                // Only idempotent updates of its own frames (the oracle
                // trusts the M2P), or of frames it does not own.
                let i = self.rng.below(ARENA as u64) as usize;
                if self.mfns[i] != NONE && self.rng.chance(200) {
                    MmuUpdate { ptr: (self.mfns[i] << 12) | 1, val: self.pfns[i] }
                } else {
                    let m = self.frame();
                    if oracle::owns(self.env, m) || self.mfns.contains(&m) {
                        MmuUpdate { ptr: (m << 12) | 1, val: self.env.m2p(m) }
                    } else {
                        MmuUpdate { ptr: (m << 12) | 1, val: self.rng.below(1 << 20) }
                    }
                }
            } else {
                MmuUpdate { ptr: self.target_entry() | cmd, val: self.pte() }
            };
        }
        // Where the array sits: the stack, or the end of the last mapped
        // page (so a count larger than the array runs into the unmapped
        // page), or a hostile pointer.
        let (ptr, count) = match self.rng.below(20) {
            0..=13 => (reqs.as_ptr() as u64, n as u64),
            14..=17 => {
                let at = self.edge + 4096 - n as u64 * 16;
                for (i, r) in reqs.iter().take(n).enumerate() {
                    arch::write(at + i as u64 * 16, r.ptr);
                    arch::write(at + i as u64 * 16 + 8, r.val);
                }
                (at, n as u64 + self.rng.pick(&[1, 100, 0x7FFF_FFFF - n as u64, 1 << 20]))
            }
            _ => (self.rng.pick(&HOSTILE_PTRS), 1 + self.rng.below(4)),
        };
        let pdone = if self.rng.chance(128) { 0 } else { self.out_ptr() };
        let dom =
            if self.rng.chance(245) { SELF } else { self.rng.pick(&[0, 1, 2, 7, 8, 100, 0x7FF1, 0x7FF4, 0x7FFF]) };
        let r = {
            let a = [ptr, count, pdone, dom, 0];
            self.hcall(1, a)
        };
        self.zero_edge();
        r == 0 || (ptr != reqs.as_ptr() as u64 && r != -38)
    }

    pub(super) fn zero_edge(&mut self) {
        for i in 0..(4096 / 8) as u64 {
            arch::write(self.edge + i * 8, 0);
        }
    }

    pub(super) fn mmuext_op(&mut self) -> bool {
        let n = 1 + self.rng.below(3) as usize;
        let mut ops = [MmuextOp::default(); 3];
        let mut pins = [(0u32, 0u64); 3];
        for (k, o) in ops.iter_mut().take(n).enumerate() {
            let cmd = self.rng.below(23) as u32;
            let cmd = if cmd == 22 { 100 } else { cmd };
            let (arg1, arg2) = match cmd {
                MMUEXT_PIN_L1_TABLE..=MMUEXT_UNPIN_TABLE => (self.frame(), 0),
                MMUEXT_NEW_BASEPTR => {
                    // The current root again, or one that must be refused.
                    let m = self.rng.pick(&[self.boot[0], self.boot[1], self.boot[2], self.boot[3]]);
                    let m = if self.rng.chance(64) { self.env.shared_info } else { m };
                    (if self.rng.chance(32) { 0x7FF_FFFF } else { m }, 0)
                }
                MMUEXT_NEW_USER_BASEPTR => (if self.rng.chance(64) { 0 } else { self.frame() }, 0),
                MMUEXT_INVLPG_LOCAL | MMUEXT_INVLPG_ALL => (self.va(), 0),
                MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => {
                    let mask = self.bufs.page.as_ptr() as u64;
                    self.bufs.page[0] = self.rng.pick(&[1, 0, u64::MAX]);
                    (self.va(), if self.rng.chance(128) { mask } else { self.rng.pick(&HOSTILE_PTRS) })
                }
                MMUEXT_SET_LDT => (self.va(), self.rng.pick(&[0, 1, 16, 8192, 1 << 20])),
                MMUEXT_CLEAR_PAGE => (self.dest_frame(), 0),
                MMUEXT_COPY_PAGE => (self.dest_frame(), self.frame()),
                _ => (self.frame(), self.rng.next()),
            };
            *o = MmuextOp { cmd, pad: if self.rng.chance(8) { 1 } else { 0 }, arg1, arg2 };
            pins[k] = (cmd, arg1);
        }
        // With a pin, unpin or user root in the batch, pdone is its own
        // buffer: the ops before a failing one took effect.
        let tracked = pins[..n].iter().any(|&(c, _)| c <= MMUEXT_UNPIN_TABLE || c == MMUEXT_NEW_USER_BASEPTR);
        let done_at = self.bufs.page.as_mut_ptr() as u64 + 8 * 100;
        self.bufs.page[100] = 0;
        let pdone = if tracked {
            done_at
        } else if self.rng.chance(128) {
            0
        } else {
            self.out_ptr()
        };
        let (ptr, count) = if self.rng.chance(240) {
            (ops.as_ptr() as u64, n as u64)
        } else {
            (self.rng.pick(&HOSTILE_PTRS), 1 + self.rng.below(4))
        };
        let dom = if self.rng.chance(245) { SELF } else { self.rng.pick(&[0, 1, 7, 100, 0x7FF2]) };
        if self.trace {
            for o in &ops[..n] {
                let pfn = self.env.m2p(o.arg1);
                let back = if pfn < self.env.nr_pages { self.env.mfn(pfn) } else { NONE };
                say!("fuzz:   op {} {:#x} {:#x} (M2P {pfn:#x} p2m {back:#x})", o.cmd, o.arg1, o.arg2);
            }
        }
        let r = {
            let a = [ptr, count, pdone, dom, 0];
            self.hcall(26, a)
        };
        if ptr != ops.as_ptr() as u64 {
            return false;
        }
        let done = if r == 0 { n } else { (self.bufs.page[100] as u32 as usize).min(n) };
        for &(cmd, m) in &pins[..done] {
            self.note_mmuext(cmd, m);
        }
        // Only a new table type, pin or root can make an existing mapping
        // wrong; flushes, copies and the rest cannot add one.
        pins[..done].iter().any(|&(c, _)| c <= MMUEXT_NEW_BASEPTR || c == MMUEXT_NEW_USER_BASEPTR)
    }

    pub(super) fn note_mmuext(&mut self, cmd: u32, m: u64) {
        match cmd {
            MMUEXT_PIN_L1_TABLE..=MMUEXT_PIN_L4_TABLE => {
                if !self.pinned[..self.n_pinned].contains(&m) && self.n_pinned < self.pinned.len() {
                    self.pinned[self.n_pinned] = m;
                    self.n_pinned += 1;
                } else if self.n_pinned == self.pinned.len() {
                    let _ = me(MMUEXT_UNPIN_TABLE, m, 0);
                }
            }
            MMUEXT_UNPIN_TABLE => {
                if let Some(i) = self.pinned[..self.n_pinned].iter().position(|&p| p == m) {
                    self.pinned[i] = self.pinned[self.n_pinned - 1];
                    self.n_pinned -= 1;
                }
            }
            MMUEXT_NEW_USER_BASEPTR => self.user_root = m,
            _ => {}
        }
    }

    pub(super) fn update_va(&mut self) -> bool {
        let va = self.va();
        let val = self.pte();
        let flags = match self.rng.below(10) {
            0..=3 => self.rng.pick(&[UVMF_NONE, UVMF_INVLPG, UVMF_TLB_FLUSH]),
            4..=6 => self.rng.pick(&[UVMF_INVLPG, UVMF_TLB_FLUSH]) | UVMF_ALL,
            7 => {
                self.bufs.page[0] = 1;
                (self.bufs.page.as_ptr() as u64) | self.rng.below(3)
            }
            // A vCPU bitmap pointer that may not be readable, with any
            // flush kind (kinds 0 and 3 read no bitmap).
            8 => (self.rng.pick(&HOSTILE_PTRS) & !3) | self.rng.below(4),
            _ => self.rng.next(),
        };
        let r = {
            let a = [va, val, flags, 0, 0];
            self.hcall(14, a)
        };
        r == 0
    }

    /// An extent array for `decrease_reservation`: its buffer, or one it
    /// cannot read.
    pub(super) fn reservation_array(&mut self) -> u64 {
        if self.rng.chance(230) {
            self.bufs.page.as_mut_ptr() as u64
        } else if self.rng.chance(128) {
            self.edge + 4096
        } else {
            self.rng.pick(&HOSTILE_PTRS[..6])
        }
    }

    pub(super) fn memory_op(&mut self) -> bool {
        let sub = self.rng.pick(&[0u64, 1, 1, 1, 6, 6, 6, 3, 4, 2, 11, 11, 5, 7, 23, 40, 9, 10, 12]);
        let start = if self.rng.chance(16) { self.rng.below(4) } else { 0 };
        let cmd = sub | (start << abi::memory::MEMOP_EXTENT_SHIFT);
        let dom = if self.rng.chance(230) { SELF as u16 } else { self.rng.pick(&[0u16, 1, 2, 5, 7, 8, 100, 0x7FF2]) };
        match sub {
            3 | 4 => {
                let ptr = if self.rng.chance(230) { &dom as *const u16 as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
                let _ = {
                    let a = [cmd, ptr, 0, 0, 0];
                    self.hcall(12, a)
                };
                false
            }
            1 => {
                // Give back arena frames (or hostile ones).
                let n = 1 + self.rng.below(4);
                // Which of them are its own, decided before they go.
                let mut own = [false; 4];
                for k in 0..n as usize {
                    let i = self.rng.below(ARENA as u64) as usize;
                    self.bufs.page[k] =
                        if self.mfns[i] != NONE && self.rng.chance(220) { self.mfns[i] } else { self.dest_frame() };
                    own[k] = oracle::owns(self.env, self.bufs.page[k]) || self.tabs.contains(&self.bufs.page[k]);
                }
                let array = self.reservation_array();
                let ours = array == self.bufs.page.as_ptr() as u64;
                // Its own array only with order 0, so it knows what went.
                let order = if ours || self.rng.chance(128) { 0 } else { self.rng.pick(&[1u32, 9, 10, 31]) };
                let count = if self.rng.chance(240) { n } else { self.rng.pick(&[0, 1 << 26, u64::MAX]) };
                let r = reservation(array, count, order, dom);
                let arg = if self.rng.chance(245) { &r as *const _ as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
                let done = {
                    let a = [cmd, arg, 0, 0, 0];
                    self.hcall(12, a)
                };
                if ours && done > start as i64 {
                    // Whatever domain it named, only its own frames can go.
                    for k in start as usize..(done as usize).min(n as usize) {
                        let m = self.bufs.page[k];
                        if let Some(i) = self.mfns.iter().position(|&x| x == m) {
                            self.give_up(i);
                        } else if own[k] {
                            // One of its own frames given back by a pick.
                            arch::oracle_state().zombies.add(m);
                        }
                    }
                }
                // Giving frames back adds no mapping (one still mapped
                // stays a zombie until the periodic walk retires it).
                false
            }
            0 | 6 => {
                // Take frames for the arena's empty PFNs.
                let empty: [usize; 4] = core::array::from_fn(|k| {
                    self.mfns.iter().enumerate().filter(|(_, &m)| m == NONE).nth(k).map_or(usize::MAX, |(i, _)| i)
                });
                let n = empty.iter().filter(|&&i| i != usize::MAX).count() as u64;
                for k in 0..n as usize {
                    self.bufs.page[k] = self.pfns[empty[k]];
                }
                let order = if self.rng.chance(245) { 0 } else { self.rng.pick(&[1u32, 9, 10]) };
                // A frame taken but not reported (array unwritable) would be
                // its own without its knowledge: so populate only gets arrays
                // it cannot read (nothing is taken), increase only its buffer.
                let hostile = sub == 6 && !self.rng.chance(230);
                let array = if hostile { self.reservation_array() } else { self.bufs.page.as_mut_ptr() as u64 };
                let r = reservation(array, n, order, dom);
                let done = {
                    let a = [cmd, &r as *const _ as u64, 0, 0, 0];
                    self.hcall(12, a)
                };
                let got = if array == self.bufs.page.as_ptr() as u64 && done > start as i64 {
                    (done as u64).min(n)
                } else {
                    0
                };
                let first = if array == self.bufs.page.as_ptr() as u64 { start.min(n) } else { 0 };
                for k in first as usize..got as usize {
                    let m = self.bufs.page[k];
                    // Frames came back, so they are its own whatever domain
                    // it named (its own id works like DOMID_SELF).
                    if order != 0 || sub == 0 {
                        // Not tracked as arena frames: give them straight back.
                        let mut back = [m];
                        let r = reservation(back.as_mut_ptr() as u64, 1, order, SELF as u16);
                        let _ = {
                            let a = [1, &r as *const _ as u64, 0, 0, 0];
                            self.hcall(12, a)
                        };
                        continue;
                    }
                    let i = empty[k];
                    self.mfns[i] = m;
                    self.env.set_mfn(self.pfns[i], m);
                    arch::oracle_state().zombies.remove(m);
                }
                false
            }
            11 => {
                self.exchange(dom);
                true
            }
            5 | 9 | 10 | 12 => {
                // machphys_mfn_list, memory_map, machine_memory_map and
                // machphys_mapping write where the argument says: into the
                // back of its own page, or addresses they must refuse.
                let page = self.bufs.page.as_mut_ptr() as u64;
                let room = self.rng.pick(&[0u64, 1, 2, 8, 64, u64::from(u32::MAX)]);
                let out = if self.rng.chance(200) { page + 2048 } else { self.rng.pick(&HOSTILE_PTRS) };
                self.bufs.page[0] = room;
                self.bufs.page[1] = if sub == 10 && self.rng.chance(32) { 0 } else { out };
                self.bufs.page[2] = 0;
                let arg = if self.rng.chance(220) { page } else { self.rng.pick(&HOSTILE_PTRS) };
                let _ = self.hcall(12, [cmd, arg, 0, 0, 0]);
                false
            }
            7 | 23 => {
                // add_to_physmap and its batch: refused to a PV domain
                // whatever it names (space, domain, size, handles); the
                // argument is its page, or an address it must not read.
                let page = self.bufs.page.as_mut_ptr() as u64;
                let space = self.rng.pick(&[0u64, 1, 2, 3, 4, 5, 6, 0xFFFF, u64::from(u32::MAX)]);
                let size = self.rng.pick(&[0u64, 1, 2, 0xFFFF]);
                let (w0, w1) = if sub == 7 {
                    (u64::from(dom) | size << 16 | space << 32, self.rng.below(1 << 20))
                } else {
                    (u64::from(dom) | (space & 0xFFFF) << 16 | size << 32 | self.rng.below(8) << 48, page + 2048)
                };
                self.bufs.page[0] = w0;
                self.bufs.page[1] = w1;
                self.bufs.page[2] = if self.rng.chance(200) { page + 2048 } else { self.rng.pick(&HOSTILE_PTRS) };
                self.bufs.page[3] = self.rng.pick(&HOSTILE_PTRS);
                let arg = if self.rng.chance(220) { page } else { self.rng.pick(&HOSTILE_PTRS) };
                let _ = self.hcall(12, [cmd, arg, 0, 0, 0]);
                false
            }
            _ => {
                let arg = self.out_ptr();
                let _ = {
                    let a = [cmd, arg, 0, 0, 0];
                    self.hcall(12, a)
                };
                false
            }
        }
    }

    /// Arena slot `i` no longer holds a frame.
    pub(super) fn give_up(&mut self, i: usize) {
        arch::oracle_state().zombies.add(self.mfns[i]);
        self.mfns[i] = NONE;
        self.env.set_mfn(self.pfns[i], NONE);
        self.n_pinned = self.n_pinned.min(self.pinned.len());
    }

    /// `XENMEM_exchange`: arena frames for fresh ones at empty PFNs.
    pub(super) fn exchange(&mut self, dom: u16) {
        let full: [usize; 2] = core::array::from_fn(|k| {
            self.mfns.iter().enumerate().filter(|(_, &m)| m != NONE).nth(k * 7).map_or(usize::MAX, |(i, _)| i)
        });
        let empty: [usize; 2] = core::array::from_fn(|k| {
            self.mfns.iter().enumerate().filter(|(_, &m)| m == NONE).nth(k).map_or(usize::MAX, |(i, _)| i)
        });
        let n = full.iter().zip(&empty).take_while(|(a, b)| **a != usize::MAX && **b != usize::MAX).count();
        for k in 0..n {
            self.bufs.page[k] = self.mfns[full[k]];
            self.bufs.page[256 + k] = self.pfns[empty[k]];
        }
        let ins = self.bufs.page.as_ptr();
        let outs = self.bufs.page[256..].as_ptr();
        // Its own arrays always (frames exchanged but not reported would be
        // its own without its knowledge); hostile orders, domains, start
        // and argument pointers.
        let in_order = if self.rng.chance(240) { 0 } else { self.rng.pick(&[1u32, 9, 12]) };
        let out_order = if self.rng.chance(240) { 0 } else { self.rng.pick(&[1u32, 9, 12]) };
        // Equal orders above 0 could succeed on frames it does not track
        // (the neighbours of its arena frames, and 2^order new ones per
        // extent): only mismatched sizes (always refused) are hostile.
        let (in_order, out_order) = if in_order == out_order { (0, 0) } else { (in_order, out_order) };
        let mut x = [0u64; 9];
        let r_in = reservation(ins as u64, n as u64, in_order, dom);
        let r_out = reservation(outs as u64, n as u64, out_order, dom);
        x[..4].copy_from_slice(&words(&r_in));
        x[4..8].copy_from_slice(&words(&r_out));
        let first = if self.rng.chance(16) { self.rng.below(3) } else { 0 };
        x[8] = first;
        let arg = if self.rng.chance(245) { x.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let r = {
            let a = [11, arg, 0, 0, 0];
            self.hcall(12, a)
        };
        let exchanged = x[8].min(n as u64) as usize;
        let clean = arg == x.as_ptr() as u64 && in_order == 0 && out_order == 0;
        if r == -38 || !clean {
            return;
        }
        for k in first as usize..exchanged {
            let m = self.bufs.page[256 + k];
            let (fi, ei) = (full[k], empty[k]);
            arch::oracle_state().zombies.add(self.mfns[fi]);
            self.mfns[fi] = NONE;
            self.env.set_mfn(self.pfns[fi], NONE);
            self.mfns[ei] = m;
            self.env.set_mfn(self.pfns[ei], m);
            arch::oracle_state().zombies.remove(m);
        }
    }
}

fn words(r: &abi::memory::MemoryReservation) -> [u64; 4] {
    [r.extent_start, r.nr_extents, u64::from(r.extent_order) | (u64::from(r.mem_flags) << 32), u64::from(r.domid.0)]
}
