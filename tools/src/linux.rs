//! Booting a Linux PV kernel and its initramfs on the reference Xen 4.17 as
//! dom0, for the wall-time comparison `make linux` prints: the same kernel,
//! initramfs, RAM and QEMU as the xen-core run, except `-cpu max,smap=off`
//! (QEMU 7.2's TCG checks a ring-3 `iretq`'s stack reads as supervisor
//! accesses under SMAP, and Xen with SMAP on then kills dom0 at its first
//! native `iretq`; xen-core completes that `iretq` instead).
//!
//! Xen does not end QEMU when dom0 powers off, so the serial log is
//! followed (and echoed, the whole console) until dom0 has halted.

use crate::direct::initrd_arg;
use crate::iso::ModuleSpec;
use crate::xen_ref::finished;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel command line of every Linux boot: the Xen console (for
/// domain 0 `console_io`; for another domain the console ring), the early
/// Xen console from the first message, and a reboot at once on a panic, so
/// a dying kernel ends the run instead of waiting out its timeout.
pub const KERNEL_CMDLINE: &str = "console=hvc0 earlyprintk=xen panic=-1";

/// Kernel options that step around what xen-core does not do yet, added
/// to [`KERNEL_CMDLINE`] on every boot (Xen's too, so both run the same
/// command line) until the hypervisor catches up; each names its gap.
/// None today: `mce=off` and `nofsgsbase` went once xen-core answered
/// Xen's virtual MCE MSRs and stopped offering FSGSBASE in CPUID (it does
/// not honour CR4.FSGSBASE for a guest); the plain-command-line test in
/// tests/linux.rs now demands the full pass.
pub const WORKAROUNDS: &str = "";

/// [`KERNEL_CMDLINE`] and [`WORKAROUNDS`].
pub fn kernel_cmdline() -> String {
    if WORKAROUNDS.is_empty() {
        KERNEL_CMDLINE.to_string()
    } else {
        format!("{KERNEL_CMDLINE} {WORKAROUNDS}")
    }
}

/// The line `/init` prints last when every step passed.
pub const SUCCESS: &str = "Test result: SUCCESS";

/// One Linux boot on Xen 4.17.
#[derive(Clone, Debug)]
pub struct XenLinux<'a> {
    /// Xen's uncompressed image.
    pub xen: &'a Path,
    /// The kernel (bzImage).
    pub kernel: &'a Path,
    /// The initramfs.
    pub initrd: &'a Path,
    /// Dom0's memory in MiB (`dom0_mem=N,max:N`).
    pub dom0_mib: u32,
    /// QEMU's RAM in MiB.
    pub memory_mib: u32,
    /// Where the serial output goes.
    pub log: &'a Path,
}

/// When the milestones of a run were seen, from QEMU's start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    /// `Test result: SUCCESS` appeared.
    pub success: Option<Duration>,
    /// The run ended (dom0 halted or crashed, or QEMU exited).
    pub end: Option<Duration>,
}

impl XenLinux<'_> {
    /// Xen's command line: as the conformance comparison's, with dom0's
    /// memory set.
    pub fn xen_cmdline(&self) -> String {
        format!(
            "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem={m}M,max:{m}M dom0_max_vcpus=1 noreboot",
            m = self.dom0_mib
        )
    }

    /// The QEMU command.
    pub fn command(&self) -> Result<Command, String> {
        let modules = [
            ModuleSpec { path: self.kernel.into(), cmdline: kernel_cmdline() },
            ModuleSpec { path: self.initrd.into(), cmdline: String::new() },
        ];
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", "tcg", "-cpu", "max,smap=off", "-m"]).arg(self.memory_mib.to_string());
        c.args(["-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", self.log.display()))
            .arg("-kernel")
            .arg(self.xen)
            .arg("-initrd")
            .arg(initrd_arg(&modules)?)
            .arg("-append")
            .arg(self.xen_cmdline())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Ok(c)
    }

    /// Boots, echoes the console to stdout as it comes, and stops QEMU once
    /// dom0 has ended or `timeout` has passed.
    pub fn run(&self, timeout: Duration) -> Result<(String, Timing), String> {
        let _ = std::fs::remove_file(self.log);
        let start = Instant::now();
        let mut child = self.command()?.spawn().map_err(|e| format!("starting QEMU: {e}"))?;
        let (mut shown, mut timing) = (0, Timing::default());
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let text = String::from_utf8_lossy(&std::fs::read(self.log).unwrap_or_default()).into_owned();
            echo_new(&text, &mut shown);
            if timing.success.is_none() && text.contains(SUCCESS) {
                timing.success = Some(start.elapsed());
            }
            let exited = child.try_wait().ok().flatten().is_some();
            if finished(&text) || exited || start.elapsed() > timeout {
                if finished(&text) || exited {
                    timing.end = Some(start.elapsed());
                }
                let _ = child.kill();
                let _ = child.wait();
                return Ok((text, timing));
            }
        }
    }
}

/// Whether Xen's log shows dom0 powering off: Linux as dom0 enters ACPI S5
/// through Xen (which makes QEMU exit), a kernel without ACPI asks Xen to
/// halt (`SCHEDOP_shutdown`).
pub fn powered_off(xen_log: &str) -> bool {
    xen_log.contains("(XEN) Entering ACPI S5 state.") || xen_log.contains("Hardware Dom0 halted")
}

/// Prints what of `text` is past `shown` bytes, and moves `shown` on.
pub fn echo_new(text: &str, shown: &mut usize) {
    if let Some(new) = text.get(*shown..) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(new.as_bytes());
        let _ = out.flush();
        *shown = text.len();
    }
}

/// Formats an optional duration as seconds, or `-`.
pub fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_boots_the_kernel_with_its_command_line_and_the_initramfs_as_second_module_without_smap() {
        let run = XenLinux {
            xen: Path::new("xen-4.17"),
            kernel: Path::new("vmlinuz"),
            initrd: Path::new("initrd.cpio"),
            dom0_mib: 128,
            memory_mib: 512,
            log: Path::new("x.log"),
        };
        let args: Vec<String> = run.command().unwrap().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |a: &str| args.iter().position(|x| x == a).unwrap() + 1;
        assert_eq!(args[at("-cpu")], "max,smap=off");
        assert_eq!(args[at("-m")], "512");
        assert_eq!(args[at("-kernel")], "xen-4.17");
        assert_eq!(args[at("-initrd")], format!("vmlinuz {},initrd.cpio", kernel_cmdline()));
        assert!(args[at("-append")].contains("dom0_mem=128M,max:128M dom0_max_vcpus=1"));
    }

    #[test]
    fn the_kernel_command_line_uses_the_xen_console_and_ends_a_panic_at_once() {
        for opt in ["console=hvc0", "earlyprintk=xen", "panic=-1"] {
            assert!(KERNEL_CMDLINE.split(' ').any(|o| o == opt), "{opt}");
        }
        assert!(!kernel_cmdline().contains(','), "QEMU's -initrd would need the commas doubled");
        assert!(kernel_cmdline().starts_with(KERNEL_CMDLINE));
    }

    #[test]
    fn dom0_powering_off_is_acpi_s5_or_a_halt_never_a_crash() {
        assert!(powered_off("(XEN) Preparing system for ACPI S5 state.\n(XEN) Entering ACPI S5 state.\n"));
        assert!(powered_off("(XEN) Hardware Dom0 halted: halting machine"));
        assert!(!powered_off("(XEN) Hardware Dom0 crashed"));
        assert!(!powered_off("(XEN) Preparing system for ACPI S5 state."));
    }

    #[test]
    fn seconds_print_with_one_decimal_or_a_dash() {
        assert_eq!(secs(Some(Duration::from_millis(8240))), "8.2 s");
        assert_eq!(secs(None), "-");
    }
}
