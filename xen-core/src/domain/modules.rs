//! Which boot module is what: each module is a domain's kernel, except one
//! whose command line starts with the word `ramdisk`, which is the initial
//! ramdisk of the domain of the kernel module before it (passed through
//! start_info's `mod_start`/`mod_len`). GRUB: `module2 /boot/initrd.img ramdisk`.

/// What a module is, from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleRole {
    /// A kernel: one domain.
    Kernel,
    /// The previous kernel's initial ramdisk.
    Ramdisk,
}

/// The keyword marking a ramdisk module.
pub const RAMDISK: &str = "ramdisk";

impl ModuleRole {
    /// The role a module's command line gives it.
    pub fn of(cmdline: &str) -> ModuleRole {
        match cmdline.split_whitespace().next() {
            Some(RAMDISK) => ModuleRole::Ramdisk,
            _ => ModuleRole::Kernel,
        }
    }
}

/// One domain to build: its kernel module and its ramdisk module, by index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainModules {
    /// The kernel's module index.
    pub kernel: usize,
    /// The ramdisk's module index, if any.
    pub ramdisk: Option<usize>,
}

/// A ramdisk module that belongs to no domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrayRamdisk {
    /// It comes before any kernel module.
    NoKernelBefore(usize),
    /// The kernel before it already has a ramdisk.
    SecondRamdisk(usize),
}

impl core::fmt::Display for StrayRamdisk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StrayRamdisk::NoKernelBefore(i) => write!(f, "module {i}: ramdisk with no kernel module before it"),
            StrayRamdisk::SecondRamdisk(i) => write!(f, "module {i}: a second ramdisk for the same kernel"),
        }
    }
}

/// Groups modules into domains in order, calling `domain` for each and
/// `stray` for each ramdisk that belongs to none (which is refused).
pub fn plan<'a>(
    cmdlines: impl IntoIterator<Item = &'a str>,
    mut domain: impl FnMut(DomainModules),
    mut stray: impl FnMut(StrayRamdisk),
) {
    let mut pending: Option<DomainModules> = None;
    for (i, c) in cmdlines.into_iter().enumerate() {
        match ModuleRole::of(c) {
            ModuleRole::Kernel => {
                if let Some(d) = pending.replace(DomainModules { kernel: i, ramdisk: None }) {
                    domain(d);
                }
            }
            ModuleRole::Ramdisk => match &mut pending {
                None => stray(StrayRamdisk::NoKernelBefore(i)),
                Some(d) if d.ramdisk.is_some() => stray(StrayRamdisk::SecondRamdisk(i)),
                Some(d) => d.ramdisk = Some(i),
            },
        }
    }
    if let Some(d) = pending {
        domain(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cmdlines: &[&str]) -> (Vec<DomainModules>, Vec<StrayRamdisk>) {
        let (mut d, mut s) = (Vec::new(), Vec::new());
        plan(cmdlines.iter().copied(), |x| d.push(x), |x| s.push(x));
        (d, s)
    }

    #[test]
    fn plain_modules_are_one_domain_each() {
        let (d, s) = run(&["name=a", "", "name=c mem=32M"]);
        assert_eq!(d.iter().map(|m| (m.kernel, m.ramdisk)).collect::<Vec<_>>(), [(0, None), (1, None), (2, None)]);
        assert!(s.is_empty());
    }

    #[test]
    fn a_ramdisk_module_belongs_to_the_kernel_before_it() {
        let (d, s) = run(&["name=a", "ramdisk", "name=b", "name=c", "  ramdisk extra words"]);
        assert_eq!(
            d,
            [
                DomainModules { kernel: 0, ramdisk: Some(1) },
                DomainModules { kernel: 2, ramdisk: None },
                DomainModules { kernel: 3, ramdisk: Some(4) }
            ]
        );
        assert!(s.is_empty());
    }

    #[test]
    fn only_the_first_word_marks_a_ramdisk() {
        assert_eq!(ModuleRole::of("name=ramdisk"), ModuleRole::Kernel);
        assert_eq!(ModuleRole::of("name=x ramdisk"), ModuleRole::Kernel);
        assert_eq!(ModuleRole::of("ramdisks"), ModuleRole::Kernel);
        assert_eq!(ModuleRole::of("ramdisk"), ModuleRole::Ramdisk);
    }

    #[test]
    fn a_ramdisk_without_a_kernel_or_a_second_one_is_stray() {
        let (d, s) = run(&["ramdisk", "name=a", "ramdisk", "ramdisk"]);
        assert_eq!(d, [DomainModules { kernel: 1, ramdisk: Some(2) }]);
        assert_eq!(s, [StrayRamdisk::NoKernelBefore(0), StrayRamdisk::SecondRamdisk(3)]);
        assert!(s[0].to_string().contains("no kernel module before it"));
    }
}
