//! SVM exits decoded (AMD APM vol. 2, §15 and appendix C): the VMCB's
//! EXITCODE, EXITINFO1 and EXITINFO2 into an [`Exit`]. Pure; a malformed
//! combination (which a correct CPU never reports) decodes to
//! [`Exit::Malformed`] rather than panicking.

/// Exit codes (VMCB offset 0x70).
pub mod code {
    /// Read of CR0 (CR n read is 0x00 + n).
    pub const CR0_READ: u64 = 0x00;
    /// Read of CR3.
    pub const CR3_READ: u64 = 0x03;
    /// Read of CR4.
    pub const CR4_READ: u64 = 0x04;
    /// Write of CR0 (CR n write is 0x10 + n).
    pub const CR0_WRITE: u64 = 0x10;
    /// Write of CR4.
    pub const CR4_WRITE: u64 = 0x14;
    /// Write of CR3.
    pub const CR3_WRITE: u64 = 0x13;
    /// First exception intercept (exception vector v is 0x40 + v).
    pub const EXCEPTION_BASE: u64 = 0x40;
    /// Page fault intercept.
    pub const EXCEPTION_PF: u64 = 0x4E;
    /// Physical interrupt.
    pub const INTR: u64 = 0x60;
    /// Physical NMI.
    pub const NMI: u64 = 0x61;
    /// A virtual interrupt (V_IRQ) became deliverable: the guest opened
    /// its interrupt window.
    pub const VINTR: u64 = 0x64;
    /// CPUID.
    pub const CPUID: u64 = 0x72;
    /// HLT.
    pub const HLT: u64 = 0x78;
    /// INVLPG.
    pub const INVLPG: u64 = 0x79;
    /// IN, OUT, INS, OUTS.
    pub const IOIO: u64 = 0x7B;
    /// RDMSR or WRMSR.
    pub const MSR: u64 = 0x7C;
    /// Shutdown (a triple fault in the guest).
    pub const SHUTDOWN: u64 = 0x7F;
    /// VMRUN.
    pub const VMRUN: u64 = 0x80;
    /// VMMCALL.
    pub const VMMCALL: u64 = 0x81;
    /// Nested page fault.
    pub const NPF: u64 = 0x400;
    /// VMRUN refused the VMCB (invalid guest state).
    pub const INVALID: u64 = u64::MAX;
}

/// What the hardware left in the VMCB at #VMEXIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RawExit {
    /// EXITCODE.
    pub code: u64,
    /// EXITINFO1.
    pub info1: u64,
    /// EXITINFO2.
    pub info2: u64,
    /// Whether the CPU has decode assists (CPUID 8000_000A EDX bit 7), so
    /// CR-write and INVLPG exits name their operand.
    pub decode_assists: bool,
}

/// An I/O instruction intercept (EXITINFO1 of IOIO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoExit {
    /// The port.
    pub port: u16,
    /// Operand size in bytes: 1, 2 or 4.
    pub size: u8,
    /// IN/INS (else OUT/OUTS).
    pub input: bool,
    /// INS/OUTS.
    pub string: bool,
    /// With a REP prefix.
    pub rep: bool,
    /// Address size of a string instruction in bytes: 2, 4 or 8.
    pub addr_size: u8,
    /// Segment of a string instruction's source (ES=0 … GS=5).
    pub segment: u8,
    /// RIP of the next instruction (EXITINFO2).
    pub next_rip: u64,
}

/// The error bits of a nested page fault (EXITINFO1 of NPF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpfError {
    /// The nested entry was present (a protection violation).
    pub present: bool,
    /// A write.
    pub write: bool,
    /// A user access (every nested walk counts as one).
    pub user: bool,
    /// A reserved bit was set in a nested entry.
    pub rsvd: bool,
    /// An instruction fetch.
    pub fetch: bool,
    /// While translating the guest's final physical address.
    pub final_gpa: bool,
    /// While translating one of the guest's page-table frames.
    pub guest_table: bool,
}

/// A decoded exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// VMMCALL: a hypercall from the hypercall page.
    Vmmcall,
    /// CPUID.
    Cpuid,
    /// RDMSR (`write` false) or WRMSR; the MSR is in the guest's ECX.
    Msr {
        /// WRMSR.
        write: bool,
    },
    /// An I/O instruction.
    Io(IoExit),
    /// HLT.
    Hlt,
    /// A physical interrupt arrived while the guest ran.
    Intr,
    /// A physical NMI arrived while the guest ran.
    Nmi,
    /// The guest can take an interrupt again (the window asked for with
    /// V_IRQ and the VINTR intercept).
    Vintr,
    /// The guest triple-faulted.
    Shutdown,
    /// A nested page fault at guest-physical `gpa`.
    Npf {
        /// The faulting guest-physical address (EXITINFO2).
        gpa: u64,
        /// Why.
        error: NpfError,
    },
    /// `mov cr3, reg`: the register number when decode assists name it.
    Cr3Write {
        /// The source general-purpose register (0 = RAX … 15 = R15).
        gpr: Option<u8>,
    },
    /// A read of CR0, CR3 or CR4, or a write of CR0 or CR4 (shadow paging
    /// keeps the guest's own values apart from the real ones).
    CrAccess {
        /// The control register (0, 3 or 4).
        cr: u8,
        /// A write (else a read).
        write: bool,
        /// The general-purpose register, when decode assists name it.
        gpr: Option<u8>,
    },
    /// INVLPG: the linear address when decode assists name it.
    Invlpg {
        /// The address.
        linear: Option<u64>,
    },
    /// A #PF intercepted (shadow paging).
    PageFault {
        /// The #PF error code.
        error_code: u32,
        /// The faulting linear address (the guest's CR2 to be).
        cr2: u64,
    },
    /// Another intercepted exception.
    Exception {
        /// Its vector.
        vector: u8,
        /// Its error code (0 if it has none).
        error_code: u32,
    },
    /// VMRUN refused the guest state.
    Invalid,
    /// An exit code the decoder does not know (none is intercepted).
    Unknown(u64),
    /// EXITINFO that no correct CPU reports for the code.
    Malformed(u64),
}

fn io(raw: &RawExit) -> Option<IoExit> {
    let i = raw.info1;
    let size = match (i >> 4) & 7 {
        1 => 1,
        2 => 2,
        4 => 4,
        _ => return None,
    };
    let string = i & (1 << 2) != 0;
    let addr_size = match (i >> 7) & 7 {
        1 => 2,
        2 => 4,
        4 => 8,
        0 if !string => 0,
        _ => return None,
    };
    Some(IoExit {
        port: (i >> 16) as u16,
        size,
        input: i & 1 != 0,
        string,
        rep: i & (1 << 3) != 0,
        addr_size,
        segment: ((i >> 10) & 7) as u8,
        next_rip: raw.info2,
    })
}

/// Decodes an exit.
pub fn decode(raw: &RawExit) -> Exit {
    match raw.code {
        code::VMMCALL => Exit::Vmmcall,
        code::CPUID => Exit::Cpuid,
        code::MSR => match raw.info1 {
            0 => Exit::Msr { write: false },
            1 => Exit::Msr { write: true },
            _ => Exit::Malformed(raw.code),
        },
        code::IOIO => io(raw).map_or(Exit::Malformed(raw.code), Exit::Io),
        code::HLT => Exit::Hlt,
        code::INTR => Exit::Intr,
        code::NMI => Exit::Nmi,
        code::VINTR => Exit::Vintr,
        code::SHUTDOWN => Exit::Shutdown,
        code::NPF => {
            let e = raw.info1;
            let error = NpfError {
                present: e & 1 != 0,
                write: e & 2 != 0,
                user: e & 4 != 0,
                rsvd: e & 8 != 0,
                fetch: e & 16 != 0,
                final_gpa: e & (1 << 32) != 0,
                guest_table: e & (1 << 33) != 0,
            };
            Exit::Npf { gpa: raw.info2, error }
        }
        code::CR3_WRITE => {
            // Bit 63: a MOV (not LMSW/CLTS, which only touch CR0); bits 3:0 the GPR.
            let gpr = (raw.decode_assists && raw.info1 & (1 << 63) != 0).then_some((raw.info1 & 15) as u8);
            Exit::Cr3Write { gpr }
        }
        c @ (code::CR0_READ | code::CR3_READ | code::CR4_READ | code::CR0_WRITE | code::CR4_WRITE) => {
            // Same EXITINFO1 as a CR3 write: bit 63 a MOV, bits 3:0 the GPR.
            let gpr = (raw.decode_assists && raw.info1 & (1 << 63) != 0).then_some((raw.info1 & 15) as u8);
            Exit::CrAccess { cr: (c & 0xF) as u8, write: c >= code::CR0_WRITE, gpr }
        }
        code::INVLPG => Exit::Invlpg { linear: raw.decode_assists.then_some(raw.info1) },
        code::EXCEPTION_PF => Exit::PageFault { error_code: raw.info1 as u32, cr2: raw.info2 },
        c if (code::EXCEPTION_BASE..code::EXCEPTION_BASE + 32).contains(&c) => {
            Exit::Exception { vector: (c - code::EXCEPTION_BASE) as u8, error_code: raw.info1 as u32 }
        }
        code::INVALID => Exit::Invalid,
        c => Exit::Unknown(c),
    }
}
