//! The fuzzer's CPU-side generators: descriptor tables, traps and
//! callbacks, segment bases, `iret` (kernel and user mode), `multicall`,
//! console, version and scheduler calls, unknown hypercalls, privileged
//! instructions, `fpu_taskswitch`, breakpoints and single steps, LDT
//! segment loads, and probes through arena addresses.

use super::*;

impl Fuzz<'_> {
    pub(super) fn set_gdt(&mut self) -> bool {
        let n = self.rng.below(4) as usize;
        for k in 0..n {
            self.bufs.page[k] = self.frame();
        }
        let entries = match self.rng.below(10) {
            0..=6 => 1 + self.rng.below(n as u64 * 512).max(1),
            7 => 0,
            8 => 7168,
            _ => self.rng.pick(&[7169, 1 << 20, u64::MAX]),
        };
        let list = if self.rng.chance(240) { self.bufs.page.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let frames: [u64; 4] = core::array::from_fn(|k| self.bufs.page[k]);
        let r = {
            let a = [list, entries, 0, 0, 0];
            self.hcall(2, a)
        };
        if r == 0 {
            let used = entries.div_ceil(512) as usize;
            self.n_gdt = used.min(n);
            self.gdt[..self.n_gdt].copy_from_slice(&frames[..self.n_gdt]);
            return true;
        }
        false
    }

    pub(super) fn traps(&mut self) -> bool {
        let mut t = [abi::traps::TrapInfo::default(); 5];
        for e in t.iter_mut().take(4) {
            *e = abi::traps::TrapInfo {
                vector: self.rng.next() as u8,
                flags: self.rng.next() as u8,
                cs: self.rng.pick(&[0xE033, 0xE030, 0xE008, 0, 0xFFFF]),
                pad: 0,
                address: self.rng.pick(&[
                    arch::iret_target(),
                    0x8000_0000_0000_0000,
                    1 << 47,
                    abi::HYPERVISOR_VIRT_START,
                ]),
            };
        }
        let ptr = if self.rng.chance(200) { t.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let _ = {
            let a = [ptr, 0, 0, 0, 0];
            self.hcall(0, a)
        };
        arch::install_traps();
        false
    }

    pub(super) fn callbacks(&mut self) -> bool {
        let addr = self.rng.pick(&[arch::iret_target(), 0x8000_0000_0000_0000, 1 << 47, abi::HYPERVISOR_VIRT_START, 0]);
        if self.rng.chance(64) {
            let _ = {
                let a = [addr, addr, addr, 0, 0];
                self.hcall(4, a)
            };
        } else {
            let kind = self.rng.below(10) as u16;
            let cb = abi::traps::CallbackRegister { kind, flags: self.rng.next() as u16, pad: 0, address: addr };
            let ptr = if self.rng.chance(220) { &cb as *const _ as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
            let _ = {
                let a = [self.rng.below(3), ptr, 0, 0, 0];
                self.hcall(30, a)
            };
        }
        arch::install_traps();
        false
    }

    pub(super) fn segments(&mut self) -> bool {
        let which = self.rng.below(6);
        let any = self.rng.next();
        let base = self.rng.pick(&[0, 0x1000, 0x8000_0000_0000_0000, 1 << 47, any]);
        let _ = {
            let a = [which, base, 0, 0, 0];
            self.hcall(25, a)
        };
        let _ = {
            let a = [self.rng.pick(&[0xE02B, 0, 0xE010, 0xFFFF]), self.rng.next(), 0, 0, 0];
            self.hcall(3, a)
        };
        let _ = hc(25, [0, 0, 0, 0, 0]);
        // GS_USER_SEL really loads %gs: back to the null selector, so a
        // later set_gdt cannot leave a selector that no longer loads (the
        // failsafe callback, a random address here).
        let _ = hc(25, [3, 0, 0, 0, 0]);
        let _ = hc(25, [1, 0, 0, 0, 0]);
        let _ = hc(25, [2, 0, 0, 0, 0]);
        let _ = hc(3, [0xE02B, 0, 0, 0, 0]);
        let _ = {
            let a = [self.rng.below(2), 0, 0, 0, 0];
            self.hcall(5, a)
        };
        let _ = hc(5, [0, 0, 0, 0, 0]);
        false
    }

    pub(super) fn vm_assist(&mut self) -> bool {
        let _ = {
            let a = [self.rng.below(3), self.rng.pick(&[0, 1, 2, 3, 4, 5, 6, 32, 33, 64]), 0, 0, 0];
            self.hcall(21, a)
        };
        false
    }

    pub(super) fn console(&mut self) -> bool {
        // Bytes the console filters out (no log spam), or hostile ranges.
        let zeros = self.bufs.page.as_mut_ptr() as u64;
        self.bufs.page.fill(0);
        let (ptr, len) = match self.rng.below(10) {
            0..=5 => (zeros, self.rng.below(4096)),
            6 => (self.edge + 4096 - self.rng.below(256), 512),
            _ => (self.rng.pick(&HOSTILE_PTRS), self.rng.pick(&[1, 16, 4096, 1 << 31, u64::MAX])),
        };
        let cmd = if self.rng.chance(240) { 0 } else { self.rng.below(4) };
        let _ = {
            let a = [cmd, len, ptr, 0, 0];
            self.hcall(18, a)
        };
        false
    }

    pub(super) fn version(&mut self) -> bool {
        let cmd = self.rng.below(14);
        let arg = if cmd == 7 && self.rng.chance(128) { 0 } else { self.out_ptr() };
        // The capabilities string is 1024 bytes: give it the whole buffer.
        let arg = if cmd == 3 && arg >= self.bufs.page.as_ptr() as u64 && arg < self.edge {
            self.bufs.page.as_ptr() as u64
        } else {
            arg
        };
        let _ = {
            let a = [cmd, arg, 0, 0, 0];
            self.hcall(17, a)
        };
        false
    }

    pub(super) fn sched(&mut self) -> bool {
        match self.rng.below(4) {
            0 => {
                let _ = {
                    let a = [0, 0, 0, 0, 0];
                    self.hcall(29, a)
                };
            }
            1 => {
                let _ = {
                    let a = [0, 0, 0, 0, 0];
                    self.hcall(6, a)
                };
            }
            2 => {
                let _ = {
                    let a = [2, self.rng.pick(&HOSTILE_PTRS[..6]), 0, 0, 0];
                    self.hcall(29, a)
                };
            }
            _ => {
                let _ = {
                    let a = [self.rng.pick(&[6, 7, 99, u64::MAX]), 0, 0, 0, 0];
                    self.hcall(29, a)
                };
            }
        }
        false
    }

    /// A valid `iret` back into the guest with random flags and registers.
    pub(super) fn iret(&mut self) -> bool {
        let stack = arch::iret_stack_top();
        let rflags = (self.rng.next() & 0x0025_4DD5) | 0x202;
        let flags = self.rng.pick(&[0, 1 << 8]);
        let frame = [
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            flags,
            arch::iret_target(),
            0xE030,
            rflags,
            stack,
            0xE02B,
        ];
        self.calls[23] += 1;
        let f = catch(|| arch::raw_iret(&frame));
        if f.is_some_and(|x| x.rip == arch::iret_target() || x.vector == 1) {
            self.oks[23] += 1;
        }
        false
    }

    /// An `iret` to guest user mode (CS 0xE033), only while a user root is
    /// set (without one Xen and xen-core crash the domain). The target is
    /// a `ud2` the user root may or may not map: either way the fault is
    /// bounced in kernel mode onto the `stack_switch` stack set here, where
    /// the trap stub's `catch` lands.
    pub(super) fn user_iret(&mut self) -> bool {
        let stack = arch::iret_stack_top();
        let _ = hc(3, [0xE02B, stack, 0, 0, 0]);
        let rflags = (self.rng.next() & 0x0025_4DD5) | 0x202;
        let flags = self.rng.pick(&[0, 1 << 8]);
        let frame = [
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            flags,
            arch::iret_target(),
            0xE033,
            rflags,
            stack,
            0xE02B,
        ];
        self.calls[23] += 1;
        let f = catch(|| arch::raw_iret(&frame));
        // Came back from user mode: the bounced frame has the user CS.
        if f.is_some_and(|x| x.cs & 3 == 3) {
            self.oks[23] += 1;
        }
        let _ = hc(3, [0xE02B, 0, 0, 0, 0]);
        false
    }

    /// The guest's own `iretq` (not the hypercall) with hostile CS, SS
    /// and RFLAGS. Under QEMU 7.2 TCG with SMAP every one of these faults
    /// spuriously and the hypervisor completes it: whatever it decides,
    /// the guest must land in `catch` (the target's ud2, or IRETQ's fault)
    /// with the hypervisor intact.
    pub(super) fn native_iretq(&mut self) -> bool {
        let stack = arch::iret_stack_top();
        let cs = self.rng.pick(&[0xE033u64, 0xE033, 0xE030, 0xE02B, 0xE008, 0xE023, 0, 0x7, 0xFFFF, 0xE053]);
        let ss = self.rng.pick(&[0xE02Bu64, 0xE02B, 0xE028, 0xE033, 0xE010, 0, 0xFFFF]);
        // RIP is always the target's ud2: what the fuzzer checks is the
        // hypervisor's handling of CS, SS and RFLAGS. (A stray RIP with a
        // compatibility-mode CS loses the fuzzer's stack.)
        let rip = arch::iret_target();
        let rflags = self.rng.next() & !(1 << 8) | 0x202;
        let words = [rip, cs, rflags, stack, ss];
        // The frame is always on our own stack: one running into the page
        // after `edge` would pop whatever the fuzzer mapped there as RSP,
        // and the fault that follows could not be delivered (the host
        // tests cover unreadable frames).
        let at = stack - 256;
        for (i, w) in words.iter().enumerate() {
            arch::write(at + i as u64 * 8, *w);
        }
        let f = catch(|| arch::native_iretq(at));
        self.native_irets += 1;
        if f.is_some_and(|x| x.vector == 6 && x.rip == arch::iret_target()) {
            self.native_irets_ok += 1;
        }
        false
    }

    /// A descriptor to write: good ones of every kind, system descriptors
    /// that must be refused, and random bits.
    pub(super) fn descriptor(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => 0x00CF_9200_0000_FFFF,
            1 => 0x00AF_FA00_0000_FFFF,
            2 => 0x0000_8900_0000_0067,
            3 => 0x0000_8200_0000_0000,
            4 => self.rng.pick(&[0x0000_EC00_E008_1000u64, 0x0000_EC00_E033_1000, 0x0000_8000_0000_0000]),
            5 => self.rng.next() & !(1 << 47),
            6 => 0,
            _ => self.rng.next(),
        }
    }

    /// `update_descriptor` into frames that may be written (never its own
    /// image), its tables, foreign and missing frames, misaligned.
    pub(super) fn update_descriptor(&mut self) -> bool {
        let frame = self.dest_frame();
        let off = self.rng.below(512) * 8 + if self.rng.chance(16) { self.rng.pick(&[1, 4, 7]) } else { 0 };
        let desc = self.descriptor();
        self.hcall(10, [(frame << 12) + off, desc, 0, 0, 0]) == 0
    }

    /// `multicall` of up to four entries that leave the mappings alone:
    /// xen_version, unknown numbers, nested multicalls, update_descriptor,
    /// yield, maximum_ram_page; the list itself sometimes hostile.
    pub(super) fn multicall(&mut self) -> bool {
        let mut list = [abi::multicall::MulticallEntry::default(); 4];
        let n = self.rng.below(5);
        for e in list.iter_mut().take(n as usize) {
            let (op, args) = match self.rng.below(6) {
                0 => (17, [self.rng.pick(&[0u64, 1, 2, 4, 6, 7, 8, 9, 10, 99]), self.out_ptr()]),
                1 => (self.rng.pick(&[11u64, 16, 47, 126, 1 << 40]), [self.rng.next(), self.rng.next()]),
                2 => (13, [self.rng.pick(&HOSTILE_PTRS), self.rng.below(3)]),
                3 => {
                    let frame = self.dest_frame();
                    (10, [(frame << 12) + self.rng.below(512) * 8, self.descriptor()])
                }
                4 => (29, [0, 0]),
                _ => (12, [2, 0]),
            };
            *e = abi::multicall::MulticallEntry { op, result: 0, args: [args[0], args[1], 0, 0, 0, 0] };
        }
        // Beyond its own entries only with a list it must refuse.
        let (ptr, count) = if self.rng.chance(230) {
            (list.as_mut_ptr() as u64, n | if self.rng.chance(16) { 1 << 32 } else { 0 })
        } else {
            (self.rng.pick(&HOSTILE_PTRS), self.rng.pick(&[1u64, 2, 1 << 20, u64::from(u32::MAX)]))
        };
        let r = self.hcall(13, [ptr, count, 0, 0, 0]);
        // Entries that wrote a descriptor may have written a table.
        r == 0 && list.iter().take(n as usize).any(|e| e.op == 10 && e.result == 0)
    }

    pub(super) fn unknown(&mut self) -> bool {
        let nr = self
            .rng
            .pick(&[7u64, 8, 9, 11, 16, 19, 20, 27, 28, 31, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 47, 63, 126]);
        let _ = {
            let a = [self.rng.next(), self.rng.next(), 0, 0, 0];
            self.hcall(nr, a)
        };
        false
    }

    /// One random privileged instruction (random prefixes, then an opcode,
    /// ModRM and immediate from the emulator's set or near it) executed by
    /// the guest kernel, with `set_iopl`/`set_iobitmap`/`set_debugreg`/
    /// `get_debugreg` in between. Register operands are only caller-saved
    /// ones, CR3 writes are left out (they are `MMUEXT_NEW_BASEPTR`, which
    /// `mmuext_op` covers) and the virtual TS is cleared afterwards.
    pub(super) fn emulated(&mut self) -> bool {
        const PREFIXES: [u8; 12] = [0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x64, 0x65, 0xF0, 0x40, 0x41, 0x44, 0x4C];
        const SAFE_RM: [u8; 5] = [0, 1, 2, 6, 7];
        let mut code = [0u8; 20];
        let mut n = 0;
        for _ in 0..self.rng.below(4) {
            code[n] = self.rng.pick(&PREFIXES);
            n += 1;
        }
        // REX.B would reach R12-R15: only R8-R11 are clobbered.
        let rex_b = n > 0 && code[n - 1] & 0xF0 == 0x40 && code[n - 1] & 1 != 0;
        let rm = |r: &mut Rng| r.pick(&SAFE_RM) & if rex_b { 3 } else { 7 };
        match self.rng.below(8) {
            0 => {
                let op = self.rng.pick(&[0x20u8, 0x21, 0x22, 0x23]);
                let mut reg = self.rng.below(8) as u8;
                if op == 0x22 && reg == 3 {
                    reg = 2;
                }
                let m = (self.rng.below(4) as u8) << 6 | reg << 3 | rm(&mut self.rng);
                code[n..n + 3].copy_from_slice(&[0x0F, op, m]);
                n += 3;
            }
            1 => {
                code[n..n + 2].copy_from_slice(&[0x0F, self.rng.pick(&[0x32u8, 0x30, 0x31, 0x06, 0x09, 0x08])]);
                n += 2;
            }
            2 => {
                code[n..n + 3].copy_from_slice(&[0x0F, 0x01, self.rng.pick(&[0xF9u8, 0xC1, 0xD0, 0xF8])]);
                n += 3;
            }
            3 => {
                code[n] = self.rng.pick(&[0xE4u8, 0xE5, 0xE6, 0xE7]);
                code[n + 1] = self.rng.next() as u8;
                n += 2;
            }
            4 => {
                code[n] = self.rng.pick(&[0xECu8, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F, 0xFA, 0xFB, 0xF4]);
                n += 1;
            }
            5 => {
                // The forced-emulation CPUID (writes RBX: left out) or a
                // truncated prefix of it.
                let k = 2 + self.rng.below(4) as usize;
                code[n..n + k].copy_from_slice(&[0x0F, 0x0B, b'x', b'e', b'n'][..k]);
                n += k;
            }
            6 => {
                let iopl = self.rng.pick(&[0u64, 1, 3, 4, u64::MAX]);
                self.bufs.page[0] = iopl;
                let p = self.bufs.page.as_mut_ptr() as u64;
                let arg = self.rng.pick(&[p, p, HOSTILE_PTRS[0], 0]);
                let _ = self.hcall(33, [6, arg, 0, 0, 0]);
                let hostile = HOSTILE_PTRS[self.rng.below(8) as usize];
                self.bufs.page[0] = self.rng.pick(&[p, hostile]);
                self.bufs.page[1] = self.rng.pick(&[0u64, 0x400, 65536, 65537, u64::MAX]);
                let _ = self.hcall(33, [7, p, 0, 0, 0]);
                return false;
            }
            _ => {
                let reg = self.rng.pick(&[0u64, 3, 4, 5, 6, 7, 8, u64::MAX]);
                let any = self.rng.next();
                let v = self.rng.pick(&[0, 0x400, 1 << 13, 0x2_0001, 1 << 47, HOSTILE_PTRS[0], any]);
                let _ = self.hcall(8, [reg, v, 0, 0, 0]);
                let _ = self.hcall(9, [reg, 0, 0, 0, 0]);
                return false;
            }
        }
        let msr = self.rng.pick(&[
            0x10,
            0x1B,
            0x277,
            0x1A0,
            0xC000_0080,
            0xC000_0081,
            0xC000_0100,
            0xC000_0102,
            0xC000_0103,
            0x4000_0000,
            // The virtual machine-check MSRs: MCG_CAP/STATUS/CTL, bank 1's
            // CTL and STATUS, a bank beyond the two, CTL2, MCG_EXT_CTL.
            0x179,
            0x17A,
            0x17B,
            0x404,
            0x405,
            0x409,
            0x280,
            0x4D0,
        ]);
        let (any, any_port) = (self.rng.next(), self.rng.next());
        let regs = [
            self.rng.pick(&[0, 0x8005_0033, 0x8005_003B, 0x660, any]),
            msr | (self.rng.below(2) << 40),
            self.rng.pick(&[0xCF8, 0xCFC, 0x3F8, 0xF4, 0x70, 0x80, any_port]),
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
        ];
        // `rep ins`/`rep outs` stay inside the scratch buffer.
        let string = code[..n].iter().any(|b| (0x6C..=0x6F).contains(b));
        let _ = arch::run_insn(&code[..n], regs, string);
        // Whatever the instruction did to the virtual TS, no #NM later,
        // and no breakpoint it may have armed fires elsewhere.
        let _ = hc(5, [0, 0, 0, 0, 0]);
        let _ = hc(8, [7, 0, 0, 0, 0]);
        false
    }

    /// A breakpoint on a word of our buffer (write or read/write, set with
    /// `set_debugreg`, DR0–3 at random): our own write must raise exactly
    /// that #DB with its DR6 bit, a hypercall writing the word must not
    /// (the hypervisor's access is ignored); or a single step, which must
    /// raise #DB with DR6.BS. DR7 and DR6 are cleared afterwards.
    pub(super) fn breakpoints(&mut self) -> Verdict {
        let _ = hc(8, [6, 0, 0, 0, 0]);
        if self.rng.chance(64) {
            let f = catch(arch::step_nop);
            let dr6 = hc(9, [6, 0, 0, 0, 0]) as u64;
            let _ = hc(8, [6, 0, 0, 0, 0]);
            return match f.map(|f| f.vector) {
                Some(1) if dr6 & (1 << 14) != 0 => Ok(()),
                got => broke!("a single step gave fault {got:?}, DR6 {dr6:#x}"),
            };
        }
        let n = self.rng.below(4);
        let word = 8 + self.rng.below(56) as usize;
        let va = self.bufs.page.as_ptr() as u64 + word as u64 * 8;
        // R/W 01 (write) or 11 (read/write), LEN 10 (8 bytes), Ln.
        let rw = self.rng.pick(&[1u64, 3]);
        let dr7 = (((2 << 2) | rw) << (16 + 4 * n)) | (1 << (2 * n));
        if hc(8, [n, va, 0, 0, 0]) != 0 || hc(8, [7, dr7, 0, 0, 0]) != 0 {
            return broke!("set_debugreg refused a breakpoint on our own word {va:#x} (DR{n}, DR7 {dr7:#x})");
        }
        let verdict = (|| {
            // submap_idx 0 in the low half, for get_features below.
            let v = self.rng.next() << 32;
            let f = catch(|| arch::write(va, v));
            let dr6 = hc(9, [6, 0, 0, 0, 0]) as u64;
            let _ = hc(8, [6, 0, 0, 0, 0]);
            match f.map(|f| f.vector) {
                Some(1) if dr6 & 0xF == 1 << n => {}
                got => return broke!("a write to a watched word gave fault {got:?}, DR6 {dr6:#x}"),
            }
            // get_features writes its 8-byte answer into the word.
            let f = catch(|| _ = hc(17, [6, va, 0, 0, 0]));
            let dr6 = hc(9, [6, 0, 0, 0, 0]) as u64;
            match f.map(|f| f.vector) {
                None if dr6 & 0xF == 0 => Ok(()),
                got => broke!("the hypervisor's write to a watched word gave fault {got:?}, DR6 {dr6:#x}"),
            }
        })();
        let _ = hc(8, [7, 0, 0, 0, 0]);
        let _ = hc(8, [6, 0, 0, 0, 0]);
        verdict
    }

    /// `MMUEXT_SET_LDT` at an arena (or hostile) address, then loads of
    /// random LDT selectors into FS: each either loads or raises #GP, #NP
    /// or #PF (a page that is not mapped, or cannot be a descriptor page).
    /// The LDT is sometimes left in place, so other generators meet its
    /// descriptor pages (mapping them writable, unpinning, giving back).
    pub(super) fn ldt(&mut self) -> Verdict {
        let base = self.va();
        let ents = self.rng.pick(&[1u64, 16, 512, 513, 8192]);
        let op = [abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_SET_LDT, pad: 0, arg1: base, arg2: ents }];
        let r = self.hcall(26, [op.as_ptr() as u64, 1, 0, crate::env::SELF, 0]);
        if r != 0 {
            return Ok(());
        }
        for _ in 0..1 + self.rng.below(4) {
            let index = if self.rng.chance(200) { self.rng.below(ents) } else { self.rng.below(8192) };
            let sel = ((index << 3) | 4 | self.rng.below(4)) as u16;
            match catch(|| arch::load_fs(sel)).map(|f| f.vector) {
                None | Some(11 | 13 | 14) => {}
                got => return broke!("a load of LDT selector {sel:#x} (LDT {base:#x}, {ents}) gave fault {got:?}"),
            }
        }
        if self.rng.chance(128) {
            let none = [abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_SET_LDT, pad: 0, arg1: 0, arg2: 0 }];
            let _ = self.hcall(26, [none.as_ptr() as u64, 1, 0, crate::env::SELF, 0]);
        }
        Ok(())
    }

    /// `fpu_taskswitch` with any argument (Xen's is an `int`: only the low
    /// 32 bits count), then usually an x87 or SSE instruction, which must
    /// raise #NM exactly when those bits were non-zero. The TS may stay set
    /// while other domains run: it is this vCPU's alone.
    pub(super) fn fpu(&mut self) -> Verdict {
        use guest_kernel::arch::x86_64::fpu::{fnop, xorps_xmm1};
        let arg = match self.rng.below(6) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => 1 << 32,
            4 => 1 << 31,
            _ => self.rng.next(),
        };
        let r = self.hcall(5, [arg, 0, 0, 0, 0]);
        if r != 0 {
            return broke!("fpu_taskswitch({arg:#x}) returned {r}, not 0");
        }
        if self.rng.chance(64) {
            return Ok(());
        }
        let sse = self.rng.chance(128);
        let fault = catch(|| if sse { xorps_xmm1() } else { fnop() });
        let want_nm = arg as u32 != 0;
        match fault.map(|f| f.vector) {
            None if !want_nm => Ok(()),
            Some(7) if want_nm => match catch(fnop) {
                None => Ok(()),
                Some(f) => broke!("after #NM the virtual TS stayed set: vector {} on the retry", f.vector),
            },
            got => broke!("fpu_taskswitch({arg:#x}) then {}: fault {got:?}", if sse { "xorps" } else { "fnop" }),
        }
    }

    /// Reads and writes through arena addresses: faults are recovered; a
    /// write that lands is what a stale translation would allow.
    pub(super) fn probe(&mut self) -> bool {
        let va = va_of(FIRST_SLOT, 0, 0, self.rng.below(512)) + self.rng.below(512) * 8;
        let v = self.pte();
        let write = self.rng.chance(128);
        let fault = catch(|| {
            if write {
                arch::write(va, v);
            } else {
                let _ = arch::read(va);
            }
        });
        write && fault.is_none()
    }
}
