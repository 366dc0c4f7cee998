//! A domain's settings, taken from its multiboot2 module command line.
//!
//! | key | meaning |
//! |---|---|
//! | `name=NAME` | domain name (default `domN`) |
//! | `mem=SIZE` | initial memory (default 16M); `K`, `M`, `G` suffixes |
//! | `maxmem=SIZE` | most memory it may balloon up to (default = `mem`) |
//! | `hcall-ext=int82,vmcall` | also accept hypercalls through `int 0x82` and `vmcall` (xen-core extension, off by default) |
//! | `timeout=SECONDS` | crash the domain once it has used this much CPU time |
//! | `type=pv\|pvh` | the kind of domain (default `pv`); `pvh`: a PVH kernel (PHYS32 entry note) run under SVM with nested paging, as Xen's xl `type=pvh` |
//! | `paging=nested\|shadow` | a PVH domain's memory virtualization (default `nested`): AMD NPT, or shadow page tables the hypervisor keeps |
//! | `bench-null` | benchmark floor: hypercall 127 returns immediately through a do-nothing entry (xen-core extension) |
//!
//! Every other token is passed to the guest as its command line.

/// Longest domain name kept.
pub const MAX_NAME: usize = 32;

/// Parsed settings. Strings borrow from the module command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainConfig<'a> {
    /// Name.
    pub name: Option<&'a str>,
    /// Initial memory in bytes.
    pub mem: u64,
    /// Maximum memory in bytes.
    pub maxmem: u64,
    /// `int 0x82` accepted as a hypercall entry.
    pub int82: bool,
    /// `vmcall` accepted as a hypercall entry.
    pub vmcall: bool,
    /// Benchmark floor: hypercall 127 returns at once (`bench-null`).
    pub bench_null: bool,
    /// CPU time after which the domain is crashed, in seconds (0 = none).
    pub timeout: u64,
    /// `type=pvh`: a PVH domain (hardware-assisted, nested paging).
    pub pvh: bool,
    /// `paging=shadow`: a PVH domain under shadow paging (else nested).
    pub shadow: bool,
}

/// Why a module command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A size did not parse.
    BadSize(&'static str),
    /// `maxmem` below `mem`.
    MaxBelowMem,
    /// An unknown `hcall-ext` entry.
    BadExtension,
    /// A `type=` other than `pv` or `pvh`.
    BadType,
    /// A `paging=` other than `nested` or `shadow`.
    BadPaging,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::BadSize(k) => write!(f, "bad size in {k}="),
            ConfigError::MaxBelowMem => write!(f, "maxmem= is below mem="),
            ConfigError::BadExtension => write!(f, "hcall-ext= takes int82 and/or vmcall"),
            ConfigError::BadType => write!(f, "type= takes pv or pvh"),
            ConfigError::BadPaging => write!(f, "paging= takes nested or shadow"),
        }
    }
}

/// Parses `16M`, `512K`, `1G` or a byte count.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

impl<'a> DomainConfig<'a> {
    /// Splits `cmdline` into settings and the guest's own command line,
    /// which is written to `guest` (space-separated, truncated to fit).
    pub fn parse(cmdline: &'a str, guest: &mut [u8]) -> Result<(DomainConfig<'a>, usize), ConfigError> {
        let mut cfg = DomainConfig {
            name: None,
            mem: 16 << 20,
            maxmem: 0,
            int82: false,
            vmcall: false,
            bench_null: false,
            timeout: 0,
            pvh: false,
            shadow: false,
        };
        let mut len = 0;
        for token in cmdline.split_ascii_whitespace() {
            match token.split_once('=') {
                Some(("name", v)) => cfg.name = Some(&v[..v.len().min(MAX_NAME)]),
                Some(("mem", v)) => cfg.mem = parse_size(v).ok_or(ConfigError::BadSize("mem"))?,
                Some(("maxmem", v)) => cfg.maxmem = parse_size(v).ok_or(ConfigError::BadSize("maxmem"))?,
                Some(("type", "pv")) => cfg.pvh = false,
                Some(("type", "pvh")) => cfg.pvh = true,
                Some(("type", _)) => return Err(ConfigError::BadType),
                Some(("paging", "nested")) => cfg.shadow = false,
                Some(("paging", "shadow")) => cfg.shadow = true,
                Some(("paging", _)) => return Err(ConfigError::BadPaging),
                Some(("timeout", v)) => cfg.timeout = v.parse().map_err(|_| ConfigError::BadSize("timeout"))?,
                Some(("hcall-ext", v)) => {
                    for e in v.split(',') {
                        match e {
                            "int82" => cfg.int82 = true,
                            "vmcall" => cfg.vmcall = true,
                            _ => return Err(ConfigError::BadExtension),
                        }
                    }
                }
                None if token == "bench-null" => cfg.bench_null = true,
                _ => {
                    let sep = usize::from(len > 0);
                    // Keep room for the terminating NUL.
                    if len + sep + token.len() < guest.len() {
                        if sep == 1 {
                            guest[len] = b' ';
                        }
                        guest[len + sep..len + sep + token.len()].copy_from_slice(token.as_bytes());
                        len += sep + token.len();
                    }
                }
            }
        }
        if cfg.maxmem == 0 {
            cfg.maxmem = cfg.mem;
        }
        if cfg.maxmem < cfg.mem {
            return Err(ConfigError::MaxBelowMem);
        }
        Ok((cfg, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervisor_keys_are_taken_and_the_rest_goes_to_the_guest() {
        let mut buf = [0u8; 64];
        let (c, n) =
            DomainConfig::parse("name=dom0 mem=32M balloon=8M,16M maxmem=64M hcall-ext=int82 quiet", &mut buf).unwrap();
        assert_eq!(c.name, Some("dom0"));
        assert_eq!((c.mem, c.maxmem), (32 << 20, 64 << 20));
        assert!(c.int82 && !c.vmcall);
        assert_eq!(&buf[..n], b"balloon=8M,16M quiet");
    }

    #[test]
    fn bad_sizes_and_extensions_are_refused() {
        let mut buf = [0u8; 8];
        assert_eq!(DomainConfig::parse("mem=lots", &mut buf), Err(ConfigError::BadSize("mem")));
        assert_eq!(DomainConfig::parse("mem=99999999999999999999G", &mut buf), Err(ConfigError::BadSize("mem")));
        assert_eq!(DomainConfig::parse("mem=32M maxmem=16M", &mut buf), Err(ConfigError::MaxBelowMem));
        assert_eq!(DomainConfig::parse("hcall-ext=sysenter", &mut buf), Err(ConfigError::BadExtension));
        assert_eq!(DomainConfig::parse("type=hvm", &mut buf), Err(ConfigError::BadType));
        assert!(DomainConfig::parse("type=pvh", &mut buf).unwrap().0.pvh);
        assert!(!DomainConfig::parse("type=pv", &mut buf).unwrap().0.pvh);
        assert_eq!(DomainConfig::parse("paging=hap", &mut buf), Err(ConfigError::BadPaging));
        assert!(DomainConfig::parse("type=pvh paging=shadow", &mut buf).unwrap().0.shadow);
        assert!(!DomainConfig::parse("type=pvh paging=nested", &mut buf).unwrap().0.shadow);
        assert!(!DomainConfig::parse("type=pvh", &mut buf).unwrap().0.shadow, "nested is the default");
    }

    #[test]
    fn guest_command_line_is_truncated_to_fit() {
        let mut buf = [0u8; 8];
        let (_, n) = DomainConfig::parse("abc defgh ij", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"abc ij");
    }
}
