//! Console output: the runtime's `println!` (one `console_io` per line).

/// Prints one line.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        guest_rt::println!($($arg)*)
    };
}
