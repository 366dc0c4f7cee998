//! Links the bare-metal build with `pvh.ld`: one segment at 1 MiB,
//! virtual = physical, entered at the PHYS32 entry. Host builds get nothing
//! (there the guest is a stub binary).
fn main() {
    println!("cargo:rerun-if-changed=pvh.ld");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_TARGET_OS");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-T{dir}/pvh.ld");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
