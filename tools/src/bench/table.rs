//! The side-by-side report: each operation's xen-core and Xen figures, the
//! ratio, the target, and marks for each miss and each row slower than
//! Xen; then the plain-TCG ticks of the flush-heavy operations.

use super::catalogue::{find, group, Target, OPERATIONS};
use super::{Figures, Outcome, Run};

/// One row of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The guest's key.
    pub key: String,
    /// The operation.
    pub label: String,
    /// xen-core under icount.
    pub xen_core: Cell,
    /// Xen 4.17 under icount.
    pub xen: Cell,
    /// The target's bound, if any.
    pub target: Option<u64>,
    /// The target as printed.
    pub target_text: String,
    /// Plain-TCG TSC ticks (medians), for the flush-heavy rows.
    pub tcg: Option<(Cell, Cell)>,
}

/// One figure in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Measured.
    Value(Figures),
    /// Not available (`n/a` and why), not run, or an error.
    Missing(String),
}

impl Cell {
    /// The median, if measured.
    pub fn median(&self) -> Option<u64> {
        match self {
            Cell::Value(f) => Some(f.median),
            Cell::Missing(_) => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Cell::Value(f) => group(f.median),
            Cell::Missing(why) => why.clone(),
        }
    }
}

impl Row {
    /// xen-core's figure exceeds the target.
    pub fn misses(&self) -> bool {
        matches!((self.xen_core.median(), self.target), (Some(v), Some(t)) if v > t)
    }

    /// xen-core's figure exceeds Xen's.
    pub fn slower_than_xen(&self) -> bool {
        matches!((self.xen_core.median(), self.xen.median()), (Some(a), Some(b)) if a > b)
    }

    /// xen-core / Xen.
    pub fn ratio(&self) -> Option<f64> {
        match (self.xen_core.median(), self.xen.median()) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
            _ => None,
        }
    }
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Operations, then the boot figures.
    pub rows: Vec<Row>,
}

fn cell(run: Option<&Run>, key: &str) -> Cell {
    match run.and_then(|r| r.get(key)) {
        Some(Outcome::Measured(f)) => Cell::Value(*f),
        Some(Outcome::NotAvailable(why)) if why == "extension" => Cell::Missing("-".into()),
        Some(Outcome::NotAvailable(why)) => Cell::Missing(format!("n/a ({why})")),
        Some(Outcome::Error(rc)) => Cell::Missing(format!("error {rc}")),
        None if run.is_none() => Cell::Missing("not run".into()),
        None => Cell::Missing("missing".into()),
    }
}

fn single(v: Option<u64>) -> Cell {
    match v {
        Some(v) => Cell::Value(Figures { median: v, min: v, max: v }),
        None => Cell::Missing("-".into()),
    }
}

/// The boot figures: reset → the guest's first instruction, the
/// hypervisor's own share of it (from its entry, where it logs one), and
/// reset → the guest's verdict.
fn boot_rows(ours: &Run, xen: &Run) -> Vec<Row> {
    let share = |r: &Run| r.guest_entry?.checked_sub(r.hv_entry?);
    let row = |key: &str, label: &str, a: Option<u64>, b: Option<u64>, target: Target| Row {
        key: key.into(),
        label: label.into(),
        xen_core: single(a),
        xen: single(b),
        target: target.bound(b),
        target_text: target.describe(b),
        tcg: None,
    };
    vec![
        row(
            "boot_hv_share",
            "boot: hypervisor entry -> first guest instruction",
            share(ours),
            share(xen),
            Target::AtMost(5_000_000),
        ),
        row(
            "boot_guest_entry",
            "boot: reset -> first guest instruction",
            ours.guest_entry,
            xen.guest_entry,
            Target::None,
        ),
        row("boot_verdict", "boot: reset -> guest verdict", ours.guest_end, xen.guest_end, Target::None),
    ]
}

/// Builds the report from the icount runs and, if given, the plain-TCG
/// runs (`tcg`: xen-core's, Xen's).
pub fn build(ours: &Run, xen: &Run, tcg: Option<(&Run, &Run)>) -> Report {
    let mut keys: Vec<&str> = OPERATIONS.iter().map(|o| o.key).collect();
    for (k, _) in ours.rows.iter().chain(&xen.rows) {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let mut rows = Vec::new();
    for key in keys {
        if ours.get(key).is_none() && xen.get(key).is_none() {
            continue;
        }
        let op = find(key);
        let target = op.map_or(Target::None, |o| o.target);
        let xen_cell = cell(Some(xen), key);
        rows.push(Row {
            key: key.into(),
            label: op.map_or(key, |o| o.label).into(),
            xen_core: cell(Some(ours), key),
            target: target.bound(xen_cell.median()),
            target_text: target.describe(xen_cell.median()),
            xen: xen_cell,
            tcg: tcg
                .filter(|_| op.is_some_and(|o| o.flush_heavy))
                .map(|(a, b)| (cell(Some(a), key), cell(Some(b), key))),
        });
    }
    rows.extend(boot_rows(ours, xen));
    Report { rows }
}

/// A row's plain-TCG ratio, xen-core's ticks over Xen's.
fn tcg_ratio(a: &Cell, b: &Cell) -> Option<f64> {
    match (a.median(), b.median()) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

/// How many plain-TCG rows took xen-core more ticks than Xen.
pub fn tcg_slower(report: &Report) -> usize {
    report.rows.iter().filter_map(|r| r.tcg.as_ref()).filter(|(a, b)| tcg_ratio(a, b).is_some_and(|x| x > 1.0)).count()
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// The report as the terminal shows it.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cols: [&str; 6]| {
        out.push_str(&format!(
            "{:<52} {:>14} {:>14} {:>7}  {:<22} {}\n",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
        ))
    };
    out.push_str("Instructions under QEMU -icount shift=0,align=off,sleep=off -rtc clock=vm, domain 0 on both\n");
    line(&mut out, ["operation", "xen-core", "Xen 4.17", "ratio", "target", ""]);
    for r in &report.rows {
        let mut marks = Vec::new();
        if r.misses() {
            marks.push("MISS");
        }
        if r.slower_than_xen() {
            marks.push("SLOWER THAN XEN");
        }
        let (a, b, ratio) = (r.xen_core.show(), r.xen.show(), ratio_text(r.ratio()));
        line(&mut out, [&r.label, &a, &b, &ratio, &r.target_text, &marks.join(", ")]);
    }
    let misses = report.rows.iter().filter(|r| r.misses()).count();
    let slower = report.rows.iter().filter(|r| r.slower_than_xen()).count();
    out.push_str(&format!("{misses} rows miss their target; {slower} rows are slower than Xen\n"));
    let tcg: Vec<&Row> = report.rows.iter().filter(|r| r.tcg.is_some()).collect();
    if !tcg.is_empty() {
        out.push_str(
            "\nPlain TCG (no icount), TSC ticks (host time; icount does not see TLB cost or waiting), flush-heavy rows and waits;\nthe lowest median of the alternating rounds\n",
        );
        line(&mut out, ["operation", "xen-core", "Xen 4.17", "ratio", "", ""]);
        for r in tcg {
            let Some((a, b)) = &r.tcg else { continue };
            let ratio = tcg_ratio(a, b);
            let mark = if ratio.is_some_and(|x| x > 1.0) { "SLOWER THAN XEN" } else { "" };
            line(&mut out, [&r.label, &a.show(), &b.show(), &ratio_text(ratio), "", mark]);
        }
        out.push_str(&format!("{} plain-TCG rows are slower than Xen\n", tcg_slower(report)));
    }
    out
}

/// The report as a Markdown table (README), marks in the last column.
pub fn render_markdown(report: &Report) -> String {
    let mut out =
        String::from("| operation | xen-core | Xen 4.17 | ratio | target | |\n|---|---:|---:|---:|---|---|\n");
    for r in &report.rows {
        let marks = match (r.misses(), r.slower_than_xen()) {
            (true, true) => "miss, slower than Xen",
            (true, false) => "miss",
            (false, true) => "slower than Xen",
            (false, false) => "",
        };
        let target = r.target_text.replace("<=", "≤");
        let label = r.label.replace("->", "→");
        out.push_str(&format!(
            "| {label} | {} | {} | {} | {target} | {marks} |\n",
            r.xen_core.show(),
            r.xen.show(),
            ratio_text(r.ratio())
        ));
    }
    let tcg: Vec<&Row> = report.rows.iter().filter(|r| r.tcg.is_some()).collect();
    if !tcg.is_empty() {
        out.push_str("\nPlain TCG, TSC ticks (the lowest median of the alternating rounds):\n\n| operation | xen-core | Xen 4.17 | ratio | |\n|---|---:|---:|---:|---|\n");
        for r in tcg {
            if let Some((a, b)) = &r.tcg {
                let ratio = tcg_ratio(a, b);
                let mark = if ratio.is_some_and(|x| x > 1.0) { "slower than Xen" } else { "" };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {mark} |\n",
                    r.label.replace("->", "→"),
                    a.show(),
                    b.show(),
                    ratio_text(ratio)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse_run;
    use super::*;

    fn runs() -> (Run, Run) {
        let ours = parse_run(
            "(XEN) Boot: TSC 100 at entry\n\
             (d0) bench-row key=xen_version median=141 min=141 max=141\n\
             (d0) bench-row key=bounce_ud2 median=1056 min=1056 max=1056\n\
             (d0) bench-row key=user_syscall median=300 min=300 max=300\n\
             (d0) bench-row key=xen_version_int82 median=257 min=257 max=257\n\
             (d0) bench-row key=new_thing median=5 min=5 max=5\n\
             (d0) bench-boot entry=4000100 end=9000000\n",
        );
        let xen = parse_run(
            "bench-row key=xen_version median=276 min=276 max=276\n\
             bench-row key=bounce_ud2 median=716 min=716 max=716\n\
             bench-row key=user_syscall median=691 min=691 max=691\n\
             bench-row key=xen_version_int82 n/a=extension\n\
             bench-boot entry=1000000000 end=1100000000\n",
        );
        (ours, xen)
    }

    fn row<'a>(r: &'a Report, key: &str) -> &'a Row {
        r.rows.iter().find(|r| r.key == key).unwrap()
    }

    #[test]
    fn a_row_over_its_target_is_a_miss_and_one_over_xen_is_slower() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, None);
        let v = row(&r, "xen_version");
        assert!(v.misses() && !v.slower_than_xen());
        let b = row(&r, "bounce_ud2");
        assert!(b.misses() && b.slower_than_xen());
        let u = row(&r, "user_syscall");
        assert_eq!(u.target, Some(345));
        assert!(!u.misses() && !u.slower_than_xen());
        let text = render(&r);
        assert!(text.contains("exception bounce ud2"));
        assert!(text.lines().any(|l| l.contains("exception bounce ud2") && l.contains("MISS, SLOWER THAN XEN")));
        assert!(text.contains("2 rows miss their target; 1 rows are slower than Xen"));
    }

    #[test]
    fn the_ratio_is_xen_core_over_xen() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, None);
        let ratio = row(&r, "xen_version").ratio().unwrap();
        assert!((ratio - 141.0 / 276.0).abs() < 1e-9);
        assert_eq!(row(&r, "xen_version_int82").ratio(), None);
        assert_eq!(row(&r, "xen_version_int82").xen, Cell::Missing("-".into()));
    }

    #[test]
    fn rows_unknown_to_the_catalogue_come_last_without_a_target() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, None);
        let pos = r.rows.iter().position(|r| r.key == "new_thing").unwrap();
        assert_eq!(r.rows[pos].target, None);
        assert_eq!(r.rows[pos].xen, Cell::Missing("missing".into()));
        assert!(pos > r.rows.iter().position(|r| r.key == "user_syscall").unwrap());
        assert!(r.rows.iter().all(|r| r.key != "grant_copy"), "rows neither run printed are left out");
    }

    #[test]
    fn the_hypervisor_boot_share_starts_at_its_own_entry() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, None);
        let b = row(&r, "boot_hv_share");
        assert_eq!(b.xen_core.median(), Some(4_000_000));
        assert_eq!(b.xen.median(), None);
        assert!(!b.misses());
        assert_eq!(row(&r, "boot_verdict").xen.median(), Some(1_100_000_000));
    }

    #[test]
    fn the_tcg_view_holds_only_flush_heavy_rows() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, Some((&ours, &xen)));
        assert!(row(&r, "user_syscall").tcg.is_some());
        assert!(row(&r, "xen_version").tcg.is_none());
        assert!(render(&r).contains("Plain TCG"));
    }

    #[test]
    fn a_plain_tcg_row_over_xens_ticks_is_marked_and_counted() {
        let ours = parse_run(
            "bench-row key=user_syscall median=600 min=1 max=900\nbench-row key=xen_version median=100 min=1 max=1\n",
        );
        let xen = parse_run(
            "bench-row key=user_syscall median=500 min=1 max=900\nbench-row key=xen_version median=200 min=1 max=1\n",
        );
        let r = build(&ours, &xen, Some((&ours, &xen)));
        assert_eq!(tcg_slower(&r), 1);
        let text = render(&r);
        let tcg_part = &text[text.find("Plain TCG").unwrap()..];
        assert!(tcg_part.contains("SLOWER THAN XEN"), "{text}");
        assert!(render(&r).contains("1 plain-TCG rows are slower than Xen"));
        assert!(render_markdown(&r).contains("| 1.20x | slower than Xen |"));
        let even = build(&xen, &xen, Some((&xen, &xen)));
        assert_eq!(tcg_slower(&even), 0);
    }

    #[test]
    fn the_markdown_table_has_one_line_per_row_with_its_marks() {
        let (ours, xen) = runs();
        let r = build(&ours, &xen, None);
        let md = render_markdown(&r);
        assert_eq!(md.lines().count(), 2 + r.rows.len());
        assert!(md.contains(
            "| exception bounce ud2 → handler → iret | 1,056 | 716 | 1.47x | ≤ 350 | miss, slower than Xen |"
        ));
    }
}
