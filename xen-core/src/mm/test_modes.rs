//! Test-only modes of the model, compiled out of the hypervisor: small
//! tables (the exhaustive search uses 2–3 entries per table) and planted
//! rule breaks (to show that the tests find them). Outside `cfg(test)`
//! both are constants, so the production code pays nothing.

/// A planted rule break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// No flush before a frame takes a different type.
    NoTypeChangeFlush = 1,
    /// No flush before a freed frame returns to the allocator.
    NoFreeFlush = 2,
    /// An L1 entry may map a page table writable.
    WritableTableMapping = 4,
}

#[cfg(test)]
std::thread_local! {
    static ENTRIES: core::cell::Cell<u16> = const { core::cell::Cell::new(512) };
    static FAULTS: core::cell::Cell<u8> = const { core::cell::Cell::new(0) };
}

/// Entries per page table (512 unless a test asked for fewer).
#[cfg(test)]
pub fn table_entries() -> u16 {
    ENTRIES.with(core::cell::Cell::get)
}

/// Entries per page table.
#[cfg(not(test))]
#[inline(always)]
pub const fn table_entries() -> u16 {
    512
}

/// Uses `n` entries per table on this thread (each test has its own).
#[cfg(test)]
pub fn set_table_entries(n: u16) {
    ENTRIES.with(|e| e.set(n));
}

/// Whether `f` is planted on this thread.
#[cfg(test)]
pub fn injected(f: Fault) -> bool {
    FAULTS.with(|c| c.get() & f as u8 != 0)
}

/// Never: faults exist only in tests.
#[cfg(not(test))]
#[inline(always)]
pub const fn injected(_: Fault) -> bool {
    false
}

/// Plants `faults` on this thread (empty: none).
#[cfg(test)]
pub fn plant(faults: &[Fault]) {
    FAULTS.with(|c| c.set(faults.iter().fold(0, |a, &f| a | f as u8)));
}
