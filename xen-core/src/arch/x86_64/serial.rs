//! The COM1 console and the `log` backend that writes to it.

use core::fmt::{self, Write};
use spin::Mutex;
use uart_16550::{backend::PioBackend, Config, Uart16550};

static COM1: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);

/// Brings up COM1 (115200 8N1).
pub fn init() {
    // SAFETY: 0x3f8 is COM1, used by nobody else in the hypervisor.
    let Ok(mut port) = (unsafe { Uart16550::new_port(0x3f8) }) else { return };
    // A missing UART is not fatal: output is simply dropped.
    if port.init(Config::default()).is_ok() {
        *COM1.lock() = Some(port);
    }
}

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes raw bytes, turning `\n` into `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    let mut guard = COM1.lock();
    if let Some(port) = guard.as_mut() {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            match chunk.split_last() {
                Some((b'\n', head)) => {
                    port.send_bytes_exact(head);
                    port.send_bytes_exact(b"\r\n");
                }
                _ => port.send_bytes_exact(chunk),
            }
        }
    }
}

/// Has COM1 raise IRQ 4 when a byte arrives (the PIC routes it once
/// [`super::timer::init`] unmasks it).
pub fn enable_rx_interrupt() {
    if COM1.lock().is_some() {
        // SAFETY: COM1's interrupt-enable register; only "data available".
        unsafe { super::cpu::outb(0x3F9, 0x01) };
    }
}

/// A key pressed on the console, if any (non-blocking).
pub fn poll_key() -> Option<u8> {
    COM1.lock().as_mut().and_then(|p| p.try_receive_byte().ok())
}

/// Prints formatted text to the console.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

/// Writes to the console from a context that may have interrupted a writer
/// (exception handlers): the lock is taken by force.
pub fn print_emergency(args: fmt::Arguments<'_>) {
    // SAFETY: only used on the fatal path, after which the CPU stops; a
    // half-written line from the interrupted writer is acceptable.
    unsafe { COM1.force_unlock() };
    print(args);
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let tag = match record.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                log::Level::Info => "",
                log::Level::Debug => "debug: ",
                log::Level::Trace => "trace: ",
            };
            print(format_args!("(XEN) {tag}{}\n", record.args()));
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the console as the `log` backend.
pub fn init_logger(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// `print!` to the console.
#[macro_export]
macro_rules! console_print {
    ($($arg:tt)*) => { $crate::arch::x86_64::serial::print(format_args!($($arg)*)) };
}
