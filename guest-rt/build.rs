//! Supplies the guest linker script: copies `pv-guest.ld` into OUT_DIR and
//! puts that directory on the link search path of every crate linking the
//! runtime, where a guest's `-Tpv-guest.ld` (from `guest-build.rs`) finds it.
fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=pv-guest.ld");
    std::fs::copy(format!("{dir}/pv-guest.ld"), format!("{out}/pv-guest.ld")).unwrap();
    println!("cargo:rustc-link-search=native={out}");
}
