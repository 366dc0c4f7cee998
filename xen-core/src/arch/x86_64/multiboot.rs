//! Turning a byte slice into validated multiboot2 boot information.

use crate::boot::BootInfoError;
use multiboot2::{BootInformation, BootInformationHeader};

/// The value the bootloader leaves in EAX.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

/// Validates the boot information in `bytes` and loads it.
///
/// `bytes` must start at the boot information; its length bounds what may be
/// read, whatever the header claims.
pub fn load(bytes: &[u8]) -> Result<BootInformation<'_>, BootInfoError> {
    if bytes.as_ptr().align_offset(8) != 0 {
        return Err(BootInfoError::Misaligned);
    }
    let total =
        bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or(BootInfoError::BadTotalSize(0))?;
    // A header (8) plus an end tag (8) is the smallest valid block.
    if total < 16 || total as usize > bytes.len() || total % 8 != 0 {
        return Err(BootInfoError::BadTotalSize(total));
    }
    // SAFETY: the pointer is non-null, 8-byte aligned, and `total` bytes from
    // it lie inside `bytes`, which stays borrowed (and unmodified) for the
    // lifetime of the returned value.
    unsafe { BootInformation::load(bytes.as_ptr().cast::<BootInformationHeader>()) }
        .map_err(|_| BootInfoError::BadTagChain)
}
