//! Bring-up order on the boot CPU, from `_start32`'s jump to Rust until the
//! generic start code takes over.

use super::paging::{DirectMap, ImageLayout, BOOT_DIRECT_MAP_LIMIT};
use super::{cpu, gdt, heap, idt, multiboot, paging, qemu, serial};
use crate::boot::multiboot1::{Multiboot1, PhysWindow, MULTIBOOT1_MAGIC};
use crate::boot::{BootDescription, BootInfoError, HvOptions, LogLevel, SelfTest};
use crate::mm::{FrameAllocator, PhysRange};
use crate::start::{self, Platform};
use crate::util::FixedVec;

/// What the CPU offers and what was turned on.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuFeatures {
    /// EFER.NXE is on.
    pub nx: bool,
    /// CR4.SMEP is on.
    pub smep: bool,
    /// CR4.SMAP is on.
    pub smap: bool,
}

fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    serial::print(format_args!("(XEN) *** FATAL: {args}\n"));
    qemu::exit(qemu::EXIT_FAILURE)
}

/// The multiboot2 block at `mbi_phys`, bounded by its own total size.
fn boot_information(mbi_phys: u64) -> Result<&'static [u8], BootInfoError> {
    let header = DirectMap::bytes(PhysRange::new(mbi_phys, mbi_phys + 8), BOOT_DIRECT_MAP_LIMIT)
        .ok_or(BootInfoError::BadTotalSize(0))?;
    let total = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    DirectMap::bytes(PhysRange::new(mbi_phys, mbi_phys + u64::from(total)), BOOT_DIRECT_MAP_LIMIT)
        .ok_or(BootInfoError::BadTotalSize(total))
}

/// Physical memory below 4 GiB through the boot direct map, where every
/// multiboot1 pointer points.
struct BootWindow;

impl PhysWindow<'static> for BootWindow {
    fn read(&self, range: PhysRange) -> Option<&'static [u8]> {
        DirectMap::bytes(range, BOOT_DIRECT_MAP_LIMIT)
    }
}

fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::None => log::LevelFilter::Off,
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warning => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::All => log::LevelFilter::Trace,
    }
}

fn enable_protection(nx: bool) -> CpuFeatures {
    let leaf7 = cpu::cpuid(7, 0);
    let max_leaf = cpu::cpuid(0, 0).eax;
    let smep = max_leaf >= 7 && leaf7.ebx & (1 << 7) != 0;
    let smap = max_leaf >= 7 && leaf7.ebx & (1 << 20) != 0;
    let mut cr4 = cpu::cr4();
    if smep {
        cr4 |= cpu::CR4_SMEP;
    }
    if smap {
        cr4 |= cpu::CR4_SMAP;
    }
    // SAFETY: both features are reported by CPUID, and no hypervisor code
    // runs from or touches user-accessible pages (there are none yet).
    unsafe { cpu::set_cr4(cr4) };
    CpuFeatures { nx, smep, smap }
}

/// Rust entry point, called from `boot32` on the boot stack.
#[no_mangle]
extern "C" fn xen_core_kmain(magic: u32, mbi_phys: u64) -> ! {
    // Under QEMU -icount the TSC counts instructions since reset: `make
    // bench` takes the hypervisor's share of the boot from `_start32`'s
    // first reading.
    let entry_tsc = super::boot_clock::entry();
    serial::init();
    // What the description borrows and so must stay reserved: multiboot2's
    // whole block, or multiboot1's strings.
    let mut boot_data: FixedVec<PhysRange, { crate::boot::description::MAX_MODULES + 2 }> = FixedVec::new();
    let mb2_info;
    let desc = match magic {
        multiboot::MULTIBOOT2_MAGIC => {
            let bytes = boot_information(mbi_phys).unwrap_or_else(|e| fatal(format_args!("{e}")));
            mb2_info = multiboot::load(bytes).unwrap_or_else(|e| fatal(format_args!("{e}")));
            let _ = boot_data.push(PhysRange::new(mbi_phys, mbi_phys + bytes.len() as u64));
            BootDescription::from_multiboot(&mb2_info).unwrap_or_else(|e| fatal(format_args!("{e}")))
        }
        MULTIBOOT1_MAGIC => {
            let mb1 = Multiboot1::parse(&BootWindow, mbi_phys).unwrap_or_else(|e| fatal(format_args!("{e}")));
            boot_data = mb1.strings;
            mb1.desc
        }
        _ => fatal(format_args!("{}", BootInfoError::BadMagic(magic))),
    };
    let (opts, unknown) = HvOptions::parse(desc.cmdline);
    qemu::set_enabled(opts.debug_exit);
    serial::init_logger(level_filter(opts.log_level));
    log::info!("Boot: TSC {entry_tsc} at the hypervisor's entry (_start32)");
    gdt::init();
    idt::init();

    let image = ImageLayout::get();
    let mut reserved: FixedVec<PhysRange, 40> = FixedVec::new();
    let _ = reserved.push(image.phys_range());
    for r in boot_data.as_slice() {
        let _ = reserved.push(*r);
    }
    for m in desc.modules.as_slice() {
        let _ = reserved.push(m.range);
    }
    let usable: FixedVec<PhysRange, 64> = desc.usable().fold(FixedVec::new(), |mut v, r| {
        let _ = v.push(r);
        v
    });
    let mut frames = FrameAllocator::new(usable.as_slice(), reserved.as_slice())
        .unwrap_or_else(|e| fatal(format_args!("frame allocator: {e:?}")));
    super::boot_clock::mark("frames");

    let nx = cpu::rdmsr(cpu::MSR_EFER) & cpu::EFER_NXE != 0;
    let audit = paging::build_and_load(&mut frames, desc.usable(), nx)
        .unwrap_or_else(|e| fatal(format_args!("building the hypervisor page tables: {e:?}")));
    super::boot_clock::mark("paging");
    let features = enable_protection(nx);
    if !super::fpu::init() {
        fatal(format_args!("the CPU lacks FXSR or SSE, which every x86_64 CPU has"));
    }
    if super::fpu::scrubs_pointers() {
        log::info!("FPU: this CPU keeps x87 error pointers across FXRSTOR; each restore scrubs them");
    }
    super::debugregs::init();
    // check= recounts every frame's references in heap vectors.
    let max_pfn = desc.usable().map(|r| r.end.0.div_ceil(4096)).max().unwrap_or(0);
    let checker = if opts.check_every > 0 { (max_pfn * heap::CHECKER_BYTES_PER_FRAME).div_ceil(4096) } else { 0 };
    let heap_bytes = heap::init(&mut frames, checker).unwrap_or_else(|| fatal(format_args!("no memory for the heap")));

    super::boot_clock::mark("heap");
    let svm = super::svm::detect();
    let hsave = super::svm::enable(&svm, &mut frames);
    let platform = Platform { features, audit, heap_bytes, free_frames: frames.free_frames() };
    start::banner(&desc, &platform, unknown.as_slice());
    super::svm::log(&svm, hsave);
    if opts.svm_probe && hsave.is_some() {
        super::svm::probe::run(&svm, &mut frames);
    }
    let frames = frames;
    if let Some(test) = opts.selftest {
        run_selftest(test);
    }
    if desc.modules.is_empty() {
        let code = start::run(&desc);
        qemu::exit(if code { qemu::EXIT_SUCCESS } else { qemu::EXIT_FAILURE })
    }
    mask_legacy_pic();
    serial::enable_rx_interrupt();
    super::entry::init(features.smap);
    // No guest has run: the vector registers are the hypervisor's until
    // `run_domains` drops the token before the first guest instruction.
    let Some(boot) = super::boot_vector::BootVector::take() else {
        fatal(format_args!("boot vector token taken twice"))
    };
    log::info!(
        "boot: frame table, M2P and domain frames filled with {}-byte {} stores",
        if boot.avx() { 32 } else { 16 },
        if boot.avx() { "AVX" } else { "SSE2" }
    );
    super::domains::run_domains(&desc, frames, opts.require_poweroff, opts.check_every, boot)
}

fn run_selftest(test: SelfTest) {
    log::warn!("selftest: provoking a deliberate {test:?}");
    match test {
        SelfTest::Panic => panic!("selftest: deliberate panic"),
        SelfTest::TripleFault => {
            idt::load_empty();
            // SAFETY: deliberately raises #BP with no IDT: the CPU triple-faults.
            unsafe { core::arch::asm!("int3") };
        }
        SelfTest::PageFault => {
            // SAFETY: deliberately reads an unmapped address to show the exception dump.
            let _ = unsafe { core::ptr::read_volatile(0xdead_b000 as *const u64) };
        }
        SelfTest::WriteText => {
            let text = xen_core_kmain as *const () as *mut u8;
            // SAFETY: deliberately writes to read-only text; W^X must fault.
            unsafe { text.write_volatile(0xCC) };
        }
    }
    log::error!("selftest: {test:?} did not fail as it should");
}

/// Masks both 8259 PICs: their IRQs would land on exception vectors, and
/// the hypervisor has no interrupt sources yet.
fn mask_legacy_pic() {
    // SAFETY: ports 0x21/0xA1 are the PIC mask registers.
    unsafe {
        cpu::outb(0x21, 0xFF);
        cpu::outb(0xA1, 0xFF);
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    serial::print_emergency(format_args!("(XEN) *** PANIC: {info}\n(XEN) *** hypervisor stopped\n"));
    qemu::exit(qemu::EXIT_FAILURE)
}
