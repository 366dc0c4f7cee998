//! Raw hypercalls with arbitrary (hostile) arguments: the suite's only
//! `unsafe` code.

/// Issues hypercall `nr` and returns RAX.
pub fn hc(nr: u64, a: [u64; 5]) -> i64 {
    // SAFETY: the suite passes hostile values on purpose; the hypervisor
    // must validate them. Calls that write guest memory are given buffers
    // owned by the suite, and calls that change page tables only touch the
    // suite's own scratch frames and tables.
    unsafe { abi::raw::hypercall5(nr, a[0], a[1], a[2], a[3], a[4]) }
}

/// The runtime calls these by name.
#[no_mangle]
fn pv_main(si: &'static abi::start_info::StartInfo) -> ! {
    crate::run(si)
}

#[no_mangle]
fn pv_page_fault() -> bool {
    false
}
