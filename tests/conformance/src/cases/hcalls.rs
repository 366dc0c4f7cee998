//! Issue 9's hypercalls: `multicall` results and rules (fact sheet §4.1),
//! `update_descriptor`'s checks (§4.2), `MMUEXT_SET_LDT`'s checks (§4.3),
//! the added `xen_version` commands and feature bits (§4.6, §4.7) and the
//! added `memory_op` sub-ops (§8.1).

use super::{call, fmt_into, me, Fixture, Suite, N, RO, RWF};
use super::{EFAULT, EINVAL, ENOSYS, EPERM, HV};
use abi::memory::*;
use abi::mmu::{MmuextOp, MMUEXT_CLEAR_PAGE, MMUEXT_SET_LDT, UVMF_INVLPG};
use abi::multicall::MulticallEntry;
use abi::version::*;
use guest_kernel::arch::x86_64::mem;

const ENODATA: i64 = -61;
const ENOBUFS: i64 = -105;
const VERSION: i64 = 0x0004_0011;
const UNTOUCHED: u64 = 0x5555;

pub(super) fn entry(op: N, args: &[u64]) -> MulticallEntry {
    let mut e = MulticallEntry { op: op.0, result: UNTOUCHED, args: [0; 6] };
    e.args[..args.len()].copy_from_slice(args);
    e
}

pub(super) fn multicall(list: &mut [MulticallEntry], n: u64) -> i64 {
    call(N::MULTICALL, &[list.as_mut_ptr() as u64, n])
}

pub(super) fn multicalls(s: &mut Suite) {
    let v = entry(N::XEN_VERSION, &[0, 0]);
    let mut list = [v, v];
    s.check("multicall of two xen_version calls", 0, multicall(&mut list, 2));
    s.check("multicall first entry's result", VERSION, list[0].result as i64);
    s.check("multicall second entry's result", VERSION, list[1].result as i64);
    let mut list = [v];
    s.check("multicall of no entries", 0, multicall(&mut list, 0));
    s.check("multicall of no entries runs nothing", UNTOUCHED as i64, list[0].result as i64);
    let mut list = [v, v];
    s.check("multicall nr_calls is 32 bits", 0, multicall(&mut list, (1 << 32) | 1));
    s.check("multicall nr_calls 2^32+1 runs one entry", UNTOUCHED as i64, list[1].result as i64);
    let mut list = [entry(N(99), &[]), entry(N::XEN_VERSION, &[7, 0x1000]), v];
    s.check("multicall with failing entries still returns 0", 0, multicall(&mut list, 3));
    s.check("multicall unknown hypercall in an entry", ENOSYS, list[0].result as i64);
    s.check("multicall failing entry keeps its errno", EINVAL, list[1].result as i64);
    s.check("multicall entry after failing ones runs", VERSION, list[2].result as i64);
    let mut list = [entry(N::MULTICALL, &[0, 0]), v];
    s.check("multicall containing a multicall", 0, multicall(&mut list, 2));
    s.check("multicall nested multicall entry is -EINVAL", EINVAL, list[0].result as i64);
    s.check("multicall entry after a nested multicall runs", VERSION, list[1].result as i64);
    s.check("multicall list in the hypervisor", EFAULT, call(N::MULTICALL, &[HV, 1]));
    s.check("multicall list across 2^47", EFAULT, call(N::MULTICALL, &[(1 << 47) - 64, 2]));
    s.check("multicall list at a non-canonical address", EFAULT, call(N::MULTICALL, &[0x8000_0000_0000_0000, 1]));
    // In guest space but never mapped: the entry's read faults.
    s.check("multicall list on an unmapped page", EFAULT, call(N::MULTICALL, &[0x4000_0000, 2]));
    let mut list = [entry(N::SCHED_OP, &[0, 0]), v];
    s.check("multicall with a yield inside", 0, multicall(&mut list, 2));
    s.check("multicall yield entry result", 0, list[0].result as i64);
    s.check("multicall entry after a yield runs", VERSION, list[1].result as i64);
    let mut pagesize = [entry(N::XEN_VERSION, &[7, 0])];
    s.check("multicall of one pagesize", 0, multicall(&mut pagesize, 1));
    s.check("multicall pagesize result", 4096, pagesize[0].result as i64);
}

/// The frame at `f.scratch`'s VA while `frame` is mapped there read-only.
fn read_via_scratch(f: &Fixture, frame: u64, index: u64) -> u64 {
    let va = f.scratch;
    let own = f.mfn((va - super::VIRT_BASE) / 4096);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (frame << 12) | RO, UVMF_INVLPG]);
    let v = mem::read(va + index * 8);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (own << 12) | RWF, UVMF_INVLPG]);
    v
}

pub(super) fn update_descriptor(s: &mut Suite, f: &mut Fixture) {
    let frame = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, frame, 0);
    let ud = |maddr: u64, desc: u64| call(N::UPDATE_DESCRIPTOR, &[maddr, desc]);
    let at = |i: u64| (frame << 12) + i * 8;
    s.check("update_descriptor of a DPL 0 data descriptor", 0, ud(at(1), 0x00CF_9200_0000_FFFF));
    s.check("update_descriptor stores it with DPL 3", 0x00CF_F200_0000_FFFF, read_via_scratch(f, frame, 1) as i64);
    s.check("update_descriptor of a 64-bit code descriptor", 0, ud(at(2), 0x00AF_FA00_0000_FFFF));
    s.check("update_descriptor of a not-present descriptor", 0, ud(at(3), 0x0000_1200_0000_0000));
    s.check(
        "update_descriptor keeps a not-present descriptor",
        0x0000_1200_0000_0000,
        read_via_scratch(f, frame, 3) as i64,
    );
    s.check("update_descriptor of a zero descriptor", 0, ud(at(4), 0));
    for (desc, name) in [
        (0x0000_8900_0000_0067u64, "TSS descriptor"),
        (0x0000_8200_0000_0000, "LDT descriptor"),
        (0x0000_EE00_E008_1000, "interrupt gate"),
        (0x0000_EC00_E008_1000, "call gate into the hypervisor"),
    ] {
        let mut label = [0u8; 64];
        let n = fmt_into(&mut label, format_args!("update_descriptor of a {name}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EINVAL, ud(at(5), desc));
    }
    // Xen accepts call gates to guest code and the type-0 second half of
    // a gate; xen-core refuses every present system descriptor (abi docs, GDT).
    s.differs("update_descriptor of a call gate to guest code", EINVAL, 0, ud(at(6), 0x0000_EC00_E033_1000));
    s.differs("update_descriptor of a present type-0 descriptor", EINVAL, 0, ud(at(7), 0x0000_8000_0000_0000));
    s.check("update_descriptor at an unaligned address", EINVAL, ud(at(1) + 4, 0));
    s.check("update_descriptor into a page table", EINVAL, ud(f.l1 << 12, 0));
    s.check("update_descriptor into a frame beyond RAM", EINVAL, ud(0x07FF_FFFF << 12, 0));
    // A live GDT frame is written in place.
    let gdt = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, gdt, 0);
    let frames = [gdt];
    s.check("set_gdt for update_descriptor", 0, call(N::SET_GDT, &[frames.as_ptr() as u64, 16]));
    s.check(
        "update_descriptor into the live GDT",
        0,
        call(N::UPDATE_DESCRIPTOR, &[(gdt << 12) + 16, 0x00CF_9200_0000_FFFF]),
    );
    s.check("update_descriptor into the live GDT is stored", 0x00CF_F200_0000_FFFF, read_via_scratch(f, gdt, 2) as i64);
    s.check(
        "update_descriptor of a TSS into the live GDT",
        EINVAL,
        call(N::UPDATE_DESCRIPTOR, &[(gdt << 12) + 24, 0x0000_8900_0000_0067]),
    );
    let _ = call(N::SET_GDT, &[frames.as_ptr() as u64, 0]);
    // Batched as Linux does for TLS descriptors.
    let mut list =
        [entry(N::UPDATE_DESCRIPTOR, &[at(8), 0x00CF_F200_0000_FFFF]), entry(N::UPDATE_DESCRIPTOR, &[at(9) + 1, 0])];
    s.check("multicall of two update_descriptor", 0, multicall(&mut list, 2));
    s.check("multicall update_descriptor result", 0, list[0].result as i64);
    s.check("multicall unaligned update_descriptor result", EINVAL, list[1].result as i64);
}

pub(super) fn set_ldt(s: &mut Suite) {
    let ldt = |base: u64, ents: u64| me(MMUEXT_SET_LDT, base, ents);
    s.check("SET_LDT of an empty LDT", 0, ldt(0, 0));
    s.check("SET_LDT of 16 entries", 0, ldt(0x4000_0000, 16));
    s.check("SET_LDT of 8192 entries", 0, ldt(0x4000_0000, 8192));
    s.check("SET_LDT of 8193 entries", EINVAL, ldt(0x4000_0000, 8193));
    s.check("SET_LDT at an unaligned address", EINVAL, ldt(0x4000_0008, 1));
    s.check("SET_LDT of no entries ignores the address", 0, ldt(0x4000_0008, 0));
    s.check("SET_LDT in the hypervisor", EINVAL, ldt(HV, 1));
    s.check("SET_LDT at a non-canonical address", EINVAL, ldt(0x8000_0000_0000, 1));
    s.check("SET_LDT in guest kernel space", 0, ldt(0xFFFF_8800_0000_0000, 1));
    s.check("SET_LDT just below 2^47", 0, ldt((1 << 47) - 4096, 8192));
    let op = [MmuextOp { cmd: MMUEXT_SET_LDT, pad: 0, arg1: 0, arg2: 0 }];
    s.check("SET_LDT on another domain", super::ESRCH, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 100]));
    s.check("SET_LDT back to none", 0, ldt(0, 0));
}

pub(super) fn version(s: &mut Suite) {
    let v = |cmd: u64, arg: u64| call(N::XEN_VERSION, &[cmd, arg]);
    let mut info = [0xAAu8; 160];
    s.check("xen_version compile_info", 0, v(XENVER_COMPILE_INFO, info.as_mut_ptr() as u64));
    s.truth("compile_info compiler is NUL-terminated", info[..64].contains(&0));
    s.truth("compile_info is 144 bytes", info[143] != 0xAA && info[144] == 0xAA);
    s.check("xen_version compile_info into the hypervisor", EFAULT, v(XENVER_COMPILE_INFO, HV));
    let mut cs = [0xAAu8; 72];
    s.check("xen_version changeset", 0, v(XENVER_CHANGESET, cs.as_mut_ptr() as u64));
    s.truth("changeset is 64 bytes, NUL-terminated", cs[..64].contains(&0) && cs[64] == 0xAA);
    s.check("xen_version changeset across 2^47", EFAULT, v(XENVER_CHANGESET, (1 << 47) - 32));
    let mut handle = [0xAAu8; 16];
    s.check("xen_version guest_handle", 0, v(XENVER_GUEST_HANDLE, handle.as_mut_ptr() as u64));
    s.truth("guest_handle of this domain is zero", handle.iter().all(|&b| b == 0));
    let mut cmdline = [0xAAu8; 1032];
    s.check("xen_version commandline", 0, v(XENVER_COMMANDLINE, cmdline.as_mut_ptr() as u64));
    s.by_privilege("commandline is the real one (not <denied>)", 1, 0, i64::from(!cmdline.starts_with(b"<denied>")));
    s.by_privilege("commandline copies 1024 bytes", 1, 0, i64::from(cmdline[1023] != 0xAA && cmdline[1024] == 0xAA));
    s.check("xen_version commandline into the hypervisor", EFAULT, v(XENVER_COMMANDLINE, HV));
    // Xen has a build id (a SHA-1, 20 bytes); xen-core's image has no
    // build-id note, so it gives Xen's answer for none.
    if s.domu {
        s.by_privilege("xen_version build_id is for the control domain", 0, EPERM, v(XENVER_BUILD_ID, 0));
    } else {
        s.differs("xen_version build_id length is 20", ENODATA, 20, v(XENVER_BUILD_ID, 0));
        let mut id = [0u32; 8];
        s.check("xen_version build_id with len 0", EINVAL, v(XENVER_BUILD_ID, id.as_mut_ptr() as u64));
        id[0] = 4;
        s.differs("xen_version build_id with len 4", ENODATA, ENOBUFS, v(XENVER_BUILD_ID, id.as_mut_ptr() as u64));
        s.check("xen_version build_id header in the hypervisor", EFAULT, v(XENVER_BUILD_ID, HV));
    }
    let features = || {
        let mut fi = [0u32; 2];
        let _ = v(XENVER_GET_FEATURES, fi.as_mut_ptr() as u64);
        fi[1]
    };
    let map = features();
    s.truth("feature highmem_assist is set", map & (1 << 6) != 0);
    s.truth("feature direct_mapped is set", map & (1 << 17) != 0);
    s.truth("feature auto_translated_physmap is not set for PV", map & (1 << 2) == 0);
    s.truth("feature writable_descriptor_tables is not set", map & (1 << 1) == 0);
    s.truth("feature supervisor_mode_kernel is not set", map & (1 << 3) == 0);
    // There are no grant tables yet (abi docs, Version).
    s.check("feature gnttab_map_avail_bits", 1, i64::from(map & (1 << 7) != 0));
    let _ = call(N::VM_ASSIST, &[0, 3]);
    s.truth("feature pae_pgdir_above_4gb after pae_extended_cr3", features() & (1 << 4) != 0);
    let _ = call(N::VM_ASSIST, &[1, 3]);
    s.truth("feature pae_pgdir_above_4gb cleared with it", features() & (1 << 4) == 0);
}

pub(super) fn memory(s: &mut Suite) {
    let m = |cmd: u64, arg: u64| call(N::MEMORY_OP, &[cmd, arg]);
    let max_page = m(XENMEM_MAXIMUM_RAM_PAGE, 0);
    // The value depends on the memory QEMU was given.
    s.truth("maximum_ram_page is at least 16 MiB of frames", max_page >= 4096);
    s.check("maximum_ram_page with a start extent", EINVAL, m(XENMEM_MAXIMUM_RAM_PAGE | 1 << 6, 0));
    let mut mapping = MachphysMapping::default();
    s.check("machphys_mapping", 0, m(XENMEM_MACHPHYS_MAPPING, &mut mapping as *mut _ as u64));
    s.check("machphys_mapping v_start", abi::MACH2PHYS_VIRT_START as i64, mapping.v_start as i64);
    s.check("machphys_mapping v_end", abi::MACH2PHYS_VIRT_END as i64, mapping.v_end as i64);
    let max_mfn = mapping.max_mfn as i64;
    s.by_privilege("machphys_mapping max_mfn is the last RAM frame", 1, 0, i64::from(max_mfn == max_page - 1));
    s.by_privilege("machphys_mapping max_mfn is the M2P's capacity", 0, 1, i64::from(max_mfn == (1 << 35) - 1));
    s.check("machphys_mapping into the hypervisor", EFAULT, m(XENMEM_MACHPHYS_MAPPING, HV));
    s.check("machphys_mapping with a start extent", ENOSYS, m(XENMEM_MACHPHYS_MAPPING | 1 << 6, 0));
    let mut mfns = [0u64; 16];
    let mut list = MachphysMfnList { max_extents: 16, extent_start: mfns.as_mut_ptr() as u64, ..Default::default() };
    s.check("machphys_mfn_list", 0, m(XENMEM_MACHPHYS_MFN_LIST, &mut list as *mut _ as u64));
    s.check(
        "machphys_mfn_list covers the M2P in 2 MiB pieces",
        (max_page * 8 + (1 << 21) - 1) >> 21,
        i64::from(list.nr_extents),
    );
    s.truth("machphys_mfn_list gives RAM frames", mfns[0] != 0 && (mfns[0] as i64) < max_page);
    let mut list =
        MachphysMfnList { max_extents: 0, extent_start: mfns.as_mut_ptr() as u64, nr_extents: 9, ..Default::default() };
    s.check("machphys_mfn_list with no room", 0, m(XENMEM_MACHPHYS_MFN_LIST, &mut list as *mut _ as u64));
    s.check("machphys_mfn_list with no room writes none", 0, i64::from(list.nr_extents));
    let mut list = MachphysMfnList { max_extents: 4, extent_start: HV, ..Default::default() };
    s.check("machphys_mfn_list into the hypervisor", EFAULT, m(XENMEM_MACHPHYS_MFN_LIST, &mut list as *mut _ as u64));
    let mut e820 = [0u8; 20 * 64];
    let mut map = MemoryMap { nr_entries: 64, pad: 0, buffer: e820.as_mut_ptr() as u64 };
    // Xen's PV domain 0 has no pseudo-physical map; a domU gets one RAM
    // entry from its builder.
    s.by_privilege("memory_map", ENOSYS, 0, m(XENMEM_MEMORY_MAP, &mut map as *mut _ as u64));
    s.check("memory_map argument in the hypervisor", EFAULT, m(XENMEM_MEMORY_MAP, HV));
    // A refused call leaves buffer and count as they were.
    e820 = [0u8; 20 * 64];
    let mut map = MemoryMap { nr_entries: 64, pad: 0, buffer: e820.as_mut_ptr() as u64 };
    s.by_privilege("machine_memory_map", 0, EPERM, m(XENMEM_MACHINE_MEMORY_MAP, &mut map as *mut _ as u64));
    let first_kind = u32::from_le_bytes([e820[16], e820[17], e820[18], e820[19]]);
    let first_addr = u64::from_le_bytes(e820[..8].try_into().unwrap_or([0xFF; 8]));
    s.by_privilege(
        "machine_memory_map starts with RAM at 0",
        1,
        0,
        i64::from(first_kind == E820_RAM && first_addr == 0),
    );
    s.by_privilege("machine_memory_map has entries", 1, 0, i64::from((2..64).contains(&map.nr_entries)));
    let mut short = MemoryMap { nr_entries: 1, pad: 0, buffer: e820.as_mut_ptr() as u64 };
    s.by_privilege(
        "machine_memory_map with room for 1",
        EINVAL,
        EPERM,
        m(XENMEM_MACHINE_MEMORY_MAP, &mut short as *mut _ as u64),
    );
    let mut count = MemoryMap { nr_entries: 0, pad: 0, buffer: 0 };
    s.by_privilege(
        "machine_memory_map count only",
        0,
        EPERM,
        m(XENMEM_MACHINE_MEMORY_MAP, &mut count as *mut _ as u64),
    );
    s.by_privilege("machine_memory_map count matches", 1, 0, i64::from(count.nr_entries == map.nr_entries));
}
