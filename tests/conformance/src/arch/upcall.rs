//! The send-and-upcall probe for the `EVTCHNOP_send` register cases
//! (`cases::evtchn::upcall`): one send through the hypercall page with
//! known values in the argument registers, and an event callback that
//! records its frame and live registers.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

/// The `evtchn_send` struct the probe passes (its port alone).
static PORT: AtomicU32 = AtomicU32::new(0);

/// RAX, RDI, RSI, RDX, R8, R9, R10 after the send.
#[no_mangle]
static UPCALL_AFTER: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
/// The callback's frame, then its live RAX, RDI, RSI, RDX, R8, R9, R10,
/// the upcall mask byte and the frame's address (the callback's RSP).
#[no_mangle]
static UPCALL_SEEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
/// Upcalls taken.
#[no_mangle]
static UPCALL_COUNT: AtomicU64 = AtomicU64::new(0);
/// RSP at the probe's call into the hypercall page, and RFLAGS there.
#[no_mangle]
static UPCALL_RSP: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static UPCALL_FLAGS: AtomicU64 = AtomicU64::new(0);
/// Where shared_info is mapped (the callback clears what the send set).
#[no_mangle]
static UPCALL_SI: AtomicU64 = AtomicU64::new(0);

/// What RDX, R8, R9 and R10 hold at the send.
pub const MAGIC: [u64; 4] =
    [0x1111_2222_3333_4444, 0x5555_6666_7777_8888, 0x9999_AAAA_BBBB_CCCC, 0xDDDD_EEEE_FFFF_0123];

core::arch::global_asm!(
    r#"
    .section .text.upcall_probe, "ax"
    // upcall_probe(port): EVTCHNOP_send (4) on the u32 at RDI through the
    // hypercall page, RDX, R8, R9, R10 holding the four magic words.
    .global upcall_probe
upcall_probe:
    mov rsi, rdi
    mov edi, 4
    mov rdx, {m0}
    mov r8, {m1}
    mov r9, {m2}
    mov r10, {m3}
    mov [rip + UPCALL_RSP], rsp
    pushfq
    pop rax
    mov [rip + UPCALL_FLAGS], rax
    call hypercall_page + 32 * 32
    mov [rip + UPCALL_AFTER], rax
    mov [rip + UPCALL_AFTER + 8], rdi
    mov [rip + UPCALL_AFTER + 16], rsi
    mov [rip + UPCALL_AFTER + 24], rdx
    mov [rip + UPCALL_AFTER + 32], r8
    mov [rip + UPCALL_AFTER + 40], r9
    mov [rip + UPCALL_AFTER + 48], r10
    ret

    // The event callback: records the frame and the live registers,
    // clears upcall_pending, the selector and the first pending word, and
    // returns by iret (whose RFLAGS.IF unmasks events again).
    .global upcall_probe_cb
upcall_probe_cb:
    push rax
    mov rax, [rsp + 8]
    mov [rip + UPCALL_SEEN], rax
    mov rax, [rsp + 16]
    mov [rip + UPCALL_SEEN + 8], rax
    mov rax, [rsp + 24]
    mov [rip + UPCALL_SEEN + 16], rax
    mov rax, [rsp + 32]
    mov [rip + UPCALL_SEEN + 24], rax
    mov rax, [rsp + 40]
    mov [rip + UPCALL_SEEN + 32], rax
    mov rax, [rsp + 48]
    mov [rip + UPCALL_SEEN + 40], rax
    mov rax, [rsp + 56]
    mov [rip + UPCALL_SEEN + 48], rax
    mov rax, [rsp]
    mov [rip + UPCALL_SEEN + 56], rax
    mov [rip + UPCALL_SEEN + 64], rdi
    mov [rip + UPCALL_SEEN + 72], rsi
    mov [rip + UPCALL_SEEN + 80], rdx
    mov [rip + UPCALL_SEEN + 88], r8
    mov [rip + UPCALL_SEEN + 96], r9
    mov [rip + UPCALL_SEEN + 104], r10
    mov rax, [rip + UPCALL_SI]
    movzx eax, byte ptr [rax + 1]
    mov [rip + UPCALL_SEEN + 112], rax
    lea rax, [rsp + 8]
    mov [rip + UPCALL_SEEN + 120], rax
    lock add qword ptr [rip + UPCALL_COUNT], 1
    mov rax, [rip + UPCALL_SI]
    mov byte ptr [rax], 0
    mov qword ptr [rax + 8], 0
    mov qword ptr [rax + 2048], 0
    pop rax
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
"#,
    m0 = const MAGIC[0],
    m1 = const MAGIC[1],
    m2 = const MAGIC[2],
    m3 = const MAGIC[3],
);

extern "C" {
    fn upcall_probe(port: *const u32);
    fn upcall_probe_cb();
    static hypercall_page: u8;
}

/// What one probe saw.
pub struct Seen {
    /// RAX, RDI, RSI, RDX, R8, R9, R10 after the send.
    pub after: [u64; 7],
    /// The callback's frame (7 words), its live RAX, RDI, RSI, RDX, R8, R9,
    /// R10, the upcall mask byte and the frame's address (the last
    /// upcall's, if any).
    pub cb: [u64; 16],
    /// Upcalls taken since [`install`].
    pub upcalls: u64,
    /// RSP at the call into the hypercall page, and RFLAGS there.
    pub rsp: u64,
    #[allow(missing_docs)]
    pub rflags: u64,
    /// The struct's address (the RSI passed).
    pub arg: u64,
    /// The hypercall page's address.
    pub page: u64,
}

/// Registers the probe's event callback; `si` is where shared_info is
/// mapped. Returns the hypercall's result.
pub fn install(si: u64) -> i64 {
    UPCALL_SI.store(si, SeqCst);
    UPCALL_COUNT.store(0, SeqCst);
    let cb = abi::traps::CallbackRegister {
        kind: abi::traps::CALLBACKTYPE_EVENT,
        flags: abi::traps::CALLBACKF_MASK_EVENTS,
        pad: 0,
        address: upcall_probe_cb as *const () as u64,
    };
    // SAFETY: the callback is the stub above, which touches only these
    // statics and the shared_info mapping.
    unsafe { abi::guest::register_callback(&cb) }.map_or_else(|e| -i64::from(e.0), |()| 0)
}

/// One send on `port`.
pub fn probe(port: u32) -> Seen {
    PORT.store(port, SeqCst);
    let p = PORT.as_ptr();
    // SAFETY: the probe makes one EVTCHNOP_send on the struct and returns;
    // the callback it may enter touches only the statics above and the
    // shared_info mapping stored in UPCALL_SI.
    unsafe { upcall_probe(p) };
    Seen {
        after: core::array::from_fn(|k| UPCALL_AFTER[k].load(SeqCst)),
        cb: seen(),
        upcalls: upcalls(),
        rsp: UPCALL_RSP.load(SeqCst),
        rflags: UPCALL_FLAGS.load(SeqCst),
        arg: p as u64,
        page: &raw const hypercall_page as u64,
    }
}

/// What the callback recorded at the last upcall (see [`Seen::cb`]).
pub fn seen() -> [u64; 16] {
    core::array::from_fn(|k| UPCALL_SEEN[k].load(SeqCst))
}

/// Upcalls taken since [`install`].
pub fn upcalls() -> u64 {
    UPCALL_COUNT.load(SeqCst)
}
