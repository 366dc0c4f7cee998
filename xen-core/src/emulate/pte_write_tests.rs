use super::*;
use crate::domain::vcpu::reg;
use std::collections::HashMap;

/// Tables as a map from entry address to entry; `refuse` rejects values
/// with any of its bits set, as a validation would.
#[derive(Default)]
struct Fake {
    entries: HashMap<u64, u64>,
    refuse: u64,
    updates: usize,
}

impl PteTables for Fake {
    fn entry(&mut self, va: u64) -> Option<u64> {
        assert_eq!(va % 8, 0);
        self.entries.get(&va).copied()
    }
    fn update(&mut self, va: u64, new: u64) -> bool {
        if new & self.refuse != 0 {
            return false;
        }
        self.updates += 1;
        self.entries.insert(va, new).is_some()
    }
}

const TABLE: u64 = 0xFFFF_8880_0400_0000;
const OLD: u64 = 0x8000_0000_0009_F063;

fn setup() -> (Fake, GuestContext) {
    let mut t = Fake::default();
    for i in 0..4 {
        t.entries.insert(TABLE + i * 8, OLD + (i << 12));
    }
    let ctx = GuestContext { rip: 0xFFFF_FFFF_8100_0000, rflags: 0x246, ..Default::default() };
    (t, ctx)
}

fn run(t: &mut Fake, ctx: &mut GuestContext, code: &[u8], cr2: u64) -> Result<(), NotEmulated> {
    emulate(code, ctx, cr2, SegBases::default(), t)
}

#[test]
fn a_64_bit_mov_replaces_the_entry_and_steps_over_the_instruction() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RBX] = TABLE + 8;
    ctx.gpr[reg::RBP] = 0x1234_5067;
    let before = ctx;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x89, 0x2B], TABLE + 8), Ok(()));
    assert_eq!(t.entries[&(TABLE + 8)], 0x1234_5067);
    assert_eq!(ctx, GuestContext { rip: before.rip + 3, ..before });
}

#[test]
fn a_32_bit_write_to_the_upper_half_is_merged_into_the_whole_entry() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RDI] = TABLE + 4;
    ctx.gpr[reg::RAX] = 0xFFFF_FFFF_0000_0000;
    assert_eq!(run(&mut t, &mut ctx, &[0x89, 0x07], TABLE + 4), Ok(()));
    assert_eq!(t.entries[&TABLE], OLD & 0xFFFF_FFFF, "the low half is kept, NX cleared");
}

#[test]
fn clear_bit_as_lock_andb_clears_rw_and_sets_flags() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RDI] = TABLE;
    ctx.rflags = 0x247;
    assert_eq!(run(&mut t, &mut ctx, &[0xF0, 0x80, 0x27, 0xFD], TABLE), Ok(()));
    assert_eq!(t.entries[&TABLE], OLD & !2);
    // 0x61: not zero, positive, odd parity; CF cleared.
    assert_eq!(ctx.rflags & ARITH, 0);
}

#[test]
fn test_and_clear_bit_reports_the_old_bit_in_cf() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RDI] = TABLE;
    assert_eq!(run(&mut t, &mut ctx, &[0xF0, 0x48, 0x0F, 0xBA, 0x37, 0x05], TABLE), Ok(()));
    assert_eq!((t.entries[&TABLE], ctx.rflags & CF), (OLD & !0x20, CF));
    assert_eq!(run(&mut t, &mut ctx, &[0xF0, 0x48, 0x0F, 0xBA, 0x37, 0x05], TABLE), Ok(()));
    assert_eq!(ctx.rflags & CF, 0);
}

#[test]
fn bts_with_a_register_bit_number_reaches_the_next_entry() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RDI] = TABLE;
    ctx.gpr[reg::RAX] = 64 + 1;
    let next = TABLE + 8;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x0F, 0xAB, 0x07], TABLE), Err(NotEmulated::Address));
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x0F, 0xAB, 0x07], next), Ok(()));
    assert_eq!(t.entries[&next], OLD + 0x1000, "bit 1 was already set");
    ctx.gpr[reg::RAX] = (-63i64) as u64;
    ctx.gpr[reg::RDI] = next;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x0F, 0xB3, 0x07], TABLE), Ok(()), "bit 1 of the entry before");
    assert_eq!(t.entries[&TABLE], OLD & !2);
}

#[test]
fn xchg_returns_the_old_entry() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RBX] = TABLE;
    ctx.gpr[reg::RAX] = 0;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x87, 0x03], TABLE), Ok(()));
    assert_eq!((t.entries[&TABLE], ctx.gpr[reg::RAX]), (0, OLD));
    // A 32-bit xchg zero-extends into the register.
    ctx.gpr[reg::RAX] = u64::MAX;
    ctx.gpr[reg::RBX] = TABLE + 12;
    assert_eq!(run(&mut t, &mut ctx, &[0x87, 0x03], TABLE + 12), Ok(()));
    assert_eq!(ctx.gpr[reg::RAX], (OLD + 0x1000) >> 32);
}

#[test]
fn cmpxchg_stores_when_equal_and_loads_the_accumulator_when_not() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RSI] = TABLE;
    ctx.gpr[reg::RCX] = 0x5067;
    ctx.gpr[reg::RAX] = OLD;
    let code = [0xF0, 0x48, 0x0F, 0xB1, 0x0E];
    assert_eq!(run(&mut t, &mut ctx, &code, TABLE), Ok(()));
    assert_eq!(t.entries[&TABLE], 0x5067);
    assert_eq!(ctx.rflags & (ZF | CF), ZF);
    ctx.gpr[reg::RCX] = 0x7067;
    ctx.rip -= 5;
    assert_eq!(run(&mut t, &mut ctx, &code, TABLE), Ok(()));
    assert_eq!((t.entries[&TABLE], ctx.gpr[reg::RAX]), (0x5067, 0x5067), "no store, RAX loaded");
    assert_eq!(ctx.rflags & ZF, 0);
    // OLD - 0x5067 is positive and big: no borrow; the sign bit is set.
    assert_eq!(ctx.rflags & (CF | SF), SF);
}

#[test]
fn a_failed_cmpxchg_is_not_validated_as_on_xen() {
    let (mut t, mut ctx) = setup();
    t.refuse = 1 << 62;
    ctx.gpr[reg::RSI] = TABLE;
    ctx.gpr[reg::RCX] = 1 << 62;
    ctx.gpr[reg::RAX] = 0;
    assert_eq!(run(&mut t, &mut ctx, &[0xF0, 0x48, 0x0F, 0xB1, 0x0E], TABLE), Ok(()));
    assert_eq!((t.updates, ctx.gpr[reg::RAX]), (0, OLD));
}

#[test]
fn a_refused_entry_leaves_registers_memory_and_rip_alone() {
    let (mut t, mut ctx) = setup();
    t.refuse = 1 << 62;
    ctx.gpr[reg::RBX] = TABLE;
    ctx.gpr[reg::RAX] = 1 << 62;
    let before = ctx;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x87, 0x03], TABLE), Err(NotEmulated::Refused));
    assert_eq!((ctx, t.entries[&TABLE]), (before, OLD));
}

#[test]
fn misaligned_foreign_and_undecodable_writes_are_not_emulated() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RBX] = TABLE + 4;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x89, 0x2B], TABLE + 4), Err(NotEmulated::Misaligned));
    // An 8-byte write that crossed into the table from the page before:
    // the fault is reported at the table's first byte, not the operand's.
    ctx.gpr[reg::RBX] = TABLE - 4;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x89, 0x2B], TABLE), Err(NotEmulated::Address));
    ctx.gpr[reg::RBX] = TABLE + 0x1000;
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x89, 0x2B], TABLE + 0x1000), Err(NotEmulated::NotATable));
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0xAB], TABLE + 0x1000), Err(NotEmulated::Instruction));
    assert_eq!(run(&mut t, &mut ctx, &[0x48, 0x89], TABLE + 0x1000), Err(NotEmulated::Instruction));
    assert_eq!(ctx.rip, setup().1.rip);
}

#[test]
fn fs_and_gs_overrides_add_their_base() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RBX] = 16;
    ctx.gpr[reg::RAX] = 7;
    let seg = SegBases { fs: TABLE, gs: TABLE - 8 };
    assert_eq!(emulate(&[0x64, 0x48, 0x89, 0x03], &mut ctx, TABLE + 16, seg, &mut t), Ok(()));
    assert_eq!(emulate(&[0x65, 0x48, 0x89, 0x03], &mut ctx, TABLE + 8, seg, &mut t), Ok(()));
    assert_eq!((t.entries[&(TABLE + 16)], t.entries[&(TABLE + 8)]), (7, 7));
}

#[test]
fn byte_and_word_stores_merge_and_high_byte_sources_read_bits_15_to_8() {
    let (mut t, mut ctx) = setup();
    ctx.gpr[reg::RDI] = TABLE + 1;
    ctx.gpr[reg::RAX] = 0xAB00;
    assert_eq!(run(&mut t, &mut ctx, &[0x88, 0x27], TABLE + 1), Ok(()));
    assert_eq!(t.entries[&TABLE], (OLD & !0xFF00) | 0xAB00);
    ctx.gpr[reg::RDI] = TABLE + 6;
    assert_eq!(run(&mut t, &mut ctx, &[0x66, 0xC7, 0x07, 0x34, 0x12], TABLE + 6), Ok(()));
    assert_eq!(t.entries[&TABLE] >> 48, 0x1234);
}

#[test]
fn sub_flags_match_the_hardware_for_edge_cases() {
    // cmp 0, 1 (8 bits): borrow, sign, AF, result 0xFF (even parity).
    assert_eq!(sub_flags(0, 1, 1), CF | SF | AF | PF);
    // cmp 0x80, 1 (8 bits): signed overflow.
    assert_eq!(sub_flags(0x80, 1, 1) & OF, OF);
    assert_eq!(sub_flags(5, 5, 8), ZF | PF);
}
