//! `start_info`: what the domain builder hands a PV guest at start of day
//! RSI points at it when the guest starts; the [guide](crate::guide#the-start-of-day-layout)
//! describes the memory around it.

use core::mem::{offset_of, size_of};

/// Magic string a 64-bit PV guest finds at the start of `start_info`.
pub const START_INFO_MAGIC: &[u8; 14] = b"xen-3.0-x86_64";
/// Maximum guest command line, including the NUL.
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// The domain is privileged (may manage others).
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// The domain is the initial domain (domain 0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// The initrd is a multiboot module.
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// `mod_start` is a PFN, not a virtual address.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;

/// Start-of-day information (1168 bytes, page aligned in guest memory).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct StartInfo {
    /// @0: `"xen-3.0-x86_64"`, NUL padded.
    pub magic: [u8; 32],
    /// @32: total pages of the domain.
    pub nr_pages: u64,
    /// @40: MACHINE address of the shared_info page.
    pub shared_info: u64,
    /// @48: `SIF_*` flags.
    pub flags: u32,
    /// @52: padding.
    pub pad0: u32,
    /// @56: MFN of the xenstore ring (0 if none).
    pub store_mfn: u64,
    /// @64: xenstore event channel.
    pub store_evtchn: u32,
    /// @68: padding.
    pub pad1: u32,
    /// @72: console ring MFN (domU) / dom0 console info offset and size.
    pub console_mfn: u64,
    /// @80: console event channel (domU).
    pub console_evtchn: u32,
    /// @84: padding.
    pub pad2: u32,
    /// @88: VIRTUAL address of the bootstrap L4 table.
    pub pt_base: u64,
    /// @96: number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// @104: VIRTUAL address of the p2m list (one MFN per PFN).
    pub mfn_list: u64,
    /// @112: VIRTUAL address of the initrd (0 if none).
    pub mod_start: u64,
    /// @120: initrd size in bytes.
    pub mod_len: u64,
    /// @128: NUL-terminated command line.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// @1152: first PFN of a separately placed p2m (0 if none).
    pub first_p2m_pfn: u64,
    /// @1160: number of those frames.
    pub nr_p2m_frames: u64,
}

const _: () = assert!(size_of::<StartInfo>() == 1168);
const _: () = assert!(offset_of!(StartInfo, nr_pages) == 32);
const _: () = assert!(offset_of!(StartInfo, shared_info) == 40);
const _: () = assert!(offset_of!(StartInfo, flags) == 48);
const _: () = assert!(offset_of!(StartInfo, store_mfn) == 56);
const _: () = assert!(offset_of!(StartInfo, store_evtchn) == 64);
const _: () = assert!(offset_of!(StartInfo, console_mfn) == 72);
const _: () = assert!(offset_of!(StartInfo, console_evtchn) == 80);
const _: () = assert!(offset_of!(StartInfo, pt_base) == 88);
const _: () = assert!(offset_of!(StartInfo, nr_pt_frames) == 96);
const _: () = assert!(offset_of!(StartInfo, mfn_list) == 104);
const _: () = assert!(offset_of!(StartInfo, mod_start) == 112);
const _: () = assert!(offset_of!(StartInfo, mod_len) == 120);
const _: () = assert!(offset_of!(StartInfo, cmd_line) == 128);
const _: () = assert!(offset_of!(StartInfo, first_p2m_pfn) == 1152);
const _: () = assert!(offset_of!(StartInfo, nr_p2m_frames) == 1160);

impl StartInfo {
    /// An all-zero `start_info`.
    pub const fn zeroed() -> StartInfo {
        StartInfo {
            magic: [0; 32],
            nr_pages: 0,
            shared_info: 0,
            flags: 0,
            pad0: 0,
            store_mfn: 0,
            store_evtchn: 0,
            pad1: 0,
            console_mfn: 0,
            console_evtchn: 0,
            pad2: 0,
            pt_base: 0,
            nr_pt_frames: 0,
            mfn_list: 0,
            mod_start: 0,
            mod_len: 0,
            cmd_line: [0; MAX_GUEST_CMDLINE],
            first_p2m_pfn: 0,
            nr_p2m_frames: 0,
        }
    }

    /// Whether the magic is a 64-bit PV one.
    pub fn magic_ok(&self) -> bool {
        self.magic.starts_with(START_INFO_MAGIC)
    }

    /// The command line up to its NUL (empty if not UTF-8).
    pub fn cmdline(&self) -> &str {
        let end = self.cmd_line.iter().position(|&b| b == 0).unwrap_or(MAX_GUEST_CMDLINE);
        core::str::from_utf8(&self.cmd_line[..end]).unwrap_or("")
    }
}
