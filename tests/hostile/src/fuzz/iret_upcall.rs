//! Generator for `iret` (23) meeting a pending upcall: `evtchn_upcall_pending`
//! set with events masked, then a valid return frame (kernel mode, or user
//! mode while a user root is set) with random registers, flags
//! (VGCF_in_syscall or not), RFLAGS.IF and a return stack a random 0-15
//! bytes below the iret stack's top, so the upcall frame's rounding is
//! exercised on both of xen-core's paths (the short path's assembly for
//! kernel mode, the general exit for user mode). Oracle: the event
//! callback (`hg_event`, which returns with IF clear so events stay
//! masked) takes exactly one upcall before the frame's target (a `ud2`)
//! traps when the frame's IF is set and none when it is clear; the trap's
//! return to `catch` unmasks events, so an upcall left pending is taken
//! there, one in all either way. Hostile stacks would crash this domain by design; the
//! `mode=f9 case=*-iretup` runs cover them.

use super::*;

impl Fuzz<'_> {
    pub(super) fn iret_upcall(&mut self) -> Verdict {
        self.events_setup();
        let vi = arch::vcpu_info_va();
        let user = self.user_root != 0 && self.rng.chance(64);
        let stack = arch::iret_stack_top();
        if user {
            // The upcall from user mode uses the stack_switch stack.
            let _ = hc(3, [0xE02B, stack, 0, 0, 0]);
        }
        let unmask = self.rng.chance(192);
        let rflags = (self.rng.next() & 0x0025_4DD5 & !0x200) | 0x2 | if unmask { 0x200 } else { 0 };
        let flags = self.rng.pick(&[0, 1 << 8]);
        let rsp = stack - 64 - self.rng.below(16);
        let frame = [
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            flags,
            arch::iret_target(),
            if user { 0xE033 } else { 0xE030 },
            rflags,
            rsp,
            0xE02B,
        ];
        guest_kernel::arch::x86_64::mem::write(vi, 1 | 1 << 8);
        let before = arch::upcalls();
        self.calls[23] += 1;
        let f = catch(|| arch::raw_iret(&frame));
        let at_target = arch::upcalls_at_last_trap().wrapping_sub(before);
        let taken = arch::upcalls() - before;
        if user {
            let _ = hc(3, [0xE02B, 0, 0, 0, 0]);
        }
        // Nothing left pending for the next operation, events masked.
        self.quiet_events();
        let want = u64::from(unmask);
        // Without a trap (the iret returned) the count at the end is all.
        let ok = if f.is_some() { at_target == want && taken == 1 } else { taken == want };
        if !ok {
            return broke!(
                "iret with an upcall pending and IF {}: {at_target} upcalls taken before the target's trap, want {want}; {taken} in all, want 1 (user mode {user}, flags {flags:#x}, rsp {rsp:#x})",
                u8::from(unmask)
            );
        }
        let back = if user {
            f.is_some_and(|x| x.cs & 3 == 3)
        } else {
            f.is_some_and(|x| x.rip == arch::iret_target() || x.vector == 1)
        };
        if back {
            self.oks[23] += 1;
        }
        Ok(())
    }
}
