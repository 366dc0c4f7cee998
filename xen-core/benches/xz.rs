//! Host benchmark of the kernel payload decoders: decodes the xz payload
//! of a bzImage (default: the Debian kernel `make linux-fetch` unpacks,
//! or the file given as the first argument) with xen-core's single-call
//! decoder and with the `xz4rust` crate it replaced, checks that both give
//! the same bytes, and prints host times. Host times are a relative guide
//! only; the figure that matters is the boot under QEMU TCG. Run under
//! `valgrind --tool=cachegrind` for instruction and data-access counts
//! (`--only ours` or `--only xz4rust` decodes with one of them).

use std::time::Instant;
use xen_core::domain::bzimage::KernelFile;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut path = None;
    let mut only = None;
    while let Some(a) = args.next() {
        if a == "--only" {
            only = args.next();
        } else {
            path = Some(a);
        }
    }
    let path = path.unwrap_or_else(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../build/linux/boot");
        let found = std::fs::read_dir(dir)
            .ok()
            .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.to_string_lossy().contains("vmlinuz")));
        match found {
            Some(p) => p.to_string_lossy().into_owned(),
            None => {
                println!("xz bench: no kernel under {dir} (make linux-fetch); nothing to measure");
                std::process::exit(0);
            }
        }
    });
    let image = std::fs::read(&path).expect("read the kernel image");
    let (payload, len) = match KernelFile::classify(&image).expect("a kernel image") {
        KernelFile::Compressed { payload, output_len, .. } => (payload, output_len as usize),
        KernelFile::Elf(_) => panic!("{path} is an ELF, not a compressed bzImage"),
    };
    println!("xz bench: {path}: {} bytes of payload, {len} bytes out", payload.len());
    let ours = (only.as_deref() != Some("xz4rust")).then(|| {
        let mut out = vec![0u8; len];
        let t = Instant::now();
        let d = xen_core::domain::xz::decode(payload, &mut out).expect("xen-core's decoder");
        println!("  xen-core xz::decode: {:.3} s", t.elapsed().as_secs_f64());
        assert_eq!(d.produced, len);
        out
    });
    let theirs = (only.as_deref() != Some("ours")).then(|| {
        let mut out = vec![0u8; len];
        let mut dict = vec![0u8; 64 << 20];
        let t = Instant::now();
        let mut dec = Box::new(xz4rust::XzDecoder::with_fixed_size_dict(&mut dict));
        let (mut i, mut o) = (0, 0);
        loop {
            let r = dec.decode(&payload[i..], &mut out[o..]).expect("xz4rust");
            i += r.input_consumed();
            o += r.output_produced();
            if r.is_end_of_stream() || !r.made_progress() {
                break;
            }
        }
        println!("  xz4rust:             {:.3} s", t.elapsed().as_secs_f64());
        assert_eq!(o, len);
        out
    });
    if let (Some(a), Some(b)) = (&ours, &theirs) {
        assert!(a == b, "the decoders disagree");
        println!("  both give the same {len} bytes");
    }
}
