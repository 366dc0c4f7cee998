//! The fuzzer's `grant_table_op` generators: entries written into its own
//! table (forged flags, foreign and free frames, its own page tables,
//! grantees other than itself), maps of forged references and foreign
//! domains (the victim's table, ids that do not exist), host mappings at
//! arena addresses and at PTE machine addresses (misaligned, not an L1, its
//! own tables), double and mismatched unmaps, copies with hostile sides,
//! offsets and lengths, version switches while entries are in use, and the
//! table queries and swaps with hostile pointers and references.
//!
//! It stays alive the same way as the other generators: entries granting
//! a frame of its own image are always read-only, so no map or copy can
//! write the running kernel, and PTE addresses come from `target_entry`
//! (never a live boot table entry).

use super::*;
use abi::grant_table::*;

/// Mappings remembered for unmapping.
pub(super) const HANDLES: usize = 16;

/// The fuzzer's grant state.
pub(super) struct GrantState {
    /// MFN of shared frame 0 (0 until `setup_table` answered).
    pub table: u64,
    /// Its own domain id.
    pub me: u16,
    /// (handle, host_addr, flags) of maps that succeeded.
    pub maps: [(u32, u64, u32); HANDLES],
    pub n_maps: usize,
    /// The table's version, as the last `set_version` reported it.
    pub version: u32,
    /// Frames of other domains a map of their grant returned (as
    /// `dev_bus_addr`), for the oracle; the oldest forgotten when full.
    pub foreign: [u64; HANDLES],
    pub n_foreign: usize,
}

impl GrantState {
    pub(super) const fn new() -> GrantState {
        GrantState {
            table: 0,
            me: 0,
            maps: [(0, 0, 0); HANDLES],
            n_maps: 0,
            version: 1,
            foreign: [0; HANDLES],
            n_foreign: 0,
        }
    }
}

const GT: u64 = abi::hypercall::HypercallNr::GRANT_TABLE_OP.0;

impl Fuzz<'_> {
    fn gop<T>(&mut self, cmd: u64, ops: &mut [T]) -> i64 {
        self.hcall(GT, [cmd, ops.as_mut_ptr() as u64, ops.len() as u64, 0, 0])
    }

    /// A domain id for a grant: mostly itself, else the victim, `DOMID_SELF`
    /// or ids that name no domain.
    fn grant_dom(&mut self) -> u16 {
        let me = self.grants.me;
        match self.rng.below(10) {
            0..=5 => me,
            6 => 0,
            7 => 0x7FF0,
            _ => self.rng.pick(&[1, 2, 7, 100, 0x7FF1, 0x7FF4, 0xFFFF]),
        }
    }

    fn grant_ref(&mut self) -> u32 {
        match self.rng.below(10) {
            0..=7 => self.rng.below(24) as u32,
            8 => self.rng.pick(&[511, 512, 1023, 1024, 2047, 2048]),
            _ => self.rng.next() as u32,
        }
    }

    fn ensure_table(&mut self) {
        if self.grants.table != 0 {
            return;
        }
        let mut frames = [0u64; 1];
        let mut st = SetupTable {
            dom: abi::DomId::SELF,
            nr_frames: 1,
            frame_list: frames.as_mut_ptr() as u64,
            ..Default::default()
        };
        if self.gop(GNTTABOP_SETUP_TABLE, core::slice::from_mut(&mut st)) == 0 && st.status == 0 {
            self.grants.table = frames[0];
        }
        // Its own id: 0 when it is the control domain, else the one it may name.
        self.grants.me = (0..64u16).find(|&d| reservation_of(3, d) >= 0).unwrap_or(0);
    }

    /// Writes an entry of its own table with `GNTTABOP_copy` from its buffer.
    fn write_entry(&mut self) -> bool {
        self.ensure_table();
        if self.grants.table == 0 {
            return false;
        }
        // Never a frame of its own image: no map or copy may write the
        // running kernel, whatever the entry's flags become.
        let frame = self.frame();
        let frame = if self.env.is_image(frame) { self.dest_frame() } else { frame };
        let flags = match self.rng.below(10) {
            0..=5 => gtf::PERMIT_ACCESS,
            6 => gtf::PERMIT_ACCESS | gtf::READONLY,
            7 => self.rng.pick(&[gtf::ACCEPT_TRANSFER, gtf::TRANSITIVE, gtf::INVALID]),
            8 => gtf::PERMIT_ACCESS | self.rng.pick(&[gtf::SUB_PAGE, gtf::READING, gtf::WRITING, gtf::PCD | gtf::PWT]),
            _ => self.rng.next() as u16,
        };
        let dom = self.grant_dom();
        let r = self.rng.below(24);
        // 16 bytes: a v1 entry and one whose frame field is 0, or a whole
        // v2 entry with its frame word.
        self.bufs.page[500] = u64::from(flags) | (u64::from(dom) << 16) | (frame << 32);
        self.bufs.page[501] = frame;
        let buf_va = self.bufs.page.as_ptr() as u64 + 500 * 8;
        let buf_mfn = self.env.mfn(Env::pfn_of_va(buf_va));
        let size = if self.grants.version == 2 { 16 } else { 8 };
        let mut op = GnttabCopy {
            source: CopyPtr { u: buf_mfn, domid: abi::DomId::SELF, offset: (buf_va & 0xFFF) as u16, pad: 0 },
            dest: CopyPtr { u: self.grants.table, domid: abi::DomId::SELF, offset: (r * size) as u16, pad: 0 },
            len: 16,
            flags: 0,
            ..Default::default()
        };
        self.gop(GNTTABOP_COPY, core::slice::from_mut(&mut op));
        false
    }

    fn map_grant(&mut self) -> bool {
        let pte = self.rng.chance(64);
        let mut flags = match self.rng.below(8) {
            0..=3 => gntmap::HOST_MAP,
            4 => gntmap::HOST_MAP | gntmap::READONLY,
            5 => gntmap::DEVICE_MAP | self.rng.pick(&[0, gntmap::READONLY, gntmap::HOST_MAP]),
            6 => gntmap::HOST_MAP | gntmap::APPLICATION_MAP,
            _ => self.rng.next() as u32,
        };
        let host_addr = if pte {
            flags |= gntmap::CONTAINS_PTE;
            let e = self.target_entry();
            if self.rng.chance(30) {
                e + 1 + self.rng.below(7)
            } else {
                e
            }
        } else {
            flags &= !gntmap::CONTAINS_PTE;
            self.va()
        };
        let r = self.grant_ref();
        let dom = self.grant_dom();
        let mut op = MapGrantRef { host_addr, flags, ref_: r, dom: abi::DomId(dom), ..Default::default() };
        let rc = self.gop(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op));
        if rc == 0 && op.status == 0 {
            let slot = self.grants.n_maps % HANDLES;
            self.grants.maps[slot] = (op.handle, host_addr, flags);
            self.grants.n_maps += 1;
            // Another domain's frame, granted to us: mapping it is what a
            // grant is for, so the oracle must not call it a break.
            let frame = op.dev_bus_addr >> 12;
            if dom != self.grants.me && dom != abi::DomId::SELF.0 && frame != 0 && !self.grants.foreign.contains(&frame)
            {
                self.grants.foreign[self.grants.n_foreign % HANDLES] = frame;
                self.grants.n_foreign += 1;
            }
            return true;
        }
        false
    }

    fn unmap_grant(&mut self) -> bool {
        let known = self.grants.maps[self.rng.below(HANDLES as u64) as usize];
        let (handle, host_addr) = match self.rng.below(10) {
            0..=6 => (known.0, known.1),
            7 => (known.0, self.va()),
            8 => (self.rng.below(300) as u32, self.va()),
            _ => (self.rng.next() as u32, self.rng.next()),
        };
        let dev = match self.rng.below(4) {
            0 => 0,
            1 => self.frame() << 12,
            _ => 0,
        };
        if self.rng.chance(40) {
            let new_addr = if self.rng.chance(128) { 0 } else { self.va() };
            let mut op = UnmapAndReplace { host_addr, new_addr, handle, ..Default::default() };
            self.gop(GNTTABOP_UNMAP_AND_REPLACE, core::slice::from_mut(&mut op));
        } else {
            let n = 1 + self.rng.below(2) as usize;
            let mut ops = [UnmapGrantRef { host_addr, dev_bus_addr: dev, handle, ..Default::default() }; 2];
            self.gop(GNTTABOP_UNMAP_GRANT_REF, &mut ops[..n]);
        }
        true
    }

    fn copy_grant(&mut self) -> bool {
        let side = |f: &mut Self, dest: bool| -> (CopyPtr, bool) {
            let gref = f.rng.chance(128);
            let offset = if f.rng.chance(200) { f.rng.below(4096) as u16 } else { f.rng.next() as u16 };
            if gref {
                (CopyPtr { u: u64::from(f.grant_ref()), domid: abi::DomId(f.grant_dom()), offset, pad: 0 }, true)
            } else {
                let m = if dest { f.dest_frame() } else { f.frame() };
                let domid = if f.rng.chance(230) { abi::DomId::SELF } else { abi::DomId(f.grant_dom()) };
                (CopyPtr { u: m, domid, offset, pad: 0 }, false)
            }
        };
        let (source, sg) = side(self, false);
        let (dest, dg) = side(self, true);
        let len = match self.rng.below(4) {
            0 => 8,
            1 => 4096,
            2 => self.rng.below(4097) as u16,
            _ => self.rng.next() as u16,
        };
        let flags = if sg { gntcopy::SOURCE_GREF } else { 0 } | if dg { gntcopy::DEST_GREF } else { 0 };
        let mut op = GnttabCopy { source, dest, len, flags, ..Default::default() };
        self.gop(GNTTABOP_COPY, core::slice::from_mut(&mut op));
        false
    }

    fn grant_queries(&mut self) -> bool {
        let out = self.out_ptr();
        match self.rng.below(6) {
            0 => {
                let v = self.rng.pick(&[1, 2, 2, 0, 3, u32::MAX]);
                let mut op = SetVersion { version: v };
                let rc = self.gop(GNTTABOP_SET_VERSION, core::slice::from_mut(&mut op));
                if rc == 0 || op.version == 1 || op.version == 2 {
                    self.grants.version = op.version;
                }
            }
            1 => {
                let mut op = GetVersion { dom: abi::DomId(self.grant_dom()), ..Default::default() };
                self.gop(GNTTABOP_GET_VERSION, core::slice::from_mut(&mut op));
            }
            2 => {
                let mut op = QuerySize { dom: abi::DomId(self.grant_dom()), ..Default::default() };
                self.gop(GNTTABOP_QUERY_SIZE, core::slice::from_mut(&mut op));
            }
            3 => {
                let nr = self.rng.pick(&[0, 1, 2, 4, 5, 0xFFFF_FFFF]);
                let mut op = SetupTable {
                    dom: abi::DomId(self.grant_dom()),
                    nr_frames: nr,
                    frame_list: out,
                    ..Default::default()
                };
                self.gop(GNTTABOP_SETUP_TABLE, core::slice::from_mut(&mut op));
            }
            4 => {
                let nr = self.rng.pick(&[0, 1, 2, 0xFFFF_FFFF]);
                let mut op =
                    GetStatusFrames { nr_frames: nr, dom: abi::DomId(self.grant_dom()), status: 0, frame_list: out };
                self.gop(GNTTABOP_GET_STATUS_FRAMES, core::slice::from_mut(&mut op));
            }
            5 if self.rng.chance(128) => {
                let mut op = SwapGrantRef { ref_a: self.grant_ref(), ref_b: self.grant_ref(), ..Default::default() };
                self.gop(GNTTABOP_SWAP_GRANT_REF, core::slice::from_mut(&mut op));
            }
            _ => {
                // Raw: hostile pointers, counts and sub-ops.
                let cmd = self.rng.pick(&[0, 1, 5, 7, 2, 6, 3, 4, 11, 12, 13, 1 << 12]);
                let ptr = self.rng.pick(&HOSTILE_PTRS);
                let count = self.rng.pick(&[0, 1, 2, 1 << 31, 0xFFFF_FFFF, 1 << 32]);
                self.hcall(GT, [cmd, ptr, count, 0, 0]);
            }
        }
        false
    }

    /// One grant operation; true when a mapping may have changed.
    pub(super) fn grant_op(&mut self) -> bool {
        match self.rng.below(10) {
            0..=2 => self.write_entry(),
            3..=4 => self.map_grant(),
            5..=6 => self.unmap_grant(),
            7..=8 => self.copy_grant(),
            _ => self.grant_queries(),
        }
    }

    /// Unmaps what it still maps (the end of the campaign).
    pub(super) fn grant_cleanup(&mut self) {
        for i in 0..HANDLES.min(self.grants.n_maps) {
            let (handle, host_addr, _) = self.grants.maps[i];
            let mut op = [UnmapGrantRef { host_addr, dev_bus_addr: 0, handle, ..Default::default() }];
            self.gop(GNTTABOP_UNMAP_GRANT_REF, &mut op);
        }
    }
}
