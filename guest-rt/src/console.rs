//! Console output: [`print!`](crate::print) and [`println!`](crate::println).
//!
//! Text is collected a line at a time (up to [`LINE_MAX`] bytes) and each
//! line goes out through [`write_bytes`], one `console_io(CONSOLEIO_WRITE)`
//! hypercall per line. xen-core prefixes every line of a domain other than
//! domain 0 with `(dN)` and keeps printable characters only.
//!
//! [`write_bytes`] is the one place output leaves the guest. A guest that
//! has a better channel (the console ring, once the hypervisor offers one,
//! or a test capturing output) installs it with [`set_sink`]; everything
//! printed after that goes there.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, Ordering};

/// Longest chunk written with one hypercall; longer lines are split.
pub const LINE_MAX: usize = 256;

/// The installed sink; null means `console_io`.
static SINK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Routes all further output to `sink` instead of `console_io`.
pub fn set_sink(sink: fn(&[u8])) {
    SINK.store(crate::arch::sink_to_ptr(sink), Ordering::SeqCst);
}

/// Writes `bytes` to the console: through the installed sink, or with
/// `console_io` (whose error, `-EFAULT` for an unreadable buffer, cannot
/// happen for a buffer borrowed here and is ignored).
pub fn write_bytes(bytes: &[u8]) {
    let sink = SINK.load(Ordering::SeqCst);
    if sink.is_null() {
        let _ = abi::guest::console_write(bytes);
    } else {
        crate::arch::sink_from_ptr(sink)(bytes);
    }
}

/// A `fmt::Write` that sends each complete line (or each [`LINE_MAX`]
/// bytes) to [`write_bytes`].
pub struct LineWriter {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl LineWriter {
    /// An empty writer.
    pub const fn new() -> LineWriter {
        LineWriter { buf: [0; LINE_MAX], len: 0 }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            write_bytes(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for LineWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' || self.len == LINE_MAX {
                self.flush();
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>, newline: bool) {
    let mut w = LineWriter::new();
    let _ = w.write_fmt(args);
    if newline {
        let _ = w.write_str("\n");
    }
    w.flush();
}

/// Prints to the console (see [`crate::console`]).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!($($arg)*), false)
    };
}

/// Prints a line to the console (see [`crate::console`]).
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::_print(::core::format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!($($arg)*), true)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::vec::Vec;

    static CAPTURED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    fn capture(bytes: &[u8]) {
        CAPTURED.lock().unwrap().push(bytes.to_vec());
    }

    #[test]
    fn printing_goes_to_the_installed_sink_one_chunk_per_line() {
        set_sink(capture);
        crate::println!("a {}", 1);
        crate::print!("b\nc");
        let long = "x".repeat(LINE_MAX + 3);
        crate::println!("{long}");
        let got = CAPTURED.lock().unwrap().clone();
        assert_eq!(got[0], b"a 1\n");
        assert_eq!(got[1], b"b\n");
        assert_eq!(got[2], b"c");
        assert_eq!(got[3].len(), LINE_MAX);
        assert_eq!(got[4], b"xxx\n");
        assert_eq!(got.len(), 5);
    }
}
