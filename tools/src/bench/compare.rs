//! `make bench-compare`: a saved run against the current one, row by row.

use super::catalogue::group;
use super::json::SavedRow;

/// One figure's change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The operation.
    pub label: String,
    /// Which column (`xen-core`, `Xen`, `TCG xen-core`, `TCG Xen`).
    pub column: &'static str,
    /// Before and after (`None`: not measured in that run).
    pub old: Option<u64>,
    /// After.
    pub new: Option<u64>,
}

impl Change {
    /// Relative change, where both were measured.
    pub fn percent(&self) -> Option<f64> {
        match (self.old, self.new) {
            (Some(o), Some(n)) if o > 0 => Some((n as f64 - o as f64) * 100.0 / o as f64),
            _ => None,
        }
    }
}

/// Every figure that differs between `old` and `new` (rows in `new`'s
/// order, then rows only `old` has).
pub fn changes(old: &[SavedRow], new: &[SavedRow]) -> Vec<Change> {
    type Column = (&'static str, fn(&SavedRow) -> Option<u64>);
    const COLUMNS: [Column; 4] = [
        ("xen-core", |r| r.xen_core),
        ("Xen", |r| r.xen),
        ("TCG xen-core", |r| r.tcg_xen_core),
        ("TCG Xen", |r| r.tcg_xen),
    ];
    let mut out = Vec::new();
    let gone = old.iter().filter(|o| new.iter().all(|n| n.key != o.key));
    for row in new.iter().chain(gone) {
        let before = old.iter().find(|o| o.key == row.key);
        let after = new.iter().find(|n| n.key == row.key);
        for (column, get) in COLUMNS {
            let (o, n) = (before.and_then(get), after.and_then(get));
            if o != n {
                out.push(Change { label: row.label.clone(), column, old: o, new: n });
            }
        }
    }
    out
}

/// The changes as the terminal shows them.
pub fn render(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no figure changed\n".into();
    }
    let show = |v: Option<u64>| v.map_or_else(|| "-".into(), group);
    let mut out = format!("{:<52} {:<13} {:>14} {:>14} {:>8}\n", "operation", "column", "saved", "now", "change");
    for c in changes {
        let pct = c.percent().map_or_else(|| "-".into(), |p| format!("{p:+.1}%"));
        out.push_str(&format!("{:<52} {:<13} {:>14} {:>14} {:>8}\n", c.label, c.column, show(c.old), show(c.new), pct));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, xen_core: Option<u64>, xen: Option<u64>) -> SavedRow {
        SavedRow { key: key.into(), label: key.into(), xen_core, xen, tcg_xen_core: None, tcg_xen: None }
    }

    #[test]
    fn only_changed_figures_are_listed_with_their_percentage() {
        let old = [row("a", Some(200), Some(300)), row("b", Some(10), Some(10))];
        let new = [row("a", Some(150), Some(300)), row("b", Some(10), Some(10))];
        let c = changes(&old, &new);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].column, c[0].old, c[0].new), ("xen-core", Some(200), Some(150)));
        assert_eq!(c[0].percent(), Some(-25.0));
        assert!(render(&c).contains("-25.0%"));
    }

    #[test]
    fn rows_added_or_dropped_show_as_unmeasured_on_one_side() {
        let old = [row("gone", Some(5), None)];
        let new = [row("added", Some(7), Some(9))];
        let c = changes(&old, &new);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].label.as_str(), c[0].old, c[0].new), ("added", None, Some(7)));
        assert_eq!((c[2].label.as_str(), c[2].old, c[2].new), ("gone", Some(5), None));
        assert_eq!(c[2].percent(), None);
    }

    #[test]
    fn identical_runs_have_no_changes() {
        let rows = [row("a", Some(1), Some(2))];
        assert!(changes(&rows, &rows).is_empty());
        assert_eq!(render(&[]), "no figure changed\n");
    }
}
