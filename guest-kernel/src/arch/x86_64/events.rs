//! The event callback: the hypervisor enters `event_callback` with Xen's
//! frame (RCX, R11, RIP, CS, RFLAGS, RSP, SS) when an event is pending and
//! `evtchn_upcall_mask` is clear, having set the mask. The handler scans
//! the 2-level bitmaps in Linux's order (clear upcall_pending, take the
//! selector, then each word's pending & ~mask), counts each port and
//! clears its pending bit, and returns through `iret`, whose frame's IF
//! clears the mask again. An upcall that interrupts guest user mode while
//! the user tasks run goes to their scheduler instead
//! (`user::user_event_cb`), which takes the same events and, on a timer
//! tick, preempts the task.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

core::arch::global_asm!(
    r#"
    .section .text.traps, "ax"
    .global event_callback
event_callback:
    // From guest user mode (the frame's CS has RPL 3; a kernel-mode frame
    // has it cleared) while the user tasks run: their entry, which may
    // preempt the task.
    test byte ptr [rsp + 24], 3
    jz 1f
    cmp byte ptr [rip + GK_USER_TASKS], 0
    jne user_event_cb
1:
    push rax
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    call guest_event
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
"#
);

extern "C" {
    /// The entry stub above.
    pub fn event_callback();
}

/// Ports counted (0 … 63).
pub const COUNTED_PORTS: usize = 64;
/// Where shared_info is mapped (0: not yet; the handler then does nothing).
pub static SHARED_INFO: AtomicU64 = AtomicU64::new(0);
/// Events seen per port.
pub static COUNTS: [AtomicU32; COUNTED_PORTS] = [const { AtomicU32::new(0) }; COUNTED_PORTS];
/// Upcalls entered.
pub static UPCALLS: AtomicU64 = AtomicU64::new(0);

/// Takes the pending events: clears `evtchn_upcall_pending`, then for
/// each word the selector names, counts and clears its pending unmasked
/// ports (Linux's order).
#[no_mangle]
pub extern "C" fn guest_event() {
    UPCALLS.fetch_add(1, Ordering::SeqCst);
    let si = SHARED_INFO.load(Ordering::SeqCst);
    if si == 0 {
        return;
    }
    let rd = super::mem::read;
    let wr = super::mem::write;
    // upcall_pending := 0 first, keeping the mask byte (set on entry).
    wr(si, rd(si) & !0xFF);
    let sel = rd(si + 8);
    wr(si + 8, 0);
    for w in 0..64u64 {
        if sel & (1 << w) == 0 {
            continue;
        }
        let pending = rd(si + 2048 + w * 8);
        let ready = pending & !rd(si + 2560 + w * 8);
        wr(si + 2048 + w * 8, pending & !ready);
        for b in 0..64u64 {
            if ready & (1 << b) != 0 {
                let port = (w * 64 + b) as usize;
                if let Some(c) = COUNTS.get(port) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Events seen on `port` so far.
pub fn count(port: u32) -> u32 {
    COUNTS.get(port as usize).map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Sets this vCPU's `evtchn_upcall_mask` (the guest's own interrupt flag);
/// unmasking with an upcall pending makes a hypercall so the hypervisor
/// delivers it, as Linux's `xen_irq_enable` does.
pub fn set_mask(masked: bool) {
    let si = SHARED_INFO.load(Ordering::SeqCst);
    if si == 0 {
        return;
    }
    let w = super::mem::read(si);
    super::mem::write(si, (w & !0xFF00) | if masked { 1 << 8 } else { 0 });
    if !masked && w & 0xFF != 0 {
        let _ = abi::guest::version();
    }
}

/// The TSC (pvclock arithmetic and the cost of a sleep in ticks).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed in the guest kernel and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
