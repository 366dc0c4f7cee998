//! `build/bench.json`: the report saved for a later comparison, and a
//! small JSON reader for it (the tools crate has no dependencies).
//!
//! ```json
//! {"format": "xen-core-bench-1", "rows": [
//!   {"key": "xen_version", "label": "...", "target": 120,
//!    "xen_core": {"median": 141, "min": 141, "max": 141}, "xen": {...},
//!    "tcg_xen_core": null, "tcg_xen": null}, ...]}
//! ```
//! A figure that was not measured is `null`.

use super::table::{Cell, Report};

/// The `format` field this version writes and reads.
pub const FORMAT: &str = "xen-core-bench-1";

/// One row as saved: medians only matter for a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedRow {
    /// The guest's key.
    pub key: String,
    /// The operation.
    pub label: String,
    /// xen-core's median under icount.
    pub xen_core: Option<u64>,
    /// Xen's median under icount.
    pub xen: Option<u64>,
    /// Plain-TCG ticks.
    pub tcg_xen_core: Option<u64>,
    /// Plain-TCG ticks on Xen.
    pub tcg_xen: Option<u64>,
}

/// The rows of a report as saved.
pub fn saved(report: &Report) -> Vec<SavedRow> {
    report
        .rows
        .iter()
        .map(|r| SavedRow {
            key: r.key.clone(),
            label: r.label.clone(),
            xen_core: r.xen_core.median(),
            xen: r.xen.median(),
            tcg_xen_core: r.tcg.as_ref().and_then(|t| t.0.median()),
            tcg_xen: r.tcg.as_ref().and_then(|t| t.1.median()),
        })
        .collect()
}

fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

fn figures(c: &Cell) -> String {
    match c {
        Cell::Value(f) => format!("{{\"median\": {}, \"min\": {}, \"max\": {}}}", f.median, f.min, f.max),
        Cell::Missing(_) => "null".into(),
    }
}

/// The report as JSON.
pub fn write(report: &Report) -> String {
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|r| {
            let tcg = |i: usize| opt(r.tcg.as_ref().and_then(|t| if i == 0 { t.0.median() } else { t.1.median() }));
            format!(
                "    {{\"key\": {}, \"label\": {}, \"target\": {}, \"xen_core\": {}, \"xen\": {}, \"tcg_xen_core\": {}, \"tcg_xen\": {}}}",
                string(&r.key),
                string(&r.label),
                opt(r.target),
                figures(&r.xen_core),
                figures(&r.xen),
                tcg(0),
                tcg(1)
            )
        })
        .collect();
    format!(
        "{{\n  \"format\": {},\n  \"unit\": \"instructions under QEMU -icount shift=0; tcg_*: plain-TCG TSC ticks\",\n  \"rows\": [\n{}\n  ]\n}}\n",
        string(FORMAT),
        rows.join(",\n")
    )
}

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, fields in order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Field `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) if *n >= 0.0 => Some(*n as u64),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let rest = &self.s[self.i..];
        for (word, v) in [("null", Value::Null), ("true", Value::Bool(true)), ("false", Value::Bool(false))] {
            if rest.starts_with(word.as_bytes()) {
                self.i += word.len();
                return Ok(v);
            }
        }
        match rest.first() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Object(fields));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(fields));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(|c| c.is_ascii_digit() || b"-+.eE".contains(c)) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                text.parse().map(Value::Number).map_err(|_| format!("bad number '{text}'"))
            }
            _ => Err(format!("unexpected input at byte {}", self.i)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).map_err(|e| e.to_string())?, 16)
                                .map_err(|e| e.to_string())?;
                            self.i += 4;
                            let ch = char::from_u32(code).unwrap_or('?');
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

/// Parses a JSON document.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing input at byte {}", p.i));
    }
    Ok(v)
}

/// Reads a saved `bench.json`.
pub fn read(text: &str) -> Result<Vec<SavedRow>, String> {
    let doc = parse(text)?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("not a {FORMAT} file"));
    }
    let Some(Value::Array(rows)) = doc.get("rows") else { return Err("no rows".into()) };
    rows.iter()
        .map(|r| {
            let median = |name: &str| r.get(name).and_then(|f| f.get("median")).and_then(Value::as_u64);
            let number = |name: &str| r.get(name).and_then(Value::as_u64);
            Ok(SavedRow {
                key: r.get("key").and_then(Value::as_str).ok_or("a row without a key")?.into(),
                label: r.get("label").and_then(Value::as_str).unwrap_or_default().into(),
                xen_core: median("xen_core"),
                xen: median("xen"),
                tcg_xen_core: number("tcg_xen_core"),
                tcg_xen: number("tcg_xen"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{parse_run, table};
    use super::*;

    #[test]
    fn a_written_report_reads_back_with_the_same_figures() {
        let ours = parse_run("bench-row key=xen_version median=141 min=140 max=150\nbench-row key=tlb_flush_local median=467 min=467 max=467\nbench-boot entry=10 end=20\n");
        let xen = parse_run(
            "bench-row key=xen_version median=276 min=276 max=276\nbench-row key=tlb_flush_local n/a=-ENOSYS\n",
        );
        let tcg = parse_run("bench-row key=tlb_flush_local median=17500 min=17000 max=19000\n");
        let report = table::build(&ours, &xen, Some((&tcg, &tcg)));
        let text = write(&report);
        let back = read(&text).unwrap();
        assert_eq!(back, saved(&report));
        let flush = back.iter().find(|r| r.key == "tlb_flush_local").unwrap();
        assert_eq!((flush.xen_core, flush.xen, flush.tcg_xen_core), (Some(467), None, Some(17500)));
    }

    #[test]
    fn the_parser_reads_nesting_escapes_and_numbers() {
        let v = parse(r#" {"a": [1, -2.5, true, null], "b": {"c": "x\"y\\z\u0041"}, "e": []} "#).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![Value::Number(1.0), Value::Number(-2.5), Value::Bool(true), Value::Null]))
        );
        assert_eq!(v.get("b").and_then(|b| b.get("c")), Some(&Value::String("x\"y\\zA".into())));
        assert_eq!(v.get("e"), Some(&Value::Array(vec![])));
    }

    #[test]
    fn malformed_or_foreign_files_are_refused() {
        assert!(parse("{\"a\": }").is_err());
        assert!(parse("[1, 2").is_err());
        assert!(parse("{} x").is_err());
        assert!(read("{\"format\": \"other\", \"rows\": []}").is_err());
        assert!(read("{\"format\": \"xen-core-bench-1\", \"rows\": [{\"label\": \"no key\"}]}").is_err());
    }
}
