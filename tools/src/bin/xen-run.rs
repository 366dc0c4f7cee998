//! `xen-run`: build a GRUB ISO from the hypervisor and guest modules and boot
//! it under QEMU with the serial console on the terminal (and in a log file).
//!
//! ```text
//! xen-run [--memory MIB] [--cmdline "HV OPTIONS"] [--log FILE] [--iso FILE | --direct]
//!         [--timeout SECS] [--qemu-arg ARG]... [--verdicts [--allow-skip]]
//!         [--keys-on TEXT=KEYS]... HYPERVISOR [--module "PATH CMDLINE"]...
//! ```
//! `--direct` skips the ISO and GRUB: QEMU's own multiboot1 loader
//! (`-kernel`/`-initrd`) starts the hypervisor, about half a second sooner.
//! Exits 0 when the hypervisor reports success, 1 on a reported failure and
//! 2 on anything else (crash, timeout, QEMU error). With `--verdicts`, a
//! success also needs every module's domain to have printed exactly one
//! `Test result: SUCCESS` (or `SKIP` with `--allow-skip`); a guest reporting
//! FAILURE or ERROR gives 1, a guest printing no verdict 2.
//!
//! `--module "PATH ramdisk"` passes PATH as the initial ramdisk of the
//! kernel module before it (it is not a domain and prints no verdict).
//!
//! `--keys-on TEXT=KEYS` types KEYS on the serial console once TEXT shows
//! up in the log (a debug key at a script's cue: `m`, the memory table);
//! the terminal's own keys then do not reach QEMU. The wall time from
//! QEMU's start to its exit is printed with the exit.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xen_tools::iso::{domains_of, IsoSpec, ModuleSpec};
use xen_tools::keys::KeysOn;
use xen_tools::qemu::{decode_exit, BootPath, QemuConfig};
use xen_tools::verdict::{exit_status, judge, parse_results, GuestsVerdict};

fn usage() -> ExitCode {
    eprintln!("usage: xen-run [--memory MIB] [--cmdline OPTS] [--log FILE] [--iso FILE | --direct] [--timeout SECS] [--qemu-arg ARG]... [--verdicts [--allow-skip]] [--keys-on TEXT=KEYS]... HYPERVISOR [--module \"PATH CMDLINE\"]...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut memory, mut cmdline, mut log, mut iso, mut timeout) =
        (512u32, String::new(), PathBuf::from("build/serial.log"), PathBuf::from("build/xen-core.iso"), 300u64);
    let mut hypervisor = None;
    let mut modules = Vec::new();
    let mut qemu_extra = Vec::new();
    let mut keys_on = Vec::new();
    let (mut verdicts, mut allow_skip) = (false, false);
    let mut boot = BootPath::Grub;
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--memory" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => memory = v,
                None => return usage(),
            },
            "--cmdline" => cmdline = value().unwrap_or_default(),
            "--log" => log = value().map(PathBuf::from).unwrap_or(log),
            "--iso" => iso = value().map(PathBuf::from).unwrap_or(iso),
            "--timeout" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => timeout = v,
                None => return usage(),
            },
            "--qemu-arg" => match value() {
                Some(v) => qemu_extra.push(v),
                None => return usage(),
            },
            "--module" => match value() {
                Some(v) => modules.push(ModuleSpec::parse(&v)),
                None => return usage(),
            },
            "--keys-on" => match value().as_deref().and_then(KeysOn::parse) {
                Some(k) => keys_on.push(k),
                None => return usage(),
            },
            "--direct" => boot = BootPath::Direct,
            "--verdicts" => verdicts = true,
            "--allow-skip" => allow_skip = true,
            _ if a.starts_with("--") => return usage(),
            _ => hypervisor = Some(PathBuf::from(a)),
        }
    }
    let Some(hypervisor) = hypervisor else { return usage() };
    if let Some(dir) = iso.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let expected_guests = domains_of(&modules);
    let spec = IsoSpec { hypervisor, cmdline, modules };
    let mut cfg = match QemuConfig::for_spec(&spec, boot, &iso, &log) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("xen-run: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_file(&log);
    cfg.memory_mib = memory;
    cfg.console = true;
    // Debug keys (`m`) only from an interactive terminal.
    cfg.keyboard = keys_on.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin());
    cfg.extra = qemu_extra;
    let mut command = cfg.command();
    if !keys_on.is_empty() {
        command.stdin(std::process::Stdio::piped());
    }
    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xen-run: starting qemu-system-x86_64: {e}");
            return ExitCode::from(2);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut keys_in = child.stdin.take();
    let status = loop {
        if let Some(stdin) = keys_in.as_mut() {
            let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
            for k in keys_on.iter_mut() {
                if let Some(keys) = k.due(&serial) {
                    let _ = stdin.write_all(keys).and_then(|()| stdin.flush());
                }
            }
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                eprintln!("\nxen-run: no verdict after {timeout} s; QEMU stopped");
                return ExitCode::from(2);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                eprintln!("xen-run: waiting for QEMU: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let kind = decode_exit(status);
    eprintln!(
        "xen-run: QEMU exited: {kind:?} after {:.1} s (serial log: {})",
        started.elapsed().as_secs_f64(),
        log.display()
    );
    let guests = verdicts.then(|| {
        let serial = std::fs::read_to_string(&log).unwrap_or_default();
        judge(&parse_results(&serial), expected_guests, allow_skip)
    });
    match &guests {
        Some(GuestsVerdict::Pass) => eprintln!("xen-run: all {expected_guests} guests passed"),
        Some(GuestsVerdict::Missing(why) | GuestsVerdict::Failure(why)) => eprintln!("xen-run: guests: {why}"),
        None => {}
    }
    ExitCode::from(exit_status(kind, guests.as_ref()))
}
