//! Grant table host tests: a row per status code and errno, the XSA
//! regressions, and a property test over random sequences from several
//! domains with the combined invariant checker after every step.

mod harness;
mod properties;
mod replace;
mod rows;
mod translated;
mod xsa;

#[test]
fn grant_commands_with_bits_above_the_sub_op_or_a_huge_count_are_einval_except_cache_flush_flags() {
    use abi::grant_table::{GNTTABOP_CACHE_FLUSH, GNTTABOP_COPY};
    use abi::Errno;
    assert_eq!(crate::grant::decode_cmd(GNTTABOP_COPY, 3), Ok((GNTTABOP_COPY, 3)));
    assert_eq!(crate::grant::decode_cmd(GNTTABOP_COPY | 1 << 12, 1), Err(Errno::EINVAL));
    assert_eq!(crate::grant::decode_cmd(GNTTABOP_COPY, 1 << 31), Err(Errno::EINVAL));
    // Only the low 32 bits of cmd and count are read, as Xen's unsigned int.
    assert_eq!(crate::grant::decode_cmd(GNTTABOP_COPY | 1 << 40, 1 << 32 | 2), Ok((GNTTABOP_COPY, 2)));
    let flush = GNTTABOP_CACHE_FLUSH | 1 << 12;
    assert_eq!(crate::grant::decode_cmd(flush, 1), Ok((GNTTABOP_CACHE_FLUSH, 1)));
}
