//! Hypercall numbers (Xen `xen.h`) and the register convention.
//!
//! A 64-bit PV guest kernel issues a hypercall with `SYSCALL`: the number in
//! RAX, arguments in RDI, RSI, RDX, R10 and R8, the result in RAX (a negative
//! [`crate::Errno`] on failure). RCX and R11 are clobbered by the
//! instruction itself; the argument registers a hypercall uses may be
//! clobbered. Unknown numbers return `-ENOSYS`.

/// A hypercall number as placed in RAX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct HypercallNr(pub u64);

macro_rules! numbers {
    ($($name:ident = $val:expr;)*) => {
        impl HypercallNr {
            $(#[doc = concat!("`", stringify!($name), "` (", stringify!($val), ").")]
              pub const $name: HypercallNr = HypercallNr($val);)*

            /// The Xen name of a known hypercall number.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

numbers! {
    SET_TRAP_TABLE = 0;
    MMU_UPDATE = 1;
    SET_GDT = 2;
    STACK_SWITCH = 3;
    SET_CALLBACKS = 4;
    FPU_TASKSWITCH = 5;
    SCHED_OP_COMPAT = 6;
    PLATFORM_OP = 7;
    SET_DEBUGREG = 8;
    GET_DEBUGREG = 9;
    UPDATE_DESCRIPTOR = 10;
    MEMORY_OP = 12;
    MULTICALL = 13;
    UPDATE_VA_MAPPING = 14;
    SET_TIMER_OP = 15;
    EVENT_CHANNEL_OP_COMPAT = 16;
    XEN_VERSION = 17;
    CONSOLE_IO = 18;
    PHYSDEV_OP_COMPAT = 19;
    GRANT_TABLE_OP = 20;
    VM_ASSIST = 21;
    UPDATE_VA_MAPPING_OTHERDOMAIN = 22;
    IRET = 23;
    VCPU_OP = 24;
    SET_SEGMENT_BASE = 25;
    MMUEXT_OP = 26;
    XSM_OP = 27;
    NMI_OP = 28;
    SCHED_OP = 29;
    CALLBACK_OP = 30;
    XENOPROF_OP = 31;
    EVENT_CHANNEL_OP = 32;
    PHYSDEV_OP = 33;
    HVM_OP = 34;
    SYSCTL = 35;
    DOMCTL = 36;
    KEXEC_OP = 37;
    TMEM_OP = 38;
    ARGO_OP = 39;
    XENPMU_OP = 40;
    DM_OP = 41;
    HYPFS_OP = 42;
    MCA = 48;
}

/// Number of 32-byte stubs in the hypercall page.
pub const HYPERCALL_PAGE_STUBS: usize = 128;
/// Size of one hypercall-page stub.
pub const HYPERCALL_STUB_SIZE: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_xen_public_xen_h() {
        assert_eq!(HypercallNr::MMU_UPDATE.0, 1);
        assert_eq!(HypercallNr::MEMORY_OP.0, 12);
        assert_eq!(HypercallNr::XEN_VERSION.0, 17);
        assert_eq!(HypercallNr::IRET.0, 23);
        assert_eq!(HypercallNr::MMUEXT_OP.0, 26);
        assert_eq!(HypercallNr::SCHED_OP.0, 29);
        assert_eq!(HypercallNr::EVENT_CHANNEL_OP.0, 32);
        assert_eq!(HypercallNr(11).name(), None);
    }
}
