//! `xen-modes`: guest-kernel's `modes` workload in the three
//! memory-virtualization modes, one table (issue 15 item 5).
//!
//! ```text
//! xen-modes HYPERVISOR GUEST_KERNEL [--tcg]
//! ```
//! Boots the same guest-kernel ELF three times through QEMU's multiboot
//! loader under `-icount shift=0,align=off,sleep=off` (guest RDTSC =
//! instructions): as PV domain 0 (direct paging), as a PVH domain with
//! `paging=shadow`, and with nested paging (PVH alone, as domain 0). With
//! `--tcg` it boots each once more under plain TCG for TSC ticks. Logs go
//! to build/modes-*.log, the table to stdout and build/modes.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xen_tools::iso::{IsoSpec, ModuleSpec};
use xen_tools::modes::{parse, table, ModeRun};
use xen_tools::qemu::{BootPath, QemuConfig};

const ICOUNT: [&str; 4] = ["-icount", "shift=0,align=off,sleep=off", "-rtc", "clock=vm"];
const TIMEOUT: Duration = Duration::from_secs(600);
/// Mode name and the module's command line after the path.
const MODES: [(&str, &str); 3] = [
    ("pv", "name=pv mem=32M modes"),
    ("pvh-shadow", "name=pvh mem=32M type=pvh paging=shadow modes"),
    ("pvh-nested", "name=pvh mem=32M type=pvh modes"),
];

fn boot(hv: &Path, gk: &Path, tag: &str, module: &str, extra: &[&str]) -> Result<ModeRun, String> {
    let (iso, log) = (PathBuf::from(format!("build/modes-{tag}.iso")), PathBuf::from(format!("build/modes-{tag}.log")));
    let spec = IsoSpec {
        hypervisor: hv.into(),
        cmdline: "loglvl=info".into(),
        modules: vec![ModuleSpec::parse(&format!("{} {module}", gk.display()))],
    };
    let mut cfg = QemuConfig::for_spec(&spec, BootPath::Direct, &iso, &log)?;
    cfg.extra = extra.iter().map(|s| s.to_string()).collect();
    let mut child = cfg.command().spawn().map_err(|e| format!("starting QEMU: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{tag} timed out; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = parse(&std::fs::read_to_string(&log).map_err(|e| e.to_string())?);
    match run.verdict.as_deref() {
        Some("SUCCESS") => Ok(run),
        v => Err(format!("{tag}: guest verdict {v:?}; see {}", log.display())),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (hv, gk) = match args {
        [hv, gk, ..] => (Path::new(hv), Path::new(gk)),
        _ => return Err("usage: xen-modes HYPERVISOR GUEST_KERNEL [--tcg]".into()),
    };
    let tcg = args.iter().any(|a| a == "--tcg");
    std::fs::create_dir_all("build").map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for (mode, module) in MODES {
        eprintln!("xen-modes: {mode} under icount");
        let ic = boot(hv, gk, &format!("{mode}-icount"), module, &ICOUNT)?;
        let t = if tcg {
            eprintln!("xen-modes: {mode} under plain TCG");
            Some(boot(hv, gk, &format!("{mode}-tcg"), module, &[])?)
        } else {
            None
        };
        runs.push((mode, ic, t));
    }
    let t = table(&runs);
    std::fs::write("build/modes.md", &t).map_err(|e| e.to_string())?;
    print!("{t}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-modes: {e}");
            ExitCode::FAILURE
        }
    }
}
