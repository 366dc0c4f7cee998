//! # The xen-core guest ABI
//!
//! This crate is the single source of truth for the interface between a
//! paravirtualized (PV) guest and the xen-core hypervisor. It is binary
//! compatible with the x86_64 PV ABI of Xen for the subset that xen-core
//! implements: hypercall numbers, errno values and `#[repr(C)]` structures
//! carry the same values, sizes and offsets as Xen's public headers. Every
//! structure has compile-time size and offset assertions, so a layout change
//! fails the build.
//!
//! New to writing guests? The [guide] covers the start-of-day layout, the
//! ELF notes, the memory rules with the errno for each, and the balloon
//! protocol; `guests/template` in the repository is a complete guest.
//!
//! Address kinds are kept apart by newtypes ([`Mfn`], [`Pfn`], [`GuestVa`],
//! [`DomId`]): a PV guest sees *machine* frame numbers directly and must
//! translate its pseudo-physical frames through its p2m list itself.
//!
//! ## What xen-core implements
//!
//! | hypercall | status |
//! |---|---|
//! | `set_trap_table` (0), `set_callbacks` (4), `callback_op` (30), `stack_switch` (3), `set_segment_base` (25), `vm_assist` (21), `set_gdt` (2) | implemented |
//! | `fpu_taskswitch` (5) | implemented: sets or clears the vCPU's virtual CR0.TS (Xen's `int` argument); the next x87/MMX/SSE instruction under it raises #NM into trap 7, with TS cleared first, as on Xen |
//! | `mmu_update` (1), `mmuext_op` (26), `update_va_mapping` (14) | implemented, validated by the page-type model |
//! | `console_io` (18) | `CONSOLEIO_WRITE`; `CONSOLEIO_READ` for domain 0 (its console input, see *Console*; others `-EPERM`, a count negative as an `int` `-E2BIG`) |
//! | `xen_version` (17) | `version`, `extraversion`, `compile_info`, `capabilities`, `changeset`, `platform_parameters`, `get_features`, `pagesize`, `guest_handle`, `commandline` (control domain; others read `<denied>`), `build_id` (`-EPERM` unless control domain; `-ENODATA`: xen-core's image has no build-id note); other commands `-ENOSYS` |
//! | `multicall` (13) | implemented: every entry goes through the hypercall dispatch, its result stored in the entry; nested multicall `-EINVAL` in its result; preempted entries continued from the list, `iret` ends the list |
//! | `update_descriptor` (10) | implemented: Xen's checks (8-aligned, own RAM, descriptor page or writable-typeable, descriptor check); present descriptors stored with DPL 3 |
//! | `sched_op` (29), `sched_op_compat` (6) | `yield`, `block` (unmasks upcalls first; returns at once if one is pending; sleeps until `evtchn_upcall_pending` or the vCPU's timer), `shutdown`, `poll` (29 only: Xen's checks, > 128 ports `-EINVAL`, ports `-EFAULT`, port ≥ 4096 `-EINVAL`; returns at once for an unmasked pending event or a pending listed port, else sleeps until its port, a kick or the timeout); other commands `-ENOSYS` |
//! | `set_timer_op` (15) | implemented: the vCPU's single-shot timer (0 cancels, negative or > 2^50 ns ahead becomes 100 ms, past fires at once); always 0 |
//! | `vcpu_op` (24) | vCPU 0 only (ids ≥ 1 `-ENOENT`; `cmd` and `vcpuid` are 32-bit as on Xen): `initialise` (`-EEXIST` after copying the context), `up`, `down` (the last vCPU: poweroff), `is_up`, `get_runstate_info`, `register_runstate_memory_area` (written at once as it stands, the stay in progress not counted, as Xen does for the caller), `set/stop_periodic_timer` (1 ms … 2^62 − 1 ns), `set/stop_singleshot_timer` (`VCPU_SSHOTTMR_future` ignored, as by Xen 4.17), `get_physid` (domain 0 on the one CPU: APIC and ACPI id 0, as Xen answers with one CPU; other domains `-EINVAL`), `register_vcpu_time_memory_area`, `register_vcpu_info` (Xen 4.17's rules and order: an offset past 4032 or not 8-aligned `-ENXIO`, a second registration `-EINVAL`, a frame that is not the domain's RAM or cannot be writable `-EINVAL`; the 64 bytes are copied, every `evtchn_pending_sel` bit and `evtchn_upcall_pending` set, the time info restamped, and from then on upcalls, selectors, time and CR2 go there; the frame keeps a writable type reference until the domain dies); `send_nmi` `-ENOSYS` (deliberate difference: not implemented yet). Every guest timer expiry sends VIRQ_TIMER through the event core (nothing if unbound, as on Xen) |
//! | `iret` (23) | implemented, to guest kernel and guest user mode (CS with RPL 3: the user root, Xen's GS swap) |
//! | `memory_op` (12) | `increase_reservation`, `decrease_reservation`, `populate_physmap` (orders up to 9, `max_pages` enforced, `mem_flags` must be 0), `exchange` (Xen's checks and chunking, XSA-212 sub-range rule, orders up to 9), `current_reservation`, `maximum_reservation`, `maximum_ram_page`, `machphys_mapping`, `machphys_mfn_list`, `memory_map`, `machine_memory_map` (control domain); `add_to_physmap` and `add_to_physmap_batch` refused as Xen refuses a PV domain (`-EACCES` after Xen's earlier checks: `-EDOM`, `-EFAULT`, `-ENOSYS` for unbatched `gmfn_foreign`, `-EOPNOTSUPP` for batched `gmfn_range`, `-ESRCH`); other sub-ops `-ENOSYS`. A domain that was never built or was torn down does not exist: `-ESRCH` (balloon calls do nothing) |
//! | `set_debugreg` (8), `get_debugreg` (9) | implemented (Xen's checks; breakpoints fire in the guest, see below) |
//! | `physdev_op` (33) | `set_iopl`, `set_iobitmap`; other commands `-ENOSYS` |
//! | `event_channel_op` (32) | every command of [`event_channel`]: `bind_interdomain`, `bind_virq`, `bind_pirq` (no pirq is ever mapped: `-EPERM`, or `-EINVAL` past `nr_pirqs`), `close`, `send`, `status`, `alloc_unbound`, `bind_ipi`, `bind_vcpu`, `unmask`, `reset` (and `reset_cont`: `-EBUSY`, no reset is ever in progress), and the FIFO ABI's `init_control`, `expand_array`, `set_priority`; the 2-level ABI until `init_control` succeeds. Upcalls to the event callback with Xen's frame and `evtchn_upcall_mask` rules; `VIRQ_TIMER`, `VIRQ_DEBUG` (per vCPU), `VIRQ_CONSOLE`, `VIRQ_DOM_EXC` (global, domain 0's) |
//! | `grant_table_op` (20) | `map_grant_ref` (host maps by VA or with `GNTMAP_contains_pte` by PTE machine address, device maps), `unmap_grant_ref`, `unmap_and_replace`, `copy`, `setup_table`, `query_size`, `set_version` (v1 and v2), `get_version`, `get_status_frames`, `swap_grant_ref`; Xen's `GNTST_*` statuses and errno; batches preempted and continued; `dump_table`, `transfer`, `cache_flush` `-ENOSYS` (see [`grant_table`]) |
//! | `hvm_op` (34) | PV domains: `-ENOSYS`. PVH domains: see *PVH domains* below |
//! | everything else | `-ENOSYS` |
//!
//! ## PVH domains
//!
//! A module with `type=pvh` is a PVH domain: an ELF with
//! [`elfnote::XEN_ELFNOTE_PHYS32_ENTRY`], run under AMD SVM with nested
//! paging, entered as Xen's PVH ABI says (32-bit protected mode, paging
//! off, EBX = the guest-physical address of an [`hvm_start_info`] version
//! 1 with a memory map: RAM below 0xA0000, reserved 0xA0000–0x100000, RAM
//! from 1 MiB to `mem=`; the command line; no modules, no RSDP). The Xen
//! CPUID leaves 0x40000000–2 are answered (leaf 2: one hypercall page
//! through MSR 0x40000000); a write of that MSR with a page-aligned guest
//! address fills the page with `mov eax, n; vmmcall; ret` stubs (stub 23,
//! `iret`, is all RET, as on Xen); bits 11:0 non-zero or a frame that is
//! not its RAM: #GP. Hypercalls: number in RAX, arguments in RDI RSI RDX
//! R10 R8 (64-bit mode) or EBX ECX EDX ESI EDI (32-bit mode); from CPL > 0
//! `-EPERM`. Pointers are guest-virtual through the guest's own 4-level
//! tables (guest-physical with paging off) and then the p2m; anything not
//! reachable as its RAM is `-EFAULT`.
//!
//! | hypercall | PVH status |
//! |---|---|
//! | `console_io` (18) | `CONSOLEIO_WRITE` (printable bytes, a line at a time, like every PV domain but domain 0); `CONSOLEIO_READ` `-EPERM`; others `-ENOSYS` |
//! | `xen_version` (17) | `version`, `extraversion`, `capabilities` (`hvm-3.0-x86_64`), `get_features` (writable_page_tables, auto_translated_physmap, hvm_callback_vector, hvm_safe_pvclock, not_direct_mapped: Xen 4.17's bits for a PVH domU but memory_op_vnode_supported), `pagesize`, `guest_handle`; others `-ENOSYS` (difference: Xen answers them) |
//! | `sched_op` (29) | `yield` (the CPU goes to the next runnable domain), `block` (clears `evtchn_upcall_mask`; blocks until an event is pending or its timer fires, returns at once with one pending), `shutdown`; others `-ENOSYS` |
//! | `memory_op` (12) | `decrease_reservation` and `populate_physmap` on guest frame numbers (orders 0 and 9, `mem_flags` 0, the domain itself only: another existing domain `-EPERM` as for an unprivileged caller, returning the extents done); `current_reservation`, `maximum_reservation`; `add_to_physmap` with `XENMAPSPACE_shared_info` (idx 0; its shared_info at `gpfn`, the RAM there given back, an earlier place unmapped; idx ≠ 0 or `gpfn` outside its p2m `-EINVAL`, another domain `-EPERM`/`-ESRCH`) and `XENMAPSPACE_grant_table` (idx = a shared frame, the table grown to hold it, or `XENMAPIDX_grant_table_status` \| n a v2 status frame; the same placement rules; beyond the 4-frame limit, a status frame under v1 or beyond those it has `-EINVAL`); others `-ENOSYS` (difference: `increase_reservation`, `exchange` and the other `add_to_physmap` spaces are Xen's) |
//! | `event_channel_op` (32) | every `EVTCHNOP_*` a PV domain has, on the same event core with the same errno; frame numbers (`init_control`, `expand_array`) are guest frames, one not its RAM `-EINVAL`. A PVH domain is never privileged here (even in slot 0) |
//! | `grant_table_op` (20) | `setup_table`, `get_status_frames` (each frame listed as the GUEST frame it is mapped at, as Xen does for a translated guest, `INVALID_GFN` = all ones while unmapped), `query_size`, `set_version`, `get_version`, `copy`: the PV rules, statuses and errno on the same grant core; a `copy` side without `GNTCOPY_*_gref` is the caller's guest frame (not its RAM `GNTST_bad_page`); its table (v1, one frame) is made at its first `grant_table_op` or grant-frame `add_to_physmap`; `map_grant_ref` with `GNTMAP_host_map` (and `readonly`) maps the granted frame into its p2m at the guest frame `host_addr >> 12` as a grant entry (non-executable; `dev_bus_addr` 0), `device_map`/`application_map`/`contains_pte`, any other flag, cache attributes in the entry, or a gfn outside its p2m `GNTST_general_error` (Xen's translated-guest rules); `unmap_grant_ref` removes it (a hole after; not the grant's frame there `general_error`), `unmap_and_replace` with a `new_addr` `general_error`, without one an unmap; `swap_grant_ref` as for PV; another domain's map or copy of its reference reads the frame from its p2m: its RAM only (a hole, MMIO or beyond its map `GNTST_bad_page`, a frame it maps through a grant `general_error`, read-only RAM for a writable pin `bad_page`). Differences: a batch (map, unmap, copy, swap) above 512 elements `-E2BIG` (no continuation for PVH); a grant mapped over an existing grant mapping `general_error` (Xen crashes the domain); a PVH domain mapping its own grant `general_error`; a copy side that is a grant mapping in a PVH domain's p2m (its own frame side `bad_page`, or a PVH granter's reference naming one `general_error`) is refused where Xen copies |
//! | `set_timer_op` (15) | as for PV: the single-shot timer, `VIRQ_TIMER` when it fires (at once if already past); no periodic timer until `VCPUOP_set_periodic_timer` (an HVM vCPU starts with none) |
//! | `multicall` (13) | the PV rules on the PVH dispatch (every hypercall of this table): a nested multicall `-EINVAL` in its `result`, a failing entry does not stop the list, an entry or `result` that cannot be reached stops it with `-EFAULT` (no range check up front, as Xen for an HVM guest), preempted between entries and continued (the VMMCALL runs again with the rest), an entry that yields, blocks or shuts down ends the slice with the rest as its continuation; `multicall_entry` from 64-bit code, its compat form (32-bit fields) otherwise, as Xen picks by the vCPU's mode |
//! | `vm_assist` (21) | `VMASST_TYPE_runstate_update_flag` only (Xen 4.17's HVM mask; other types `-EINVAL`): enable 0, disable 1, other commands `-ENOSYS` |
//! | `vcpu_op` (24) | vCPU 0 only (ids ≥ 1 `-ENOENT` first; `cmd` and `vcpuid` 32-bit), every command a PV vCPU has, on the same timer and runstate cores, with Xen's HVM forms: `initialise` (copies a 128-byte `vcpu_hvm_context`, then `-EEXIST`), `up`, `down` (poweroff), `is_up`, `get_runstate_info`, `register_runstate_memory_area` and `register_vcpu_time_memory_area` (guest-VIRTUAL addresses, any accepted as Xen's handle check passes every address of an externally paged guest; written at once and at each switch to the vCPU through its page tables as they are then, faults ignored; with `VMASST_TYPE_runstate_update_flag` the bit-63 protocol), `set/stop_periodic_timer` (1 ms … 2^62 − 1 ns; none until set, as Xen gives an HVM vCPU), `set/stop_singleshot_timer` (a deadline already past fires `VIRQ_TIMER` at once; `VCPU_SSHOTTMR_future` ignored, no `-ETIME`, as Xen 4.17 here: conformance), `get_physid` `-EINVAL` (never the hardware domain), `register_vcpu_info` with a GUEST frame (`-ENXIO` offset, `-EINVAL` not its RAM or registered already; the time info restamped); `send_nmi` `-ENOSYS` (as for PV: a deliberate difference) |
//! | `hvm_op` (34) | `HVMOP_set_param` / `HVMOP_get_param` on itself (`DOMID_SELF` or its id): index ≥ `HVM_NR_PARAMS` `-EINVAL`; another domain `-EPERM` (`-ESRCH` if none); Xen 4.17's per-parameter guest permissions (set: `CALLBACK_IRQ`, `VM86_TSS(_SIZED)`, `ACPI_IOPORTS_LOCATION`, `VM_GENERATION_ID_ADDR`, `STORE_EVTCHN`, `CONSOLE_EVTCHN`, `X87_FIP_WIDTH`; get: those and `STORE_PFN`, `CONSOLE_PFN`, `ALTP2M`; others `-EPERM`); values are stored as given; `CALLBACK_IRQ` with the vector method (type 2 in bits 63:56) delivers upcalls, the GSI and PCI INTx methods deliver nothing (no emulated interrupt controller); `HVMOP_set_evtchn_upcall_vector` (8 bytes read, `-EFAULT`; vector < 0x10 `-EINVAL`; a vCPU but 0 `-ENOENT`; upcalls then come on that vector whenever `CALLBACK_IRQ` names no vector, advertised by `XEN_HVM_CPUID_UPCALL_VECTOR` in CPUID leaf 0x40000004 as on Xen 4.17); `HVMOP_flush_tlbs` (a NULL argument: its ASID flushed before it runs again; otherwise `-EINVAL`); other `HVMOP_*` `-ENOSYS` (difference: Xen also has `get_mem_type`, `pagetable_dying`, `get_time`, `xentrace`, `altp2m`, `guest_request_vm_event`) |
//! | everything else | `-ENOSYS` |
//!
//! Against Xen 4.17's HVM hypercall table (`hypercall-defs.c`, the hvm64
//! column): of the hypercalls xen-core implements for PV, `memory_op`,
//! `multicall`, `set_timer_op`, `xen_version`, `console_io`,
//! `grant_table_op`, `vm_assist`, `vcpu_op`, `sched_op`,
//! `event_channel_op` and `physdev_op` are offered to HVM guests and have
//! their PVH forms above (with the differences named there); `mmuext_op`
//! is offered too, and refused as Xen refuses every HVM caller before
//! reading an entry (its page owner must be PV): `DOMID_SELF`, `DOMID_IO`,
//! `DOMID_XEN` `-EINVAL`, its own numeric id or no such domain `-ESRCH`,
//! another domain `-EPERM` (Xen: `-EINVAL` for another HVM domain, a
//! difference), the end of a continuation (`MMU_UPDATE_PREEMPTED` with a
//! NULL list) returns `foreigndom`.
//!
//! Compared with Xen 4.17 (`xen-modes --probe`: guest-kernel's PVH entry
//! with `vcpuprobe`, here as a PVH domain and on Xen as a PVH dom0 with
//! HAP): 40 answers of `vcpu_op`, `vm_assist`, `multicall`, `mmuext_op`,
//! `hvm_op` and CPUID leaf 0x40000004; all the same but `send_nmi` (the
//! deliberate difference above). `physdev_op`:
//! Xen's HVM filter answers `-ENOSYS` for a domain without pirqs that is
//! not the hardware domain for all but `map_pirq`/`unmap_pirq` (which it
//! passes on: a difference, `-ENOSYS` here too); `set_iopl` and
//! `set_iobitmap`, the PV ones implemented, are `-ENOSYS` on Xen for HVM,
//! as here. Not offered to HVM guests by Xen, and `-ENOSYS` for PVH here as
//! there: `set_trap_table`, `mmu_update`, `set_gdt`, `stack_switch`,
//! `set_callbacks`, `fpu_taskswitch`, `sched_op_compat`, `set_debugreg`,
//! `get_debugreg`, `update_descriptor`, `update_va_mapping`,
//! `event_channel_op_compat`, `physdev_op_compat`,
//! `update_va_mapping_otherdomain`, `iret`, `set_segment_base`, `nmi_op`,
//! `callback_op`, `mca`. Offered by Xen and not implemented for PV or PVH
//! here: `platform_op`, `xsm_op`, `sysctl`, `domctl`, `argo_op`,
//! `xenpmu_op`, `dm_op`, `hypfs_op`, `paging_domctl_cont`.
//!
//! MSRs: FS/GS bases, KernelGSbase, STAR/LSTAR/CSTAR/SFMASK and SYSENTER
//! pass through; EFER (SCE, LME, NXE writable), PAT and the hypercall-page
//! MSR are emulated; every other MSR #GP. CPUID: the host's, with the
//! hypervisor bit set and SVM hidden; Xen's HVM leaf 0x40000004 (EAX
//! `VCPU_ID_PRESENT` \| `DOMID_PRESENT` \| `UPCALL_VECTOR` = 0x58, EBX the
//! vCPU id 0, ECX the domain id; no APIC virtualization bits: no local
//! APIC model), named by leaf 0x40000000 as the last (leaf 3 zeros); leaf 0x400000F0
//! ([`hvm::XEN_CORE_EXIT_COUNT_LEAF`], an extension: zeros on Xen) tells the
//! domain its own VM exits so far, by kind (`make modes`' per-op counts).
//! Ports: a null device (reads all ones, writes dropped); string I/O crashes the domain. A nested page fault the
//! p2m does not explain, a triple fault, or HLT with nothing to wake it
//! crash the domain alone with a log line, as does running past its
//! `timeout=` (default 60 s of CPU time, the scheduler's limit). A PVH
//! domain is scheduled beside the PV ones by the same policy: its state
//! stays in its VMCB between slices, the scheduler's timer makes an INTR
//! exit, and HLT with RFLAGS.IF set blocks it until an event is pending or
//! its timer fires (with IF clear it crashes it: nothing could wake it).
//! Upcalls: while vcpu_info's `evtchn_upcall_pending` is set (shared_info's
//! slot until `register_vcpu_info` moves it) the callback vector (or,
//! when `CALLBACK_IRQ` names none, the per-vCPU vector of
//! `HVMOP_set_evtchn_upcall_vector`: on Xen a local-APIC edge the guest
//! EOIs, here injected the same way while the flag is set, a deliberate
//! difference: there is no local APIC model) is
//! injected as an external interrupt (EVENTINJ) at the next VMRUN at
//! which RFLAGS.IF is set and no interrupt shadow or other event is in
//! flight, as Xen does; `evtchn_upcall_mask` plays no part. One held
//! back opens an interrupt window (V_IRQ with the VINTR intercept, as Xen's
//! `svm_enable_intr_window`): the guest exits as soon as it can take it.
//! Deliberate differences beyond the table: it has no
//! grant table; its page-table
//! walks for hypercall copies do not set accessed/dirty bits; legacy 32-bit
//! and PAE guest paging are not walked (`-EFAULT`).
//!
//! `paging=shadow` on the module line runs the same PVH domain under
//! shadow paging instead (`paging=nested`, the default, is AMD NPT): NPT
//! off, the hardware walks tables the hypervisor builds from the guest's
//! (through the p2m); guest page-table pages are write-protected and the
//! guest's writes to them are emulated; `mov` to and from CR0/CR3/CR4,
//! INVLPG and #PF exit; the guest reads back its own CR values. Its 32-bit
//! entry runs, paging off, on the hypervisor's identity map of its p2m.
//! Differences from Xen's shadow mode: only 4-level guest paging is
//! shadowed (enabling 32-bit or PAE paging, or turning paging off again,
//! crashes the domain with a log line); LMSW, CLTS and SMSW are not
//! emulated (crash); an access through a guest entry naming a frame its
//! p2m does not map crashes the domain, as under nested paging (Xen would
//! hand it to a device model, which a PVH domain here does not have);
//! CR0.WP is always on underneath (a guest clearing it still cannot write
//! its read-only pages from its kernel), and so is long mode (its 32-bit
//! code runs in compatibility mode, so a 64-bit code segment would run as
//! 64-bit even with its paging off); hypercall copies into guest
//! memory do not go through the write protection, so a guest passing its
//! own page table as a buffer may see stale translations (never of a frame
//! outside its p2m).
//!
//! ## What isolation xen-core guarantees
//!
//! Every guest is assumed hostile. Whatever an unprivileged domain passes
//! (arguments, pointers, counts, page-table entries, descriptors, `iret`
//! frames, its own stack), the hypervisor answers with Xen's negative
//! errno, delivers Xen's fault to that guest, or crashes that domain with a
//! log line. It does not panic, hang, or touch another domain's state.
//!
//! * **Memory.** A domain can hold a translation, writable or not, only of
//!   frames it owns, plus its shared_info frame, the read-only M2P and, for
//!   the hardware domain, I/O frames. It can never write its own page tables
//!   or descriptor pages. This holds for the TLB as well as for the page
//!   tables. Every frame carries the flush-clock time of the last moment a
//!   translation of it could have been cached. Before such a frame becomes a
//!   page table or descriptor page, or goes back to the allocator, the TLB
//!   is flushed. So a stale translation never outlives an unmap, unpin,
//!   balloon-out or reallocation. Frames are scrubbed before another domain
//!   (or the same one) gets them. shared_info is only ever data: it cannot
//!   be typed as a table or given back.
//! * **CPU state.** Guests run in ring 3. `iret` frames are checked as
//!   `IRETQ` would check them before the hypervisor returns; a bad frame
//!   gets the fault the CPU would raise, in the guest. `SYSCALL` from
//!   64-bit and compatibility mode lands in hypervisor handlers that answer
//!   as Xen does; `SYSENTER` faults into the guest. Guest GDT descriptors are checked
//!   when accepted and again each time they are loaded, never copied
//!   verbatim. FPU/SSE registers are per vCPU and never cross domains.
//! * **Time.** Every hypercall whose work grows with a guest-given count
//!   or size is preempted and continued (see *Preemption* below), so
//!   another domain keeps its turn. A domain that keeps the CPU for a 5 s
//!   slice is preempted. One that uses up its `timeout=` CPU limit is
//!   crashed.
//! * **Events.** Event channels live in fixed tables (1024 ports per
//!   domain, 128 FIFO array frames): nothing a guest does grows the
//!   hypervisor's memory. FIFO control blocks and event arrays must be the
//!   domain's own RAM and hold a writable page reference while registered,
//!   so they cannot become page tables, be given back or be freed under
//!   the hypervisor; they are released at reset and at the domain's death.
//!   An unprivileged domain reaches another domain's ports only through a
//!   channel that domain opened for it. A console ring page is held the
//!   same way from the domain's build to its death, and whatever its
//!   indices say, one drain reads at most 2048 bytes of it and writes only
//!   its `out_cons`.
//! * **Lifetime.** A domain id names a domain only from its build to the
//!   end of its teardown. Every other id answers `-ESRCH`, so no memory can
//!   be given to, mapped from or queried about a dead domain. The end-of-run
//!   summary accounts for every frame ever given to each domain.
//!
//! How this is tested (see the repository README):
//! * host property tests of the page-type model with a simulated TLB that
//!   keeps translations until they are flushed;
//! * an exhaustive breadth-first search of every reachable state of small
//!   configurations, with the invariant checker asserted in each state;
//! * a regression test for every XSA lesson and every attack found so far;
//! * a hostile guest that attacks the running hypervisor under QEMU, with a
//!   seeded fuzzer over every hypercall and page-table oracles, beside a
//!   victim domain, optionally with the hypervisor's invariant checker
//!   (`check=N`);
//! * the conformance suite, whose answers match Xen 4.17's.
//!
//! ## Differences from Xen
//!
//! Hypercalls that xen-core does not implement return [`Errno::ENOSYS`].
//! Where it deliberately behaves differently from Xen 4.17:
//!
//! * **Console.** `console_io` writes are allowed for every domain (Xen
//!   refuses unprivileged domains with `-EPERM` unless built for debugging).
//!   Output of domains other than domain 0 keeps printable characters only
//!   and is written a line at a time, whole up to 512 bytes (a longer line
//!   is broken there; a partial line is written when the domain dies);
//!   every line is prefixed `(dN)`. Keys
//!   typed on the serial console go to the hypervisor's debug keys (`m`
//!   memory, `q` dump the domains and send them `VIRQ_DEBUG`) until Ctrl-A
//!   is pressed three times, which switches input to domain 0
//!   (`CONSOLEIO_read`, `VIRQ_CONSOLE`) and back; Xen switches input to
//!   domain 0 at the end of its boot.
//! * **Console rings, served by the hypervisor (an extension: no console
//!   daemon).** Every domain but domain 0 gets a console page
//!   ([`console::XenconsInterface`], Xen's `io/console.h`) and an event
//!   channel, in start_info's `console_mfn`/`console_evtchn` as Xen's
//!   toolstack gives a domU; the page is the one after start_info (see the
//!   [guide](guide#the-start-of-day-layout)). The port is unbound with
//!   remote domain `DOMID_XEN` (0x7FF2): `EVTCHNOP_status` says
//!   `EVTCHNSTAT_unbound`, and it is port 1 (Xen's toolstack gives store 1
//!   and console 2, bound by xenconsoled). xen-core itself drains the `out`
//!   ring: at each `EVTCHNOP_send` on that port, at every hypervisor timer
//!   interrupt and idle wake-up (so a guest that never notifies is still
//!   printed, a little later) and when the domain dies. Its output is
//!   filtered, split into lines and prefixed `(dN)` as `console_io`'s; it
//!   is at most 2048 bytes per drain, and a ring whose `out_prod` is more
//!   than 2048 ahead of `out_cons` (wrapping) is left alone (logged once)
//!   until the guest puts its indices right, as xenconsoled does. The
//!   hypervisor holds a writable-type reference on the page for the
//!   domain's life: it cannot become a page table or descriptor page
//!   (refused as for any page mapped writable), and a
//!   `decrease_reservation` of it frees it only once the domain is gone.
//!   Input is not served: `in_cons`/`in_prod` stay 0 (serial input is the
//!   debug keys' or domain 0's). Domain 0 keeps `console_io` and no ring:
//!   its `console.dom0` {`info_off`, `info_size`} is 0, as xen-core drives
//!   no VGA console (Xen 4.17 describes its VGA text console there:
//!   `info_off` 1168, `info_size` 40, even under QEMU's `-vga none`). **No store:** `store_mfn` and `store_evtchn`
//!   are 0 in every domain's start_info until a xenstore exists, so a
//!   guest that needs one (Linux's xenbus) sees none and goes on without
//!   it. `console_io` writes keep working for every domain.
//! * **Event channels.** Each domain has at most 1024 ports (0 … 1023,
//!   Xen's default `max_event_channels=1023` for guests; Xen's domain 0 may
//!   have more) and one vCPU, so `vcpu` ≥ 1 is `-ENOENT`. Ports become
//!   valid 64 at a time as on Xen, so a port past the last bucket handed
//!   out is `-EINVAL` and one inside it but unused is "closed". A global
//!   VIRQ bound by a domain other than domain 0 is `-EBUSY` (global VIRQs
//!   go to domain 0). `reset` of another domain is `-EINVAL` (xen-core
//!   cannot pause domains). A domain's ports and FIFO frames are released
//!   when it dies; its peers' ports become unbound.
//! * **Version.** `xen_version` reports the 4.17 interface with
//!   extraversion `-xen-core`, changeset `unavailable` and no build id
//!   (`-ENODATA`). `get_features` reports only the features xen-core really
//!   has: `mmu_pt_update_preserve_ad`, `highmem_assist`,
//!   `gnttab_map_avail_bits`, `direct_mapped`, `pae_pgdir_above_4gb` once
//!   `VMASST_TYPE_pae_extended_cr3` is on, and `dom0` for domain 0. Xen also
//!   sets `memory_op_vnode_supported` and `dm_msix_all_writes`.
//! * **Grant tables.** At most 4 shared frames per domain (Xen's default is
//!   64: `query_size` reports `max_nr_frames` 4) and 256 mappings held at
//!   once (`GNTST_no_space` beyond); the storage is fixed at boot. Transitive
//!   grants are not supported (as Xen with `gnttab=no-transitive`: a copy
//!   through one is `GNTST_general_error`); `transfer` and `dump_table` are
//!   `-ENOSYS`. A batch's whole array is range-checked
//!   first (`-EFAULT` before any element runs; Xen checks only its start).
//!   A host mapping's PTE must go into a validated L1 (Xen only checks the
//!   type). PV guests map the frames `setup_table` lists with ordinary PTEs,
//!   as Linux does (`XENMEM_add_to_physmap` is for translated guests).
//! * **Memory maps.** `memory_map` gives a domain other than domain 0 one
//!   RAM entry covering its maximum reservation (the map Xen's toolstack
//!   sets, without its slack); domain 0 has none (`-ENOSYS`), as on Xen.
//!   `machine_memory_map` returns the bootloader's map as it is; Xen adds
//!   reserved entries for holes domain 0 may not map.
//! * **Reference counts.** A frame's general and type counts stop at
//!   2^27 − 2: a reference beyond is refused with the errno of the request
//!   that needs it (an `mmu_update` table frame `-EINVAL`, a frame a new L1
//!   entry maps `-EBUSY`), where Xen's 55-bit counts take it.
//! * **Preemption.** Every hypercall whose work grows with a guest-given
//!   count or size is preempted once it has done 8192 page-table entries'
//!   worth of work in one entry, and continued by re-executing the
//!   hypercall, as on Xen: validation of large trees; `mmu_update` and
//!   `mmuext_op` between entries (arguments rewritten, `MMU_UPDATE_PREEMPTED`
//!   set in `count`, progress in `*pdone`); the balloon between extents
//!   (progress in `cmd >> MEMOP_EXTENT_SHIFT`); `exchange` between chunks
//!   (progress in `nr_exchanged`); `console_io` writes every 16 KiB (count
//!   and buffer advanced). Xen preempts when work is pending rather than
//!   after a fixed amount; the guest sees the same results either way.
//!   Devalidation when the last reference to a tree goes (unpin, entry
//!   replacement, base-pointer switch) is deferred and done in slices at the
//!   start of the domain's next `mmu_update`/`mmuext_op`/`update_va_mapping`
//!   calls, which are restarted while work remains; like Xen, the observable
//!   counts may lag until then (a table being devalidated is settled at once
//!   if it is needed again).
//! * **LDT.** `MMUEXT_SET_LDT` applies Xen's checks and records the LDT;
//!   as on Xen its pages are mapped on first use (a #GP naming a TI=1
//!   selector into a page not mapped yet): the frame the guest's kernel
//!   tables map there takes the descriptor-page type (its descriptors
//!   checked, so it must be mapped read-only and can then only be changed
//!   with `update_descriptor`) and the access is retried; a page that is
//!   not mapped or cannot be a descriptor page gives the guest a page fault
//!   at the descriptor's address, as Xen does. The hardware LDT (selector
//!   0xE050, Xen's) is a copy of the mapped pages' descriptors, refreshed
//!   on every change; LDT selectors can be loaded into segment registers,
//!   survive a deschedule and may be named by `iret`. The pages' references
//!   go when `SET_LDT` changes the LDT and at teardown. Differences: `lar`,
//!   `lsl` and `verr` do not fault, so one that is the first access to an
//!   LDT page sees a null descriptor (Xen maps the page for it); an LDT page
//!   whose mapping the guest removes stays in use until the next `SET_LDT`
//!   (Xen drops the LDT's pages then); and, as for the GDT, call gates are
//!   refused in LDT pages.
//! * **FPU.** Each vCPU's x87/MMX/SSE registers are saved and restored with
//!   FXSAVE/FXRSTOR at every domain switch (eagerly; a new vCPU starts from
//!   the init state); on AMD CPUs that keep the x87 error pointers
//!   (FIP/FDP/FOP) across FXRSTOR they are scrubbed first, as Xen does. XSAVE state is not managed: CR4.OSXSAVE stays clear,
//!   so AVX instructions and XSETBV raise #UD. As on Xen, `mov r, cr0`
//!   reads the real CR0 with the virtual TS, and `mov cr0, r` (TS only)
//!   and CLTS act as `fpu_taskswitch`.
//! * **L1TF.** Not-present entries are not inspected (Xen may switch a
//!   domain to shadow paging for them).
//! * **A guest's own `iretq` under QEMU 7.2's SMAP bug.** A PV guest runs
//!   in ring 3, so its `iretq` reads the frame as a user access; QEMU 7.2
//!   TCG checks it as a supervisor access and, with SMAP on, faults it
//!   (#PF with U/S clear on a present page). Xen needs SMAP off there.
//!   xen-core keeps SMAP on and recognizes exactly that fault (a read of a
//!   present page, U/S clear, raised by `REX.W iretq` in ring 3 with CR2
//!   inside the 40-byte frame), then does the `iretq` for the guest with
//!   ring-3 rules: the frame is read as the guest would read it (a frame
//!   it cannot read gets the #PF a correct CPU raises, U/S set), IF stays
//!   set, IOPL and NT cannot be popped, CS and SS need RPL 3 and pass the
//!   `iret` hypercall's descriptor checks, and a bad frame gets IRETQ's
//!   #GP/#NP/#SS at the `iretq` itself. On a correct CPU this never runs.
//! * **Writable page tables** follow Xen 4.17: a guest-kernel store that
//!   faults on a present read-only page which is one of the domain's own
//!   L1 tables in use is emulated, whether or not the guest enabled
//!   `vm_assist(VMASST_TYPE_writable_pagetables)` (Xen does not look at it
//!   either). The store must be naturally aligned
//!   at the faulting address; a store of 1, 2 or 4 bytes is merged into the
//!   8-byte entry, and the entry is checked and adjusted exactly as
//!   `mmu_update` would (a refused entry, or anything else, is the guest's
//!   page fault, unchanged). L2-L4 tables are never written this way.
//!   Difference: Xen's emulator takes any instruction that writes memory;
//!   xen-core takes the ones kernels write entries with: `mov` (88/89,
//!   C6/C7), `xchg`, `cmpxchg` (a failed comparison writes nothing and
//!   loads the accumulator), `and`/`or` (80/81/83, 08/09, 20/21) and
//!   `bts`/`btr`, with any prefixes; other writers get the page fault.
//! * **Guest user mode** follows Xen: `iret` to a CS with RPL 3 loads the
//!   user root (`MMUEXT_NEW_USER_BASEPTR`; none crashes the domain) and
//!   swaps the GS bases; SYSCALL in user mode goes to the
//!   `CALLBACKTYPE_syscall` callback (none: `#UD` at the SYSCALL);
//!   exceptions from user mode are bounced on the `stack_switch` stack
//!   with the user CS (RPL 3) in the frame. `set_segment_base` loads the
//!   hardware at once, and DS/ES/FS/GS selectors and all three bases are
//!   saved and restored per vCPU and guest mode on every switch; a saved
//!   selector that no longer loads becomes null and the failsafe callback
//!   is entered. Differences: a bounced handler is entered with IRETQ, so
//!   RCX and R11 hold the interrupted values rather than Xen's SYSRET
//!   leftovers; with no failsafe callback the domain is crashed (Xen enters
//!   address 0); in user mode only forced CPUID is emulated, and the
//!   `int 0x82`/`vmcall` hypercall extensions are the kernel's only. A
//!   kernel↔user switch is a CR3 load, as on Xen: user L1 mappings are
//!   global and mapped alike in both roots.
//! * **SYSENTER** raises `#GP(0)` (or `#UD`) in the guest even when a
//!   sysenter callback is registered; see [`traps`] for returns, selectors
//!   and compatibility mode, which follow Xen.
//! * **Blocking.** A blocked domain wakes when an event makes its
//!   `evtchn_upcall_pending` go from 0 to 1 (or one of its ports becomes
//!   pending); a domain that blocks when no other domain can run, and so
//!   nothing can wake it, is crashed.
//! * **Reservations.** `mem_flags` (address-width limits, NUMA nodes,
//!   populate-on-demand) are not supported: a request with any of them set
//!   does nothing and returns its start extent. Extents of order > 0 are
//!   contiguous but not necessarily aligned to their size. `exchange`
//!   accepts an output address-bits limit but cannot aim for low memory: if
//!   the frames it gets are above the limit, it fails with `-ENOMEM`. Its
//!   order limit is 9 for every domain (Xen allows the control domain more),
//!   and it checks the end of both arrays up front where Xen checks the
//!   start and faults part-way (both `-EFAULT`).
//! * **GDT.** `set_gdt` frames take the descriptor-page type; present
//!   system descriptors (TSS, LDT and every gate) are refused, code and data
//!   descriptors are accepted and loaded with DPL 3. Xen accepts call gates
//!   whose target is a guest code segment; xen-core refuses all gates.
//!   Descriptors are checked again each time they are loaded into the
//!   hardware GDT; one that fails (its frame changed behind the page-type
//!   model) is loaded as null.
//! * **Extension entries.** With `hcall-ext=int82,vmcall` on a module's
//!   command line, `int 0x82` and `vmcall` are accepted as hypercall
//!   instructions besides `SYSCALL` (same registers). Off by default: then
//!   `int 0x82` raises `#GP` and `vmcall` `#UD` in the guest, as on Xen.
//! * **Privileged instructions.** On #GP(0) from the guest kernel the
//!   hypervisor emulates, by Xen's PV policy: `rdmsr`/`wrmsr` (EFER,
//!   APIC_BASE, TSC, PAT, MISC_ENABLE, PERF_*, FEATURE_CONTROL,
//!   MISC_FEATURES_ENABLES, TSC_AUX, FS/GS/shadow-GS bases; others #GP),
//!   `mov` to and from CR0 (only TS may change), CR2, CR3, CR4 and DR0–DR7,
//!   `clts`, `in`/`out`/`ins`/`outs` by the virtual IOPL and I/O bitmap,
//!   `cli`/`sti` (no-ops with IOPL), `wbinvd` (no-op), `rdtsc(p)`; `hlt`,
//!   `invd` and the rest are reflected as #GP. An emulated instruction
//!   run under TF raises the single-step #DB after it (DR6.BS), and one
//!   that accesses a port an enabled I/O breakpoint covers (CR4.DE) raises
//!   #DB with its B0–B3 bit, as on Xen. Deliberate differences: of the CR4 bits Xen lets a guest choose only DE is kept (TSD,
//!   FSGSBASE, OSXSAVE are dropped) and reads always show PAE, MCE, OSFXSR
//!   and OSXMMEXCPT; MISC_ENABLE
//!   reads #GP unless the CPU is Intel, PLATFORM_ID and UCODE_REV always
//!   #GP, the Xen MSRs (0x40000000…) #GP; a failing `rdmsr` before the
//!   guest has a #GP handler reads 0 for every MSR outside Xen's range (Xen
//!   only for host-readable ones); domain 0 never reaches the PICs, PIT,
//!   CMOS/RTC (emulated as for a domU), serial console or debug-exit ports
//!   and may read but not write PCI configuration space (0xCF8 is latched
//!   as on Xen); `rep ins`/`outs` run 256 iterations per emulation.
//! * **Debug registers.** DR0–3/DR6/DR7 (`set_debugreg`, emulated `mov
//!   drN`) are loaded into the hardware while a vCPU whose DR7 enables a
//!   breakpoint runs, and DR7 is cleared when the CPU leaves it. DR0–3 never
//!   hold an address in the hypervisor's range (`-EPERM`/#GP), so a
//!   breakpoint fires only on guest addresses. A #DB in the guest is
//!   delivered to trap 1 with the hardware DR6 merged into the virtual DR6
//!   (`get_debugreg(6)`), as Xen does; one raised in the hypervisor (a
//!   watched guest buffer a hypercall reads or writes, a #DB held back by
//!   `mov ss` until the SYSCALL entry, which has its own IST stack) is
//!   ignored, as on Xen. `iret` keeps RFLAGS.RF, as Xen's does, so a
//!   handler returns past an instruction breakpoint by setting it.
//! * **CPUID.** Forced-emulation CPUID applies Xen's PV policy (host ∩
//!   Xen's default-available features; PSE, PGE, PCID, SMEP, SMAP, UMIP,
//!   PKU, LA57, 1 GiB pages, VMX/SVM, MONITOR, MPX and x2APIC hidden;
//!   HYPERVISOR set; MTRR for domain 0 only) and agrees with Xen 4.17 on the
//!   same QEMU leaf by leaf, except: OSXSAVE (leaf 1 ECX bit 27) is clear,
//!   since xen-core neither runs with CR4.OSXSAVE nor manages a guest's
//!   XCR0 (Xen sets it by the same rule because it does); FSGSBASE (leaf
//!   7.0 EBX bit 0) is clear, since CR4.FSGSBASE is one of the CR4 bits a
//!   guest cannot set here (Xen offers both); and the highest
//!   extended leaf is the host's, where Xen 4.17 raises it to 0x80000021
//!   to describe its LFENCE setup. A plain CPUID is not intercepted.
//!
//! This crate is `no_std` and has no dependencies. In this repository it
//! is the package `xen-core-pv-abi`, imported as `abi` by every crate of
//! the workspace.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod console;
pub mod elfnote;
pub mod errno;
pub mod event_channel;
pub mod grant_table;
pub mod guide;
pub mod hvm;
pub mod hvm_start_info;
pub mod hypercall;
pub mod ids;
pub mod memory;
pub mod mmu;
pub mod multicall;
pub mod pagetable;
pub mod physdev;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub mod raw;
#[cfg(target_arch = "x86_64")]
pub use raw::evtchn;
#[cfg(target_arch = "x86_64")]
pub use raw::guest;
pub mod sched;
pub mod segbase;
pub mod shared_info;
pub mod start_info;
pub mod traps;
pub mod vcpu;
pub mod version;
pub mod vm_assist;

pub use errno::Errno;
pub use ids::{DomId, Gfn, GuestVa, Mfn, Pfn};

/// Size of a page and of a machine frame on x86_64.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// First virtual address reserved for the hypervisor in every PV address
/// space (start of L4 slot 256).
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// First virtual address after the hypervisor's reserved range (start of
/// L4 slot 272).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// Start of the read-only machine-to-physical table visible to guests.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the read-only machine-to-physical table.
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// First L4 slot owned by the hypervisor.
pub const HYPERVISOR_L4_FIRST_SLOT: usize = 256;
/// Last L4 slot owned by the hypervisor (inclusive).
pub const HYPERVISOR_L4_LAST_SLOT: usize = 271;
