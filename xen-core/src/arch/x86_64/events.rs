//! The arch side of event channels: the one table of every domain's
//! ports, upcall delivery on the way back to a guest (platform §2.5), and
//! waking the domains an event was sent to.

use super::hooks::ArchGuest;
use super::paging::DirectMap;
use super::run::{d_mut, domains, Hypervisor};
use crate::domain::bounce::Roots;
use crate::domain::vcpu::GuestContext;
use crate::event::{upcall_due, EventChannels};
use crate::hypercall::Action;
use crate::mm::{PhysAddr, PhysMemory};
use abi::DomId;

/// Every domain's event channels. Static (about 130 KiB) rather than in
/// [`Hypervisor`], which is built on the boot stack.
static mut EVENTS: EventChannels = EventChannels::new();

/// The event-channel tables, for the one guest entry being handled.
pub(super) fn events() -> &'static mut EventChannels {
    // SAFETY: one CPU, interrupts off in the hypervisor, and only code
    // handling a guest entry (or boot code before guests run) calls this,
    // as for `run::domains`.
    unsafe { &mut *core::ptr::addr_of_mut!(EVENTS) }
}

/// Where the running domain's vcpu_info is (a machine address; 0 before
/// any domain runs): the exit path's upcall check is one load from it.
static mut VCPU_INFO: u64 = 0;

/// The same place as a pointer into the direct map to its first two
/// bytes (upcall pending, mask), or to a zero word before any domain runs:
/// the SYSCALL fast path's whole check is two loads and a compare.
static mut UPCALL_WORD: *const u16 = &NO_UPCALL;
static NO_UPCALL: u16 = 0;

/// The running domain's index (for [`follow_vcpu_info`]).
static mut CURRENT: usize = 0;

/// The running domain's vcpu_info moved (`register_vcpu_info`): the
/// cached pointers follow.
pub(super) fn follow_vcpu_info() {
    // SAFETY: as in `set_current`.
    set_current(unsafe { *core::ptr::addr_of!(CURRENT) });
}

/// Domain `i` is now the one running.
pub(super) fn set_current(i: usize) {
    let d = domains()[i].as_ref();
    let si = d.map_or(0, |d| d.vcpu.vcpu_info_location().0);
    super::fast_paths::follow(d.map(|d| &d.vcpu), si);
    let word = if si == 0 { &NO_UPCALL as *const u16 } else { (super::paging::DIRECT_MAP_BASE + si) as *const u16 };
    // SAFETY: one CPU, entries strictly sequential (see `events`).
    unsafe {
        *core::ptr::addr_of_mut!(CURRENT) = i;
        *core::ptr::addr_of_mut!(VCPU_INFO) = si;
        *core::ptr::addr_of_mut!(UPCALL_WORD) = word;
    }
}

fn current_vcpu_info() -> u64 {
    // SAFETY: as in `set_current`.
    unsafe { *core::ptr::addr_of!(VCPU_INFO) }
}

/// The running domain's first vcpu_info word (0 before any domain runs).
#[inline(always)]
pub(super) fn current_upcall_word() -> u64 {
    match current_vcpu_info() {
        0 => 0,
        a => DirectMap.read_u64(PhysAddr(a)),
    }
}

/// Sets the running domain's `evtchn_upcall_mask`.
pub(super) fn set_current_upcall_mask(mask: u8) {
    let a = current_vcpu_info();
    if a != 0 {
        DirectMap.write_bytes(PhysAddr(a + 1), &[mask]);
    }
}

/// Whether an upcall may be due for the running domain, for the hypercall
/// fast paths: false means certainly not.
///
/// `evtchn_upcall_pending` first (one byte compare, all a hypercall with
/// nothing pending pays), then the mask: an event pending but masked (a
/// send with upcalls masked) takes the fast exit too, as [`deliver`] would
/// do nothing for it.
#[inline(always)]
pub(super) fn current_upcall_is_due() -> bool {
    // SAFETY: UPCALL_WORD points at the running vCPU's vcpu_info in the
    // direct map (RAM, 8-aligned) or at NO_UPCALL: pending at byte 0,
    // mask at byte 1.
    unsafe {
        let w = *core::ptr::addr_of!(UPCALL_WORD);
        w.cast::<u8>().read_volatile() != 0 && w.cast::<u8>().add(1).read_volatile() == 0
    }
}

/// The first word of domain `i`'s vCPU 0 vcpu_info: upcall pending (byte
/// 0) and mask (byte 1).
#[inline(always)]
pub(super) fn upcall_word(i: usize) -> u64 {
    let si = domains()[i].as_ref().map_or(0, |d| d.vcpu.vcpu_info_location().0);
    DirectMap.read_u64(PhysAddr(si))
}

/// Whether an upcall is due for domain `i` (cheap: one load).
#[inline(always)]
pub(super) fn upcall_is_due(i: usize) -> bool {
    upcall_due(upcall_word(i))
}

/// Domain `i` is about to return to the guest with `ctx`: if an event is
/// pending and not masked, enters its event callback instead (Xen's
/// `test_guest_events`). Called on every exit, so a guest that unmasks
/// with an event pending and then makes any hypercall gets its upcall, as
/// on Xen.
pub(super) fn deliver(hv: &Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    if !upcall_is_due(i) {
        return Action::Continue;
    }
    let roots = Roots::of(&hv.mm.domains[i]);
    match crate::domain::bounce::event_upcall(ctx, &mut d_mut(i).vcpu, &ArchGuest, &roots) {
        Ok(()) => Action::Continue,
        Err(why) => Action::Crash(why),
    }
}

/// Wakes every blocked domain an event was sent to since the last call;
/// returns whether one woke (the caller rearms the hypervisor timer: a
/// woken domain preempts the running one at the rate limit's end).
pub(super) fn wake_kicked() -> bool {
    let mut kicks = events().take_kicks() | events().take_port_kicks();
    let mut woke = false;
    // Only the kicked domains: an event send visits one, not every slot.
    while kicks != 0 {
        let j = kicks.trailing_zeros() as usize;
        kicks &= kicks - 1;
        if let Some(d) = domains().get_mut(j).and_then(Option::as_mut) {
            woke |= crate::scheduler::kicked(d);
        }
    }
    woke
}

/// Domain `i` died: its ports close (peers become unbound), its FIFO
/// frames are released before its memory is torn down, and domain 0 gets
/// `VIRQ_DOM_EXC`, as Xen sends it on every shutdown and crash.
pub(super) fn domain_died(hv: &mut Hypervisor, i: usize) {
    let ev = events();
    ev.destroy_domain(&mut hv.mm, DomId(i as u16));
    ev.send_global_virq(&mut hv.mm, abi::event_channel::virq::DOM_EXC);
    let _ = wake_kicked();
}

/// A key typed on the serial console: a debug key (`m` memory of each
/// domain; `q` dumps the domains and sends each `VIRQ_DEBUG`, as Xen's
/// `q` does), or domain 0's input (`VIRQ_CONSOLE`) once Ctrl-A three
/// times switched it there.
pub(super) fn console_key(hv: &mut Hypervisor, key: u8) {
    use crate::event::Key;
    use abi::event_channel::virq;
    match hv.console.input.key(key) {
        Key::Debug(b'm') => {
            log::info!("'m' pressed: memory of each domain");
            for d in domains().iter().flatten() {
                let mm = &hv.mm.domains[d.id.0 as usize];
                log::info!("  domain {} ({}): {} pages now, at most {}", d.id.0, d.name(), mm.tot_pages, mm.max_pages);
            }
        }
        Key::Debug(b'q') => {
            log::info!("'q' pressed: dumping the domains");
            for d in domains().iter().flatten() {
                let id = d.id;
                let ports = events().domain(id).map_or(0, |e| e.active());
                log::info!(
                    "  domain {} ({}): {:?}, rip {:#x}, {} event channels, upcall {}",
                    id.0,
                    d.name(),
                    d.state,
                    d.vcpu.ctx.rip,
                    ports,
                    if events().upcall_pending(&hv.mm, id) { "pending" } else { "not pending" }
                );
                if events().send_virq(&mut hv.mm, id, virq::DEBUG) {
                    log::info!("  domain {}: notified with VIRQ_DEBUG", id.0);
                }
            }
            woken(hv);
        }
        Key::Debug(_) | Key::Nothing => {}
        Key::ToDom0 => {
            events().send_global_virq(&mut hv.mm, virq::CONSOLE);
            woken(hv);
        }
        Key::Switched(true) => log::info!("*** Serial input to DOM0 (type 'CTRL-a' three times to switch input)"),
        Key::Switched(false) => log::info!("*** Serial input to Xen (type 'CTRL-a' three times to switch input)"),
    }
}

/// Wakes the domains a console key sent an event to; the timer is then
/// rearmed on the way back to the guest, for the preemption.
fn woken(hv: &mut Hypervisor) {
    if wake_kicked() {
        hv.mm.hooks.pending |= super::hooks::PENDING_TIMER;
    }
}
