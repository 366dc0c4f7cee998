//! The build script of every guest on guest-rt (`build = "../guest-rt/guest-build.rs"`
//! in its Cargo.toml, so the guest needs no build.rs of its own): for the
//! bare-metal target, link the binaries with the runtime's linker script
//! (found on the search path the runtime's build script adds) as a fixed-address,
//! non-PIE image. Host builds get nothing: there the guest is a stub binary.
fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_CFG_TARGET_OS");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-Tpv-guest.ld");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
