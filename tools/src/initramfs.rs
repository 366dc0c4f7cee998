//! The Linux test initramfs: busybox, the `/init` script
//! (`tools/linux/init.sh`) and the kernel modules it loads, as a newc cpio
//! archive ([`crate::cpio`]), uncompressed (Linux unpacks a plain archive
//! whatever its `CONFIG_RD_*`, and decompressing one under TCG would only
//! cost boot time).

use crate::cpio::{archive, Entry};
use std::path::Path;

/// The `/init` script.
pub const INIT: &str = include_str!("../linux/init.sh");

/// The busybox applets `/init` calls, each a symlink in `/bin`.
pub const APPLETS: &[&str] = &[
    "sh", "awk", "cat", "dmesg", "echo", "grep", "insmod", "ls", "mkdir", "mount", "poweroff", "sleep", "sync", "tr",
    "uname",
];

/// The marker `/init` prints where the hypervisor's memory table should
/// show the balloon (`xen-run --keys-on` types the `m` debug key then).
pub const BALLOON_MARK: &str = "init: balloon: hypervisor memory table:";

/// The archive's entries: `/init`, `/bin/busybox` (the static busybox
/// binary `busybox`) and its applets, `/dev/console` (the kernel opens it for
/// init before anything is mounted; without it init has no output), the
/// mount points, and each of `modules` (name, contents) in `/lib/xen`.
pub fn entries(busybox: Vec<u8>, modules: Vec<(String, Vec<u8>)>) -> Vec<Entry> {
    let mut e = vec![Entry::dir("bin"), Entry::file("bin/busybox", 0o755, busybox)];
    e.extend(APPLETS.iter().map(|a| Entry::symlink(&format!("bin/{a}"), "busybox")));
    e.push(Entry::dir("dev"));
    e.push(Entry::char_dev("dev/console", 0o600, 5, 1));
    e.extend(["proc", "sys", "lib", "lib/xen"].map(Entry::dir));
    e.extend(modules.into_iter().map(|(name, data)| Entry::file(&format!("lib/xen/{name}"), 0o644, data)));
    e.push(Entry::file("init", 0o755, INIT.as_bytes().to_vec()));
    e
}

/// Reads `busybox` and `modules` from disk and returns the archive.
pub fn build(busybox: &Path, modules: &[&Path]) -> Result<Vec<u8>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let bb = read(busybox)?;
    if !bb.starts_with(b"\x7fELF") {
        return Err(format!("{}: not an ELF binary", busybox.display()));
    }
    let mut mods = Vec::new();
    for m in modules {
        let name = m.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{}: bad name", m.display()))?;
        mods.push((name.to_string(), read(m)?));
    }
    archive(&entries(bb, mods))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::Kind;

    #[test]
    fn init_is_an_executable_busybox_script_that_reports_a_verdict_and_powers_off() {
        assert!(INIT.starts_with("#!/bin/sh\n"));
        assert!(INIT.contains("echo \"Test result: SUCCESS\""));
        assert!(INIT.contains("echo \"Test result: FAILURE\""));
        assert!(INIT.trim_end().ends_with("poweroff -f"));
        assert!(INIT.contains("/sys/devices/system/xen_memory/xen_memory0"));
        assert!(INIT.contains(&format!("say \"{}\"", BALLOON_MARK.trim_start_matches("init: "))));
    }

    #[test]
    fn the_archive_holds_init_busybox_its_applets_the_console_and_the_modules_in_order() {
        let e = entries(b"\x7fELFbb".to_vec(), vec![("xenfs.ko".into(), b"ko".to_vec())]);
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        let pos = |n: &str| names.iter().position(|&x| x == n).unwrap_or_else(|| panic!("{n} missing"));
        assert!(pos("bin") < pos("bin/busybox") && pos("bin") < pos("bin/sh"));
        assert!(pos("dev") < pos("dev/console") && pos("lib/xen") < pos("lib/xen/xenfs.ko"));
        assert!(pos("proc") > 0 && pos("sys") > 0);
        assert_eq!(e[pos("dev/console")].kind, Kind::CharDev(5, 1));
        assert_eq!(e[pos("bin/sh")].kind, Kind::Symlink("busybox".into()));
        assert_eq!(e[pos("init")].perm, 0o755);
        assert_eq!(e[pos("init")].kind, Kind::File(INIT.as_bytes().to_vec()));
        assert!(archive(&e).is_ok());
    }

    #[test]
    fn a_busybox_that_is_not_an_elf_is_refused() {
        let err = build(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")), &[]).unwrap_err();
        assert!(err.contains("not an ELF"), "{err}");
    }
}
