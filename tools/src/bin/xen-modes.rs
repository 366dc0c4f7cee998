//! `xen-modes`: guest-kernel's `modes` workload in the three
//! memory-virtualization modes, and on Xen 4.17 where it runs the same
//! thing, one table (issue 15 items 5 and 6).
//!
//! ```text
//! xen-modes HYPERVISOR GUEST_KERNEL [--tcg] [--xen XEN_IMAGE]
//! ```
//! Boots the same guest-kernel ELF through QEMU's multiboot loader under
//! `-icount shift=0,align=off,sleep=off` (guest RDTSC = instructions): as
//! PV domain 0 (direct paging), as a PVH domain with `paging=shadow`, and
//! with nested paging (PVH alone, as domain 0). With `--xen` it boots the
//! same ELF on Xen as a PV dom0 and as a PVH dom0 with HAP (`dom0=pvh`, on
//! the q35 machine with an IOMMU and without RDTSCP, which Xen needs
//! under QEMU). With `--tcg` it boots each once more under plain TCG for
//! TSC ticks. Logs go to build/modes-*.log, the table to stdout and
//! build/modes.md.
//!
//! ```text
//! xen-modes HYPERVISOR GUEST_KERNEL --probe --xen XEN_IMAGE
//! ```
//! Instead boots guest-kernel's PVH entry with `vcpuprobe` as a PVH
//! domain on xen-core and as a PVH dom0 with HAP on Xen, and prints each
//! probe's answer from both side by side (build/pvh-probe.md): a PVH
//! vCPU's own hypercalls, compared with Xen 4.17's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xen_tools::iso::{IsoSpec, ModuleSpec};
use xen_tools::modes::{parse, table, ModeRun};
use xen_tools::qemu::{BootPath, QemuConfig};
use xen_tools::xen_ref::XenRun;

const ICOUNT: [&str; 4] = ["-icount", "shift=0,align=off,sleep=off", "-rtc", "clock=vm"];
const TIMEOUT: Duration = Duration::from_secs(600);
/// Mode name and the module's command line after the path.
const MODES: [(&str, &str); 3] = [
    ("pv", "name=pv mem=32M modes"),
    ("pvh-shadow", "name=pvh mem=32M type=pvh paging=shadow modes"),
    ("pvh-nested", "name=pvh mem=32M type=pvh modes"),
];
/// What Xen 4.17 needs from QEMU for a PVH dom0: an IOMMU (q35 and
/// intel-iommu) and no RDTSCP (QEMU reports an intercepted RDTSCP as
/// RDTSC, which fails Xen's instruction-length check).
const XEN_PVH_QEMU: [&str; 6] = ["-M", "q35", "-device", "intel-iommu,intremap=on", "-cpu", "max,-rdtscp"];
/// Xen's modes: name, guest command line, PVH dom0.
const XEN_MODES: [(&str, &str, bool); 2] =
    [("xen-pv", "name=pv modes", false), ("xen-pvh-hap", "name=pvh modes", true)];

fn verdict(tag: &str, log: &Path, text: &str) -> Result<ModeRun, String> {
    let run = parse(text);
    match run.verdict.as_deref() {
        Some("SUCCESS") => Ok(run),
        v => Err(format!("{tag}: guest verdict {v:?}; see {}", log.display())),
    }
}

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
    verdict(tag, &log, &std::fs::read_to_string(&log).map_err(|e| e.to_string())?)
}

fn boot_xen(xen: &Path, gk: &Path, tag: &str, cmdline: &str, pvh: bool, timing: &[&str]) -> Result<ModeRun, String> {
    let log = PathBuf::from(format!("build/modes-{tag}.log"));
    let mut extra: Vec<String> = Vec::new();
    if pvh {
        extra.extend(XEN_PVH_QEMU.iter().map(|s| s.to_string()));
    }
    extra.extend(timing.iter().map(|s| s.to_string()));
    let run = XenRun { xen, guest: gk, guest_cmdline: cmdline, log: &log, extra: &extra, timeout: TIMEOUT };
    let text = run.run_with(if pvh { "dom0=pvh" } else { "" })?;
    verdict(tag, &log, &text)
}

/// The `guest-kernel: probe NAME = VALUE` lines of a log, in order.
fn probe_lines(log: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{log}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once("guest-kernel: probe ")?.1.rsplit_once(" = "))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect())
}

/// `--probe`: the PVH probe on xen-core and on Xen, one table.
fn probe(hv: &Path, gk: &Path, xen: &Path) -> Result<(), String> {
    eprintln!("xen-modes: the PVH probe on xen-core");
    boot(hv, gk, "probe-pvh", "name=pvh mem=32M type=pvh vcpuprobe", &[])?;
    eprintln!("xen-modes: the PVH probe on Xen (PVH dom0, HAP)");
    boot_xen(xen, gk, "probe-xen-pvh-hap", "name=pvh vcpuprobe", true, &[])?;
    let ours = probe_lines("build/modes-probe-pvh.log")?;
    let theirs = probe_lines("build/modes-probe-xen-pvh-hap.log")?;
    let mut t = String::from("| probe | xen-core PVH | Xen 4.17 PVH dom0 (HAP) | |\n|---|---|---|---|\n");
    let mut differ = 0;
    for (name, v) in &ours {
        let x = theirs.iter().find(|(n, _)| n == name).map_or("(not run)", |(_, x)| x.as_str());
        let same = v == x;
        differ += usize::from(!same);
        t += &format!("| {name} | {v} | {x} | {} |\n", if same { "same" } else { "differ" });
    }
    t += &format!("\n{} probes, {differ} differ\n", ours.len());
    std::fs::write("build/pvh-probe.md", &t).map_err(|e| e.to_string())?;
    print!("{t}");
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let (hv, gk) = match args {
        [hv, gk, ..] => (Path::new(hv), Path::new(gk)),
        _ => return Err("usage: xen-modes HYPERVISOR GUEST_KERNEL [--tcg] [--probe] [--xen XEN_IMAGE]".into()),
    };
    let tcg = args.iter().any(|a| a == "--tcg");
    let xen = args.iter().position(|a| a == "--xen").and_then(|i| args.get(i + 1)).map(Path::new);
    std::fs::create_dir_all("build").map_err(|e| e.to_string())?;
    if args.iter().any(|a| a == "--probe") {
        return probe(hv, gk, xen.ok_or("--probe needs --xen XEN_IMAGE")?);
    }
    let started = Instant::now();
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
    // Xen's columns are the reference, not the subject: a Xen run that
    // fails leaves its column out (with the reason) instead of the table.
    let mut left_out = Vec::new();
    if let Some(xen) = xen {
        for (mode, cmdline, pvh) in XEN_MODES {
            eprintln!("xen-modes: {mode} under icount");
            let runs_of = || -> Result<(ModeRun, Option<ModeRun>), String> {
                let ic = boot_xen(xen, gk, &format!("{mode}-icount"), cmdline, pvh, &ICOUNT)?;
                let t = if tcg {
                    eprintln!("xen-modes: {mode} under plain TCG");
                    Some(boot_xen(xen, gk, &format!("{mode}-tcg"), cmdline, pvh, &[])?)
                } else {
                    None
                };
                Ok((ic, t))
            };
            match runs_of() {
                Ok((ic, t)) => runs.push((mode, ic, t)),
                Err(e) => {
                    eprintln!("xen-modes: {mode} left out: {e}");
                    left_out.push(format!("{mode} left out: {e}"));
                }
            }
        }
    }
    let mut t = table(&runs);
    for l in &left_out {
        t += &format!("\n{l}\n");
    }
    std::fs::write("build/modes.md", &t).map_err(|e| e.to_string())?;
    print!("{t}");
    eprintln!("xen-modes: {} runs in {} s", runs.len() * if tcg { 2 } else { 1 }, started.elapsed().as_secs());
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
