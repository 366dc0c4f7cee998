//! Generic start of day: the banner, then running what was loaded.

use crate::arch::x86_64::setup::CpuFeatures;
use crate::boot::{BootDescription, MemoryKind};
use crate::mm::hv_map::WxAudit;

/// Facts about the platform gathered by the arch bring-up.
pub struct Platform {
    /// Protection features turned on.
    pub features: CpuFeatures,
    /// W^X audit of the hypervisor's own page tables.
    pub audit: WxAudit,
    /// Heap size.
    pub heap_bytes: u64,
    /// Frames left for domains.
    pub free_frames: u64,
}

/// Prints the banner: version, memory, modules.
pub fn banner(desc: &BootDescription<'_>, p: &Platform, unknown: &[&str]) {
    log::info!("xen-core {} (Xen-compatible x86_64 PV hypervisor)", crate::VERSION);
    log::info!("Command line: {}", desc.cmdline);
    for u in unknown {
        log::warn!("ignoring unknown command-line option '{u}'");
    }
    if !desc.bootloader.is_empty() {
        log::info!("Bootloader: {}", desc.bootloader);
    }
    log::info!("Memory map:");
    for r in desc.memory.as_slice() {
        let kind = match r.kind {
            MemoryKind::Usable => "usable",
            MemoryKind::AcpiReclaimable => "ACPI reclaimable",
            MemoryKind::AcpiNvs => "ACPI NVS",
            MemoryKind::Defective => "defective",
            MemoryKind::Reserved => "reserved",
        };
        log::info!("  {:016x} - {:016x} {kind}", r.range.start.0, r.range.end.0);
    }
    log::info!("Usable RAM: {} MiB", desc.usable_bytes() >> 20);
    let f = p.features;
    log::info!("CPU protection: NX {} SMEP {} SMAP {}", on(f.nx), on(f.smep), on(f.smap));
    log::info!(
        "W^X check: {} hypervisor mappings, {} writable+executable",
        p.audit.leaves,
        p.audit.writable_executable
    );
    if let Some(va) = p.audit.first_offender {
        log::error!("writable+executable hypervisor mapping at {va:#x}");
    }
    log::info!("Heap: {} KiB; {} frames free for domains", p.heap_bytes >> 10, p.free_frames);
    log::info!("Modules: {}", desc.modules.len());
    for (i, m) in desc.modules.as_slice().iter().enumerate() {
        log::info!("  module {i}: {} bytes at {:#x}, cmdline '{}'", m.range.len(), m.range.start.0, m.cmdline);
    }
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// With no guest modules there is nothing to run. Returns whether the run
/// counts as a success.
pub fn run(desc: &BootDescription<'_>) -> bool {
    debug_assert!(desc.modules.is_empty());
    log::info!("Nothing to run: no guest modules were loaded.");
    log::info!("Shutting down.");
    true
}
