//! Running an ISO under QEMU with the settings every xen-core run uses:
//! TCG, `-cpu max`, isa-debug-exit at 0xf4, no reboot, no display, serial to
//! a log file (and optionally to the terminal as well).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Exit status QEMU gives for isa-debug-exit code 0x10 (`(0x10 << 1) | 1`).
pub const STATUS_SUCCESS: i32 = 33;
/// Exit status QEMU gives for isa-debug-exit code 0x20.
pub const STATUS_FAILURE: i32 = 65;

/// How to run QEMU.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// The ISO to boot.
    pub iso: PathBuf,
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
    /// Defaults: 512 MiB, no terminal output.
    pub fn new(iso: &Path, serial_log: &Path) -> QemuConfig {
        QemuConfig {
            iso: iso.to_path_buf(),
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
        c.arg("-cdrom").arg(&self.iso).args(["-boot", "d"]);
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
    }
}
