//! Running the reference Xen 4.17 under QEMU with one PV guest as dom0,
//! through QEMU's multiboot1 loader (`-kernel` is Xen's uncompressed
//! image, `-initrd` the guest and its command line). Xen does not end QEMU
//! when dom0 stops, so the serial log is watched and QEMU stopped.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Xen's command line for every reference run: serial console, all log
/// levels, a 64 MiB single-vCPU dom0, no reboot.
pub const XEN_CMDLINE: &str =
    "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=64M,max:64M dom0_max_vcpus=1 noreboot";

/// Whether a serial log shows that Xen's dom0 has ended (or Xen died).
pub fn finished(log: &str) -> bool {
    log.contains("Dom0 halted") || log.contains("Dom0 crashed") || log.contains("Panic on CPU")
}

/// One reference run.
#[derive(Clone, Debug)]
pub struct XenRun<'a> {
    /// Xen's uncompressed image.
    pub xen: &'a Path,
    /// The dom0 kernel.
    pub guest: &'a Path,
    /// Its command line.
    pub guest_cmdline: &'a str,
    /// Where the serial output goes.
    pub log: &'a Path,
    /// More QEMU arguments (e.g. `-icount`).
    pub extra: &'a [String],
    /// How long to wait for dom0 to end.
    pub timeout: Duration,
}

impl XenRun<'_> {
    /// The QEMU command.
    pub fn command(&self) -> Command {
        self.command_with("")
    }

    /// The QEMU command with `more` after Xen's own command line (e.g.
    /// `dom0=pvh`).
    pub fn command_with(&self, more: &str) -> Command {
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", "tcg", "-cpu", "max", "-m", "512", "-display", "none", "-monitor", "none", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", self.log.display()))
            .arg("-kernel")
            .arg(self.xen)
            .arg("-initrd")
            .arg(format!("{} {}", self.guest.display(), self.guest_cmdline))
            .arg("-append")
            .arg(if more.is_empty() { XEN_CMDLINE.to_string() } else { format!("{XEN_CMDLINE} {more}") })
            .args(self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    }

    /// Boots Xen and returns the serial log once dom0 has ended.
    pub fn run(&self) -> Result<String, String> {
        self.run_with("")
    }

    /// [`Self::run`] with `more` on Xen's command line.
    pub fn run_with(&self, more: &str) -> Result<String, String> {
        let _ = std::fs::remove_file(self.log);
        let mut child = self.command_with(more).spawn().map_err(|e| format!("starting QEMU: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let text = std::fs::read_to_string(self.log).unwrap_or_default();
            let done = finished(&text);
            if done || Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                if !done {
                    return Err(format!("Xen run did not finish; see {}", self.log.display()));
                }
                return Ok(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_loads_xen_with_the_guest_as_its_module_and_the_extra_arguments() {
        let extra = ["-icount".to_string(), "shift=0".to_string()];
        let run = XenRun {
            xen: Path::new("xen-4.17"),
            guest: Path::new("g.elf"),
            guest_cmdline: "name=g",
            log: Path::new("x.log"),
            extra: &extra,
            timeout: Duration::from_secs(1),
        };
        let args: Vec<String> = run.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-kernel xen-4.17 -initrd g.elf name=g"));
        assert!(joined.contains("dom0_mem=64M,max:64M"));
        assert!(joined.ends_with("-icount shift=0"));
        let pvh: Vec<String> =
            run.command_with("dom0=pvh").get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(pvh.join(" ").contains("max:64M dom0_max_vcpus=1 noreboot dom0=pvh -icount"), "{pvh:?}");
    }

    #[test]
    fn a_halted_or_crashed_dom0_or_a_panic_ends_the_run() {
        assert!(finished("(XEN) Hardware Dom0 halted: halting machine"));
        assert!(finished("(XEN) Hardware Dom0 crashed"));
        assert!(finished("(XEN) Panic on CPU 0:"));
        assert!(!finished("(XEN) Starting dom0"));
    }
}
