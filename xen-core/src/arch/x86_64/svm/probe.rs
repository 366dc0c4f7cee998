//! `svm-probe`: runs the probe guests of [`crate::hvm::probe_guest`] under
//! nested paging, one domain after the other, each with its own VMCB,
//! ASID, p2m and nested tables built from that p2m, and logs every exit.
//! The hostile guest's nested fault and the other's triple fault must
//! crash each alone: the good guest runs after them on the same CPU and
//! ends at its HLT.
//!
//! Exits are decoded by [`crate::hvm::exit::decode`] and handled as
//! [`crate::hvm::policy::policy`] says; only performing the action is
//! here. A probe domain has no event channels, so its HLT ends it.

use super::super::cpu;
use super::super::paging::DirectMap;
use super::vmrun::{Gprs, HostState, VmcbFrame};
use crate::hvm::asid::{AsidPool, TlbFlush, VcpuAsid};
use crate::hvm::caps::SvmCaps;
use crate::hvm::exit::decode;
use crate::hvm::policy::{npf_action, policy, Action, Paging};
use crate::hvm::probe_guest::{self, ENTRY_GPA, RAM_FRAMES, START_INFO_GPA};
use crate::hvm::pvh_entry::{pvh_entry, vmrun_check};
use crate::hvm::vmcb::tlb_control;
use crate::mm::{FrameAllocator, PhysAddr, PhysMemory};
use crate::p2m::npt::{self, TableFrames};
use crate::p2m::{P2m, P2mEntry, P2mType, Rights};
use crate::util::FixedVec;
use abi::{DomId, Gfn, Mfn};

/// Exits one probe domain may take before it is crashed as stuck.
const MAX_EXITS: u32 = 64;
/// Frames of the I/O permission map (12 KiB) and the MSR map (8 KiB).
const IOPM_FRAMES: u64 = 3;
const MSRPM_FRAMES: u64 = 2;

/// What every probe domain on this CPU shares.
struct Shared {
    iopm: Mfn,
    msrpm: Mfn,
    host: HostState,
}

/// How a probe domain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// HLT with nothing to wait for.
    Halted,
    /// Crashed (the cause was logged).
    Crashed,
}

/// Every frame a probe domain used, freed when it is gone.
struct Frames<'a> {
    alloc: &'a mut FrameAllocator,
    used: FixedVec<Mfn, 32>,
}

impl Frames<'_> {
    fn take(&mut self) -> Option<Mfn> {
        let m = self.alloc.alloc_zeroed(&mut DirectMap)?;
        if self.used.push(m).is_err() {
            self.alloc.free(m, &mut DirectMap);
            return None;
        }
        Some(m)
    }

    fn free_all(&mut self) {
        for &m in self.used.as_slice() {
            self.alloc.free(m, &mut DirectMap);
        }
        self.used = FixedVec::new();
    }
}

impl TableFrames for Frames<'_> {
    fn alloc_table(&mut self) -> Option<Mfn> {
        self.take()
    }
}

/// Runs the probe guests (the two that must crash first, then the good
/// one) and logs the
/// outcome. Needs SVM enabled with NPT.
pub fn run(caps: &SvmCaps, frames: &mut FrameAllocator) {
    if !caps.usable() || !caps.npt {
        log::warn!("SVM probe: needs SVM with nested paging; skipped");
        return;
    }
    // The permission maps intercept every port and MSR; shared by both
    // probe domains, and kept for good (3 + 2 frames, and one for the
    // host's VMSAVE state).
    let (Some(iopm), Some(msrpm)) = (frames.alloc_contiguous(IOPM_FRAMES), frames.alloc_contiguous(MSRPM_FRAMES))
    else {
        log::error!("SVM probe: no memory for the permission maps");
        return;
    };
    for (base, n) in [(iopm, IOPM_FRAMES), (msrpm, MSRPM_FRAMES)] {
        for i in 0..n {
            for w in 0..512 {
                DirectMap.write_u64(PhysAddr((base.0 + i) * 4096 + w * 8), u64::MAX);
            }
        }
    }
    let Some(host) = frames.alloc_zeroed(&mut DirectMap).map(HostState::new) else {
        log::error!("SVM probe: no memory for the host state");
        return;
    };
    let shared = Shared { iopm, msrpm, host };
    let mut pool = AsidPool::new(caps.asids.max(2));
    let guests: [(DomId, &[u8], End); 3] = [
        (DomId(1), &probe_guest::HOSTILE, End::Crashed),
        (DomId(2), &probe_guest::NO_IDT, End::Crashed),
        (DomId(3), &probe_guest::GOOD, End::Halted),
    ];
    let mut ok = true;
    for (dom, image, expected) in guests {
        let mut f = Frames { alloc: frames, used: FixedVec::new() };
        let end = run_domain(caps, &mut f, &mut pool, &shared, dom, image);
        f.free_all();
        log::info!("SVM probe: d{} ended: {:?}", dom.0, end);
        ok &= end == Some(expected);
    }
    if ok {
        log::info!("SVM probe: done; the hypervisor runs on");
    } else {
        log::error!("SVM probe: a probe domain did not end as expected");
    }
}

fn run_domain(
    caps: &SvmCaps,
    f: &mut Frames<'_>,
    pool: &mut AsidPool,
    shared: &Shared,
    dom: DomId,
    image: &[u8],
) -> Option<End> {
    // The p2m: gfn 0 .. RAM_FRAMES, each a fresh frame of RAM, RWX.
    let mut slots = [None; RAM_FRAMES as usize];
    let mut supers = [false; 1];
    let mut p2m = P2m::new(dom, &mut slots, &mut supers);
    for g in 0..RAM_FRAMES {
        let mfn = f.take()?;
        p2m.map_untracked(Gfn(g), P2mEntry { mfn, ty: P2mType::Ram, rights: Rights::RWX });
    }
    let frame_of = |p2m: &P2m<'_>, gpa: u32| p2m.get(Gfn(u64::from(gpa) >> 12)).map(|(e, _)| e.mfn);
    let code = frame_of(&p2m, ENTRY_GPA)?;
    DirectMap.write_bytes(PhysAddr(code.to_maddr() + u64::from(ENTRY_GPA & 0xFFF)), image);
    let si = frame_of(&p2m, START_INFO_GPA)?;
    let si_addr = PhysAddr(si.to_maddr() + u64::from(START_INFO_GPA & 0xFFF));
    DirectMap.write_u64(
        si_addr,
        u64::from(abi::hvm_start_info::XEN_HVM_START_MAGIC_VALUE)
            | (u64::from(abi::hvm_start_info::HVM_START_INFO_VERSION) << 32),
    );
    let root = match npt::build(&p2m, &mut DirectMap, f) {
        Ok(r) => r,
        Err(e) => {
            log::error!("SVM probe: d{}: nested tables: {e:?}", dom.0);
            return None;
        }
    };

    let mut vcpu = VmcbFrame::new(f.take()?);
    let mut gprs = Gprs::default();
    let mut asid = VcpuAsid::default();
    {
        let v = vcpu.vmcb();
        v.control.set_pvh_intercepts(Paging::Nested);
        v.control.iopm_base_pa = shared.iopm.to_maddr();
        v.control.msrpm_base_pa = shared.msrpm.to_maddr();
        v.control.nested_cr3 = root.to_maddr();
        gprs.0[3] = pvh_entry(&mut v.save, ENTRY_GPA, START_INFO_GPA);
    }
    log::info!(
        "SVM probe: d{} at {ENTRY_GPA:#x}, N_CR3 {:#x}, VMCB {:#x}",
        dom.0,
        root.to_maddr(),
        vcpu.mfn().to_maddr()
    );

    for _ in 0..MAX_EXITS {
        let flush = pool.assign(&mut asid);
        let v = vcpu.vmcb();
        v.control.asid = asid.asid;
        if flush == TlbFlush::All {
            v.control.tlb_ctl = tlb_control::FLUSH_ALL;
        }
        if let Err(e) = vmrun_check(&v.control, &v.save) {
            log::error!("SVM probe: d{} crashed: VMRUN would refuse its state: {e:?}", dom.0);
            return Some(End::Crashed);
        }
        vcpu.run(&mut gprs, &shared.host);
        let v = vcpu.vmcb();
        v.control.tlb_ctl = tlb_control::DO_NOTHING;
        let exit = decode(&v.control.exit(caps.decode_assists));
        let rip = v.save.rip;
        let mut action = policy(&exit, Paging::Nested);
        if let Action::NestedFault { gpa, error } = action {
            log::info!("SVM probe: d{} NPF at gpa {gpa:#x} ({error:?}), rip {rip:#x}", dom.0);
            action = npf_action(&p2m, gpa, error);
        }
        match action {
            Action::Hypercall { insn_len } => {
                log::info!("SVM probe: d{} vmmcall rax {:#x}", dom.0, v.save.rax);
                v.save.rax = (-(abi::Errno::ENOSYS.0 as i64)) as u64;
                v.save.rip += u64::from(insn_len);
            }
            Action::Cpuid { insn_len } => {
                let (leaf, sub) = (v.save.rax as u32, gprs.0[1] as u32);
                let r = cpu::cpuid(leaf, sub);
                log::info!("SVM probe: d{} cpuid {leaf:#x}:{sub:#x}", dom.0);
                v.save.rax = u64::from(r.eax);
                gprs.0[3] = u64::from(r.ebx);
                gprs.0[1] = u64::from(r.ecx);
                gprs.0[2] = u64::from(r.edx);
                v.save.rip += u64::from(insn_len);
            }
            Action::Msr { write, .. } => {
                // No MSR is the probe's to touch: #GP, as for an MSR the
                // HVM policy refuses.
                log::info!("SVM probe: d{} {} {:#x}: #GP", dom.0, if write { "wrmsr" } else { "rdmsr" }, gprs.0[1]);
                v.control.event_inj = 13 | (3 << 8) | (1 << 11) | (1 << 31);
            }
            Action::NullIo(io) => {
                if io.string {
                    log::warn!("SVM probe: d{} crashed: string I/O is not emulated", dom.0);
                    return Some(End::Crashed);
                }
                let mask = (1u64 << (8 * u32::from(io.size))) - 1;
                if io.input {
                    // The null device: all ones.
                    v.save.rax |= mask;
                }
                let dir = if io.input { "in" } else { "out" };
                let value = v.save.rax & mask;
                log::info!("SVM probe: d{} {dir} port {:#x} size {} value {value:#x}", dom.0, io.port, io.size);
                v.save.rip = io.next_rip;
            }
            Action::Block { insn_len } => {
                v.save.rip += u64::from(insn_len);
                log::info!("SVM probe: d{} hlt at {rip:#x} with nothing to wait for: done", dom.0);
                return Some(End::Halted);
            }
            Action::HostInterrupt | Action::HostNmi => {}
            Action::FlushAndRetry => v.control.tlb_ctl = tlb_control::FLUSH_ASID,
            Action::Crash(cause) => {
                log::warn!("SVM probe: d{} crashed: {cause:?} at rip {rip:#x}", dom.0);
                return Some(End::Crashed);
            }
            other => {
                log::warn!("SVM probe: d{} crashed: {other:?} in nested mode at rip {rip:#x}", dom.0);
                return Some(End::Crashed);
            }
        }
    }
    log::warn!("SVM probe: d{} crashed: more than {MAX_EXITS} exits", dom.0);
    Some(End::Crashed)
}
