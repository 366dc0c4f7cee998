//! Reading conformance-suite results from a serial log and comparing two
//! runs (xen-core and Xen) case by case.

use std::collections::BTreeMap;

/// One `[Cxxxxxx] name: want A got B ok|FAIL` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// Stable case id (hash of the name).
    pub id: String,
    /// Position in the run.
    pub order: usize,
    /// Case name.
    pub name: String,
    /// What the platform answered.
    pub got: String,
    /// Whether it matched the expectation.
    pub ok: bool,
    /// Marked as a deliberate xen-core/Xen difference.
    pub differs: bool,
}

/// Extracts the case lines of one domain (`prefix` such as `"(d0) "`, or
/// `""` for Xen's dom0 console, whose lines carry no prefix).
pub fn parse_cases(log: &str, prefix: &str) -> BTreeMap<String, CaseResult> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let order = out.len();
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix(prefix).and_then(|l| l.strip_prefix("[C")) else { continue };
        let Some((id, rest)) = rest.split_once("] ") else { continue };
        let id = id.to_string();
        let Some((name, rest)) = rest.rsplit_once(": want ") else { continue };
        let Some((_, rest)) = rest.split_once(" got ") else { continue };
        let mut words = rest.split_whitespace();
        let got = words.next().unwrap_or("").to_string();
        let ok = words.next() == Some("ok");
        out.insert(
            id.clone(),
            CaseResult { id, order, name: name.to_string(), got, ok, differs: rest.contains(" DIFF ") },
        );
    }
    out
}

/// A row of the side-by-side table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Stable case id.
    pub id: String,
    /// Case name.
    pub name: String,
    /// xen-core's answer (`-` if the case did not run).
    pub ours: String,
    /// Xen's answer.
    pub xen: String,
    /// Both passed (for a deliberate difference: each gave its documented answer).
    pub agree: bool,
    /// A documented, deliberate difference.
    pub deliberate: bool,
}

/// Joins the two runs.
pub fn compare(ours: &BTreeMap<String, CaseResult>, xen: &BTreeMap<String, CaseResult>) -> Vec<Row> {
    let mut ids: Vec<(usize, String)> = ours
        .values()
        .chain(xen.values().filter(|x| !ours.contains_key(&x.id)))
        .map(|c| (c.order, c.id.clone()))
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|(_, id)| {
            let (o, x) = (ours.get(&id), xen.get(&id));
            let name = o.or(x).map_or_else(String::new, |c| c.name.clone());
            let deliberate = o.is_some_and(|c| c.differs);
            let agree = match (o, x) {
                (Some(o), Some(x)) => o.ok && x.ok && o.name == x.name && (deliberate || o.got == x.got),
                _ => false,
            };
            Row {
                id: id.clone(),
                name,
                ours: o.map_or("-".into(), |c| c.got.clone()),
                xen: x.map_or("-".into(), |c| c.got.clone()),
                agree,
                deliberate,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "(d0) [C00000a] xen_version version is 4.17: want 0x40011 got 0x40011 ok\n(d0) [C00000b] SET_LDT of no LDT: want -ENOSYS got -ENOSYS ok DIFF (Xen: 0)\n(d0) [C00000c] a: want 0 got 0 ok\n(d1) [C00000a] other domain: want 1 got 1 ok\n";
    const XEN: &str = "[C00000a] xen_version version is 4.17: want 0x40011 got 0x40011 ok\r\n[C00000b] SET_LDT of no LDT: want 0 got 0 ok DIFF (xen-core: -ENOSYS)\n[C00000c] a: want 0 got -EINVAL FAIL\n";

    #[test]
    fn case_lines_are_parsed_per_domain() {
        let o = parse_cases(OURS, "(d0) ");
        assert_eq!(o.len(), 3);
        assert_eq!(o["00000b"].got, "-ENOSYS");
        assert!(o["00000b"].differs && o["00000b"].ok);
        assert_eq!(parse_cases(OURS, "(d1) ")["00000a"].name, "other domain");
        assert!(!parse_cases(XEN, "")["00000c"].ok);
    }

    #[test]
    fn rows_agree_only_when_both_pass_with_the_same_answer_or_a_documented_difference() {
        let rows = compare(&parse_cases(OURS, "(d0) "), &parse_cases(XEN, ""));
        assert!(rows[0].agree);
        assert!(rows[1].agree && rows[1].deliberate);
        assert!(!rows[2].agree);
        let missing = compare(&parse_cases(OURS, "(d0) "), &BTreeMap::new());
        assert!(missing.iter().all(|r| !r.agree));
    }
}
