//! The shared `vcpu_op` switch: the decode of every command number and
//! id, and what the switch answers itself before a kind's perform.

use super::vcpu_op::{target, vcpu_op, OwnCmd, VcpuCmd, VcpuOpEnd, VcpuOps};
use crate::time::vcpu::VcpuTime;
use abi::vcpu::*;
use abi::Errno;

#[test]
fn every_command_number_decodes_to_its_command_and_the_rest_to_none() {
    let want = [
        (VCPUOP_INITIALISE, Some(VcpuCmd::Own(OwnCmd::Initialise))),
        (VCPUOP_UP, Some(VcpuCmd::Up)),
        (VCPUOP_DOWN, Some(VcpuCmd::Down)),
        (VCPUOP_IS_UP, Some(VcpuCmd::IsUp)),
        (VCPUOP_GET_RUNSTATE_INFO, Some(VcpuCmd::Own(OwnCmd::GetRunstateInfo))),
        (VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, Some(VcpuCmd::Own(OwnCmd::RegisterRunstateArea))),
        (VCPUOP_SET_PERIODIC_TIMER, Some(VcpuCmd::Own(OwnCmd::SetPeriodicTimer))),
        (VCPUOP_STOP_PERIODIC_TIMER, Some(VcpuCmd::StopPeriodicTimer)),
        (VCPUOP_SET_SINGLESHOT_TIMER, Some(VcpuCmd::Own(OwnCmd::SetSingleshotTimer))),
        (VCPUOP_STOP_SINGLESHOT_TIMER, Some(VcpuCmd::StopSingleshotTimer)),
        (VCPUOP_REGISTER_VCPU_INFO, Some(VcpuCmd::Own(OwnCmd::RegisterVcpuInfo))),
        (VCPUOP_SEND_NMI, None),
        (VCPUOP_GET_PHYSID, Some(VcpuCmd::Own(OwnCmd::GetPhysid))),
        (VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, Some(VcpuCmd::Own(OwnCmd::RegisterTimeArea))),
    ];
    for (cmd, cmd_want) in want {
        assert_eq!(VcpuCmd::decode(cmd), cmd_want, "cmd {cmd}");
        assert_eq!(VcpuCmd::decode(0xDEAD_0000_0000 | cmd), cmd_want, "cmd {cmd} is an int: upper half ignored");
    }
    for cmd in [14, 15, 99, 0xFFFF_FFFF, 1 << 31] {
        assert_eq!(VcpuCmd::decode(cmd), None, "cmd {cmd:#x}");
    }
}

#[test]
fn only_vcpu_0_exists_and_the_id_is_an_unsigned_int() {
    assert_eq!(target(0), Ok(()));
    assert_eq!(target(1 << 32), Ok(()), "upper half ignored");
    for id in [1, 2, 0xFFFF_FFFF, (1 << 32) | 1] {
        assert_eq!(target(id), Err(Errno::ENOENT), "vcpu {id:#x}");
    }
}

/// A kind of domain that records what the switch hands it.
#[derive(Default)]
struct Recorder {
    time: VcpuTime,
    accepted: u32,
    performed: Option<(OwnCmd, u64)>,
}

impl VcpuOps for Recorder {
    fn time(&mut self) -> &mut VcpuTime {
        &mut self.time
    }
    fn accepted(&mut self) {
        self.accepted += 1;
    }
    fn perform(&mut self, cmd: OwnCmd, arg: u64) -> Result<u64, Errno> {
        self.performed = Some((cmd, arg));
        Err(Errno::EEXIST)
    }
}

#[test]
fn a_bad_vcpu_id_is_enoent_before_the_command_is_looked_at_and_the_kind_sees_nothing() {
    let mut r = Recorder::default();
    assert_eq!(vcpu_op(&mut r, VCPUOP_INITIALISE, 1, 0x1000), (Err(Errno::ENOENT), VcpuOpEnd::Continue));
    assert_eq!(vcpu_op(&mut r, 99, 1, 0), (Err(Errno::ENOENT), VcpuOpEnd::Continue), "not -ENOSYS");
    assert_eq!((r.accepted, r.performed), (0, None));
}

#[test]
fn an_unknown_command_is_enosys_after_the_id_is_accepted() {
    let mut r = Recorder::default();
    assert_eq!(vcpu_op(&mut r, VCPUOP_SEND_NMI, 0, 0), (Err(Errno::ENOSYS), VcpuOpEnd::Continue));
    assert_eq!((r.accepted, r.performed), (1, None));
}

#[test]
fn the_shared_commands_are_answered_by_the_switch_and_the_others_by_the_kind() {
    let mut r = Recorder::default();
    assert_eq!(vcpu_op(&mut r, VCPUOP_UP, 0, 0), (Ok(0), VcpuOpEnd::Continue));
    assert_eq!(vcpu_op(&mut r, VCPUOP_IS_UP, 0, 0), (Ok(1), VcpuOpEnd::Continue));
    r.time.down = true;
    assert_eq!(vcpu_op(&mut r, VCPUOP_IS_UP, 0, 0), (Ok(0), VcpuOpEnd::Continue));
    assert_eq!(vcpu_op(&mut r, VCPUOP_DOWN, 0, 0), (Ok(0), VcpuOpEnd::PowerOff));
    let now = crate::time::SystemTime(1_000_000);
    r.time.timers.set_periodic(now, 2_000_000).unwrap();
    r.time.timers.set_singleshot(now, 5_000_000);
    assert_eq!(r.time.timers.next_deadline(true), Some(crate::time::SystemTime(3_000_000)), "the periodic one first");
    assert_eq!(vcpu_op(&mut r, VCPUOP_STOP_PERIODIC_TIMER, 0, 0), (Ok(0), VcpuOpEnd::Continue));
    assert_eq!(r.time.timers.next_deadline(true), Some(crate::time::SystemTime(5_000_000)), "the single-shot one left");
    assert_eq!(vcpu_op(&mut r, VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0), (Ok(0), VcpuOpEnd::Continue));
    assert_eq!(r.time.timers.next_deadline(true), None, "both timers stopped");
    assert_eq!(r.performed, None);
    assert_eq!(vcpu_op(&mut r, VCPUOP_REGISTER_VCPU_INFO, 0, 0xABC0), (Err(Errno::EEXIST), VcpuOpEnd::Continue));
    assert_eq!(r.performed, Some((OwnCmd::RegisterVcpuInfo, 0xABC0)), "the kind's answer, the argument as given");
}
