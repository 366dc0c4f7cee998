//! # Guide: writing a PV guest for xen-core
//!
//! This chapter is everything a guest kernel needs that is not a single
//! hypercall: how to start a new guest, what memory looks like at the
//! first instruction, the ELF notes, the rules the hypervisor applies to
//! every page-table change (with the errno each rule answers), and how to
//! give memory back and take it again. Each hypercall's own page
//! ([`crate::guest`]) lists its errors; this page explains them. The
//! facts here are those of xen-core, which follows Xen 4.17's 64-bit PV
//! ABI; the crate root lists every deliberate difference.
//!
//! ## Starting a guest
//!
//! The repository has a runtime crate, `guest-rt`, and a template guest on
//! top of it (`guests/template`, under 60 lines with its Cargo.toml):
//!
//! ```text
//! make new-guest NAME=foo     # guests/foo: a workspace member, ready to build
//! make run-guest NAME=foo     # build it and xen-core, boot it under QEMU
//! ```
//!
//! `run-guest` passes when the guest prints `Test result: SUCCESS` and
//! powers off. The runtime supplies what every guest repeats: the ELF notes
//! (from one macro, checked at compile time), the entry point and a 128 KiB
//! stack, a panic handler that prints the message and shuts down with
//! `SHUTDOWN_crash`, `print!`/`println!` over `console_io`, the linker
//! script, typed access to start_info, the p2m list and the M2P, free
//! frames, a page-table walk and safe wrappers for remapping and giving
//! back frames. On the host a guest crate builds as a stub binary, so
//! `cargo test --workspace` and clippy keep working with it in the
//! workspace.
//!
//! ## The start-of-day layout
//!
//! The domain builder loads the kernel and maps one contiguous region of
//! virtual memory starting at the `VIRT_BASE` note. Pseudo-physical frame
//! (PFN) *n* of the domain is mapped at `VIRT_BASE + n × 4096`. In order,
//! the region holds:
//!
//! | what | where | notes |
//! |---|---|---|
//! | the kernel image | from `VIRT_BASE` | segments as the ELF program headers say; `.bss` is zero |
//! | the initial ramdisk | next page | only with a `ramdisk` module; start_info `mod_start`/`mod_len` |
//! | the p2m list | next page | `nr_pages` u64 MFNs, PFN order; start_info `mfn_list` |
//! | start_info | next page | RSI at entry; [`crate::start_info::StartInfo`] |
//! | the console ring | next page | every domain but domain 0: start_info `console_mfn`, [`crate::console::XenconsInterface`]; where Xen's PV builder puts it, less the xenstore page before it (no store) |
//! | bootstrap page tables | `pt_base`, `nr_pt_frames` frames | L4 first; mapped **read-only** |
//! | boot stack | the page after the tables | **one page**; RSP starts at its top |
//! | free frames | up to the end of the region | mapped read-write, unused |
//!
//! * **The mapping covers whole 4 MiB.** The region's end is rounded up
//!   to a 4 MiB boundary, leaving at least 512 KiB mapped after the boot
//!   stack. Frames beyond it (up to `nr_pages`) exist in the p2m list but
//!   are not mapped.
//! * **Page tables are readable at `VIRT_BASE + pfn × 4096`.** The
//!   bootstrap tables lie inside the region they map, so each can be read
//!   at its PFN's address. Never writable: every change goes through a
//!   hypercall. A table's PFN is found from its MFN through the M2P.
//! * **The boot stack is one page.** A kernel that needs more switches
//!   stacks first (the runtime does, to 128 KiB in `.bss`).
//! * **Frames arrive zeroed.** Every frame of the domain is scrubbed
//!   before the builder writes the image and start-of-day data, and
//!   frames from `populate_physmap`/`increase_reservation` are scrubbed too.
//! * **Registers.** RIP = the `ENTRY` note (or the ELF entry), RSI =
//!   start_info's address, CS = `FLAT_RING3_CS64` (0xE033), SS =
//!   `FLAT_RING3_SS64` (0xE02B), interrupts enabled, events masked in
//!   `vcpu_info[0]`. The kernel runs in ring 3.
//! * **shared_info is not mapped.** start_info's `shared_info` is its
//!   machine address; map it with an L1 entry if needed (it is data only:
//!   it can never become a page table or be given back).
//! * **Above the kernel**: the read-only M2P at
//!   [`MACH2PHYS_VIRT_START`](crate::MACH2PHYS_VIRT_START) (one u64 PFN per
//!   machine frame, readable up to `maximum_ram_page`) and the
//!   hypervisor's own range, L4 slots 256–271, which a guest cannot map.
//!
//! ## The ELF notes
//!
//! Notes are read from `PT_NOTE` segments (else `SHT_NOTE` sections) with
//! note name `"Xen"`; the type is an `XEN_ELFNOTE_*` number of
//! [`crate::elfnote`]. String values are NUL-terminated, numbers are
//! 8-byte little-endian.
//!
//! | note | needed | what the loader does with it |
//! |---|---|---|
//! | `XEN_VERSION` (5) | yes | must begin `"xen-3.0"`, else the image is refused |
//! | `LOADER` (8) | yes, or `GUEST_OS` starting `linux` | must begin `"generic"` |
//! | `VIRT_BASE` (3) | in practice | where PFN 0 is mapped; 0 if absent |
//! | `PADDR_OFFSET` (4) | if the ELF physical addresses are not 0-based | image address = ELF paddr − `PADDR_OFFSET` + `VIRT_BASE`; 0 if absent |
//! | `ENTRY` (1) | no | entry point, else the ELF header's; must lie in the image |
//! | `HYPERCALL_PAGE` (2) | for guests using the stubs | page-aligned, inside the image: filled with 128 32-byte stubs, stub *n* issuing hypercall *n* |
//! | `GUEST_OS` (6), `GUEST_VERSION` (7) | no | names, shown in logs |
//!
//! The commonest mistake: a linker script that links at `VIRT_BASE`
//! without `AT()` has ELF physical addresses equal to the virtual ones.
//! Without `PADDR_OFFSET = VIRT_BASE` the loader computes paddr +
//! `VIRT_BASE`, which overflows: `kernel range refused: start overflows`.
//! The runtime's linker script starts physical addresses at 0 and its
//! notes say `PADDR_OFFSET = 0`.
//!
//! ## The memory rules
//!
//! A PV guest sees machine frames (MFNs) directly and keeps its own
//! pseudo-physical view: the p2m list maps its PFNs to MFNs, the M2P maps
//! MFNs back. It never writes a page table itself: it asks the hypervisor
//! to write each entry (`mmu_update` with the entry's machine address,
//! `update_va_mapping` by virtual address, `mmuext_op` for pins, roots and
//! flushes), and every new entry is checked before it is stored. The rules,
//! in plain words, with the errno a request breaking each one gets (the
//! request fails; the ones before it in the batch stay done):
//!
//! | rule | errno |
//! |---|---|
//! | The request array (or any guest pointer) must be readable/writable guest memory. | `EFAULT` |
//! | The `mmu_update` command (`ptr & 7`) must be 0–3. | `ENOSYS` |
//! | The foreign domain must exist, and be named `DOMID_SELF` for oneself (one's own numeric id is refused). | `ESRCH` |
//! | The frame holding the entry must be the domain's own RAM and currently a page table (or a plain data frame, which is then just written). A descriptor-table page is refused. | `EINVAL` |
//! | An entry may map only frames the domain owns (plus shared_info and, for the hardware domain, I/O memory). Mapping another domain's frame, or a free one. | `EBUSY` (L1), `EINVAL` (L2–L4) |
//! | A frame is exactly one of: writable data, L1, L2, L3, L4 table, descriptor page. So a page table or descriptor page is never mapped writable... | `EBUSY` |
//! | ...and a frame mapped writable anywhere cannot become a table (by pin, by an upper-level entry, or as a root). | `EINVAL` |
//! | Upper-level entries point at a table of the next level down (or, read-only, at a table of the same level: linear page tables, one level deep only). | `EINVAL` |
//! | Flags: PWT, PCD and PS (no superpages) are refused in L2–L4 entries, as is G; L1 entries may not set PWT, PCD or PAT without I/O privileges. | `EINVAL` |
//! | L4 slots 256–271 belong to the hypervisor; an `mmu_update` of them is refused (the hypervisor fills them itself). | `EINVAL` |
//! | An I/O (non-RAM) frame needs I/O-memory permission. | `EPERM` |
//! | `MMU_MACHPHYS_UPDATE` (set an M2P entry) only for one's own frames and on one's own behalf. | `EINVAL`, `EPERM` |
//! | A pin takes a frame the domain owns, not pinned yet; an unpin takes a pinned one. | `EINVAL` |
//! | `update_va_mapping` needs a validated L1 mapping the address in the current tables (no superpage on the way). | `EINVAL` |
//! | Base-pointer switches, flushes and `SET_LDT` act on oneself only. | `EPERM` |
//! | Removed commands (`MMUEXT_MARK_SUPER`, `MMUEXT_UNMARK_SUPER`). | `EOPNOTSUPP` |
//!
//! What the hypervisor changes in entries it accepts, visibly when the
//! guest reads its tables back: it sets USER on every present entry (the
//! kernel itself runs in ring 3); an L1 entry written without USER also
//! gets bit 52 (reachable only from guest kernel mode), one written with
//! USER also gets Global; L4 entries get Accessed. Accessed/Dirty-only
//! changes are written without revalidation.
//!
//! Building and loading new tables, the order that works: write the
//! entries of the new tables while they are still ordinary writable pages
//! (writes to data frames are not checked), remove every writable mapping
//! of them, pin the root (`MMUEXT_PIN_L4_TABLE`: the whole tree is
//! validated, any rule broken inside answers here), switch to it
//! (`MMUEXT_NEW_BASEPTR`). Changing an L1 entry does not flush the TLB:
//! flush with `update_va_mapping`'s `UVMF_INVLPG`/`UVMF_TLB_FLUSH` or an
//! `MMUEXT_*` flush. Long calls are preempted and continued transparently.
//!
//! A frame stops being a table when its last reference (pin, upper entry,
//! root) goes; devalidation may be finished during the next page-table
//! hypercall.
//!
//! ## The balloon protocol
//!
//! The domain owns `current_reservation` pages and may own up to
//! `maximum_reservation` (its `mem=`).
//!
//! **Giving a page back** (`decrease_reservation`, MFNs in the array):
//! 1. stop using the frame and remove every mapping of it (it is in the
//!    initial mapping until you unmap it: `update_va_mapping` to 0 with
//!    `UVMF_INVLPG`); it must not be a page table or pinned;
//! 2. `decrease_reservation` with its MFN; the return value counts the
//!    frames done, processing stops at the first MFN the domain does not
//!    own (the value is never negative: a refused call returns its start);
//! 3. set its p2m entry to invalid (`!0`): the frame may be handed to
//!    another domain, after being scrubbed.
//!
//! A frame still referenced (mapped, typed, pinned, a root) when it is
//! given back stays the domain's, counts in the reservation, and is freed
//! when the last reference goes. shared_info can never be given back.
//!
//! **Taking pages back**:
//! * `populate_physmap`: the array holds the PFNs to fill; each gets a new
//!   zeroed frame, the M2P entry is set, and the MFN is written back into
//!   the array. The guest updates its p2m list and maps the frames.
//! * `increase_reservation`: the array receives new MFNs that have no PFN
//!   yet; the guest sets the M2P with `MMU_MACHPHYS_UPDATE` and its p2m.
//!
//! Both stop at `maximum_reservation` (the count returned is what was
//! done). `exchange` trades frames for others of another order in one call.
//! Orders up to 9 (2 MiB) are accepted; `mem_flags` must be 0 on xen-core.
//!
//! ## Console, scheduling and shutdown
//!
//! `console_io(CONSOLEIO_WRITE)` prints; output of domains other than 0 is
//! kept to printable characters, written a line at a time and prefixed
//! `(dN)`. `sched_op(SCHEDOP_yield)` lets another domain run;
//! `SCHEDOP_block` waits for an event (none exist yet: a domain blocking
//! while nothing else can run is crashed). `SCHEDOP_shutdown` ends the
//! domain with a reason: `SHUTDOWN_poweroff` for success,
//! `SHUTDOWN_crash` for failure. Test guests print `Test result: SUCCESS`
//! (or `FAILURE`) before shutting down: the test harness and
//! `xen-run --verdicts` read that line.
