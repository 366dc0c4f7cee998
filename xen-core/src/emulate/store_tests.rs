use super::*;

fn mem(base: Option<u8>) -> MemOperand {
    MemOperand { base, index: None, scale: 1, disp: 0, rip_relative: false, addr32: false, seg: None }
}

fn store(op: StoreOp, size: u8, mem: MemOperand, len: u8) -> Store {
    Store { op, size, mem, len, lock: false }
}

#[test]
fn linux_set_pte_mov_rbp_to_rbx_memory_decodes() {
    // xen_set_pte_init: 48 89 2b = mov [rbx], rbp.
    assert_eq!(decode(&[0x48, 0x89, 0x2B]), Ok(store(StoreOp::Mov(Src::Reg(5)), 8, mem(Some(3)), 3)));
}

#[test]
fn operand_size_follows_rex_w_and_66() {
    assert_eq!(decode(&[0x89, 0x07]).map(|s| s.size), Ok(4));
    assert_eq!(decode(&[0x66, 0x89, 0x07]).map(|s| s.size), Ok(2));
    assert_eq!(decode(&[0x66, 0x48, 0x89, 0x07]).map(|s| s.size), Ok(8));
    assert_eq!(decode(&[0x88, 0x07]).map(|s| s.size), Ok(1));
    // REX before a legacy prefix does not count.
    assert_eq!(decode(&[0x48, 0x66, 0x89, 0x07]).map(|s| s.size), Ok(2));
}

#[test]
fn byte_registers_4_to_7_are_high_bytes_without_rex() {
    assert_eq!(decode(&[0x88, 0x27]).map(|s| s.op), Ok(StoreOp::Mov(Src::HighByte(0))));
    assert_eq!(decode(&[0x40, 0x88, 0x27]).map(|s| s.op), Ok(StoreOp::Mov(Src::Reg(4))));
    assert_eq!(decode(&[0x44, 0x88, 0x27]).map(|s| s.op), Ok(StoreOp::Mov(Src::Reg(12))));
}

#[test]
fn sib_disp8_and_rex_extensions_decode() {
    // 4c 89 44 c5 f8 = mov [rbp + rax*8 - 8], r8
    let s = decode(&[0x4C, 0x89, 0x44, 0xC5, 0xF8]).unwrap();
    assert_eq!(s.op, StoreOp::Mov(Src::Reg(8)));
    assert_eq!(s.mem, MemOperand { base: Some(5), index: Some(0), scale: 8, disp: -8, ..mem(None) });
    assert_eq!(s.len, 5);
    // 42 89 04 25 00 10 00 00 = mov [r12*1 + 0x1000], eax: no base, and
    // index 4 is a register with REX.X.
    let s = decode(&[0x42, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00]).unwrap();
    assert_eq!(s.mem, MemOperand { index: Some(12), disp: 0x1000, ..mem(None) });
    // 48 89 04 24 = mov [rsp], rax: SIB index 4 is none.
    let s = decode(&[0x48, 0x89, 0x04, 0x24]).unwrap();
    assert_eq!(s.mem, mem(Some(4)));
    // 49 89 85 00 01 00 00 = mov [r13 + 0x100], rax (disp32).
    let s = decode(&[0x49, 0x89, 0x85, 0x00, 0x01, 0x00, 0x00]).unwrap();
    assert_eq!(s.mem, MemOperand { disp: 0x100, ..mem(Some(13)) });
}

#[test]
fn rip_relative_with_immediate_measures_the_whole_instruction() {
    // 48 c7 05 10 00 00 00 ff ff ff ff = mov qword [rip + 0x10], -1
    let s = decode(&[0x48, 0xC7, 0x05, 0x10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
    assert_eq!(s.op, StoreOp::Mov(Src::Imm(u64::MAX)));
    assert_eq!(s.mem, MemOperand { rip_relative: true, disp: 0x10, ..mem(None) });
    assert_eq!(s.len, 11);
}

#[test]
fn immediates_follow_the_operand_size() {
    assert_eq!(decode(&[0xC7, 0x00, 1, 0, 0, 0]).map(|s| (s.op, s.len)), Ok((StoreOp::Mov(Src::Imm(1)), 6)));
    assert_eq!(decode(&[0x66, 0xC7, 0x00, 0x34, 0x12]).map(|s| (s.op, s.len)), Ok((StoreOp::Mov(Src::Imm(0x1234)), 5)));
    assert_eq!(decode(&[0xC6, 0x00, 0x80]).map(|s| s.op), Ok(StoreOp::Mov(Src::Imm(0xFFFF_FFFF_FFFF_FF80))));
    // 48 83 0f 01 = or qword [rdi], 1; 48 81 27 ff ff ff 7f = and [rdi], 0x7fffffff
    assert_eq!(decode(&[0x48, 0x83, 0x0F, 0x01]).map(|s| s.op), Ok(StoreOp::Or(Src::Imm(1))));
    assert_eq!(
        decode(&[0x48, 0x81, 0x27, 0xFF, 0xFF, 0xFF, 0x7F]).map(|s| s.op),
        Ok(StoreOp::And(Src::Imm(0x7FFF_FFFF)))
    );
}

#[test]
fn linux_bit_operations_decode() {
    // clear_bit of a constant: f0 80 27 fd = lock and byte [rdi], 0xfd
    let s = decode(&[0xF0, 0x80, 0x27, 0xFD]).unwrap();
    assert_eq!((s.op, s.size, s.lock), (StoreOp::And(Src::Imm(0xFFFF_FFFF_FFFF_FFFD)), 1, true));
    // test_and_clear_bit: f0 48 0f ba 37 05 = lock btr qword [rdi], 5
    let s = decode(&[0xF0, 0x48, 0x0F, 0xBA, 0x37, 0x05]).unwrap();
    assert_eq!((s.op, s.size, s.len), (StoreOp::Btr(Src::Imm(5)), 8, 6));
    // f0 48 0f ab 07 = lock bts [rdi], rax
    assert_eq!(decode(&[0xF0, 0x48, 0x0F, 0xAB, 0x07]).map(|s| s.op), Ok(StoreOp::Bts(Src::Reg(0))));
    assert_eq!(decode(&[0x48, 0x0F, 0xB3, 0x07]).map(|s| s.op), Ok(StoreOp::Btr(Src::Reg(0))));
}

#[test]
fn xchg_and_cmpxchg_decode() {
    assert_eq!(decode(&[0x48, 0x87, 0x03]).map(|s| s.op), Ok(StoreOp::Xchg(Src::Reg(0))));
    // f0 48 0f b1 0e = lock cmpxchg [rsi], rcx
    let s = decode(&[0xF0, 0x48, 0x0F, 0xB1, 0x0E]).unwrap();
    assert_eq!((s.op, s.mem, s.lock, s.len), (StoreOp::Cmpxchg(Src::Reg(1)), mem(Some(6)), true, 5));
}

#[test]
fn address_size_and_segment_prefixes_are_kept() {
    assert!(decode(&[0x67, 0x89, 0x03]).unwrap().mem.addr32);
    assert_eq!(decode(&[0x64, 0x48, 0x89, 0x03]).unwrap().mem.seg, Some(Seg::Fs));
    assert_eq!(decode(&[0x65, 0x3E, 0x89, 0x03]).unwrap().mem.seg, None);
    assert_eq!(decode(&[0xF3, 0x89, 0x03]).map(|s| s.len), Ok(3));
}

#[test]
fn loads_register_forms_other_opcodes_and_bad_groups_are_unsupported() {
    for code in [
        &[0x48, 0x8B, 0x03][..],      // mov rax, [rbx]
        &[0x48, 0x89, 0xC3],          // mov rbx, rax
        &[0xC7, 0x48, 0, 0, 0, 0, 0], // C7 /1
        &[0x81, 0x07, 0, 0, 0, 0],    // add [rdi], imm
        &[0x0F, 0xBA, 0x27, 1],       // bt (no write)
        &[0xF0, 0x89, 0x03],          // lock mov is #UD
        &[0x0F, 0x0B],
        &[0xAB], // stos
    ] {
        assert_eq!(decode(code), Err(DecodeError::Unsupported), "{code:02x?}");
    }
    assert_eq!(decode(&[0x66; 15]), Err(DecodeError::Unsupported));
    let mut long = [0x66u8; 16];
    long[12..].copy_from_slice(&[0xC7, 0x00, 0x34, 0x12]);
    assert_eq!(decode(&long), Err(DecodeError::Unsupported), "16 bytes");
}

#[test]
fn a_cut_instruction_is_truncated() {
    let full = [0x48, 0xC7, 0x04, 0x24, 0x78, 0x56, 0x34, 0x12];
    assert!(decode(&full).is_ok());
    for n in 0..full.len() {
        assert_eq!(decode(&full[..n]), Err(DecodeError::Truncated), "{n} bytes");
    }
}

#[test]
fn effective_address_adds_base_index_disp_segment_and_wraps_at_32_bits() {
    let mut ctx = GuestContext::default();
    ctx.gpr[crate::domain::vcpu::reg::RBP] = 0x1000;
    ctx.gpr[crate::domain::vcpu::reg::RAX] = 3;
    let s = decode(&[0x4C, 0x89, 0x44, 0xC5, 0xF8]).unwrap();
    assert_eq!(s.mem.address(&ctx, 0, 0), 0x1000 + 24 - 8);
    assert_eq!(s.mem.address(&ctx, 0, 0x10_0000), 0x10_1010);
    let rip = decode(&[0x48, 0xC7, 0x05, 0x10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
    assert_eq!(rip.mem.address(&ctx, 0xFFFF_FFFF_8000_0000, 0), 0xFFFF_FFFF_8000_0010);
    ctx.gpr[crate::domain::vcpu::reg::RBX] = 0x1_FFFF_FFFF;
    let a32 = decode(&[0x67, 0x89, 0x43, 0x02]).unwrap();
    assert_eq!(a32.mem.address(&ctx, 0, 0), 1);
}
