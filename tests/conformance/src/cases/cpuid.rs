//! Forced-emulation CPUID (`ud2; .ascii "xen"; cpuid`): the PV policy
//! (fact sheet §5.5). Feature words depend on the CPU QEMU models, so most
//! cases record the platform's answer and the Xen comparison (same QEMU,
//! `make conformance-xen`) requires both platforms to give the same one.
//! Bits that must be hidden from any PV guest are checked outright.

use super::Suite;
use crate::arch::xen_cpuid_sub;
use guest_kernel::arch::x86_64::mem;

const OSXSAVE: u32 = 1 << 27;

pub(super) fn cpuid(s: &mut Suite) {
    let l0 = mem::xen_cpuid(0);
    s.observe("forced cpuid highest basic leaf", i64::from(l0[0]));
    let [a, b, c, d] = mem::xen_cpuid(1);
    s.observe("forced cpuid leaf 1 eax (family, model, stepping)", i64::from(a));
    s.observe("forced cpuid leaf 1 ebx", i64::from(b));
    s.observe("forced cpuid leaf 1 ecx apart from OSXSAVE", i64::from(c & !OSXSAVE));
    // Xen sets OSXSAVE because it runs with CR4.OSXSAVE itself; xen-core
    // does not (abi docs, CPUID).
    s.differs("forced cpuid leaf 1 ecx OSXSAVE", 0, 1, i64::from(c & OSXSAVE != 0));
    s.observe("forced cpuid leaf 1 edx", i64::from(d));
    s.truth("forced cpuid leaf 1 ecx HYPERVISOR is set", c & (1 << 31) != 0);
    // VMX, PCID, x2APIC, TSC_DEADLINE, MONITOR.
    s.check("forced cpuid leaf 1 ecx hides VMX PCID x2APIC MONITOR", 0, i64::from(c & 0x0122_0028));
    // VME, PSE, PGE, PSE36: a PV kernel does not own its paging.
    s.check("forced cpuid leaf 1 edx hides VME PSE PGE PSE36", 0, i64::from(d & 0x0002_200A));
    s.observe("forced cpuid leaf 6 eax", i64::from(mem::xen_cpuid(6)[0]));
    let [a, b, c, d] = mem::xen_cpuid(7);
    s.observe("forced cpuid leaf 7.0 eax", i64::from(a));
    s.observe("forced cpuid leaf 7.0 ebx apart from FSGSBASE", i64::from(b & !1));
    // Xen lets a PV kernel set CR4.FSGSBASE; xen-core does not, so it
    // hides the feature (abi docs, CPUID).
    s.differs("forced cpuid leaf 7.0 ebx FSGSBASE", 0, 1, i64::from(b & 1));
    s.observe("forced cpuid leaf 7.0 ecx", i64::from(c));
    s.observe("forced cpuid leaf 7.0 edx", i64::from(d));
    // SMEP, INVPCID, SMAP; UMIP, PKU, LA57.
    s.check("forced cpuid leaf 7.0 ebx hides SMEP INVPCID SMAP", 0, i64::from(b & 0x0010_0480));
    s.check("forced cpuid leaf 7.0 ecx hides UMIP PKU LA57", 0, i64::from(c & 0x0001_000C));
    let [a, b, c, d] = mem::xen_cpuid(0xD);
    s.observe("forced cpuid leaf 0xd.0 eax (XCR0 components)", i64::from(a));
    s.observe("forced cpuid leaf 0xd.0 ebx", i64::from(b));
    s.observe("forced cpuid leaf 0xd.0 ecx (largest save area)", i64::from(c));
    s.observe("forced cpuid leaf 0xd.0 edx", i64::from(d));
    let [a, _, c, d] = xen_cpuid_sub(0xD, 1);
    s.observe("forced cpuid leaf 0xd.1 eax (XSAVEOPT XSAVEC XGETBV1 XSAVES)", i64::from(a));
    s.check("forced cpuid leaf 0xd.1 hides XSAVES", 0, i64::from(a & (1 << 3)));
    s.observe("forced cpuid leaf 0xd.1 ecx/edx (supervisor state)", i64::from(c | d));
    let [a, b, _, _] = xen_cpuid_sub(0xD, 2);
    s.observe("forced cpuid leaf 0xd.2 (AVX state) size", i64::from(a));
    s.observe("forced cpuid leaf 0xd.2 (AVX state) offset", i64::from(b));
    // MPX and PKRU state components are not offered.
    let hidden = [3, 4, 9].map(|i| xen_cpuid_sub(0xD, i)[0]);
    s.check("forced cpuid leaf 0xd hides MPX and PKRU state", 0, i64::from(hidden[0] | hidden[1] | hidden[2]));
    let [a, b, c, d] = xen_cpuid_sub(7, 1);
    s.observe("forced cpuid leaf 7.1 eax", i64::from(a));
    s.observe("forced cpuid leaf 7.1 ebx ecx edx", i64::from(b | c | d));
    // Xen 4.17 raises the highest extended leaf to 0x80000021 to describe
    // its own LFENCE setup; xen-core keeps the host's (abi docs, CPUID).
    let e0 = mem::xen_cpuid(0x8000_0000)[0];
    s.differs("forced cpuid highest extended leaf is 0x80000021", 0, 1, i64::from(e0 == 0x8000_0021));
    let [_, _, c, d] = mem::xen_cpuid(0x8000_0001);
    s.observe("forced cpuid leaf 0x80000001 ecx", i64::from(c));
    s.observe("forced cpuid leaf 0x80000001 edx", i64::from(d));
    // SVM; 1 GiB pages.
    s.check("forced cpuid leaf 0x80000001 hides SVM and 1 GiB pages", 0, i64::from(c & 4 | d & (1 << 26)));
    s.observe("forced cpuid leaf 0x80000007 edx", i64::from(mem::xen_cpuid(0x8000_0007)[3]));
    s.observe("forced cpuid leaf 0x80000008 eax (address widths)", i64::from(mem::xen_cpuid(0x8000_0008)[0]));
}
