//! The SVM probe guests: two tiny PVH-style images (a few bytes of 32-bit
//! code entered at the PVH entry with EBX = the `hvm_start_info`) that the
//! hypervisor runs under nested paging at boot with `svm-probe`, so the
//! VMRUN loop is exercised on real (emulated) hardware without a kernel.
//!
//! * [`GOOD`] reads the start info's magic through its p2m (the NPT must
//!   map it), makes a `vmmcall` with it in EAX, runs CPUID, writes a byte
//!   to port 0x80, reads port 0x71, reports its TR selector (state only
//!   VMLOAD gives it) and halts: every exit a PVH guest makes
//!   at boot, ending cleanly.
//! * [`HOSTILE`] reads a guest-physical address its p2m does not map: the
//!   nested page fault must crash that domain alone.
//! * [`NO_IDT`] reads an MSR it may not: the #GP injected for it finds no
//!   IDT, so the guest triple-faults, and the shutdown exit crashes it.
//!
//! Pure: the arch layer copies an image to [`ENTRY_GPA`] of a fresh p2m.

/// Guest-physical address of the entry point (the image's first byte).
pub const ENTRY_GPA: u32 = 0x1000;
/// Guest-physical address of the `hvm_start_info`.
pub const START_INFO_GPA: u32 = 0x2000;
/// Guest frames the probe's p2m maps (gfn 0 .. this).
pub const RAM_FRAMES: u64 = 8;
/// What [`HOSTILE`] reads: far beyond [`RAM_FRAMES`].
pub const UNMAPPED_GPA: u32 = 0x0080_0000;
/// The byte [`GOOD`] writes to port 0x80.
pub const OUT_BYTE: u8 = 0x42;

/// The well-behaved guest.
pub const GOOD: [u8; 32] = [
    0x8B, 0x03, // mov eax, [ebx]           ; the start info's magic
    0x0F, 0x01, 0xD9, // vmmcall            ; "hypercall" number = magic
    0x31, 0xC0, // xor eax, eax
    0x31, 0xC9, // xor ecx, ecx
    0x0F, 0xA2, // cpuid                    ; leaf 0
    0xB0, OUT_BYTE, // mov al, OUT_BYTE
    0xE6, 0x80, // out 0x80, al
    0xE4, 0x71, // in al, 0x71              ; the null device: 0xFF
    0x0F, 0xB6, 0xC0, // movzx eax, al
    0x0F, 0x01, 0xD9, // vmmcall            ; reports what IN read
    0x0F, 0x00, 0xC8, // str eax            ; TR, loaded by VMLOAD
    0x0F, 0x01, 0xD9, // vmmcall            ; reports it (0x18)
    0xF4, // hlt                            ; the end
    0xEB, 0xFE, // jmp $                    ; never reached
];

/// The guest that reaches outside its p2m.
pub const HOSTILE: [u8; 9] = [
    0xA1,
    UNMAPPED_GPA as u8,
    (UNMAPPED_GPA >> 8) as u8,
    (UNMAPPED_GPA >> 16) as u8,
    (UNMAPPED_GPA >> 24) as u8, // mov eax, [UNMAPPED_GPA]
    0xF4,                       // hlt                 ; must never be reached
    0xEB,
    0xFE,
    0x90,
];

/// The guest whose refused RDMSR becomes a triple fault.
pub const NO_IDT: [u8; 8] = [
    0x31, 0xC9, // xor ecx, ecx
    0x0F, 0x32, // rdmsr                ; MSR 0: #GP, and no IDT
    0xF4, // hlt                        ; must never be reached
    0xEB, 0xFE, 0x90,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_layout_fits_in_its_p2m_and_the_hostile_address_does_not() {
        let end = u64::from(ENTRY_GPA) + GOOD.len() as u64;
        assert!(end <= u64::from(START_INFO_GPA));
        assert!(u64::from(START_INFO_GPA) >> 12 < RAM_FRAMES);
        assert!(u64::from(UNMAPPED_GPA) >> 12 >= RAM_FRAMES);
        assert_eq!(&HOSTILE[1..5], &UNMAPPED_GPA.to_le_bytes());
    }

    #[test]
    fn the_good_guest_ends_in_hlt_after_its_last_vmmcall() {
        let hlt = GOOD.iter().position(|&b| b == 0xF4).unwrap();
        assert_eq!(&GOOD[hlt - 3..hlt], &[0x0F, 0x01, 0xD9]);
    }
}
