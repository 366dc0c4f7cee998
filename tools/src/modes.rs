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
    /// Operations over the row's samples (what the counts are over).
    pub ops: Option<u64>,
    /// What was counted: `exits` (the hypervisor's VM exits), `hcalls`
    /// (hypercalls, counted by the guest) or `hcalls+traps` (and the
    /// faults bounced to it).
    pub counted: Option<String>,
    /// Every nonzero counter over the row's samples, by name.
    pub counts: Vec<(String, u64)>,
    /// Why not measured (`n/a` or `error=...`).
    pub missing: Option<String>,
}

impl Row {
    /// Entries into the hypervisor per operation, leaving out the exits
    /// the operation did not cause (`host`: the host's timer).
    pub fn per_op(&self) -> Option<f64> {
        let ops = self.ops.filter(|&n| n > 0)?;
        let n: u64 = self.counts.iter().filter(|(k, _)| k != "host").map(|(_, v)| v).sum();
        Some(n as f64 / ops as f64)
    }
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
    /// Ticks of the empty RDTSC bracket, taken off every sample.
    pub bracket: Option<u64>,
}

fn field(rest: &str, name: &str) -> Option<u64> {
    rest.split_ascii_whitespace().find_map(|t| t.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// The row's counters: every `name=N` after `counted=...` but `sum=`.
fn counts(rest: &str) -> Vec<(String, u64)> {
    let Some((_, after)) = rest.split_once(" counted=") else { return Vec::new() };
    after
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|t| {
            let (k, v) = t.split_once('=')?;
            (k != "sum").then(|| Some((k.to_string(), v.parse().ok()?)))?
        })
        .collect()
}

/// Reads one serial log.
pub fn parse(log: &str) -> ModeRun {
    let mut run = ModeRun::default();
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once("mode-start ") {
            run.bracket = field(rest, "bracket");
        } else if let Some((_, rest)) = line.split_once("mode-row ") {
            let word = |p: &str| rest.split_ascii_whitespace().find_map(|t| t.strip_prefix(p)).map(str::to_string);
            let missing = rest.split_ascii_whitespace().find(|t| *t == "n/a" || t.starts_with("error="));
            run.rows.push(Row {
                op: word("op=").unwrap_or_else(|| "?".into()),
                ticks: field(rest, "ticks"),
                ops: field(rest, "ops"),
                counted: word("counted="),
                counts: counts(rest),
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

/// One mode's runs: its name, the icount run, and the plain-TCG one.
pub type ModeRuns<'a> = (&'a str, ModeRun, Option<ModeRun>);

fn per_op_text(v: f64) -> String {
    if v > 0.0 && v < 0.005 {
        "<0.01".into()
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn value(r: Option<&Row>, f: impl Fn(&Row) -> Option<String>) -> String {
    match r {
        Some(r) => match (f(r), &r.missing) {
            (Some(v), _) => v,
            (None, Some(m)) => m.clone(),
            (None, None) => "-".into(),
        },
        None => "n/a".into(),
    }
}

/// What a mode's third figure counts, from its rows (`exits`, `hcalls`,
/// `hcalls+traps`).
fn counted(run: &ModeRun) -> &str {
    run.rows.iter().find_map(|r| r.counted.as_deref()).unwrap_or("-")
}

/// The Markdown table: one line per op, for each mode `instructions
/// (icount) / ticks (plain TCG, where run) / entries into the hypervisor
/// per op` (VM exits, or the guest's hypercalls and bounced traps); then
/// the walk references per TLB miss, each exit-counted mode's exits by
/// kind per op, and the whole-run summaries.
pub fn table(modes: &[ModeRuns]) -> String {
    let mut ops: Vec<String> = Vec::new();
    for (_, r, _) in modes {
        for row in &r.rows {
            if !ops.contains(&row.op) {
                ops.push(row.op.clone());
            }
        }
    }
    let mut s = String::from("| op |");
    for (m, r, _) in modes {
        s += &format!(" {m}: insns / ticks / {} |", counted(r));
    }
    s += "\n|---|";
    s += &"---|".repeat(modes.len());
    s += "\n";
    let find = |r: &ModeRun, op: &str| r.rows.iter().find(|x| x.op == op).cloned();
    for op in &ops {
        s += &format!("| {op} |");
        for (_, ic, tcg) in modes {
            let a = find(ic, op);
            // 0 left after the bracket: the op is below the bracket's spread
            // (on Xen a PVH domain's RDTSC is an exit), not measurable.
            let shown = |v: u64| if v == 0 { "n/m".to_string() } else { v.to_string() };
            let ticks = match tcg {
                Some(t) => value(find(t, op).as_ref(), |r| r.ticks.map(shown)),
                None => "not run".into(),
            };
            let insns = value(a.as_ref(), |r| r.ticks.map(shown));
            let per = value(a.as_ref(), |r| r.per_op().map(per_op_text));
            s += &format!(" {insns} / {ticks} / {per} |");
        }
        s += "\n";
    }
    s += "| walk refs per TLB miss |";
    for (_, ic, _) in modes {
        s += &format!(" {} |", ic.walk_refs.as_deref().unwrap_or("n/a"));
    }
    s += "\n| RDTSC bracket (taken off each sample) |";
    for (_, ic, tcg) in modes {
        let t = tcg.as_ref().and_then(|t| t.bracket).map_or("-".to_string(), |b| b.to_string());
        s += &format!(" {} / {t} |", ic.bracket.map_or("-".to_string(), |b| b.to_string()));
    }
    s += "\n";
    for (m, ic, _) in modes.iter().filter(|(_, r, _)| counted(r) == "exits") {
        s += &format!("\n{m}: VM exits by kind per op:");
        for op in &ops {
            let Some(r) = find(ic, op) else { continue };
            let Some(n) = r.ops.filter(|&n| n > 0) else { continue };
            let kinds: Vec<String> =
                r.counts.iter().map(|(k, v)| format!("{k} {}", per_op_text(*v as f64 / n as f64))).collect();
            let kinds = if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
            s += &format!(" {op}: {kinds};");
        }
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

    const LOG: &str = "(d0) mode-start mode=pvh samples=15 pages=2048 bracket=2
(d0) mode-row op=fault n/a
(d0) mode-row op=switch ticks=40 ops=960 counted=exits cr=960 host=3
(d0) mode-row op=walk ticks=19 ops=30720 counted=exits pf=30720 sum=4
(d0) mode-row op=balloon error=failed
(d0) Test result: SUCCESS
(XEN) domain 0: 120 VM exits: 7 hypercalls, 3 CPUID, 1 MSR, 0 I/O, 0 nested faults, 109 other
(XEN) domain 0: walk refs per TLB miss at 0xffffffff80400000 over 2048 pages: 3 (Shadow)
(XEN) domain 0: shadow paging: 5 faults fixed, 0 reflected
";

    const PV: &str = "mode-row op=pt-build ticks=0 ops=1920 counted=hcalls+traps
mode-row op=switch ticks=600 ops=960 counted=hcalls+traps hcall=960
mode-row op=fault ticks=1400 ops=15 counted=hcalls+traps hcall=30 trap=15
Test result: SUCCESS
";

    #[test]
    fn rows_counts_and_verdict_are_read_from_a_log() {
        let r = parse(LOG);
        assert_eq!(r.rows.len(), 4);
        assert_eq!(
            r.rows[1],
            Row {
                op: "switch".into(),
                ticks: Some(40),
                ops: Some(960),
                counted: Some("exits".into()),
                counts: vec![("cr".into(), 960), ("host".into(), 3)],
                missing: None,
            }
        );
        assert_eq!(r.rows[2].counts, vec![("pf".into(), 30720)], "sum= is not a counter");
        assert_eq!(r.rows[0].missing.as_deref(), Some("n/a"));
        assert_eq!(r.rows[3].missing.as_deref(), Some("error=failed"));
        assert_eq!(
            r.exits.as_deref(),
            Some("120 VM exits: 7 hypercalls, 3 CPUID, 1 MSR, 0 I/O, 0 nested faults, 109 other")
        );
        assert_eq!(r.shadow.as_deref(), Some("5 faults fixed, 0 reflected"));
        assert_eq!(r.walk_refs.as_deref(), Some("3 (Shadow)"));
        assert_eq!(r.verdict.as_deref(), Some("SUCCESS"));
        assert_eq!(r.bracket, Some(2));
    }

    #[test]
    fn per_op_counts_leave_out_the_hosts_interrupts_and_add_traps_to_hypercalls() {
        assert_eq!(parse(LOG).rows[1].per_op(), Some(1.0));
        assert_eq!(parse(PV).rows[2].per_op(), Some(3.0));
        assert_eq!(parse(LOG).rows[0].per_op(), None);
    }

    #[test]
    fn the_table_has_a_cell_per_mode_and_says_what_was_not_run_or_counted() {
        let t = table(&[("pvh", parse(LOG), None), ("pv", parse(PV), Some(parse(PV)))]);
        assert!(t.contains("| op | pvh: insns / ticks / exits | pv: insns / ticks / hcalls+traps |"), "{t}");
        assert!(t.contains("| switch | 40 / not run / 1 | 600 / 600 / 1 |"), "{t}");
        assert!(t.contains("| fault | n/a / not run / n/a | 1400 / 1400 / 3 |"), "{t}");
        assert!(t.contains("| pt-build | n/a / not run / n/a | n/m / n/m / 0 |"), "{t}");
        assert!(t.contains("| walk refs per TLB miss | 3 (Shadow) | n/a |\n"), "{t}");
        assert!(t.contains("| RDTSC bracket (taken off each sample) | 2 / - | - / - |"), "{t}");
        assert!(t.contains("pvh: VM exits by kind per op: switch: cr 1, host <0.01; walk: pf 1;"), "{t}");
        assert!(t.contains("pvh: whole run: 120 VM exits"), "{t}");
    }
}
