//! `xen-bench`: the bench guest (tests/bench) as domain 0 on xen-core and
//! on Xen 4.17 under the same QEMU settings, one table side by side.
//!
//! ```text
//! xen-bench run HYPERVISOR BENCH_GUEST XEN_ELF [--json FILE] [--no-tcg] [--tcg-rounds N]
//! xen-bench compare SAVED.json [CURRENT.json]
//! ```
//! `run` boots each hypervisor through QEMU's multiboot loader (`-kernel`,
//! no GRUB): once under `-icount shift=0,align=off,sleep=off -rtc
//! clock=vm` (guest RDTSC = instructions executed, Xen's RTC poll
//! deterministic), then in turn under plain TCG for N rounds (3 unless
//! `--tcg-rounds N`; `--no-tcg` skips them) for the TSC-ticks view of the
//! flush-heavy rows, each row's lowest median kept (`bench::rounds`).
//! Logs go to build/bench-*.log; the report to FILE (build/bench.json),
//! and as a Markdown table beside it (build/bench.md).
//! `compare` prints what changed between two saved reports (CURRENT
//! defaults to build/bench.json). Exits 1 if a run failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xen_tools::bench::{compare, json, parse_run, rounds, table, Run};
use xen_tools::iso::{IsoSpec, ModuleSpec};
use xen_tools::qemu::{BootPath, QemuConfig};
use xen_tools::xen_ref::XenRun;

/// QEMU arguments of the instruction-count runs.
const ICOUNT: [&str; 4] = ["-icount", "shift=0,align=off,sleep=off", "-rtc", "clock=vm"];
/// Both runs' guest command line; the xen-core run adds its extensions.
const GUEST_CMDLINE: &str = "name=bench";
const TIMEOUT: Duration = Duration::from_secs(600);

fn run_xen_core(hv: &Path, guest: &Path, tag: &str, extra: &[String]) -> Result<Run, String> {
    let (iso, log) = (PathBuf::from(format!("build/bench-{tag}.iso")), PathBuf::from(format!("build/bench-{tag}.log")));
    let spec = IsoSpec {
        hypervisor: hv.into(),
        cmdline: "loglvl=info".into(),
        modules: vec![ModuleSpec::parse(&format!(
            "{} {GUEST_CMDLINE} mem=64M hcall-ext=int82,vmcall",
            guest.display()
        ))],
    };
    // QEMU's multiboot loader, as for Xen: the reset -> guest rows compare
    // like with like (no GRUB on either side).
    let mut cfg = QemuConfig::for_spec(&spec, BootPath::Direct, &iso, &log)?;
    // The same machine as Xen's run (xen_ref: 512 MiB).
    cfg.memory_mib = 512;
    cfg.extra = extra.to_vec();
    let mut child = cfg.command().spawn().map_err(|e| format!("starting QEMU: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("xen-core run timed out; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    checked(parse_run(&text), &log)
}

fn run_xen(xen: &Path, guest: &Path, tag: &str, extra: &[String]) -> Result<Run, String> {
    let log = PathBuf::from(format!("build/bench-{tag}.log"));
    let run = XenRun { xen, guest, guest_cmdline: GUEST_CMDLINE, log: &log, extra, timeout: TIMEOUT };
    checked(parse_run(&run.run()?), &log)
}

/// A run counts if the guest got to its verdict. FAILURE (a row's
/// operation failed) still gives a table, whose cell says which error.
fn checked(run: Run, log: &Path) -> Result<Run, String> {
    match run.verdict.as_deref() {
        Some("SUCCESS") => Ok(run),
        Some("FAILURE") => {
            eprintln!("xen-bench: a row failed on {} (its cell says how); see {}", run.platform, log.display());
            Ok(run)
        }
        Some(v) => Err(format!("the bench guest reported {v}; see {}", log.display())),
        None => Err(format!("the bench guest printed no verdict; see {}", log.display())),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut paths = Vec::new();
    let mut json_path = PathBuf::from("build/bench.json");
    let mut tcg_rounds = 3;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json_path = it.next().map(PathBuf::from).ok_or("--json needs a file")?,
            "--no-tcg" => tcg_rounds = 0,
            "--tcg-rounds" => {
                tcg_rounds = it.next().and_then(|n| n.parse().ok()).ok_or("--tcg-rounds needs a number")?;
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let [hv, guest, xen] = paths.as_slice() else { return Err(usage()) };
    std::fs::create_dir_all("build").map_err(|e| e.to_string())?;
    let icount: Vec<String> = ICOUNT.iter().map(|s| s.to_string()).collect();
    let plain = vec!["-rtc".to_string(), "clock=vm".to_string()];
    eprintln!("xen-bench: xen-core under icount");
    let ours = run_xen_core(hv, guest, "xen-core", &icount)?;
    eprintln!("xen-bench: Xen 4.17 under icount");
    let theirs = run_xen(xen, guest, "xen", &icount)?;
    // Alternating, so both hypervisors meet the same spells of the host.
    let (mut ours_tcg, mut theirs_tcg) = (Vec::new(), Vec::new());
    for round in 1..=tcg_rounds {
        eprintln!("xen-bench: xen-core and Xen 4.17 under plain TCG, round {round} of {tcg_rounds}");
        ours_tcg.push(run_xen_core(hv, guest, &format!("xen-core-tcg-{round}"), &plain)?);
        theirs_tcg.push(run_xen(xen, guest, &format!("xen-tcg-{round}"), &plain)?);
    }
    let tcg_runs = rounds::best_of(&ours_tcg).zip(rounds::best_of(&theirs_tcg));
    let report = table::build(&ours, &theirs, tcg_runs.as_ref().map(|(a, b)| (a, b)));
    print!("{}", table::render(&report));
    std::fs::write(&json_path, json::write(&report)).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let md = json_path.with_extension("md");
    std::fs::write(&md, table::render_markdown(&report)).map_err(|e| format!("{}: {e}", md.display()))?;
    println!("written to {} and {}", json_path.display(), md.display());
    Ok(())
}

fn read_saved(path: &Path) -> Result<Vec<json::SavedRow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    json::read(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn usage() -> String {
    "usage: xen-bench run HYPERVISOR BENCH_GUEST XEN_ELF [--json FILE] [--no-tcg] [--tcg-rounds N]\n       xen-bench compare SAVED.json [CURRENT.json]".into()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("compare") if args.len() == 2 || args.len() == 3 => {
            let current = args.get(2).map_or("build/bench.json", String::as_str);
            read_saved(Path::new(&args[1])).and_then(|old| {
                let new = read_saved(Path::new(current))?;
                println!("{} against {current}:", args[1]);
                print!("{}", compare::render(&compare::changes(&old, &new)));
                Ok(())
            })
        }
        _ => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
