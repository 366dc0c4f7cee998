//! Access to machine memory from pure code.
//!
//! The memory-management core never dereferences a physical address itself.
//! It goes through [`PhysMemory`], which the arch layer implements over the
//! hypervisor's direct map and host tests implement over a fake that can
//! record every write.

use super::PhysAddr;
use abi::Mfn;

/// Reads and writes 64-bit words of machine memory.
pub trait PhysMemory {
    /// Reads the aligned 64-bit word at `addr`.
    fn read_u64(&self, addr: PhysAddr) -> u64;
    /// Writes the aligned 64-bit word at `addr`.
    fn write_u64(&mut self, addr: PhysAddr, value: u64);
    /// Writes `bytes` at `addr` (any alignment).
    fn write_bytes(&mut self, addr: PhysAddr, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let a = addr.0 + i as u64;
            let word = PhysAddr(a & !7);
            let shift = (a & 7) * 8;
            let old = self.read_u64(word);
            self.write_u64(word, (old & !(0xFF << shift)) | (u64::from(b) << shift));
        }
    }
    /// The index of the first entry in `from..to` of the page table in
    /// frame `table` whose present bit (bit 0) is set, or `to` if none is
    /// (`to` ≤ 512). (De)validation skips empty slots with it, so an empty
    /// slot costs a fraction of an instruction rather than a loop turn.
    fn next_present(&self, table: Mfn, from: usize, to: usize) -> usize {
        (from..to).find(|&i| self.read_u64(PhysAddr(table.to_maddr() + i as u64 * 8)) & 1 != 0).unwrap_or(to)
    }
    /// Copies `len` bytes from `src` to `dst` (any alignment; the ranges
    /// do not overlap unless equal).
    fn copy_bytes(&mut self, dst: PhysAddr, src: PhysAddr, len: usize) {
        let mut i = 0;
        while i < len {
            let (s, d) = (src.0 + i as u64, dst.0 + i as u64);
            if s % 8 == 0 && d % 8 == 0 && len - i >= 8 {
                let w = self.read_u64(PhysAddr(s));
                self.write_u64(PhysAddr(d), w);
                i += 8;
                continue;
            }
            let b = (self.read_u64(PhysAddr(s & !7)) >> ((s & 7) * 8)) as u8;
            self.write_bytes(PhysAddr(d), &[b]);
            i += 1;
        }
    }
    /// Fills frame `mfn` with zeroes.
    fn zero_frame(&mut self, mfn: Mfn) {
        for i in 0..512 {
            self.write_u64(PhysAddr(mfn.to_maddr() + i * 8), 0);
        }
    }
    /// Fills the `count` frames from `first` with zeroes (one call for a
    /// run, so an implementation can zero it in one loop).
    fn zero_frames(&mut self, first: Mfn, count: u64) {
        for f in first.0..first.0 + count {
            self.zero_frame(Mfn(f));
        }
    }
}

#[cfg(test)]
pub mod fake {
    //! A sparse fake memory for host tests.
    use super::*;
    use std::collections::HashMap;

    /// Sparse memory: frames that were never written read as zero.
    #[derive(Default, Debug, Clone)]
    pub struct FakeMemory {
        /// Frame number → contents.
        pub frames: HashMap<u64, Box<[u64; 512]>>,
        /// Number of writes made.
        pub writes: usize,
    }

    impl PhysMemory for FakeMemory {
        fn read_u64(&self, addr: PhysAddr) -> u64 {
            assert_eq!(addr.0 % 8, 0, "unaligned read");
            self.frames.get(&(addr.0 >> 12)).map_or(0, |f| f[((addr.0 & 0xfff) / 8) as usize])
        }

        fn write_u64(&mut self, addr: PhysAddr, value: u64) {
            assert_eq!(addr.0 % 8, 0, "unaligned write");
            self.writes += 1;
            self.frames.entry(addr.0 >> 12).or_insert_with(|| Box::new([0; 512]))[((addr.0 & 0xfff) / 8) as usize] =
                value;
        }
    }
}
