//! Hardware-assisted (PVH) domains on AMD SVM: the pure parts.
//!
//! * [`asid`]: an ASID per vCPU, with generations.
//! * [`caps`]: the CPU's SVM features from CPUID, for the boot log.
//! * [`exit`]: a VMCB's exit code and exit information decoded into a
//!   typed [`Exit`].
//! * [`exit_count`]: a domain's exits by kind, and the CPUID leaf that
//!   reports them to it.
//! * [`gmem`]: a PVH guest's memory reached through its page tables and
//!   its p2m (hypercall arguments, the builder's copies).
//! * [`policy`]: what the hypervisor does with each exit, per paging mode.
//! * [`probe_guest`]: the tiny guests `svm-probe` runs at boot.
//! * [`pvh_build`]: the PVH domain builder: layout, RAM, image, start info.
//! * [`pvh_call`]: a PVH guest's hypercalls (VMMCALL), with Xen's HVM
//!   register convention.
//! * [`pvh_events`]: a PVH guest's event channels, vcpu_info, timer and
//!   shared_info placement, on the shared event core.
//! * [`pvh_vcpu`]: a PVH vCPU's `vcpu_op`, `vm_assist`, per-vCPU upcall
//!   vector and registered areas, on the PV timer and runstate cores.
//! * [`pvh_multicall`]: `multicall` on the PVH dispatch, the PV rules.
//! * [`pvh_mmuext`]: `mmuext_op`'s refusals, as Xen answers an HVM guest.
//! * [`upcall`]: when the `HVM_PARAM_CALLBACK_IRQ` vector is injected,
//!   and what a HLT does.
//! * [`pvh_platform`]: the CPUID and MSRs a PVH guest sees.
//! * [`rearm`]: which exits may move a scheduler deadline (the timer is
//!   re-armed before VMRUN only after those).
//! * [`pvh_entry`]: the PVH start state and VMRUN's consistency checks.
//! * [`shadow_cr`]: a shadow-paged guest's own CR0/CR3/CR4/EFER beside
//!   the real ones, and the `mov cr` / INVLPG decoding their exits need.
//! * [`shadow_fault`]: what a #PF intercept does with the shadow model's
//!   decision (retry, reflect, emulate, crash).
//! * [`vmcb`]: the VMCB's layout and the intercepts of a PVH guest.
//! * [`walk`]: page-walk memory references per TLB miss, by formula and by
//!   replaying a guest's own tables (1-D for direct and shadow paging,
//!   2-D for nested paging), for `make modes`.
//!
//! Everything that touches the VMCB or runs VMRUN lives under
//! `arch/x86_64/svm/`; it hands this module plain numbers.

pub mod asid;
pub mod caps;
pub mod exit;
pub mod exit_count;
pub mod gmem;
pub mod policy;
pub mod probe_guest;
pub mod pvh_build;
pub mod pvh_call;
pub mod pvh_entry;
pub mod pvh_events;
pub mod pvh_grant;
pub mod pvh_mmuext;
pub mod pvh_multicall;
pub mod pvh_platform;
pub mod pvh_vcpu;
pub mod rearm;
pub mod shadow_cr;
pub mod shadow_fault;
pub mod upcall;
pub mod vmcb;
pub mod walk;

#[cfg(test)]
mod tests;

pub use exit::{Exit, RawExit};
pub use policy::{Action, Paging};
