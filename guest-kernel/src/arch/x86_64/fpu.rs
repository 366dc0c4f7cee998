//! x87 and SSE instructions for the FPU tests. The runtime is built
//! soft-float (`x86_64-unknown-none`), so the compiler never touches these
//! registers: every FPU instruction a guest runs is one of these.

use core::arch::asm;

/// An FXSAVE image.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Fxsave(pub [u8; 512]);

impl Fxsave {
    /// FCW, FSW, the abridged tag word, MXCSR, ST0–7 and XMM0–15: the
    /// registers a guest can load (not the last-instruction pointers).
    pub fn registers(&self) -> impl Iterator<Item = u8> + '_ {
        self.0[0..5].iter().chain(&self.0[24..28]).chain(&self.0[32..416]).copied()
    }

    /// The x87 control word.
    pub fn fcw(&self) -> u16 {
        u16::from_le_bytes([self.0[0], self.0[1]])
    }

    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]])
    }

    /// Whether this is the architectural init state: FNINIT's FCW 0x037F,
    /// MXCSR 0x1F80, and every status, tag and data register zero.
    pub fn is_init_state(&self) -> bool {
        let zero = self.0[2..5].iter().chain(&self.0[32..416]).all(|&b| b == 0);
        self.fcw() == 0x037F && self.mxcsr() == 0x1F80 && zero
    }
}

/// FXSAVE64 of the live registers.
pub fn fxsave() -> Fxsave {
    let mut a = Fxsave([0; 512]);
    // SAFETY: the area is 512 bytes and 16-byte aligned; FXSAVE only
    // stores into it.
    unsafe { asm!("fxsave64 [{}]", in(reg) a.0.as_mut_ptr(), options(nostack)) };
    a
}

/// FNINIT, then FCW `fcw`, the integer `x87` pushed as ST(0), MXCSR
/// `mxcsr` and XMM0 = `xmm0`: a distinctive state to look for elsewhere.
pub fn load(fcw: u16, x87: u64, mxcsr: u32, xmm0: &[u8; 16]) {
    // SAFETY: the operands are valid memory of the sizes the instructions
    // read; only x87/SSE registers change, which compiled code never uses.
    unsafe {
        asm!(
            "fninit",
            "fldcw [{fcw}]",
            "fild qword ptr [{x87}]",
            "ldmxcsr [{mxcsr}]",
            "movdqu xmm0, [{xmm0}]",
            fcw = in(reg) &fcw,
            x87 = in(reg) &x87,
            mxcsr = in(reg) &mxcsr,
            xmm0 = in(reg) xmm0.as_ptr(),
            options(nostack, readonly),
        )
    };
}

/// Length of [`fnop`]'s instruction (D9 D0).
pub const FNOP_LEN: u64 = 2;

/// `fnop`: an x87 instruction that changes nothing, but raises #NM under
/// TS and #UD under CR0.EM like any other.
pub fn fnop() {
    // SAFETY: FNOP has no effect beyond the FPU's instruction pointers.
    unsafe { asm!("fnop", options(nomem, nostack)) };
}

/// `fld1`: an x87 instruction (pushes 1.0).
pub fn fld1() {
    // SAFETY: changes only the x87 stack; compiled code never uses it.
    unsafe { asm!("fld1", "fstp st(0)", options(nomem, nostack)) };
}

/// Length of [`xorps_xmm1`]'s instruction (0F 57 C9).
pub const XORPS_LEN: u64 = 3;

/// `xorps xmm1, xmm1`: an SSE instruction (#UD unless CR4.OSFXSR).
pub fn xorps_xmm1() {
    // SAFETY: changes only XMM1; compiled code never uses it.
    unsafe { asm!("xorps xmm1, xmm1", options(nomem, nostack)) };
}
