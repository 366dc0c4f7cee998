//! Building a bootable GRUB ISO (`grub-mkrescue`) holding the hypervisor and
//! any number of guest ELFs as multiboot2 modules.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One multiboot2 module: a file and the command line GRUB passes with it.
#[derive(Clone, Debug)]
pub struct ModuleSpec {
    /// The file (usually a guest ELF).
    pub path: PathBuf,
    /// Its command line.
    pub cmdline: String,
}

impl ModuleSpec {
    /// Parses `"PATH [CMDLINE...]"`.
    pub fn parse(spec: &str) -> ModuleSpec {
        let spec = spec.trim();
        let (path, cmdline) = spec.split_once(char::is_whitespace).unwrap_or((spec, ""));
        ModuleSpec { path: PathBuf::from(path), cmdline: cmdline.trim().to_string() }
    }

    /// Whether the hypervisor takes it as the previous kernel's initial
    /// ramdisk (command line starting with the word `ramdisk`) rather than
    /// as a domain of its own.
    pub fn is_ramdisk(&self) -> bool {
        self.cmdline.split_whitespace().next() == Some("ramdisk")
    }
}

/// How many of `modules` become domains (each one but the ramdisks).
pub fn domains_of(modules: &[ModuleSpec]) -> usize {
    modules.iter().filter(|m| !m.is_ramdisk()).count()
}

/// What goes on the ISO.
#[derive(Clone, Debug)]
pub struct IsoSpec {
    /// The hypervisor ELF.
    pub hypervisor: PathBuf,
    /// The hypervisor command line.
    pub cmdline: String,
    /// Modules in order; the first becomes domain 0.
    pub modules: Vec<ModuleSpec>,
}

/// The grub.cfg for `spec`, with files under /boot.
pub fn grub_cfg(spec: &IsoSpec) -> String {
    let mut cfg = String::from(
        "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n\n",
    );
    let _ = writeln!(cfg, "menuentry \"xen-core\" {{");
    let _ = writeln!(cfg, "    multiboot2 /boot/xen-core {}", spec.cmdline);
    for (i, m) in spec.modules.iter().enumerate() {
        let _ = writeln!(cfg, "    module2 /boot/module{i} {}", m.cmdline);
    }
    let _ = writeln!(cfg, "    boot\n}}");
    cfg
}

/// Builds the ISO at `out`, using `out` + ".d" as a staging directory.
pub fn build_iso(spec: &IsoSpec, out: &Path) -> io::Result<()> {
    let stage = out.with_extension("d");
    let _ = std::fs::remove_dir_all(&stage);
    let boot = stage.join("boot");
    std::fs::create_dir_all(boot.join("grub"))?;
    std::fs::copy(&spec.hypervisor, boot.join("xen-core"))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", spec.hypervisor.display())))?;
    for (i, m) in spec.modules.iter().enumerate() {
        std::fs::copy(&m.path, boot.join(format!("module{i}")))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", m.path.display())))?;
    }
    std::fs::write(boot.join("grub/grub.cfg"), grub_cfg(spec))?;
    let output = Command::new("grub-mkrescue").arg("-o").arg(out).arg(&stage).output()?;
    let _ = std::fs::remove_dir_all(&stage);
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "grub-mkrescue failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_spec_splits_path_from_command_line() {
        let m = ModuleSpec::parse(" guest.elf name=dom0  mem=32M ");
        assert_eq!(m.path, PathBuf::from("guest.elf"));
        assert_eq!(m.cmdline, "name=dom0  mem=32M");
        assert_eq!(ModuleSpec::parse("x").cmdline, "");
    }

    #[test]
    fn ramdisk_modules_are_not_domains() {
        let mods: Vec<ModuleSpec> =
            ["k1 name=a", "initrd.img ramdisk", "k2 name=ramdisk", "k3"].iter().map(|s| ModuleSpec::parse(s)).collect();
        assert!(mods[1].is_ramdisk() && !mods[2].is_ramdisk());
        assert_eq!(domains_of(&mods), 3);
    }

    #[test]
    fn grub_cfg_lists_every_module_with_its_command_line() {
        let spec = IsoSpec {
            hypervisor: "hv".into(),
            cmdline: "loglvl=debug".into(),
            modules: vec![ModuleSpec::parse("a name=a"), ModuleSpec::parse("b name=b")],
        };
        let cfg = grub_cfg(&spec);
        assert!(cfg.contains("multiboot2 /boot/xen-core loglvl=debug\n"));
        assert!(cfg.contains("module2 /boot/module0 name=a\n"));
        assert!(cfg.contains("module2 /boot/module1 name=b\n"));
        assert!(cfg.contains("terminal_output serial"));
    }
}
