//! Host tests of the hypercall layer: a fake guest memory and console,
//! and a driver that re-executes a preempted hypercall as a guest does.

mod add_to_physmap;
mod console_io;
mod console_notify;
mod continuations;
mod dead_domains;
mod debug_physdev;
mod event_channel;
mod fpu_taskswitch;
mod grant_ops;
mod multicall;
mod segment_base;
mod subops;
mod time_ops;
mod unimplemented;
mod vcpu_info;

use super::{Action, Call, ConsoleSink, GuestMemory};
use crate::domain::vcpu::{reg, GuestContext, Vcpu};
use crate::mm::tests::world::World;
use abi::{DomId, GuestVa, Mfn};
use std::cell::RefCell;

/// Guest memory: one flat region at `BASE`; everything else faults.
pub struct FakeGuest {
    pub bytes: RefCell<Vec<u8>>,
    /// What `set_segment_base` loaded into the "hardware".
    pub segment_loads: RefCell<Vec<crate::domain::guest_segs::SegLoad>>,
    /// Guest reads made (each `copy_from`, however long).
    pub reads: std::cell::Cell<u32>,
}

pub const BASE: u64 = 0x1000_0000;

impl FakeGuest {
    pub fn new(len: usize) -> FakeGuest {
        FakeGuest {
            bytes: RefCell::new(vec![0; len]),
            segment_loads: RefCell::new(Vec::new()),
            reads: Default::default(),
        }
    }

    fn range(&self, va: GuestVa, len: usize) -> Option<core::ops::Range<usize>> {
        let off = usize::try_from(va.0.checked_sub(BASE)?).ok()?;
        let end = off.checked_add(len)?;
        (end <= self.bytes.borrow().len()).then_some(off..end)
    }

    pub fn put(&self, va: u64, data: &[u8]) {
        let r = self.range(GuestVa(va), data.len()).expect("inside the fake guest");
        self.bytes.borrow_mut()[r].copy_from_slice(data);
    }

    pub fn put_u64s(&self, va: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            self.put(va + i as u64 * 8, &w.to_le_bytes());
        }
    }

    pub fn u64_at(&self, va: u64) -> u64 {
        let r = self.range(GuestVa(va), 8).expect("inside the fake guest");
        u64::from_le_bytes(self.bytes.borrow()[r].try_into().unwrap())
    }

    pub fn u32_at(&self, va: u64) -> u32 {
        self.u64_at(va) as u32
    }
}

impl GuestMemory for FakeGuest {
    fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool {
        self.reads.set(self.reads.get() + 1);
        let Some(r) = self.range(va, buf.len()) else { return false };
        buf.copy_from_slice(&self.bytes.borrow()[r]);
        true
    }
    fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool {
        let Some(r) = self.range(va, buf.len()) else { return false };
        self.bytes.borrow_mut()[r].copy_from_slice(buf);
        true
    }
    fn load_segment(&self, load: crate::domain::guest_segs::SegLoad) {
        self.segment_loads.borrow_mut().push(load);
    }
}

/// Console output, as one byte stream per call.
#[derive(Default)]
pub struct Sink(pub Vec<u8>);

impl ConsoleSink for Sink {
    fn write(&mut self, _: DomId, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// The host of the tests: no memory map, 0x8000 frames, M2P at frame 0x100.
pub static HOST: std::sync::LazyLock<super::HostInfo> =
    std::sync::LazyLock::new(|| super::HostInfo { max_page: 0x8000, m2p_mfn: Mfn(0x100), ..Default::default() });

/// Where the hypercall instruction (2 bytes, SYSCALL) ends.
pub const RIP: u64 = 0x40_0002;

type GrantStorage = (Vec<crate::grant::GrantTable>, Vec<crate::grant::Active>, Vec<crate::grant::MapTrack>);

thread_local! {
    /// Grant state of the test's domains (each test runs on its own thread).
    static GRANTS: RefCell<GrantStorage> = RefCell::new({
        let (t, a, m) = crate::grant::storage_for(3);
        (vec![crate::grant::GrantTable::NONE; t], vec![crate::grant::Active::FREE; a], vec![crate::grant::MapTrack::FREE; m])
    });
}

/// Runs `f` with this test's grant tables.
pub fn with_grants<R>(f: impl FnOnce(&mut crate::grant::Grants<'_>) -> R) -> R {
    GRANTS.with(|s| {
        let mut s = s.borrow_mut();
        let (t, a, m) = &mut *s;
        f(&mut crate::grant::Grants { tables: t, active: a, maptrack: m, nx: true })
    })
}

/// What a test's hypercall runs against besides the memory model and the
/// grant tables: the caller, its vCPU and memory, the console, its
/// shared_info frame, the host and the event channels.
pub struct Caller<'a, C: ConsoleSink> {
    pub dom: DomId,
    pub vcpu: &'a mut Vcpu,
    pub guest: &'a FakeGuest,
    pub console: &'a mut C,
    pub host: &'a super::HostInfo,
    pub events: &'a mut crate::event::EventChannels,
}

impl<C: ConsoleSink> Caller<'_, C> {
    /// Dispatches the hypercall in `ctx` (its number in RAX) with grant
    /// tables `g` and an empty console line, as one SYSCALL entry.
    pub fn dispatch(self, w: &mut World, g: &mut crate::grant::Grants<'_>, ctx: &mut GuestContext) -> Action {
        let mut line = crate::console::LineBuf::new();
        let nr = ctx.gpr[reg::RAX];
        let mm = w.mm();
        let grants = crate::grant::Grants {
            tables: &mut *g.tables,
            active: &mut *g.active,
            maptrack: &mut *g.maptrack,
            nx: g.nx,
        };
        let mut hv = super::Hv { mm, console: &mut *self.console, host: self.host.clone(), grants };
        let mut call = Call {
            dom: self.dom,
            ctx,
            vcpu: self.vcpu,
            guest: self.guest,
            line: &mut line,
            entry_len: 2,
            events: self.events,
            hv: &mut hv,
        };
        call.dispatch(nr)
    }

    /// [`Caller::dispatch`] with grant tables of its own (nothing granted).
    pub fn dispatch_fresh(self, w: &mut World, ctx: &mut GuestContext) -> Action {
        let (t, a, m) = crate::grant::storage_for(3);
        let (mut t, mut a, mut m) = (
            vec![crate::grant::GrantTable::NONE; t],
            vec![crate::grant::Active::FREE; a],
            vec![crate::grant::MapTrack::FREE; m],
        );
        let mut g = crate::grant::Grants { tables: &mut t, active: &mut a, maptrack: &mut m, nx: true };
        self.dispatch(w, &mut g, ctx)
    }
}

/// One entry: the registers before it are `ctx`.
pub fn enter(w: &mut World, dom: DomId, guest: &FakeGuest, console: &mut Sink, ctx: &mut GuestContext) -> Action {
    let mut vcpu = Vcpu::new(*ctx);
    let mut events = crate::event::EventChannels::new();
    let caller = Caller { dom, vcpu: &mut vcpu, guest, console, host: &HOST, events: &mut events };
    with_grants(|g| caller.dispatch(w, g, ctx))
}

/// Registers for hypercall `nr` with `args`, just after the instruction.
pub fn regs(nr: u64, args: &[u64]) -> GuestContext {
    let mut ctx = GuestContext { rip: RIP, ..Default::default() };
    ctx.gpr[reg::RAX] = nr;
    for (&r, &a) in [reg::RDI, reg::RSI, reg::RDX, reg::R10, reg::R8].iter().zip(args) {
        ctx.gpr[r] = a;
    }
    ctx
}

/// Runs hypercall `nr` as a guest does: while it comes back preempted
/// (RIP moved back onto the instruction), executes it again with the
/// registers as left. Returns RAX and the number of entries.
pub fn run(w: &mut World, dom: DomId, guest: &FakeGuest, console: &mut Sink, nr: u64, args: &[u64]) -> (u64, u32) {
    let mut ctx = regs(nr, args);
    let mut entries = 0;
    loop {
        entries += 1;
        assert!(entries < 1_000_000, "the hypercall makes no progress");
        let action = enter(w, dom, guest, console, &mut ctx);
        assert_eq!(action, Action::Continue);
        if ctx.rip == RIP - 2 {
            assert_eq!(ctx.gpr[reg::RAX], nr, "a continuation re-executes the same hypercall");
            ctx.rip = RIP;
            continue;
        }
        return (ctx.gpr[reg::RAX], entries);
    }
}
