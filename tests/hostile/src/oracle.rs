//! The fuzzer's oracles: walk the guest's own page tables through a
//! read-only self-map of its L4 and check the two promises of direct
//! paging that a guest can see for itself:
//!
//! * no mapping of a frame it does not own (ownership from its p2m and the
//!   read-only M2P; shared_info is the one allowed exception; the M2P
//!   itself sits in the hypervisor's L4 slots, which are skipped);
//! * no writable mapping of one of its own page-table frames (every frame
//!   reached as a table in the walk, plus the frames it pinned and its GDT
//!   frames).
//!
//! The walk has two passes: the first marks every table frame reachable
//! from the root (each table is walked once, however often it is
//! referenced, so aliased trees stay cheap), the second checks every L1
//! entry of the L1 tables found.

use crate::arch;
use crate::env::Env;
use abi::mmu::pte::{ACCESSED, ADDR_MASK, DIRTY, PAT_PSE, PRESENT, RW};

/// The L4 slot holding the read-only self-map.
pub const SELF_SLOT: u64 = 300;
/// Frames the bitsets cover (512 MiB of RAM).
pub const MAX_MFN: usize = 1 << 17;
/// Most distinct L1 tables one walk checks.
pub const MAX_L1S: usize = 2048;

/// A bitset over MFNs that clears only the words it set.
pub struct Bits {
    words: [u64; MAX_MFN / 64],
    touched: [u32; 4096],
    n: usize,
}

impl Bits {
    /// An empty set.
    pub const fn new() -> Bits {
        Bits { words: [0; MAX_MFN / 64], touched: [0; 4096], n: 0 }
    }

    fn get(&self, m: u64) -> bool {
        (m as usize) < MAX_MFN && self.words[m as usize / 64] & (1 << (m % 64)) != 0
    }

    fn set(&mut self, m: u64) {
        if (m as usize) >= MAX_MFN {
            return;
        }
        let w = m as usize / 64;
        if self.words[w] == 0 && self.n < self.touched.len() {
            self.touched[self.n] = w as u32;
            self.n += 1;
        }
        self.words[w] |= 1 << (m % 64);
    }

    fn unset(&mut self, m: u64) {
        if (m as usize) < MAX_MFN {
            self.words[m as usize / 64] &= !(1 << (m % 64));
        }
    }

    fn clear(&mut self) {
        if self.n == self.touched.len() {
            self.words.fill(0);
        } else {
            for &w in &self.touched[..self.n] {
                self.words[w as usize] = 0;
            }
        }
        self.n = 0;
    }
}

impl Default for Bits {
    fn default() -> Self {
        Bits::new()
    }
}

/// Frames the guest gave back while they were still mapped or typed: they
/// stay its own (and alive) until the last reference goes, so the oracle
/// accepts them. A zombie is never retired: a table being devalidated in
/// the background (or one that is not reachable) may still reference it,
/// and when that table is hooked in again the reference is legitimate. So
/// the oracle may miss a zombie that went wrong, never report a false
/// break; the hypervisor's invariant checker (check=N) covers those.
pub struct Zombies {
    member: Bits,
    n: usize,
}

impl Zombies {
    fn contains(&self, m: u64) -> bool {
        self.member.get(m)
    }

    /// Adds a frame given back.
    pub fn add(&mut self, m: u64) {
        if !self.member.get(m) {
            self.member.set(m);
            self.n += 1;
        }
    }

    /// Forgets a frame that is the guest's own again.
    pub fn remove(&mut self, m: u64) {
        if self.member.get(m) {
            self.member.unset(m);
            self.n -= 1;
        }
    }

    /// How many are tracked.
    pub fn len(&self) -> usize {
        self.n
    }
}

/// Storage for one walk (static: too big for the stack).
pub struct State {
    /// Frames given back but perhaps still alive.
    pub zombies: Zombies,
    tables: Bits,
    /// Distinct (L1, writable path) pairs: frame, page VA, path, whether
    /// every upper entry on the path allows writes.
    l1s: [(u64, u64, [u64; 3], bool); MAX_L1S],
    n_l1s: usize,
}

impl State {
    /// Empty storage.
    pub const fn new() -> State {
        State {
            zombies: Zombies { member: Bits::new(), n: 0 },
            tables: Bits::new(),
            l1s: [(0, 0, [0; 3], false); MAX_L1S],
            n_l1s: 0,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// The sign-extended address of L4/L3/L2/L1 indices.
pub fn va_of(i4: u64, i3: u64, i2: u64, i1: u64) -> u64 {
    let va = (i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12);
    if i4 >= 256 {
        va | 0xFFFF_0000_0000_0000
    } else {
        va
    }
}

/// A violation, described on the console by the caller.
pub struct Violation {
    /// Path of the entry (L4, L3, L2, L1 index), or the fault of the walk.
    pub at: [u64; 4],
    /// The entry.
    pub pte: u64,
    /// What is wrong.
    pub why: &'static str,
}

/// Frames the guest knows are tables or descriptor pages besides those the
/// walk reaches (pinned tables, GDT frames).
pub struct Known<'a> {
    /// Pinned tables.
    pub pinned: &'a [u64],
    /// GDT frames.
    pub gdt: &'a [u64],
    /// Other domains' frames a `map_grant_ref` of theirs mapped for it (the
    /// frame `dev_bus_addr` named): a leaf may map these. Whether such a
    /// mapping is still held is the hypervisor's invariant checker's part
    /// (`check=`), which counts every grant mapping's references.
    pub granted: &'a [u64],
}

/// Walks L4 slots `lo..=hi` and checks both promises; returns the number
/// of leaf entries checked.
pub fn check(env: &Env, lo: u64, hi: u64, known: &Known<'_>) -> Result<u64, Violation> {
    let st = arch::oracle_state();
    st.tables.clear();
    st.n_l1s = 0;
    st.tables.set(env.l4);
    for &m in known.pinned.iter().chain(known.gdt) {
        st.tables.set(m);
    }
    let mut result: Result<u64, Violation> = Ok(0);
    let fault = arch::catch(|| result = walk(env, st, lo, hi, known.granted));
    if let Some(f) = fault {
        return Err(Violation { at: [f.vector, f.rip, f.error, 0], pte: 0, why: "the walk itself faulted" });
    }
    result
}

/// Invalidates the self-map pages about to be read, so a cached
/// translation of the linear map never shows an old table (the rest of the
/// TLB is left alone: stale entries elsewhere are what the fuzzer hunts).
fn invlpg(pages: impl Iterator<Item = u64>) {
    let mut ops = [abi::mmu::MmuextOp::default(); 32];
    let mut n = 0;
    let flush = |ops: &[abi::mmu::MmuextOp]| {
        if !ops.is_empty() {
            let _ = arch::hc(26, [ops.as_ptr() as u64, ops.len() as u64, 0, crate::env::SELF, 0]);
        }
    };
    for va in pages {
        ops[n] = abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_INVLPG_LOCAL, pad: 0, arg1: va, arg2: 0 };
        n += 1;
        if n == ops.len() {
            flush(&ops);
            n = 0;
        }
    }
    flush(&ops[..n]);
}

fn walk(env: &Env, st: &mut State, lo: u64, hi: u64, granted: &[u64]) -> Result<u64, Violation> {
    let s = SELF_SLOT;
    let l4_page = va_of(s, s, s, s);
    let mut walked = Walked { keys: [u64::MAX; 1024], n: 0 };
    // Pass 1, level by level: every table frame, and the distinct L1s.
    // Writes are allowed only if every level allows them: a read-only
    // (linear) entry above makes the whole subtree read-only, so each
    // table is walked once per (level, writable path).
    let mut l3s = [(0u64, false); 512];
    let mut n3 = 0;
    invlpg(core::iter::once(l4_page));
    // The hypervisor's L4 slots as the root holds them: a frame reached
    // through a read-only linear entry may be an L4 with the same slots,
    // which lead to the read-only M2P (an allowed exception), not to a
    // frame of the guest. Accessed/Dirty may differ (the CPU sets them).
    let mut hv = [0u64; 16];
    for (i, h) in hv.iter_mut().enumerate() {
        *h = arch::read(l4_page + (256 + i as u64) * 8) & !(ACCESSED | DIRTY);
    }
    let hv_slot = |i: u64, e: u64| (256..272).contains(&i) && e & !(ACCESSED | DIRTY) == hv[(i - 256) as usize];
    for i4 in lo..=hi {
        if (256..272).contains(&i4) || i4 == s {
            continue;
        }
        let e4 = arch::read(l4_page + i4 * 8);
        if e4 & PRESENT == 0 {
            continue;
        }
        let l3 = table(env, &mut st.zombies, e4, [i4, 0, 0, 0])?;
        st.tables.set(l3);
        let rw = e4 & RW != 0;
        if walked.first(l3, 3, rw) {
            l3s[n3] = (i4, rw);
            n3 += 1;
        }
    }
    invlpg(l3s[..n3].iter().map(|&(i4, _)| va_of(s, s, s, i4)));
    let mut l2s = [(0u64, 0u64, false); 512];
    let mut n2 = 0;
    for &(i4, rw4) in &l3s[..n3] {
        let page = va_of(s, s, s, i4);
        for i3 in 0..512 {
            let e3 = arch::read(page + i3 * 8);
            if e3 & PRESENT == 0 || hv_slot(i3, e3) {
                continue;
            }
            let l2 = table(env, &mut st.zombies, e3, [i4, i3, 0, 0])?;
            st.tables.set(l2);
            let rw = rw4 && e3 & RW != 0;
            if walked.first(l2, 2, rw) && n2 < l2s.len() {
                l2s[n2] = (i4, i3, rw);
                n2 += 1;
            }
        }
    }
    invlpg(l2s[..n2].iter().map(|&(i4, i3, _)| va_of(s, s, i4, i3)));
    for &(i4, i3, rw3) in &l2s[..n2] {
        let page = va_of(s, s, i4, i3);
        for i2 in 0..512 {
            let e2 = arch::read(page + i2 * 8);
            if e2 & PRESENT == 0 || hv_slot(i2, e2) {
                continue;
            }
            if e2 & PAT_PSE != 0 {
                return Err(Violation { at: [i4, i3, i2, 0], pte: e2, why: "a superpage L2 entry" });
            }
            let l1 = table(env, &mut st.zombies, e2, [i4, i3, i2, 0])?;
            st.tables.set(l1);
            let rw = rw3 && e2 & RW != 0;
            if walked.first(l1, 1, rw) && st.n_l1s < MAX_L1S {
                st.l1s[st.n_l1s] = (l1, va_of(s, i4, i3, i2), [i4, i3, i2], rw);
                st.n_l1s += 1;
            }
        }
    }
    invlpg(st.l1s[..st.n_l1s].iter().map(|&(_, page, _, _)| page));
    // Pass 2: every entry of every L1.
    let mut leaves = 0;
    for &(_, page, [i4, i3, i2], rw2) in &st.l1s[..st.n_l1s] {
        for i1 in 0..512 {
            let e1 = arch::read(page + i1 * 8);
            if e1 & PRESENT == 0 || hv_slot(i1, e1) {
                continue;
            }
            leaves += 1;
            let m = (e1 & ADDR_MASK) >> 12;
            let at = [i4, i3, i2, i1];
            if m != env.shared_info && !owns(env, m) && !st.zombies.contains(m) && !granted.contains(&m) {
                return Err(Violation { at, pte: e1, why: "maps a frame it does not own" });
            }
            if rw2 && e1 & RW != 0 && st.tables.get(m) {
                return Err(Violation { at, pte: e1, why: "maps a page-table or GDT frame writable" });
            }
        }
    }
    Ok(leaves)
}

/// A table entry must point at a frame the guest owns.
fn table(env: &Env, zombies: &mut Zombies, e: u64, at: [u64; 4]) -> Result<u64, Violation> {
    let m = (e & ADDR_MASK) >> 12;
    if owns(env, m) || zombies.contains(m) {
        Ok(m)
    } else {
        Err(Violation { at, pte: e, why: "references a table frame it does not own" })
    }
}

/// Tables walked in pass 1, by (frame, level): a small open-addressed set.
struct Walked {
    keys: [u64; 1024],
    n: usize,
}

impl Walked {
    /// True the first time (frame, level) is seen; once full, everything
    /// counts as seen (the walk is then partial, never endless).
    fn first(&mut self, m: u64, level: u64, rw: bool) -> bool {
        let key = m * 8 + level * 2 + u64::from(rw);
        let mut h = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
        loop {
            if self.keys[h] == key {
                return false;
            }
            if self.keys[h] == u64::MAX {
                if self.n >= self.keys.len() / 2 {
                    return false;
                }
                self.keys[h] = key;
                self.n += 1;
                return true;
            }
            h = (h + 1) % self.keys.len();
        }
    }
}

/// Ownership by the guest's own records: the M2P and its p2m agree.
pub fn owns(env: &Env, mfn: u64) -> bool {
    if mfn as usize >= MAX_MFN {
        return false;
    }
    let pfn = env.m2p(mfn);
    pfn < env.nr_pages && env.mfn(pfn) == mfn
}
