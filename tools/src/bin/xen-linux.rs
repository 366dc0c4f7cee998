//! `xen-linux`: the Linux guest's host side.
//!
//! ```text
//! xen-linux initramfs OUT BUSYBOX [MODULE.ko]...
//! xen-linux xen XEN_ELF KERNEL INITRAMFS [--dom0-mem MIB] [--memory MIB] [--log FILE] [--timeout SECS]
//! xen-linux print cmdline|balloon-mark
//! ```
//! `initramfs` writes the test initramfs (newc cpio: busybox, `/init`, the
//! modules in `/lib/xen`). `xen` boots KERNEL and INITRAMFS as dom0 of Xen
//! 4.17 (XEN_ELF uncompressed) under QEMU, shows the whole console, and
//! prints how long it took to `Test result: SUCCESS` and to dom0's end;
//! exits 0 only if `/init` reported success and dom0 powered off. `print`
//! prints the kernel command line every Linux boot uses, or the line
//! `/init` prints where the hypervisor's memory table should show the
//! balloon (for `make linux`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use xen_tools::initramfs::BALLOON_MARK;
use xen_tools::linux::{powered_off, secs, XenLinux, KERNEL_CMDLINE, SUCCESS};

fn usage() -> ExitCode {
    eprintln!("usage: xen-linux initramfs OUT BUSYBOX [MODULE.ko]...");
    eprintln!(
        "       xen-linux xen XEN_ELF KERNEL INITRAMFS [--dom0-mem MIB] [--memory MIB] [--log FILE] [--timeout SECS]"
    );
    eprintln!("       xen-linux print cmdline|balloon-mark");
    ExitCode::from(2)
}

fn initramfs(args: &[String]) -> ExitCode {
    let [out, busybox, modules @ ..] = args else { return usage() };
    let modules: Vec<&Path> = modules.iter().map(Path::new).collect();
    match xen_tools::initramfs::build(Path::new(busybox), &modules) {
        Ok(bytes) => match std::fs::write(out, &bytes) {
            Ok(()) => {
                println!("xen-linux: {out}: {} bytes (newc cpio, {} modules)", bytes.len(), modules.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xen-linux: writing {out}: {e}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("xen-linux: {e}");
            ExitCode::from(2)
        }
    }
}

fn xen(args: &[String]) -> ExitCode {
    let mut it = args.iter();
    let (mut files, mut dom0_mib, mut memory_mib, mut log, mut timeout) =
        (Vec::new(), 128u32, 512u32, PathBuf::from("build/linux/xen.log"), 180u64);
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok());
        match a.as_str() {
            "--dom0-mem" => match num().and_then(|v| u32::try_from(v).ok()) {
                Some(v) => dom0_mib = v,
                None => return usage(),
            },
            "--memory" => match num().and_then(|v| u32::try_from(v).ok()) {
                Some(v) => memory_mib = v,
                None => return usage(),
            },
            "--timeout" => match num() {
                Some(v) => timeout = v,
                None => return usage(),
            },
            "--log" => match it.next() {
                Some(v) => log = PathBuf::from(v),
                None => return usage(),
            },
            _ if a.starts_with("--") => return usage(),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [xen, kernel, initrd] = files.as_slice() else { return usage() };
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let run = XenLinux { xen, kernel, initrd, dom0_mib, memory_mib, log: &log };
    let (text, timing) = match run.run(Duration::from_secs(timeout)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xen-linux: {e}");
            return ExitCode::from(2);
        }
    };
    println!();
    let end = if powered_off(&text) {
        "dom0 powered off"
    } else if timing.end.is_some() {
        "dom0 crashed or Xen stopped"
    } else {
        "timed out"
    };
    println!(
        "xen-linux: Xen 4.17: `{SUCCESS}` after {}, {end} after {} (serial log: {})",
        secs(timing.success),
        secs(timing.end),
        log.display()
    );
    if timing.success.is_some() && powered_off(&text) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "initramfs" => initramfs(rest),
        Some((cmd, rest)) if cmd == "xen" => xen(rest),
        Some((cmd, [what])) if cmd == "print" => match what.as_str() {
            "cmdline" => {
                println!("{KERNEL_CMDLINE}");
                ExitCode::SUCCESS
            }
            "balloon-mark" => {
                println!("{BALLOON_MARK}");
                ExitCode::SUCCESS
            }
            _ => usage(),
        },
        _ => usage(),
    }
}
