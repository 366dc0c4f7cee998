//! guest-kernel: a paravirtualized guest for xen-core. Not yet runnable;
//! the domain builder that starts it is tracked in issue 4.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-kernel is a PV guest: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}
