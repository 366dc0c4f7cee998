//! `physdev_op` (33) commands xen-core implements (Xen's public
//! `physdev.h`): the guest's virtual IOPL and I/O bitmap, which the
//! privileged-instruction emulator consults for `in`/`out`.

/// `PHYSDEVOP_set_iopl`: `{ u32 iopl }`.
pub const SET_IOPL: u64 = 6;
/// `PHYSDEVOP_set_iobitmap`: [`SetIobitmap`].
pub const SET_IOBITMAP: u64 = 7;

/// `struct physdev_set_iobitmap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetIobitmap {
    /// Guest virtual address of the bitmap (a set bit denies the port).
    pub bitmap: u64,
    /// Ports the bitmap covers.
    pub nr_ports: u32,
    /// Padding.
    pub pad: u32,
}

const _: () = assert!(core::mem::size_of::<SetIobitmap>() == 16);
const _: () = assert!(core::mem::offset_of!(SetIobitmap, nr_ports) == 8);
