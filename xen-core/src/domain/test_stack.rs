//! A fake guest memory for host tests of bounces and returns: one page at
//! [`BASE`], every other address faults.

use crate::hypercall::GuestMemory;
use abi::GuestVa;
use std::cell::RefCell;

/// The page's guest address.
pub const BASE: u64 = 0x10_0000;
/// One past its last byte.
pub const TOP: u64 = BASE + 0x1000;

/// The page, every guest mode switch made (to user?, root loaded), the
/// vCPU's `evtchn_upcall_mask`, the guest writes made (each `copy_to`,
/// however long), and its `evtchn_upcall_pending`.
pub struct Stack(
    pub RefCell<Vec<u8>>,
    pub RefCell<Vec<(bool, u64)>>,
    pub std::cell::Cell<u8>,
    pub std::cell::Cell<u32>,
    pub std::cell::Cell<bool>,
);

fn offset(va: GuestVa, len: usize) -> Option<usize> {
    let off = va.0.checked_sub(BASE)?;
    (off + len as u64 <= 0x1000).then_some(off as usize)
}

impl GuestMemory for Stack {
    fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool {
        let Some(off) = offset(va, buf.len()) else { return false };
        buf.copy_from_slice(&self.0.borrow()[off..off + buf.len()]);
        true
    }
    fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool {
        self.3.set(self.3.get() + 1);
        let Some(off) = offset(va, buf.len()) else { return false };
        self.0.borrow_mut()[off..off + buf.len()].copy_from_slice(buf);
        true
    }
    fn toggle_mode(&self, to_user: bool, root: u64) {
        self.1.borrow_mut().push((to_user, root));
    }
    fn upcall_mask(&self) -> u8 {
        self.2.get()
    }
    fn set_upcall_mask(&self, mask: u8) {
        self.2.set(mask);
    }
    fn upcall_pending(&self) -> bool {
        self.4.get()
    }
}

/// A zeroed page.
pub fn stack() -> Stack {
    use std::cell::Cell;
    Stack(RefCell::new(vec![0; 0x1000]), RefCell::new(Vec::new()), Cell::new(0), Cell::new(0), Cell::new(false))
}

/// The word at `va`.
pub fn word(s: &Stack, va: u64) -> u64 {
    let off = (va - BASE) as usize;
    u64::from_le_bytes(s.0.borrow()[off..off + 8].try_into().expect("8 bytes"))
}
