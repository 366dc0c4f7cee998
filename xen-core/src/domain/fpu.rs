//! A vCPU's x87/MMX/SSE register state and its virtual CR0.TS (fact sheet
//! §4.5, §1.4, §5.2), kept so that no register state crosses domains.
//!
//! * **Eager switching.** The state is saved with FXSAVE when a vCPU stops
//!   running and restored with FXRSTOR when it runs again, on every domain
//!   switch. Xen's traditional way is lazy (set CR0.TS at switch-in, restore
//!   on the first #NM), but lazy switching leaves the previous owner's
//!   registers live in the CPU while another domain runs, which is the
//!   LazyFP leak (CVE-2018-3665, XSA-267); Xen itself defaults to eager on
//!   affected CPUs. With one CPU the eager cost is one FXSAVE and one
//!   FXRSTOR per domain switch and nothing on hypercalls or exceptions, so
//!   the hardware CR0.TS is exactly the running vCPU's virtual TS.
//! * **Init state.** A new vCPU's area is the architectural init image
//!   (FCW 0x037F as after FNINIT, MXCSR 0x1F80, every x87, MMX and XMM
//!   register zero, all tags empty). Restoring it overwrites every register
//!   the previous domain left, which FNINIT alone would not (it keeps the
//!   x87 register contents and leaves XMM alone).
//! * **FXSAVE only.** The area is the 512-byte legacy image. XSAVE state
//!   (AVX and later) is not managed: CR4.OSXSAVE is never set while a
//!   guest can run (only the boot's bulk fills set it, and clear it before
//!   the first guest instruction: `arch/x86_64/boot_vector.rs`), so
//!   VEX-encoded instructions and XSETBV raise #UD in a guest and the
//!   upper YMM halves cannot be reached (the CPUID policy hides OSXSAVE).
//! * **Virtual TS** (Xen's `ctrlreg[0] & X86_CR0_TS`): `fpu_taskswitch`
//!   sets or clears it; while it is set the guest's next x87/MMX/SSE
//!   instruction raises #NM, which Xen delivers to the guest's trap 7
//!   after clearing TS (hardware and virtual), so the handler and the
//!   retried instruction run with TS clear.
//! * **Error pointers.** On AMD CPUs that leave FIP/FDP/FOP out of FXRSTOR
//!   unless an exception is pending, each restore first overwrites them
//!   (FNCLEX, FFREE ST(7), FILD of a word of the image), as Xen does, so
//!   one domain never reads another's last x87 instruction and data
//!   addresses.
//! * The hypervisor itself never uses the FPU: `x86_64-unknown-none` is a
//!   soft-float target (no `sse`/`sse2` target features), so compiled
//!   code never touches x87 or XMM registers; only the switch does, and
//!   before any guest has run the boot's fills (vector stores of a
//!   pattern, all registers zero again after).
//!
//! Pure: the instructions are behind [`FpuHardware`], which the arch layer
//! implements and tests simulate.

/// Whether a CPU's FXSAVE/FXRSTOR leave FIP/FDP/FOP alone unless an x87
/// exception is pending (AMD and Hygon without CPUID 0x80000008 EBX bit 2,
/// RSTR_FP_ERR_PTRS), given its vendor string (CPUID 0 EBX, EDX, ECX) and
/// that EBX: then each restore scrubs them first, as Xen does.
pub const fn leaks_fpu_pointers(vendor: [u32; 3], ext8_ebx: Option<u32>) -> bool {
    const AMD: [u32; 3] = [0x6874_7541, 0x6974_6E65, 0x444D_4163];
    const HYGON: [u32; 3] = [0x6F67_7948, 0x6E65_476E, 0x656E_6975];
    let amd_like = (vendor[0] == AMD[0] && vendor[1] == AMD[1] && vendor[2] == AMD[2])
        || (vendor[0] == HYGON[0] && vendor[1] == HYGON[1] && vendor[2] == HYGON[2]);
    let fixed = match ext8_ebx {
        Some(ebx) => ebx & (1 << 2) != 0,
        None => false,
    };
    amd_like && !fixed
}

/// The FXSAVE image: 512 bytes, 16-byte aligned as FXSAVE requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct FxsaveArea(pub [u8; 512]);

const _: () = assert!(core::mem::size_of::<FxsaveArea>() == 512);
const _: () = assert!(core::mem::align_of::<FxsaveArea>() == 16);

impl FxsaveArea {
    /// x87 control word after FNINIT: every exception masked, 64-bit
    /// precision, round to nearest.
    pub const FCW_INIT: u16 = 0x037F;
    /// MXCSR at reset: every SIMD exception masked, round to nearest.
    pub const MXCSR_INIT: u32 = 0x1F80;
    /// Byte offset of MXCSR in the image.
    pub const MXCSR_OFFSET: usize = 24;
    /// Byte offset of ST(0)/MM0; each register has a 16-byte slot.
    pub const ST0_OFFSET: usize = 32;
    /// Byte offset of XMM0; each register is 16 bytes.
    pub const XMM0_OFFSET: usize = 160;

    /// The architectural init state (FNINIT plus MXCSR 0x1F80), with every
    /// data register zero.
    pub const fn init() -> FxsaveArea {
        let mut b = [0u8; 512];
        let fcw = Self::FCW_INIT.to_le_bytes();
        b[0] = fcw[0];
        b[1] = fcw[1];
        let mxcsr = Self::MXCSR_INIT.to_le_bytes();
        let mut i = 0;
        while i < 4 {
            b[Self::MXCSR_OFFSET + i] = mxcsr[i];
            i += 1;
        }
        FxsaveArea(b)
    }

    /// The x87 status word.
    pub fn fsw(&self) -> u16 {
        u16::from_le_bytes([self.0[2], self.0[3]])
    }

    /// Whether restoring this image on a CPU that leaks the x87 error
    /// pointers ([`leaks_fpu_pointers`]) must first overwrite them: AMD's
    /// FXRSTOR loads FIP, FDP and FOP only when the image has an unmasked
    /// exception pending, so otherwise the previous owner's pointers would
    /// stay visible to the next FXSAVE (Xen's rule, `cpu_bug_fpu_ptrs`).
    pub fn needs_pointer_scrub(&self) -> bool {
        self.fsw() & !self.fcw() & 0x3F == 0
    }

    /// The x87 control word.
    pub fn fcw(&self) -> u16 {
        u16::from_le_bytes([self.0[0], self.0[1]])
    }

    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        let o = Self::MXCSR_OFFSET;
        u32::from_le_bytes([self.0[o], self.0[o + 1], self.0[o + 2], self.0[o + 3]])
    }
}

/// The FPU instructions the switch needs, done by the arch layer.
pub trait FpuHardware {
    /// Stores the live x87/MMX/SSE registers into `area` (FXSAVE).
    fn save(&mut self, area: &mut FxsaveArea);
    /// Loads every x87/MMX/SSE register from `area` (FXRSTOR).
    fn restore(&mut self, area: &FxsaveArea);
    /// Sets or clears the hardware CR0.TS.
    fn set_ts(&mut self, ts: bool);
}

/// What an #NM raised by the guest leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceNotAvailable {
    /// The guest's virtual TS was set: TS is now clear, and #NM goes to the
    /// guest's trap 7 (which crashes the domain if it has none).
    Deliver,
    /// TS was clear, so the CPU had no reason to raise it (eager switching
    /// keeps hardware TS equal to the virtual one): the domain is crashed,
    /// as newer Xen does, rather than looping on a fault nobody can fix.
    Unexpected,
}

/// A vCPU's FPU register state while it is not running, and its virtual TS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpuState {
    area: FxsaveArea,
    virtual_ts: bool,
}

impl Default for FpuState {
    fn default() -> FpuState {
        FpuState::new()
    }
}

/// CR0.TS.
pub const CR0_TS: u64 = 1 << 3;

impl FpuState {
    /// A new vCPU: the init image, TS clear.
    pub const fn new() -> FpuState {
        FpuState { area: FxsaveArea::init(), virtual_ts: false }
    }

    /// The saved image (meaningful while the vCPU is not running).
    pub fn area(&self) -> &FxsaveArea {
        &self.area
    }

    /// The guest's virtual CR0.TS.
    pub fn virtual_ts(&self) -> bool {
        self.virtual_ts
    }

    /// `fpu_taskswitch(set)`: the new virtual TS, which the hardware TS
    /// must follow before the guest runs again.
    pub fn taskswitch(&mut self, set: bool) -> bool {
        self.virtual_ts = set;
        set
    }

    /// An #NM from the guest. On [`DeviceNotAvailable::Deliver`] the
    /// virtual TS is clear, and the hardware TS must be cleared too.
    pub fn device_not_available(&mut self) -> DeviceNotAvailable {
        if self.virtual_ts {
            self.virtual_ts = false;
            DeviceNotAvailable::Deliver
        } else {
            DeviceNotAvailable::Unexpected
        }
    }

    /// The vCPU stops running: its registers go into the area. TS is
    /// cleared first, since FXSAVE with TS set raises #NM.
    pub fn switch_out<H: FpuHardware>(&mut self, hw: &mut H) {
        hw.set_ts(false);
        hw.save(&mut self.area);
    }

    /// The vCPU runs next: every register comes from its area, then the
    /// hardware TS takes its virtual TS.
    pub fn switch_in<H: FpuHardware>(&self, hw: &mut H) {
        hw.set_ts(false);
        hw.restore(&self.area);
        hw.set_ts(self.virtual_ts);
    }
}

#[cfg(test)]
#[path = "fpu_tests.rs"]
mod tests;
