//! `xen-compare`: runs the conformance suite on xen-core and on Xen 4.17
//! (both as domain 0, under QEMU TCG) and prints the results side by side.
//!
//! ```text
//! xen-compare HYPERVISOR SUITE XEN_ELF
//! ```
//! XEN_ELF is the uncompressed Xen image (Debian's /boot/xen-4.17-amd64.gz,
//! unpacked). QEMU's multiboot1 loader starts both hypervisors, without
//! GRUB. Exits 0 when
//! every case agrees (deliberate, documented differences included) and
//! both runs ended with the suite's `Test result: SUCCESS` (xen-core's also
//! with the hypervisor's success exit).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use xen_tools::conformance::{compare, parse_cases};
use xen_tools::iso::{IsoSpec, ModuleSpec};
use xen_tools::qemu::{decode_exit, BootPath, QemuConfig};
use xen_tools::verdict::{exit_status, judge, parse_results, GuestsVerdict};
use xen_tools::xen_ref::XenRun;

/// A run's serial log and whether the run passed by its own verdict.
type RunLog = (String, bool);

/// Boots Xen with the suite as dom0; returns the serial log.
fn run_xen(xen: &Path, suite: &Path, log: &Path) -> Result<String, String> {
    let run = XenRun {
        xen,
        guest: suite,
        guest_cmdline: "name=conformance",
        log,
        extra: &[],
        timeout: Duration::from_secs(180),
    };
    run.run()
}

fn run_ours(hv: &Path, suite: &Path, dir: &Path) -> Result<RunLog, String> {
    let iso = dir.join("conformance-compare.iso");
    let log = dir.join("conformance-compare.log");
    let spec = IsoSpec {
        hypervisor: hv.into(),
        cmdline: String::new(),
        modules: vec![ModuleSpec::parse(&format!("{} name=conformance mem=64M", suite.display()))],
    };
    // Like Xen's run, through QEMU's multiboot1 loader, without GRUB.
    let mut cfg = QemuConfig::for_spec(&spec, BootPath::Direct, &iso, &log)?;
    cfg.memory_mib = 256;
    let status = cfg.command().status().map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let (exit, guests) = (decode_exit(status), judge(&parse_results(&text), 1, false));
    let passed = exit_status(exit, Some(&guests)) == 0;
    if !passed {
        println!("xen-compare: the xen-core run did not pass: QEMU {exit:?}, suite {guests:?}");
    }
    Ok((text, passed))
}

/// Whether the suite passed on Xen by its own verdict. Xen's dom0 console
/// lines carry no domain prefix, so its one result line is judged as is.
fn xen_passed(xen: &str) -> bool {
    let passed = judge(&parse_results(xen), 1, false) == GuestsVerdict::Pass;
    if !passed {
        println!("xen-compare: the suite did not print `Test result: SUCCESS` on Xen");
    }
    passed
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [hv, suite, xen] = args.as_slice() else {
        eprintln!("usage: xen-compare HYPERVISOR SUITE XEN_ELF");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from("build");
    let _ = std::fs::create_dir_all(&dir);
    let (ours, ours_passed) = match run_ours(hv, suite, &dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xen-compare: xen-core run: {e}");
            return ExitCode::from(2);
        }
    };
    let xen_log = match run_xen(xen, suite, &dir.join("conformance-xen.log")) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xen-compare: {e}");
            return ExitCode::from(2);
        }
    };
    let rows = compare(&parse_cases(&ours, "(d0) "), &parse_cases(&xen_log, ""));
    println!("{:<8} {:<64} {:>12} {:>12}  verdict", "case", "name", "xen-core", "Xen 4.17");
    for r in &rows {
        let verdict = match (r.agree, r.deliberate) {
            (true, false) => "same",
            (true, true) => "deliberate difference (see abi docs)",
            (false, _) => "DIFFERENT",
        };
        println!("C{:<7} {:<64} {:>12} {:>12}  {verdict}", r.id, r.name, r.ours, r.xen);
    }
    let ours_cases = parse_cases(&ours, "(d0) ");
    let lines = ours.lines().filter(|l| l.starts_with("(d0) [C")).count();
    if lines != ours_cases.len() {
        println!("xen-compare: {} case lines but {} distinct ids: two cases share a name", lines, ours_cases.len());
        return ExitCode::FAILURE;
    }
    let agree = rows.iter().filter(|r| r.agree).count();
    let deliberate = rows.iter().filter(|r| r.deliberate).count();
    println!("{} cases; {deliberate} deliberate differences, documented in abi", rows.len());
    println!("{agree} passed, {} failed", rows.len() - agree);
    if agree == rows.len() && !rows.is_empty() && ours_passed && xen_passed(&xen_log) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
