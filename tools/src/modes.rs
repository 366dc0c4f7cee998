//! `make modes`: reading guest-kernel's `mode-row` lines (its `modes`
//! workload) and the hypervisor's end-of-domain counts from one serial
//! log, and the op × mode table. Pure: `xen-modes` runs QEMU.

/// One operation's figures in one mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// Operation name (`switch`, `walk`, `balloon`, ...).
    pub op: String,
    /// Median TSC ticks per operation, if measured.
    pub ticks: Option<u64>,
    /// Hypercalls per operation the guest made, if measured.
    pub calls: Option<u64>,
    /// Why not measured (`n/a` or `error=...`).
    pub missing: Option<String>,
}

/// Everything one run printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeRun {
    /// Rows in the order printed.
    pub rows: Vec<Row>,
    /// The hypervisor's `N VM exits: ...` summary for the PVH domain.
    pub exits: Option<String>,
    /// The hypervisor's `shadow paging: ...` summary.
    pub shadow: Option<String>,
    /// The hypervisor's walk references per TLB miss (the pure counter's
    /// replay of the walk's first page), and how it walked.
    pub walk_refs: Option<String>,
    /// The guest's `Test result:` word.
    pub verdict: Option<String>,
}

fn field(rest: &str, name: &str) -> Option<u64> {
    rest.split_ascii_whitespace().find_map(|t| t.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// Reads one serial log.
pub fn parse(log: &str) -> ModeRun {
    let mut run = ModeRun::default();
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once("mode-row ") {
            let op = rest.split_ascii_whitespace().find_map(|t| t.strip_prefix("op=")).unwrap_or("?").to_string();
            let missing = rest.split_ascii_whitespace().find(|t| *t == "n/a" || t.starts_with("error="));
            run.rows.push(Row {
                op,
                ticks: field(rest, "ticks"),
                calls: field(rest, "calls"),
                missing: missing.map(str::to_string),
            });
        } else if let Some((_, rest)) = line.split_once(" VM exits: ") {
            let total = line[..line.len() - rest.len() - " VM exits: ".len()].rsplit(' ').next().unwrap_or("?");
            run.exits = Some(format!("{total} VM exits: {rest}"));
        } else if let Some((_, rest)) = line.split_once("walk refs per TLB miss at ") {
            run.walk_refs = rest.split_once(": ").map(|(_, r)| r.trim().to_string());
        } else if let Some((_, rest)) = line.split_once("shadow paging: ") {
            run.shadow = Some(rest.trim().to_string());
        } else if let Some((_, rest)) = line.split_once("Test result: ") {
            run.verdict = Some(rest.trim().to_string());
        }
    }
    run
}

fn cell(r: Option<&Row>, f: impl Fn(&Row) -> Option<u64>) -> String {
    match r {
        Some(r) => match (f(r), &r.missing) {
            (Some(v), _) => v.to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => "-".into(),
        },
        None => "n/a".into(),
    }
}

/// The Markdown table: one line per op, for each mode instructions/op
/// (icount), ticks/op (plain TCG, where run) and hypercalls/op.
pub fn table(modes: &[(&str, ModeRun, Option<ModeRun>)]) -> String {
    let mut ops: Vec<String> = Vec::new();
    for (_, r, _) in modes {
        for row in &r.rows {
            if !ops.contains(&row.op) {
                ops.push(row.op.clone());
            }
        }
    }
    let mut s = String::from("| op |");
    for (m, _, _) in modes {
        s += &format!(" {m} insns | {m} ticks | {m} hcalls |");
    }
    s += "\n|---|";
    s += &"---|---|---|".repeat(modes.len());
    s += "\n";
    for op in &ops {
        s += &format!("| {op} |");
        for (_, ic, tcg) in modes {
            let find = |r: &ModeRun| r.rows.iter().find(|x| &x.op == op).cloned();
            let a = find(ic);
            let b = tcg.as_ref().map(find);
            let ticks = match b {
                Some(b) => cell(b.as_ref(), |r| r.ticks),
                None => "not run".into(),
            };
            s += &format!(" {} | {} | {} |", cell(a.as_ref(), |r| r.ticks), ticks, cell(a.as_ref(), |r| r.calls));
        }
        s += "\n";
    }
    s += "\nwalk references per TLB miss (the pure walk counter's replay):";
    for (m, ic, _) in modes {
        s += &format!(" {m} {};", ic.walk_refs.as_deref().unwrap_or("n/a"));
    }
    s += "\n";
    for (m, ic, _) in modes {
        if let Some(e) = &ic.exits {
            s += &format!("\n{m}: whole run: {e}");
        }
        if let Some(e) = &ic.shadow {
            s += &format!("\n{m}: whole run: shadow paging: {e}");
        }
    }
    s + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "(d0) mode-start mode=pvh samples=15 pages=2048
(d0) mode-row op=fault n/a
(d0) mode-row op=switch ticks=40 calls=0
(d0) mode-row op=balloon error=failed
(d0) Test result: SUCCESS
(XEN) domain 0: 120 VM exits: 7 hypercalls, 3 CPUID, 1 MSR, 0 I/O, 0 nested faults, 109 other
(XEN) domain 0: walk refs per TLB miss at 0xffffffff80400000: 3 (Shadow)
(XEN) domain 0: shadow paging: 5 faults fixed, 0 reflected
";

    #[test]
    fn rows_counts_and_verdict_are_read_from_a_log() {
        let r = parse(LOG);
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.rows[1], Row { op: "switch".into(), ticks: Some(40), calls: Some(0), missing: None });
        assert_eq!(r.rows[0].missing.as_deref(), Some("n/a"));
        assert_eq!(r.rows[2].missing.as_deref(), Some("error=failed"));
        assert_eq!(
            r.exits.as_deref(),
            Some("120 VM exits: 7 hypercalls, 3 CPUID, 1 MSR, 0 I/O, 0 nested faults, 109 other")
        );
        assert_eq!(r.shadow.as_deref(), Some("5 faults fixed, 0 reflected"));
        assert_eq!(r.walk_refs.as_deref(), Some("3 (Shadow)"));
        assert_eq!(r.verdict.as_deref(), Some("SUCCESS"));
    }

    #[test]
    fn the_table_has_a_column_triple_per_mode_and_says_what_was_not_run() {
        let t = table(&[("pvh", parse(LOG), None)]);
        assert!(t.contains("| switch | 40 | not run | 0 |"), "{t}");
        assert!(t.contains("| fault | n/a | not run | n/a |"), "{t}");
        assert!(t.contains("pvh: whole run: 120 VM exits"), "{t}");
        assert!(t.contains(" pvh 3 (Shadow);"), "{t}");
    }
}
