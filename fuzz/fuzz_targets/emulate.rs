//! Fuzzes the privileged-instruction emulator over raw instruction bytes
//! with a fake platform: the first bytes pick the vCPU state (IOPL, I/O
//! bitmap, registers, kernel/user mode, #GP or #UD, domain 0 or not), the
//! rest is the code, placed so it may run into an unmapped page. Checked:
//! no panic; RIP moves by at most 15 bytes; the hardware ports are reached
//! only by domain 0 and never the hypervisor's own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_core::domain::vcpu::GuestContext;
use xen_core::emulate::{emulate, ports, EmulState, Outcome, Platform, SegBase};

/// Code at `CODE`; mapped data at `DATA..DATA + 8192`; nothing else.
const CODE: u64 = 0x1000;
const DATA: u64 = 0x10_0000;

struct Fake {
    code: Vec<u8>,
    data: Vec<u8>,
    hwdom: bool,
    ts: bool,
    bases: [u64; 3],
}

impl Fake {
    fn byte(&mut self, va: u64) -> Option<&mut u8> {
        if (CODE..CODE + self.code.len() as u64).contains(&va) {
            return self.code.get_mut((va - CODE) as usize);
        }
        if (DATA..DATA + self.data.len() as u64).contains(&va) {
            return self.data.get_mut((va - DATA) as usize);
        }
        None
    }
    fn check_port(&self, port: u16, size: u8) {
        assert!(self.hwdom, "a domU reached hardware port {port:#x}");
        let end = u32::from(port) + u32::from(size);
        for &(lo, hi) in &ports::RESERVED {
            assert!(end <= u32::from(lo) || u32::from(port) > u32::from(hi), "reserved port {port:#x}");
        }
    }
}

impl Platform for Fake {
    fn read(&mut self, va: u64, buf: &mut [u8]) -> bool {
        for (k, b) in buf.iter_mut().enumerate() {
            match self.byte(va.wrapping_add(k as u64)) {
                Some(v) => *b = *v,
                None => return false,
            }
        }
        true
    }
    fn write(&mut self, va: u64, buf: &[u8]) -> bool {
        if (0..buf.len()).any(|k| self.byte(va.wrapping_add(k as u64)).is_none()) {
            return false;
        }
        for (k, &b) in buf.iter().enumerate() {
            *self.byte(va.wrapping_add(k as u64)).unwrap() = b;
        }
        true
    }
    fn real_cr0(&self) -> u64 {
        0x8005_0033
    }
    fn host_efer(&self) -> u64 {
        0xD01
    }
    fn host_misc_enable(&self) -> Option<u64> {
        Some(1)
    }
    fn tsc(&mut self) -> u64 {
        42
    }
    fn cr3(&self) -> u64 {
        0x5000
    }
    fn set_cr3(&mut self, value: u64) -> Result<(), abi::Errno> {
        if value & 0xFFF == 0 {
            Ok(())
        } else {
            Err(abi::Errno::EINVAL)
        }
    }
    fn virtual_ts(&self) -> bool {
        self.ts
    }
    fn fpu_taskswitch(&mut self, set: bool) {
        self.ts = set;
    }
    fn segment_base(&self, which: SegBase) -> u64 {
        self.bases[which as usize]
    }
    fn set_segment_base(&mut self, which: SegBase, base: u64) {
        self.bases[which as usize] = base;
    }
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        [leaf, subleaf, 0, 0]
    }
    fn port_in(&mut self, port: u16, size: u8) -> u32 {
        self.check_port(port, size);
        0
    }
    fn port_out(&mut self, port: u16, size: u8, _: u32) {
        if port != ports::PCI_CF8 {
            self.check_port(port, size);
        }
    }
    fn has_gp_handler(&self) -> bool {
        true
    }
    fn vcpu_id(&self) -> u32 {
        0
    }
    fn hardware_domain(&self) -> bool {
        self.hwdom
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 12 {
        return;
    }
    let (cfg, code) = input.split_at(12);
    let mut f = Fake { code: code.to_vec(), data: vec![cfg[9]; 8192], hwdom: cfg[0] & 1 != 0, ts: false, bases: [0; 3] };
    let mut st = EmulState::default();
    st.io.iopl = cfg[1] & 3;
    if cfg[0] & 2 != 0 {
        st.io.bitmap = DATA;
        st.io.nr_ports = u32::from(u16::from_le_bytes([cfg[2], cfg[3]]));
    }
    st.cf8 = u32::from_le_bytes([cfg[4], cfg[5], cfg[6], cfg[7]]);
    let mut ctx = GuestContext { rip: CODE, ..GuestContext::default() };
    for (k, r) in ctx.gpr.iter_mut().enumerate() {
        // Small counts and addresses inside or near the data page.
        *r = match k % 3 {
            0 => u64::from(cfg[8]) * 37,
            1 => DATA + u64::from(cfg[10]) * 31,
            _ => u64::from(u16::from_le_bytes([cfg[10], cfg[11]])),
        };
    }
    ctx.rflags = if cfg[0] & 4 != 0 { 1 << 10 } else { 0 };
    let vector = if cfg[0] & 8 != 0 { 6 } else { 13 };
    let kernel = cfg[0] & 16 == 0;
    let out = emulate(&mut f, &mut st, &mut ctx, vector, kernel);
    let moved = ctx.rip - CODE;
    assert!(moved <= 15, "RIP moved by {moved}");
    if out != Outcome::Done {
        assert_eq!(moved, 0, "a refused instruction leaves RIP alone");
    }
});
