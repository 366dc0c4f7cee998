//! Virtual IDT and callbacks: `set_trap_table` (0), `set_callbacks` (4),
//! `callback_op` (30), `iret` (23), and the selectors a PV kernel runs with.
//!
//! ## Returns, selectors and modes (as on Xen 4.17)
//!
//! * **`iret` (23)** restores the frame at RSP: RAX, R11, RCX, flags, RIP,
//!   CS, RFLAGS, RSP, SS. CS with RPL 3 means guest user mode: the user
//!   root is loaded (none: the domain is crashed) and the GS bases are
//!   swapped; any other RPL stays in kernel mode, and RPL 3 is forced on
//!   CS and SS (selectors are 16 bits, upper bits dropped). With
//!   VGCF_in_syscall in flags, RCX = RIP and R11 = RFLAGS after the return
//!   (Xen's SYSRET exit). The frame's IF sets `evtchn_upcall_mask` (IF
//!   set: 0); an upcall pending that this unmasks is entered before the
//!   guest runs at the frame's RIP, with the event callback's frame of the
//!   restored state (for a return to user mode: from user mode, on the
//!   `stack_switch` stack); with VGCF_in_syscall that frame's RCX and R11
//!   are those the hypercall's SYSCALL left, as on Xen. If the CPU would refuse the return, the guest
//!   receives the fault it would raise, as if raised at the frame's RIP,
//!   with the frame's (refused) CS, SS and RSP in the bounce frame, pushed
//!   on the frame's stack (for a return to user mode: on the
//!   `stack_switch` stack, in kernel mode again): null CS or SS →
//!   `#GP(0)`; a selector in the LDT, beyond the GDT, naming no code (CS) or writable data (SS)
//!   segment, or a DPL-0 segment such as the hypervisor's 0xE008/0xE010 →
//!   `#GP(selector & !3)`; a not-present segment → `#NP`/`#SS(selector &
//!   !3)`; a non-canonical RIP, or a RIP beyond the code segment's limit in
//!   compatibility mode → `#GP(0)`. No handler for it, or a stack that
//!   cannot take the frame, crashes the domain. (Xen checks nothing in
//!   `iret` and gets the same answer from its faulting exit IRETQ; the
//!   failsafe callback is not used for it.)
//! * **Valid selectors**: [`FLAT_RING3_CS64`], [`FLAT_RING3_CS32`],
//!   [`FLAT_RING3_SS64`]/[`FLAT_RING3_DS32`], and code/data selectors of the
//!   domain's own GDT (`set_gdt`), whose descriptors are loaded with DPL 3.
//!   A not-present guest descriptor keeps its DPL, so a DPL-0 one gives
//!   `#GP` rather than `#NP`. Selectors of the domain's LDT
//!   (`MMUEXT_SET_LDT`) are valid too, once their page has been mapped by
//!   a first use (see the crate docs, LDT).
//! * **Compatibility mode** is allowed in kernel mode, as on Xen: an
//!   `iret` to 0xE020 (or a 32/16-bit code segment of the guest's GDT)
//!   continues in 32-bit code, which a far jump reaches anyway. Bounces,
//!   callbacks and hypercall returns always enter 64-bit mode on the flat
//!   selectors.
//! * **SYSCALL in compatibility mode** is not a hypercall: it bounces to
//!   the [`CALLBACKTYPE_SYSCALL32`] callback (frame RCX, R11, RIP, CS
//!   0xE020, RFLAGS, RSP, SS, with RIP/RFLAGS the return address and flags
//!   the instruction left in RCX/R11; DF cleared on entry). With no such
//!   callback, `#UD` is raised at the SYSCALL instruction (DF kept); with
//!   no `#UD` handler the domain is crashed; a 64-bit `CALLBACKTYPE_syscall`
//!   callback is not used for it (Xen 4.17 neither). Intel CPUs raise `#UD`
//!   themselves. (Measured: Xen 4.17 as Debian ships it clears DF only when
//!   bit 10 of the bounce frame's address is clear, as if the flags were
//!   ANDed with a register `create_bounce_frame` clobbers.)
//! * **SYSENTER** never enters the hypervisor: it raises `#GP(0)` at the
//!   instruction (`#UD` on AMD CPUs in long mode). Xen bounces it to a
//!   registered `CALLBACKTYPE_sysenter` callback (with RIP and RSP 0);
//!   xen-core accepts the registration but does not use it. `int $0x80`
//!   is an ordinary software interrupt (trap-table DPL rules).

use core::mem::{offset_of, size_of};

/// 64-bit code selector for guest kernel and user mode.
pub const FLAT_RING3_CS64: u16 = 0xE033;
/// 32-bit code selector.
pub const FLAT_RING3_CS32: u16 = 0xE023;
/// Data/stack selector.
pub const FLAT_RING3_DS32: u16 = 0xE02B;
/// 64-bit stack selector.
pub const FLAT_RING3_SS64: u16 = 0xE02B;
/// Guest kernel code selector as seen in bounce frames (RPL cleared).
pub const FLAT_KERNEL_CS64: u16 = 0xE030;
/// Guest kernel stack selector as seen in bounce frames.
pub const FLAT_KERNEL_SS64: u16 = 0xE02B;
/// The hypervisor's own code selector.
pub const HYPERVISOR_CS: u16 = 0xE008;
/// First GDT entry reserved for the hypervisor (page 14 of the GDT).
pub const FIRST_RESERVED_GDT_ENTRY: usize = 7168;

/// One virtual IDT entry (16 bytes). A table passed to `set_trap_table`
/// ends with an entry whose `address` is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TrapInfo {
    /// @0: exception or interrupt vector.
    pub vector: u8,
    /// @1: bits 1:0 = lowest privilege allowed to raise it with `int $n`
    /// (0 none, 1–2 kernel, 3 everyone); bit 2 = mask events on entry.
    pub flags: u8,
    /// @2: code selector (RPL raised to 3).
    pub cs: u16,
    /// @4: padding.
    pub pad: u32,
    /// @8: handler address.
    pub address: u64,
}
const _: () = assert!(size_of::<TrapInfo>() == 16);
const _: () = assert!(offset_of!(TrapInfo, cs) == 2);
const _: () = assert!(offset_of!(TrapInfo, address) == 8);

/// `TrapInfo::flags` bit: mask events while the handler runs.
pub const TI_MASK_EVENTS: u8 = 1 << 2;

/// `callback_op` command: register a callback.
pub const CALLBACKOP_REGISTER: u64 = 0;
/// `callback_op` command: unregister a callback.
pub const CALLBACKOP_UNREGISTER: u64 = 1;

/// Event upcall.
pub const CALLBACKTYPE_EVENT: u16 = 0;
/// Failsafe (segment reload failed).
pub const CALLBACKTYPE_FAILSAFE: u16 = 1;
/// 64-bit user-mode SYSCALL.
pub const CALLBACKTYPE_SYSCALL: u16 = 2;
/// Deprecated SYSENTER.
pub const CALLBACKTYPE_SYSENTER_DEPRECATED: u16 = 3;
/// NMI.
pub const CALLBACKTYPE_NMI: u16 = 4;
/// SYSENTER.
pub const CALLBACKTYPE_SYSENTER: u16 = 5;
/// 32-bit user-mode SYSCALL.
pub const CALLBACKTYPE_SYSCALL32: u16 = 7;
/// Callback flag: mask events on entry.
pub const CALLBACKF_MASK_EVENTS: u16 = 1;

/// `callback_op(CALLBACKOP_REGISTER)` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct CallbackRegister {
    /// @0: `CALLBACKTYPE_*`.
    pub kind: u16,
    /// @2: `CALLBACKF_*`.
    pub flags: u16,
    /// @4: padding.
    pub pad: u32,
    /// @8: handler address.
    pub address: u64,
}
const _: () = assert!(size_of::<CallbackRegister>() == 16);
const _: () = assert!(offset_of!(CallbackRegister, address) == 8);

/// `callback_op(CALLBACKOP_UNREGISTER)` argument.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct CallbackUnregister {
    /// @0: `CALLBACKTYPE_*`.
    pub kind: u16,
    /// @2: padding.
    pub pad: u16,
}
const _: () = assert!(size_of::<CallbackUnregister>() == 4);

/// The frame `iret` (23) pops from the guest stack (72 bytes), lowest
/// address first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct IretFrame {
    /// @0: RAX after the return.
    pub rax: u64,
    /// @8: R11.
    pub r11: u64,
    /// @16: RCX.
    pub rcx: u64,
    /// @24: `VGCF_IN_SYSCALL` or 0.
    pub flags: u64,
    /// @32: RIP.
    pub rip: u64,
    /// @40: CS (RPL 3: return to guest user mode).
    pub cs: u64,
    /// @48: RFLAGS.
    pub rflags: u64,
    /// @56: RSP.
    pub rsp: u64,
    /// @64: SS.
    pub ss: u64,
}
const _: () = assert!(size_of::<IretFrame>() == 72);
const _: () = assert!(offset_of!(IretFrame, rip) == 32);

/// `IretFrame::flags`: return as SYSRET would (RCX = RIP, R11 = RFLAGS).
pub const VGCF_IN_SYSCALL: u64 = 1 << 8;
