//! The console: `console_io` (18) commands `(cmd, count, buffer)`, and the
//! console ring page of every domain other than domain 0 (Xen's public
//! `io/console.h`, `struct xencons_interface`).
//!
//! start_info's `console_mfn` and `console_evtchn` name the ring page and
//! its event channel (the `console.domU` half of the union). The guest is
//! the producer of `out` and the consumer of `in`; xen-core itself is the
//! other end (see the crate docs, *Console*).

use core::mem::{offset_of, size_of};

/// Write `count` bytes from a guest buffer to the console.
pub const CONSOLEIO_WRITE: u64 = 0;
/// Read up to `count` bytes of console input.
pub const CONSOLEIO_READ: u64 = 1;

/// Bytes of the input ring (hypervisor → guest).
pub const IN_RING: usize = 1024;
/// Bytes of the output ring (guest → hypervisor).
pub const OUT_RING: usize = 2048;

/// The console ring page's layout (3088 bytes at the start of the page).
/// Indices are free-running `u32` counters: a byte at index `i` lives at
/// `ring[i % size]` (Xen's `MASK_XENCONS_IDX`), `prod - cons` (wrapping)
/// is the number of bytes waiting, never more than the ring's size.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct XenconsInterface {
    /// @0: input, written by the hypervisor.
    pub input: [u8; IN_RING],
    /// @1024: output, written by the guest.
    pub out: [u8; OUT_RING],
    /// @3072: next input byte the guest reads.
    pub in_cons: u32,
    /// @3076: next input byte the hypervisor writes.
    pub in_prod: u32,
    /// @3080: next output byte the hypervisor reads.
    pub out_cons: u32,
    /// @3084: next output byte the guest writes.
    pub out_prod: u32,
}

/// Offset of `in` in the page.
pub const IN_OFFSET: usize = offset_of!(XenconsInterface, input);
/// Offset of `out`.
pub const OUT_OFFSET: usize = offset_of!(XenconsInterface, out);
/// Offset of `in_cons`.
pub const IN_CONS_OFFSET: usize = offset_of!(XenconsInterface, in_cons);
/// Offset of `in_prod`.
pub const IN_PROD_OFFSET: usize = offset_of!(XenconsInterface, in_prod);
/// Offset of `out_cons`.
pub const OUT_CONS_OFFSET: usize = offset_of!(XenconsInterface, out_cons);
/// Offset of `out_prod`.
pub const OUT_PROD_OFFSET: usize = offset_of!(XenconsInterface, out_prod);

const _: () = assert!(size_of::<XenconsInterface>() == 3088);
const _: () = assert!(IN_OFFSET == 0 && OUT_OFFSET == 1024);
const _: () = assert!(IN_CONS_OFFSET == 3072 && IN_PROD_OFFSET == 3076);
const _: () = assert!(OUT_CONS_OFFSET == 3080 && OUT_PROD_OFFSET == 3084);
const _: () = assert!(IN_RING.is_power_of_two() && OUT_RING.is_power_of_two());

/// Where index `idx` of the output ring is (`MASK_XENCONS_IDX`).
pub const fn out_slot(idx: u32) -> usize {
    idx as usize & (OUT_RING - 1)
}

/// Where index `idx` of the input ring is.
pub const fn in_slot(idx: u32) -> usize {
    idx as usize & (IN_RING - 1)
}
