//! The fuzzer's time generators: `set_timer_op` with any deadline,
//! `vcpu_op` with random commands, vCPU ids and argument pointers (never
//! `VCPUOP_down` on vCPU 0, which would power the fuzzer off),
//! `VCPUOP_register_vcpu_info` with hostile frames and offsets (a move
//! that succeeds lands in a page of its own, which the event callback
//! then uses), and
//! `SCHEDOP_poll` with hostile port arrays and counts but always a
//! deadline already past, so it returns after its checks. Areas the
//! hypervisor keeps writing (runstate, secondary time) only ever point at
//! buffers of their own or at addresses it must refuse or fault on.

use super::*;

/// Registered runstate / time areas: written by the hypervisor at every
/// switch, so nothing else lives there.
static mut AREAS: [u64; 16] = [0; 16];

/// The page `register_vcpu_info` may move vcpu_info into: the hypervisor
/// writes it from then on, so nothing else lives there.
#[repr(C, align(4096))]
struct VcpuInfoPage([u64; 512]);
static mut VCPU_INFO_PAGE: VcpuInfoPage = VcpuInfoPage([0; 512]);

impl Fuzz<'_> {
    fn area_ptr(&mut self) -> u64 {
        let own = &raw mut AREAS as u64;
        match self.rng.below(8) {
            0..=3 => own + self.rng.below(2) * 64,
            4 => 0,
            5 => self.env.region_va(self.boot[self.rng.below(4) as usize]),
            6 => self.edge + 4096,
            _ => self.rng.pick(&HOSTILE_PTRS),
        }
    }

    /// An argument pointer for `vcpu_op`: the buffer page filled with
    /// random words (periods and deadlines near the interesting edges), or
    /// a hostile address.
    fn vcpu_arg(&mut self) -> u64 {
        for k in 0..4 {
            self.bufs.page[k] = match self.rng.below(6) {
                0 => self.rng.pick(&[0, 999_999, 1_000_000, (1 << 62) - 1, 1 << 62, u64::MAX]),
                1 => self.rng.below(1 << 40),
                2 => self.env.mfn(self.rng.below(self.env.image_pages())),
                3 => self.area_ptr(),
                _ => self.rng.next(),
            };
        }
        match self.rng.below(10) {
            0..=6 => self.bufs.page.as_ptr() as u64,
            _ => self.out_ptr(),
        }
    }

    pub(super) fn timers(&mut self) -> bool {
        match self.rng.below(10) {
            0..=2 => {
                let (near, any) = (self.rng.below(1 << 45), self.rng.next());
                let t = self.rng.pick(&[0, 1, u64::MAX, 1 << 63, 1 << 50, near, any]);
                let _ = self.hcall(15, [t, 0, 0, 0, 0]);
            }
            3..=6 => {
                let mut cmd = self.rng.pick(&[0u64, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 99]);
                if self.rng.chance(16) {
                    cmd |= self.rng.next() << 32;
                }
                let vcpu = self.rng.pick(&[0, 0, 0, 1, 31, 32, 0xFFFF_FFFF, 1 << 32, u64::MAX]);
                let arg = match cmd as u32 {
                    10 => self.vcpu_info_arg(),
                    5 | 13 => {
                        self.bufs.page[0] = self.area_ptr();
                        if self.rng.chance(200) {
                            self.bufs.page.as_ptr() as u64
                        } else {
                            self.out_ptr()
                        }
                    }
                    4 => self.out_ptr(),
                    _ => self.vcpu_arg(),
                };
                let rc = self.hcall(24, [cmd, vcpu, arg, 0, 0]);
                if cmd as u32 == 10 && vcpu as u32 == 0 && rc == 0 {
                    self.vcpu_info_moved(arg);
                }
                // A short period would flood the fuzzer with timer work.
                let _ = self.hcall(24, [7, 0, 0, 0, 0]);
            }
            _ => {
                // SCHEDOP_poll: random ports and counts, a deadline in the past.
                let n = self.rng.pick(&[0u64, 1, 2, 127, 128, 129, (1 << 32) | 1, u64::from(u32::MAX)]);
                for k in 0..8 {
                    self.bufs.page[16 + k] = self.rng.next() & self.rng.pick(&[0x7, 0xFFF, 0x1FFF, u64::MAX]);
                }
                let ports = match self.rng.below(4) {
                    0..=2 => self.bufs.page[16..].as_ptr() as u64,
                    _ => self.out_ptr(),
                };
                self.bufs.page[0] = ports;
                self.bufs.page[1] = n;
                self.bufs.page[2] = 1 + self.rng.below(1_000_000);
                // Only our own buffer (deadline in the past) or a pointer that
                // cannot be read: a readable stray argument could carry no
                // timeout and block the fuzzer for good, on Xen as here.
                let arg = if self.rng.chance(230) {
                    self.bufs.page.as_ptr() as u64
                } else {
                    self.rng.pick(&super::HOSTILE_PTRS[..6])
                };
                let _ = self.hcall(29, [3, arg, 0, 0, 0]);
            }
        }
        false
    }

    /// A `register_vcpu_info` argument: its own page at a random offset
    /// (some past the page or misaligned), or a frame the hypervisor must
    /// refuse: a live page table, no frame at all, a random number. Never
    /// a frame that could succeed elsewhere (shared_info, the arena), where
    /// the event callback could no longer reach vcpu_info.
    fn vcpu_info_arg(&mut self) -> u64 {
        let own = crate::env::Env::pfn_of_va(&raw const VCPU_INFO_PAGE as u64);
        let mfn = match self.rng.below(8) {
            0..=3 => self.env.mfn(own),
            4 => self.boot[self.rng.below(4) as usize],
            5 => u64::MAX,
            6 => self.env.mfn(own) | self.rng.next() << 40,
            _ => (1 << 27) + self.rng.below(1 << 20),
        };
        let offset = match self.rng.below(6) {
            0..=2 => self.rng.below(505) * 8,
            3 => self.rng.pick(&[4032, 4033, 4040, 4096, u64::from(u32::MAX)]),
            4 => self.rng.below(4096),
            _ => self.rng.next(),
        };
        self.bufs.page[0] = mfn;
        self.bufs.page[1] = offset;
        // Unreadable pointers only: stray readable memory could name a
        // frame of the arena that the move would then succeed into.
        if self.rng.chance(16) {
            self.rng.pick(&super::HOSTILE_PTRS[..6])
        } else {
            self.bufs.page.as_ptr() as u64
        }
    }

    /// `register_vcpu_info` succeeded with the struct at `arg`: the move
    /// went into the fuzzer's own page (the only frame it offers that can
    /// be accepted: the others are typed, absent or not RAM), so the
    /// event callback and the quieting follow.
    fn vcpu_info_moved(&mut self, arg: u64) {
        let offset = guest_kernel::arch::x86_64::mem::read(arg + 8) as u32;
        let va = &raw const VCPU_INFO_PAGE as u64 + u64::from(offset);
        crate::arch::set_vcpu_info_va(va);
        say!("fuzz: register_vcpu_info moved vcpu_info to offset {offset} of its own page");
    }

    /// Unregisters the areas and stops the timers.
    pub(super) fn timers_cleanup(&mut self) {
        let zero = [0u64; 2];
        let _ = call(abi::hypercall::HypercallNr::VCPU_OP, &[5, 0, zero.as_ptr() as u64]);
        let _ = call(abi::hypercall::HypercallNr::VCPU_OP, &[13, 0, zero.as_ptr() as u64]);
        let _ = call(abi::hypercall::HypercallNr::VCPU_OP, &[7, 0, 0]);
        let _ = call(abi::hypercall::HypercallNr::SET_TIMER_OP, &[0]);
    }
}
