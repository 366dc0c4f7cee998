//! Running xen-core under QEMU with the settings every run uses: TCG,
//! `-cpu max`, isa-debug-exit at 0xf4, no reboot, no display, serial to a
//! log file (and optionally to the terminal as well). It boots either a GRUB
//! ISO or, through QEMU's multiboot1 loader, the hypervisor ELF directly
//! (see [`crate::direct`]).

use crate::direct::{check_kernel, initrd_arg};
use crate::iso::{build_iso, IsoSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// How the hypervisor is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BootPath {
    /// SeaBIOS boots a GRUB ISO from the CD-ROM; GRUB loads everything by
    /// multiboot2. What `make run` does, as a real machine would.
    Grub,
    /// QEMU's `-kernel` multiboot1 loader, without GRUB: about half a
    /// second faster per run. The default for tests.
    #[default]
    Direct,
}

/// What QEMU boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Medium {
    /// A GRUB ISO.
    Iso(PathBuf),
    /// The hypervisor ELF through `-kernel`.
    Direct {
        /// The hypervisor ELF.
        kernel: PathBuf,
        /// Its command line (`-append`).
        append: String,
        /// The `-initrd` value, if there are modules.
        initrd: Option<String>,
    },
}

/// Exit status QEMU gives for isa-debug-exit code 0x10 (`(0x10 << 1) | 1`).
pub const STATUS_SUCCESS: i32 = 33;
/// Exit status QEMU gives for isa-debug-exit code 0x20.
pub const STATUS_FAILURE: i32 = 65;

/// How to run QEMU.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// What to boot.
    pub medium: Medium,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Where the serial output is logged.
    pub serial_log: PathBuf,
    /// Also show serial output on the terminal (stdio).
    pub console: bool,
    /// With `console`: also pass keys typed on the terminal to the serial
    /// port (Ctrl-C still stops QEMU).
    pub keyboard: bool,
    /// Extra QEMU arguments.
    pub extra: Vec<String>,
}

impl QemuConfig {
    /// Boots the ISO `iso`. Defaults: 512 MiB, no terminal output.
    pub fn new(iso: &Path, serial_log: &Path) -> QemuConfig {
        QemuConfig::with_medium(Medium::Iso(iso.to_path_buf()), serial_log)
    }

    /// Boots `spec` by `path`: builds the ISO at `iso` for GRUB, or checks
    /// that QEMU can load the hypervisor ELF for a direct boot.
    pub fn for_spec(spec: &IsoSpec, path: BootPath, iso: &Path, serial_log: &Path) -> Result<QemuConfig, String> {
        let medium = match path {
            BootPath::Grub => {
                build_iso(spec, iso).map_err(|e| format!("building {}: {e}", iso.display()))?;
                Medium::Iso(iso.to_path_buf())
            }
            BootPath::Direct => {
                check_kernel(&spec.hypervisor)?;
                if spec.hypervisor.to_str().is_none_or(|p| p.contains(char::is_whitespace)) {
                    // QEMU puts the path before the command line; the
                    // hypervisor drops the first word.
                    return Err(format!(
                        "{}: the hypervisor path must be UTF-8 without spaces",
                        spec.hypervisor.display()
                    ));
                }
                let initrd = if spec.modules.is_empty() { None } else { Some(initrd_arg(&spec.modules)?) };
                Medium::Direct { kernel: spec.hypervisor.clone(), append: spec.cmdline.clone(), initrd }
            }
        };
        Ok(QemuConfig::with_medium(medium, serial_log))
    }

    fn with_medium(medium: Medium, serial_log: &Path) -> QemuConfig {
        QemuConfig {
            medium,
            memory_mib: 512,
            serial_log: serial_log.to_path_buf(),
            console: false,
            keyboard: false,
            extra: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", "tcg", "-cpu", "max", "-m"]).arg(self.memory_mib.to_string());
        c.args(["-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot"]);
        c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        match &self.medium {
            Medium::Iso(iso) => {
                c.arg("-cdrom").arg(iso).args(["-boot", "d"]);
            }
            Medium::Direct { kernel, append, initrd } => {
                c.arg("-kernel").arg(kernel).arg("-append").arg(append);
                if let Some(initrd) = initrd {
                    c.arg("-initrd").arg(initrd);
                }
            }
        }
        if self.console {
            let signal = if self.keyboard { "on" } else { "off" };
            c.arg("-chardev")
                .arg(format!("stdio,id=ser0,signal={signal},logfile={}", self.serial_log.display()))
                .args(["-serial", "chardev:ser0"]);
            if !self.keyboard {
                c.stdin(Stdio::null());
            }
        } else {
            c.arg("-serial").arg(format!("file:{}", self.serial_log.display()));
            c.stdin(Stdio::null()).stdout(Stdio::null());
        }
        c.args(&self.extra);
        c
    }
}

/// What QEMU's exit status means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The hypervisor reported success (0x10).
    Success,
    /// The hypervisor reported failure (0x20).
    Failure,
    /// Status 1: QEMU itself failed. Never a pass.
    HarnessError,
    /// Status 0: the machine reset (with `-no-reboot`, e.g. a triple fault)
    /// or was shut down without a verdict.
    Reset,
    /// Any other status.
    Other(i32),
    /// Killed by a signal (or by the harness after a timeout).
    Killed,
}

/// Decodes QEMU's exit status.
pub fn decode_exit(status: ExitStatus) -> ExitKind {
    match status.code() {
        Some(STATUS_SUCCESS) => ExitKind::Success,
        Some(STATUS_FAILURE) => ExitKind::Failure,
        Some(1) => ExitKind::HarnessError,
        Some(0) => ExitKind::Reset,
        Some(c) => ExitKind::Other(c),
        None => ExitKind::Killed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_statuses_decode_to_verdicts_and_status_1_is_never_a_pass() {
        let s = |c: i32| ExitStatus::from_raw(c << 8);
        assert_eq!(decode_exit(s(33)), ExitKind::Success);
        assert_eq!(decode_exit(s(65)), ExitKind::Failure);
        assert_eq!(decode_exit(s(1)), ExitKind::HarnessError);
        assert_eq!(decode_exit(s(0)), ExitKind::Reset);
        assert_eq!(decode_exit(s(3)), ExitKind::Other(3));
        assert_eq!(decode_exit(ExitStatus::from_raw(9)), ExitKind::Killed);
    }

    #[test]
    fn command_uses_tcg_debug_exit_and_no_reboot() {
        let cfg = QemuConfig::new(Path::new("x.iso"), Path::new("s.log"));
        let args: Vec<String> = cfg.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-accel tcg -cpu max -m 512"));
        assert!(joined.contains("isa-debug-exit,iobase=0xf4"));
        assert!(joined.contains("-no-reboot"));
        assert!(joined.contains("-display none"));
        assert!(joined.contains("file:s.log"));
        assert!(joined.contains("-cdrom x.iso -boot d"));
    }

    #[test]
    fn a_direct_boot_passes_kernel_command_line_and_escaped_modules() {
        let medium = Medium::Direct {
            kernel: "hv".into(),
            append: "loglvl=info".into(),
            initrd: Some(crate::direct::initrd_arg(&[crate::iso::ModuleSpec::parse("g name=a x=1,2")]).unwrap()),
        };
        let cfg = QemuConfig::with_medium(medium, Path::new("s.log"));
        let args: Vec<String> = cfg.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = args.iter().position(|a| a == "-kernel").unwrap();
        assert_eq!(args[at..at + 6], ["-kernel", "hv", "-append", "loglvl=info", "-initrd", "g name=a x=1,,2"]);
        assert!(!args.iter().any(|a| a == "-cdrom"));
    }

    #[test]
    fn a_direct_boot_of_an_image_qemu_cannot_load_is_refused_before_qemu_starts() {
        let spec = IsoSpec { hypervisor: "Cargo.toml".into(), cmdline: String::new(), modules: Vec::new() };
        let err = QemuConfig::for_spec(&spec, BootPath::Direct, Path::new("x.iso"), Path::new("s.log")).unwrap_err();
        assert!(err.contains("no multiboot1 header"), "{err}");
    }
}
