//! What hypercalls report about the machine and the hypervisor itself:
//! the host memory map (`machine_memory_map`), the highest RAM frame
//! (`maximum_ram_page`, `machphys_mapping`), where the M2P lives
//! (`machphys_mfn_list`) and the hypervisor command line
//! (`XENVER_commandline`). Built once at boot from the boot description.

use crate::boot::{BootDescription, MemoryKind};
use crate::util::FixedVec;
use abi::memory::{E820Entry, E820_ACPI, E820_NVS, E820_RAM, E820_RESERVED, E820_UNUSABLE};
use abi::Mfn;

/// Most host memory-map entries kept.
pub const MAX_E820: usize = crate::boot::description::MAX_REGIONS;

/// Facts about the host, read by hypercalls.
#[derive(Clone)]
pub struct HostInfo {
    /// The host memory map, in boot order.
    pub e820: FixedVec<E820Entry, MAX_E820>,
    /// One past the highest RAM frame (Xen's `max_page`).
    pub max_page: u64,
    /// First frame of the M2P table, which is physically contiguous.
    pub m2p_mfn: Mfn,
    /// The hypervisor command line, NUL-padded (truncated to 1023 bytes).
    pub cmdline: [u8; 1024],
    /// The TSC calibrated at boot: Xen system time.
    pub clock: crate::time::Clock,
    /// Reads the TSC (the arch layer's `rdtsc`; a fake in host tests).
    pub read_tsc: fn() -> u64,
    /// UTC at system time 0 (from the RTC at boot), for shared_info.
    pub wallclock: crate::time::info::WallClock,
    /// `vcpu_time_info.flags` (`XEN_PVCLOCK_TSC_STABLE` when the TSC is
    /// invariant).
    pub time_flags: u8,
}

impl HostInfo {
    /// Xen system time now.
    pub fn now(&self) -> crate::time::SystemTime {
        self.clock.at((self.read_tsc)())
    }
}

impl Default for HostInfo {
    fn default() -> Self {
        HostInfo {
            e820: FixedVec::new(),
            max_page: 0,
            m2p_mfn: Mfn(0),
            cmdline: [0; 1024],
            clock: crate::time::Clock::default(),
            read_tsc: || 0,
            time_flags: 0,
            wallclock: crate::time::info::WallClock { sec: 0, nsec: 0 },
        }
    }
}

impl HostInfo {
    /// The facts of `desc`, with the M2P at `m2p_mfn`.
    pub fn new(desc: &BootDescription<'_>, m2p_mfn: Mfn) -> HostInfo {
        let mut host = HostInfo { m2p_mfn, ..Default::default() };
        for r in desc.memory.as_slice() {
            let kind = match r.kind {
                MemoryKind::Usable => E820_RAM,
                MemoryKind::AcpiReclaimable => E820_ACPI,
                MemoryKind::AcpiNvs => E820_NVS,
                MemoryKind::Defective => E820_UNUSABLE,
                MemoryKind::Reserved => E820_RESERVED,
            };
            let _ = host.e820.push(E820Entry { addr: r.range.start.0, size: r.range.len(), kind });
        }
        host.max_page = desc.usable().map(|r| r.end.0.div_ceil(4096)).max().unwrap_or(0);
        let n = desc.cmdline.len().min(1023);
        host.cmdline[..n].copy_from_slice(&desc.cmdline.as_bytes()[..n]);
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::MemoryRegion;
    use crate::mm::PhysRange;

    #[test]
    fn the_host_map_keeps_boot_order_and_kinds_and_max_page_is_past_the_highest_ram() {
        let mut desc = BootDescription { cmdline: "loglvl=info", ..Default::default() };
        for (s, e, kind) in [
            (0, 0x9_FC00, MemoryKind::Usable),
            (0xF_0000, 0x10_0000, MemoryKind::Reserved),
            (0x10_0000, 0xFFE_0000, MemoryKind::Usable),
            (0xFFE_0000, 0x1000_0000, MemoryKind::AcpiNvs),
        ] {
            desc.memory.push(MemoryRegion { range: PhysRange::new(s, e), kind }).unwrap();
        }
        let h = HostInfo::new(&desc, Mfn(0x1234));
        assert_eq!(h.e820.len(), 4);
        assert_eq!(h.e820.as_slice()[1], E820Entry { addr: 0xF_0000, size: 0x1_0000, kind: E820_RESERVED });
        assert_eq!({ h.e820.as_slice()[3].kind }, E820_NVS);
        assert_eq!(h.max_page, 0xFFE0);
        assert_eq!(&h.cmdline[..12], b"loglvl=info\0");
    }
}
