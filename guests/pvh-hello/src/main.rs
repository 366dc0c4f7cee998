//! pvh-hello: a small PVH guest (module line `type=pvh`). It is entered
//! at its `XEN_ELFNOTE_PHYS32_ENTRY` in 32-bit protected mode with paging
//! off and EBX = its `hvm_start_info`, writes its own page tables (the
//! first GiB 1:1 in 2 MiB pages: no `mmu_update`, the hardware walks them
//! through the nested tables), enters long mode, finds the hypervisor
//! through the Xen CPUID leaves, asks for its hypercall page through the
//! MSR they name, and then, by VMMCALL hypercalls:
//!
//! * prints through `console_io` (its start info, memory map, command line);
//! * checks that a pointer outside its memory gets `-EFAULT`;
//! * sets and reads back `HVM_PARAM_CALLBACK_IRQ` (vector type);
//! * balloons four pages out and back in (`decrease_reservation`,
//!   `populate_physmap` on guest frames), checking the reservation and
//!   that the new frames are zeroed;
//! * writes its own page directory (a 2 MiB alias, used, INVLPG'd and
//!   removed): under shadow paging that write is trapped and emulated;
//! * with `pong=DOM,N`, `timer=N` or `evbad` on its command line
//!   ([`events`]): its shared_info placed at a frame of its own, its
//!   vcpu_info moved to another, upcalls on its `HVM_PARAM_CALLBACK_IRQ`
//!   vector, then an interdomain ping-pong with domain DOM (N pongs),
//!   N `VIRQ_TIMER` upcalls from `set_timer_op`, or bad ports, domains and
//!   frames refused with Xen's errno;
//! * with `grants` on its command line ([`grants`]): its grant table's
//!   frame 0 placed at a frame of its own, `setup_table` naming that guest
//!   frame, a `GNTTABOP_copy` between two of its guest frames, and bad
//!   frames and unsupported ops refused with Xen's status or errno;
//! * with `vcpuops` on its command line ([`vcpu`]): upcalls on a per-vCPU
//!   vector (`HVMOP_set_evtchn_upcall_vector`, advertised in CPUID
//!   0x40000004), single-shot and periodic `vcpu_op` timers firing
//!   through it, its runstate read and registered (and rewritten after it
//!   blocked), a multicall of two `xen_version` calls, and bad arguments
//!   refused with Xen's errno;
//! * with `gmap`, `gshare` or `gstale` on its command line ([`gmap`]):
//!   grants shared with a PV domain 0 (guest-kernel's `share` and
//!   `pvhshare`): domain 0's grant mapped at a guest frame of its own and
//!   used through its page tables, its own pages granted to domain 0 by
//!   guest frame, bad maps refused with Xen's status, and (`gstale`) the
//!   unmapped guest frame read again: the domain must be crashed, and only it;
//! * with `ptforeign` on its command line, then maps a huge guest frame
//!   number through its own page directory and reads it (`ptpast`: the
//!   first 2 MiB past its RAM): the domain must be crashed, and only it;
//! * with `hostile` on its command line, then reads a guest-physical
//!   address its p2m does not map (the legacy hole): the nested page fault
//!   must crash it, and only it;
//! * otherwise prints `Test result: SUCCESS` and shuts down (poweroff).
//!
//! Not on guest-rt (a PV runtime): the entry, the GDT and the tables are
//! the assembly below, the rest is plain Rust.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod events;
#[cfg(target_os = "none")]
mod gmap;
#[cfg(target_os = "none")]
mod grants;
#[cfg(target_os = "none")]
mod pvh;
#[cfg(target_os = "none")]
mod vcpu;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("pvh-hello is a PVH guest: build it with `--target x86_64-unknown-none` and boot it with type=pvh.");
    std::process::exit(2);
}
