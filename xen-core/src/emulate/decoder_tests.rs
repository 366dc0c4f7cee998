use super::*;
use proptest::prelude::*;

fn op(code: &[u8]) -> Result<(Op, u8), DecodeError> {
    decode(code).map(|i| (i.op, i.len))
}

#[test]
fn every_emulated_opcode_decodes_with_its_length() {
    let cases: &[(&[u8], Op, u8)] = &[
        (&[0x0F, 0x32], Op::Rdmsr, 2),
        (&[0x0F, 0x30], Op::Wrmsr, 2),
        (&[0x0F, 0x31], Op::Rdtsc, 2),
        (&[0x0F, 0x01, 0xF9], Op::Rdtscp, 3),
        (&[0x0F, 0x06], Op::Clts, 2),
        (&[0x0F, 0x09], Op::Wbinvd, 2),
        (&[0x0F, 0x08], Op::Invd, 2),
        (&[0xFA], Op::Cli, 1),
        (&[0xFB], Op::Sti, 1),
        (&[0xF4], Op::Hlt, 1),
        (&[0x0F, 0x20, 0xC0], Op::MovFromCr { cr: 0, gpr: 0 }, 3),
        (&[0x0F, 0x20, 0xE3], Op::MovFromCr { cr: 4, gpr: 3 }, 3),
        (&[0x0F, 0x22, 0xD8], Op::MovToCr { cr: 3, gpr: 0 }, 3),
        (&[0x0F, 0x21, 0xF8], Op::MovFromDr { dr: 7, gpr: 0 }, 3),
        (&[0x0F, 0x23, 0xC1], Op::MovToDr { dr: 0, gpr: 1 }, 3),
        (&[0xE4, 0x71], Op::In { port: Port::Imm(0x71), size: 1 }, 2),
        (&[0xE5, 0x80], Op::In { port: Port::Imm(0x80), size: 4 }, 2),
        (&[0xE6, 0x80], Op::Out { port: Port::Imm(0x80), size: 1 }, 2),
        (&[0xE7, 0x80], Op::Out { port: Port::Imm(0x80), size: 4 }, 2),
        (&[0xEC], Op::In { port: Port::Dx, size: 1 }, 1),
        (&[0xED], Op::In { port: Port::Dx, size: 4 }, 1),
        (&[0xEE], Op::Out { port: Port::Dx, size: 1 }, 1),
        (&[0xEF], Op::Out { port: Port::Dx, size: 4 }, 1),
        (&[0x6C], Op::Ins { size: 1 }, 1),
        (&[0x6D], Op::Ins { size: 4 }, 1),
        (&[0x6E], Op::Outs { size: 1 }, 1),
        (&[0x6F], Op::Outs { size: 4 }, 1),
        (&FORCED_CPUID, Op::ForcedCpuid, 7),
    ];
    for &(code, want, len) in cases {
        assert_eq!(op(code), Ok((want, len)), "{code:02x?}");
    }
}

#[test]
fn operand_size_prefix_makes_port_accesses_16_bit() {
    assert_eq!(op(&[0x66, 0xED]), Ok((Op::In { port: Port::Dx, size: 2 }, 2)));
    assert_eq!(op(&[0x66, 0xE7, 0x10]), Ok((Op::Out { port: Port::Imm(0x10), size: 2 }, 3)));
    assert_eq!(op(&[0x66, 0xEC]), Ok((Op::In { port: Port::Dx, size: 1 }, 2)), "byte forms ignore 66");
    assert_eq!(op(&[0x48, 0xED]), Ok((Op::In { port: Port::Dx, size: 4 }, 2)), "REX.W does not widen");
}

#[test]
fn rex_extends_control_and_debug_register_operands() {
    assert_eq!(op(&[0x41, 0x0F, 0x22, 0xD8]), Ok((Op::MovToCr { cr: 3, gpr: 8 }, 4)));
    assert_eq!(op(&[0x44, 0x0F, 0x20, 0xC0]), Ok((Op::MovFromCr { cr: 8, gpr: 0 }, 4)));
    assert_eq!(op(&[0x4D, 0x0F, 0x21, 0xFF]), Ok((Op::MovFromDr { dr: 15, gpr: 15 }, 4)));
    // mod is ignored: a "memory" ModRM is still a register move.
    assert_eq!(op(&[0x0F, 0x22, 0x18]), Ok((Op::MovToCr { cr: 3, gpr: 0 }, 3)));
}

#[test]
fn rex_before_a_legacy_prefix_is_dropped() {
    assert_eq!(op(&[0x41, 0x66, 0x0F, 0x22, 0xD8]), Ok((Op::MovToCr { cr: 3, gpr: 0 }, 5)));
    assert_eq!(op(&[0x66, 0x41, 0x0F, 0x22, 0xD8]), Ok((Op::MovToCr { cr: 3, gpr: 8 }, 5)));
    assert_eq!(op(&[0x40, 0x44, 0x0F, 0x20, 0xC0]), Ok((Op::MovFromCr { cr: 8, gpr: 0 }, 5)), "last REX counts");
}

#[test]
fn rep_address_size_and_segment_prefixes_are_recorded() {
    let i = decode(&[0xF3, 0x67, 0x64, 0x6F]).unwrap();
    assert_eq!((i.op, i.len, i.rep, i.addr32, i.seg), (Op::Outs { size: 4 }, 4, true, true, Some(Seg::Fs)));
    let i = decode(&[0x65, 0x2E, 0x6E]).unwrap();
    assert_eq!(i.seg, None, "the last segment prefix wins");
    assert_eq!(op(&[0xF3, 0x0F, 0x09]), Ok((Op::Wbinvd, 3)), "wbnoinvd");
}

#[test]
fn other_instructions_and_lock_are_unsupported() {
    for code in [
        &[0x90][..],
        &[0x0F, 0x01, 0xC1],
        &[0x0F, 0x01, 0xF8],
        &[0x0F, 0xA2],
        &[0xF0, 0x0F, 0x20, 0xC0],
        &[0xCD, 0x80],
        &[0x0F, 0x0B, 0x90],
    ] {
        assert_eq!(op(code), Err(DecodeError::Unsupported), "{code:02x?}");
    }
}

#[test]
fn bytes_ending_inside_an_instruction_are_truncated() {
    for code in [&[][..], &[0x0F], &[0x0F, 0x20], &[0xE4], &[0x66], &[0x41], &[0x0F, 0x01], &[0x0F, 0x0B, b'x']] {
        assert_eq!(op(code), Err(DecodeError::Truncated), "{code:02x?}");
    }
}

#[test]
fn fifteen_bytes_is_the_limit() {
    let mut code = [0x66u8; 16];
    code[13] = 0x0F;
    code[14] = 0x32;
    assert_eq!(op(&code[..15]), Ok((Op::Rdmsr, 15)));
    let mut long = [0x66u8; 16];
    long[14] = 0x0F;
    long[15] = 0x32;
    assert_eq!(op(&long), Err(DecodeError::Unsupported), "16 bytes");
    assert_eq!(op(&[0x66; 15]), Err(DecodeError::Unsupported), "prefixes only");
    assert_eq!(op(&[0x66; 14]), Err(DecodeError::Truncated));
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_lengths_stay_within_15(code in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(i) = decode(&code) {
            prop_assert!(i.len >= 1 && usize::from(i.len) <= MAX_LEN);
            prop_assert!(usize::from(i.len) <= code.len());
            // Decoding is a function of the instruction's own bytes.
            prop_assert_eq!(decode(&code[..usize::from(i.len)]), Ok(i));
        }
    }
}
