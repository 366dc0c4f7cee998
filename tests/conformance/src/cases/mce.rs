//! Xen's virtual machine-check MSRs, which Linux's machine-check setup
//! reads and writes at boot (a fault on MCG_STATUS is its "MCA
//! architectural violation" panic): two banks, no MCG_CTL, no local
//! machine checks, MCG_CAP writes dropped. Values are this machine's (QEMU's `-cpu max` is AMD).

use super::Suite;
use crate::arch::priv_insn::{rdmsr, wrmsr};

const GP: i64 = 13;

/// The value read, or minus the vector raised.
fn read(m: u32) -> i64 {
    let (v, f) = rdmsr(m);
    if f != 0 {
        -(f as i64)
    } else {
        v as i64
    }
}

pub(super) fn mce(s: &mut Suite) {
    s.check("mce: rdmsr MCG_CAP shows two banks", 2, read(0x179));
    s.check("mce: rdmsr MCG_STATUS", 0, read(0x17A));
    s.check("mce: rdmsr MCG_CTL (no MCG_CTL_P)", 0, read(0x17B));
    s.check("mce: rdmsr MCG_EXT_CTL raises #GP", -GP, read(0x4D0));
    s.check("mce: rdmsr MC0_CTL is all ones", -1, read(0x400));
    s.check("mce: rdmsr MC1_CTL is all ones", -1, read(0x404));
    s.check("mce: rdmsr MC1_STATUS", 0, read(0x405));
    s.check("mce: rdmsr MC1_ADDR", 0, read(0x406));
    s.check("mce: rdmsr MC1_MISC", 0, read(0x407));
    s.check("mce: rdmsr MC2_CTL beyond the banks", 0, read(0x408));
    s.check("mce: rdmsr MC31_MISC", 0, read(0x47F));
    s.check("mce: rdmsr MC0_CTL2", 0, read(0x280));
    s.check("mce: wrmsr MCG_CAP of its value", 0, wrmsr(0x179, 2) as i64);
    s.check("mce: wrmsr MCG_CAP of another value is dropped", 0, wrmsr(0x179, 0) as i64);
    s.check("mce: ... MCG_CAP still shows two banks", 2, read(0x179));
    s.check("mce: wrmsr MCG_CTL is dropped", 0, wrmsr(0x17B, u64::MAX) as i64);
    s.check("mce: ... MCG_CTL still reads 0", 0, read(0x17B));
    s.check("mce: wrmsr MCG_STATUS", 0, wrmsr(0x17A, 0) as i64);
    s.check("mce: wrmsr MC1_CTL is dropped", 0, wrmsr(0x404, 0) as i64);
    s.check("mce: ... MC1_CTL still reads all ones", -1, read(0x404));
    s.check("mce: wrmsr MC1_STATUS of 0", 0, wrmsr(0x405, 0) as i64);
    s.check("mce: wrmsr MC1_STATUS of non-zero raises #GP", GP, wrmsr(0x405, 1) as i64);
    s.check("mce: wrmsr MC2_STATUS beyond the banks is dropped", 0, wrmsr(0x409, 1) as i64);
}
