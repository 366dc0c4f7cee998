//! The hypercall page (fact sheet §1.2): 128 stubs of 32 bytes, the rest
//! INT3. Stub *i* saves RCX and R11, loads *i* into EAX, issues SYSCALL and
//! returns; stub 23 (`iret`) is jumped to and never returns.
//!
//! A PVH (HVM) guest's page is [`hvm_hypercall_page`]: stub *i* is
//! `mov eax, i; vmmcall; ret`, the rest of the page RET, as Xen writes it
//! on AMD; an HVM guest has no `iret` hypercall, so stub 23 is all RET.

use abi::hypercall::{HypercallNr, HYPERCALL_PAGE_STUBS, HYPERCALL_STUB_SIZE};

/// The bytes of the hypercall page.
pub fn hypercall_page() -> [u8; 4096] {
    let mut page = [0xCCu8; 4096];
    for i in 0..HYPERCALL_PAGE_STUBS {
        let stub = &mut page[i * HYPERCALL_STUB_SIZE..];
        let nr = (i as u32).to_le_bytes();
        if i as u64 == HypercallNr::IRET.0 {
            // push rcx; push r11; push rax; mov eax, 23; syscall
            let code = [0x51, 0x41, 0x53, 0x50, 0xB8, nr[0], nr[1], nr[2], nr[3], 0x0F, 0x05];
            stub[..code.len()].copy_from_slice(&code);
        } else {
            // push rcx; push r11; mov eax, i; syscall; pop r11; pop rcx; ret
            let code = [0x51, 0x41, 0x53, 0xB8, nr[0], nr[1], nr[2], nr[3], 0x0F, 0x05, 0x41, 0x5B, 0x59, 0xC3];
            stub[..code.len()].copy_from_slice(&code);
        }
    }
    page
}

/// The bytes of a PVH guest's hypercall page (VMMCALL stubs).
pub fn hvm_hypercall_page() -> [u8; 4096] {
    let mut page = [0xC3u8; 4096];
    for i in 0..HYPERCALL_PAGE_STUBS {
        if i as u64 == HypercallNr::IRET.0 {
            continue;
        }
        let nr = (i as u32).to_le_bytes();
        // mov eax, i; vmmcall; ret
        let code = [0xB8, nr[0], nr[1], nr[2], nr[3], 0x0F, 0x01, 0xD9, 0xC3];
        page[i * HYPERCALL_STUB_SIZE..][..code.len()].copy_from_slice(&code);
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hvm_stubs_are_mov_eax_vmmcall_ret_and_iret_has_none() {
        let p = hvm_hypercall_page();
        assert_eq!(&p[18 * 32..18 * 32 + 9], &[0xB8, 18, 0, 0, 0, 0x0F, 0x01, 0xD9, 0xC3]);
        assert!(p[18 * 32 + 9..19 * 32].iter().all(|&b| b == 0xC3));
        assert!(p[23 * 32..24 * 32].iter().all(|&b| b == 0xC3), "no iret for HVM");
        assert_eq!(&p[127 * 32..127 * 32 + 5], &[0xB8, 127, 0, 0, 0]);
    }

    #[test]
    fn stubs_match_the_exact_bytes_of_the_abi() {
        let p = hypercall_page();
        assert_eq!(&p[32..46], &[0x51, 0x41, 0x53, 0xB8, 1, 0, 0, 0, 0x0F, 0x05, 0x41, 0x5B, 0x59, 0xC3]);
        assert!(p[46..64].iter().all(|&b| b == 0xCC));
        assert_eq!(&p[23 * 32..23 * 32 + 11], &[0x51, 0x41, 0x53, 0x50, 0xB8, 23, 0, 0, 0, 0x0F, 0x05]);
        assert!(p[23 * 32 + 11..24 * 32].iter().all(|&b| b == 0xCC));
        assert_eq!(&p[127 * 32 + 3..127 * 32 + 8], &[0xB8, 127, 0, 0, 0]);
    }
}
