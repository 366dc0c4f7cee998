//! The Xen ELF notes of a guest, from one macro: [`guest!`](crate::guest).
//!
//! The loader (xen-core's domain builder, or Xen's libelf) reads `Xen`
//! notes (ELF note name `"Xen"`, type = the `XEN_ELFNOTE_*` number of
//! `abi::elfnote`) to learn where the image goes and where it starts. The
//! runtime always emits the ones whose value follows from its linker script
//! and entry code, so none of them can be forgotten or disagree with the
//! image:
//!
//! | note | value | why |
//! |---|---|---|
//! | `XEN_VERSION` (5) | `"xen-3.0"` | required; the loader refuses an image without it |
//! | `LOADER` (8) | `"generic"` | required (or a `GUEST_OS` starting `linux`); says the image is a plain ELF |
//! | `VIRT_BASE` (3) | [`VIRT_BASE`](crate::VIRT_BASE) | the virtual address PFN 0 is mapped at; the image starts here |
//! | `PADDR_OFFSET` (4) | 0 | subtracted from the ELF physical addresses (which the linker script starts at 0) before adding `VIRT_BASE`. A linker script that links at `VIRT_BASE` without `AT()` has physical addresses equal to virtual ones and needs `PADDR_OFFSET = VIRT_BASE`; with 0 the sum overflows and the loader refuses the image (`kernel range refused: start overflows`) |
//! | `ENTRY` (1) | `_start` | the runtime's entry point (RSI = start_info) |
//! | `HYPERCALL_PAGE` (2) | `hypercall_page` | a page-aligned page inside the image that the loader fills with 128 32-byte stubs (stub *n* issues hypercall *n*; the `iret` stub is the way back from trap handlers) |
//!
//! The guest supplies, through the macro:
//!
//! | field | note | rule |
//! |---|---|---|
//! | `name` (required) | `GUEST_OS` (6) | 1 to 63 printable ASCII characters, no `"` or `\`: checked at compile time |
//! | `version` (optional, default `"0"`) | `GUEST_VERSION` (7) | the same |
//! | `main` (required) | — | a `fn(Boot) -> !`, called on the runtime's stack |
//!
//! A missing or misspelt field does not match the macro and is a compile
//! error; a second [`guest!`](crate::guest) in one binary is a duplicate
//! symbol. A guest that links the runtime without invoking the macro fails
//! to link with `undefined symbol: __guest_rt_main`.

/// Checks a note string at compile time (see the table above): panics,
/// which in a `const` is a compile error naming the rule.
pub const fn check_string(s: &str) {
    let b = s.as_bytes();
    assert!(!b.is_empty() && b.len() < 64, "a Xen note string must have 1 to 63 characters");
    let mut i = 0;
    while i < b.len() {
        assert!(
            b[i] >= 0x20 && b[i] < 0x7F && b[i] != b'"' && b[i] != b'\\',
            "a Xen note string must be printable ASCII without quotes or backslashes"
        );
        i += 1;
    }
}

/// Declares the guest: its ELF notes, its `main` and, on the host, a stub
/// `main` that says how to build it. Invoke it once, at the crate root.
///
/// ```ignore
/// guest_rt::guest! { name: "template", main: start }
/// guest_rt::guest! { name: "conformance", version: "4.17", main: |boot| cases::run(boot.start_info()) }
/// ```
///
/// See the [module docs](crate::notes) for every note and field.
#[macro_export]
macro_rules! guest {
    (name: $name:literal, main: $main:expr $(,)?) => {
        $crate::guest! { name: $name, version: "0", main: $main }
    };
    (name: $name:literal, version: $version:literal, main: $main:expr $(,)?) => {
        const _: () = $crate::notes::check_string($name);
        const _: () = $crate::notes::check_string($version);

        #[cfg(target_os = "none")]
        ::core::arch::global_asm!(::core::concat!(
            ".pushsection .note.Xen, \"a\"\n",
            ".balign 4\n",
            ".long 4, 3f - 2f, 6\n",
            ".asciz \"Xen\"\n",
            "2: .asciz \"",
            $name,
            "\"\n",
            "3: .balign 4\n",
            ".long 4, 5f - 4f, 7\n",
            ".asciz \"Xen\"\n",
            "4: .asciz \"",
            $version,
            "\"\n",
            "5: .balign 4\n",
            ".popsection\n",
        ));

        /// Called by the runtime's entry, on its stack.
        #[cfg(target_os = "none")]
        #[allow(unsafe_code)]
        #[no_mangle]
        fn __guest_rt_main(boot: $crate::Boot) -> ! {
            let main: fn($crate::Boot) -> ! = $main;
            main(boot)
        }

        /// On the host the guest is a stub: it builds (so workspace-wide
        /// tests and lints keep working) and says how to build it for real.
        #[cfg(not(target_os = "none"))]
        fn main() {
            let _main: fn($crate::Boot) -> ! = $main;
            ::std::eprintln!(
                "{} is a PV guest: build it with `--target x86_64-unknown-none` and boot it under xen-core or Xen.",
                $name
            );
            ::std::process::exit(2);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::check_string;

    #[test]
    fn printable_note_strings_pass_the_compile_time_check() {
        check_string("guest-kernel");
        check_string("a");
        check_string(&"x".repeat(63));
    }

    #[test]
    #[should_panic(expected = "1 to 63")]
    fn an_empty_note_string_is_refused() {
        check_string("");
    }

    #[test]
    #[should_panic(expected = "printable ASCII")]
    fn a_quote_would_break_the_note_assembly_and_is_refused() {
        check_string("a\"b");
    }
}
