//! The operations `make bench` reports, in table order, with their targets
//! (../shared/docs/performance-targets.md, 2026-12-01; copied here so a
//! fresh clone has them). Rows the guest prints but this list lacks are
//! shown after these, without a target.

/// What a row must reach.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// At most this many instructions.
    AtMost(u64),
    /// At most this fraction of Xen's figure (new operations: 0.5).
    XenFraction(f64),
    /// No target (an extension Xen lacks, or a diagnostic).
    None,
}

impl Target {
    /// The bound for a row whose Xen figure is `xen`.
    pub fn bound(self, xen: Option<u64>) -> Option<u64> {
        match self {
            Target::AtMost(n) => Some(n),
            Target::XenFraction(f) => xen.map(|x| (x as f64 * f).floor() as u64),
            Target::None => None,
        }
    }

    /// How the table prints it.
    pub fn describe(self, xen: Option<u64>) -> String {
        match (self, self.bound(xen)) {
            (Target::AtMost(n), _) => format!("<= {}", group(n)),
            (Target::XenFraction(f), Some(b)) => format!("<= {} ({f}x Xen)", group(b)),
            (Target::XenFraction(f), None) => format!("<= {f}x Xen"),
            (Target::None, _) => "-".into(),
        }
    }
}

/// One operation.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    /// The guest's key.
    pub key: &'static str,
    /// What the table calls it.
    pub label: &'static str,
    /// Its target.
    pub target: Target,
    /// Shown again in the plain-TCG view (TLB and CR3 work icount does not
    /// see, and waiting, which icount skips).
    pub flush_heavy: bool,
}

const fn op(key: &'static str, label: &'static str, target: Target, flush_heavy: bool) -> Operation {
    Operation { key, label, target, flush_heavy }
}

/// Target of operations added after the first table: half of Xen.
const NEW: Target = Target::XenFraction(0.5);

/// Every operation, in table order.
pub const OPERATIONS: &[Operation] = &[
    op("xen_version", "xen_version via the hypercall page", Target::AtMost(120), false),
    op("xen_version_syscall", "xen_version by a bare syscall", Target::AtMost(150), false),
    op("xen_version_int82", "xen_version by int 0x82 (extension)", Target::None, false),
    op("xen_version_vmcall", "xen_version by vmcall (extension)", Target::None, false),
    op("enosys", "unimplemented hypercall (-ENOSYS)", Target::AtMost(80), false),
    op("mmu_update_1", "mmu_update, 1 PTE (map RW)", Target::AtMost(300), true),
    op("mmu_update_512", "mmu_update, per PTE in a 512 batch (map RW)", Target::AtMost(120), true),
    op("pin_l1_ro_per_entry", "pin+unpin L1, marginal per present entry RO", Target::AtMost(50), false),
    op("pin_l1_rw_per_entry", "pin+unpin L1, marginal per present entry RW", Target::AtMost(70), false),
    op("pin_l1_empty", "pin+unpin of an empty L1", Target::AtMost(3_000), true),
    op("tlb_flush_after_unpin", "TLB_FLUSH_LOCAL right after an unpin", Target::AtMost(200), true),
    op("decrease_reservation_64", "decrease_reservation, per page (64-page call)", Target::AtMost(80), false),
    op("populate_physmap_64", "populate_physmap, per page (64-page call)", Target::AtMost(150), false),
    op("bounce_ud2", "exception bounce ud2 -> handler -> iret", Target::AtMost(350), false),
    op("bounce_int3", "exception bounce int3 -> handler -> iret", Target::AtMost(350), false),
    op("uvm_invlpg", "update_va_mapping UVMF_INVLPG", Target::AtMost(250), true),
    op("tlb_flush_local", "MMUEXT_TLB_FLUSH_LOCAL", Target::AtMost(200), true),
    op("user_syscall", "user syscall -> guest kernel -> iret to user", NEW, true),
    op("rdmsr_pat", "emulated rdmsr (IA32_PAT)", NEW, false),
    op("multicall_2", "multicall of 2 x xen_version", NEW, false),
    op("evtchn_send", "event send, loopback channel, upcalls masked", NEW, false),
    op("evtchn_upcall", "event send -> upcall -> iret, loopback channel", NEW, false),
    op("evtchn_ping_pong", "interdomain ping-pong round trip (send, upcall, send back, upcall)", NEW, false),
    op("timer_block", "set_timer_op(now + 1 us) + SCHEDOP_block to wake-up (upcall, return)", NEW, true),
    op("grant_map_unmap", "grant map + unmap of a self-grant (GNTMAP_contains_pte)", NEW, true),
    op("grant_copy", "grant copy, 4 KiB from a grant reference", NEW, false),
];

/// The catalogue entry for `key`.
pub fn find(key: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.key == key)
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        for (i, a) in OPERATIONS.iter().enumerate() {
            assert!(OPERATIONS[i + 1..].iter().all(|b| b.key != a.key), "{} twice", a.key);
        }
    }

    #[test]
    fn fractional_targets_follow_xen_and_absolute_ones_do_not() {
        assert_eq!(Target::XenFraction(0.5).bound(Some(691)), Some(345));
        assert_eq!(Target::XenFraction(0.5).bound(None), None);
        assert_eq!(Target::AtMost(120).bound(Some(5)), Some(120));
        assert_eq!(Target::None.bound(Some(5)), None);
        assert_eq!(Target::XenFraction(0.5).describe(Some(691)), "<= 345 (0.5x Xen)");
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(60602), "60,602");
        assert_eq!(group(1_002_588_378), "1,002,588,378");
    }
}
