//! `console_io` (18) commands: `(cmd, count, buffer)`.

/// Write `count` bytes from a guest buffer to the console.
pub const CONSOLEIO_WRITE: u64 = 0;
/// Read up to `count` bytes of console input.
pub const CONSOLEIO_READ: u64 = 1;
