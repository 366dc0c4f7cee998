//! Xen errno values. Hypercalls return them negated in RAX.
//!
//! ```
//! use xen_core_pv_abi::Errno;
//!
//! // What a refused mmu_update returns in RAX, decoded and printed.
//! let err = Errno::from_rax(-16).unwrap_err();
//! assert_eq!(err, Errno::EBUSY);
//! assert_eq!(err.to_string(), "EBUSY");
//! assert_eq!(format!("{err:#}"), "EBUSY (16): Device or resource busy.");
//! // A number Xen does not define still prints.
//! assert_eq!(Errno(200).to_string(), "errno 200");
//! ```

/// A Xen error number. The wrapped value is the positive number; hypercalls
/// return `-(value)` in RAX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $doc:expr;)*) => {
        impl Errno {
            $(#[doc = $doc] pub const $name: Errno = Errno($val);)*

            /// The symbolic name of a known errno value, if any.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// A one-line description of a known errno value, if any.
            pub const fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($doc),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    ENOENT = 2, "No such entry.";
    ESRCH = 3, "No such domain.";
    EINTR = 4, "Interrupted.";
    EIO = 5, "I/O error.";
    ENXIO = 6, "No such device or address.";
    E2BIG = 7, "Argument list too long.";
    ENOEXEC = 8, "Exec format error.";
    EBADF = 9, "Bad file number.";
    ECHILD = 10, "No child processes.";
    EAGAIN = 11, "Try again.";
    ENOMEM = 12, "Out of memory.";
    EACCES = 13, "Permission denied.";
    EFAULT = 14, "Bad address (a guest pointer could not be accessed).";
    EBUSY = 16, "Device or resource busy.";
    EEXIST = 17, "Already exists.";
    EXDEV = 18, "Cross-device link.";
    ENODEV = 19, "No such device.";
    EINVAL = 22, "Invalid argument.";
    ENFILE = 23, "File table overflow.";
    EMFILE = 24, "Too many open files.";
    ENOSPC = 28, "No space left.";
    EROFS = 30, "Read-only.";
    EMLINK = 31, "Too many links.";
    EDOM = 33, "Argument out of domain.";
    ERANGE = 34, "Result out of range.";
    EDEADLK = 35, "Deadlock would occur.";
    ENAMETOOLONG = 36, "Name too long.";
    ENOLCK = 37, "No locks available.";
    ENOSYS = 38, "Function not implemented.";
    ENOTEMPTY = 39, "Not empty.";
    ENODATA = 61, "No data available.";
    ETIME = 62, "Timer expired.";
    EBADMSG = 74, "Bad message.";
    EOVERFLOW = 75, "Value too large.";
    EILSEQ = 84, "Illegal byte sequence.";
    ERESTART = 85, "Internal: the operation was preempted and will be restarted; never returned to guests.";
    ENOTSOCK = 88, "Not a socket.";
    EMSGSIZE = 90, "Message too long.";
    EOPNOTSUPP = 95, "Operation not supported.";
    EADDRINUSE = 98, "Address in use.";
    EADDRNOTAVAIL = 99, "Address not available.";
    ENOBUFS = 105, "No buffer space.";
    EISCONN = 106, "Already connected.";
    ENOTCONN = 107, "Not connected.";
    ETIMEDOUT = 110, "Timed out.";
    ECONNREFUSED = 111, "Connection refused.";
}

impl Errno {
    /// The value placed in RAX: the errno negated.
    pub const fn to_rax(self) -> i64 {
        -(self.0 as i64)
    }

    /// Decodes a hypercall return value: negative values in the errno range
    /// become `Err`, everything else is returned as `Ok`.
    pub const fn from_rax(rax: i64) -> Result<u64, Errno> {
        if rax < 0 && rax >= -4095 {
            Err(Errno(-rax as i32))
        } else {
            Ok(rax as u64)
        }
    }
}

/// The name (`EBUSY`); with `{:#}`, also the number and description
/// (`EBUSY (16): Device or resource busy.`). Unknown values print as
/// `errno N`.
impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.name(), self.description()) {
            (Some(name), Some(doc)) if f.alternate() => write!(f, "{name} ({}): {doc}", self.0),
            (Some(name), _) => f.write_str(name),
            _ => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_xen_public_errno_h() {
        assert_eq!(Errno::EPERM.0, 1);
        assert_eq!(Errno::ESRCH.0, 3);
        assert_eq!(Errno::EFAULT.0, 14);
        assert_eq!(Errno::EBUSY.0, 16);
        assert_eq!(Errno::EINVAL.0, 22);
        assert_eq!(Errno::ENOSYS.0, 38);
        assert_eq!(Errno::EOPNOTSUPP.0, 95);
    }

    #[test]
    fn rax_round_trip_keeps_errors_and_values_apart() {
        assert_eq!(Errno::from_rax(Errno::EINVAL.to_rax()), Err(Errno::EINVAL));
        assert_eq!(Errno::from_rax(0), Ok(0));
        assert_eq!(Errno::from_rax(0x40011), Ok(0x40011));
        assert_eq!(Errno::EBUSY.name(), Some("EBUSY"));
        assert_eq!(Errno(15).name(), None);
    }
}
