//! The shared `vcpu_op` switch: the decode of every command number and
//! id, and what the switch answers itself before a kind's perform.

use super::vcpu_op::{target, vcpu_op, VcpuCmd, VcpuOpEnd, VcpuOps};
use crate::time::vcpu::VcpuTime;
use abi::vcpu::*;
use abi::Errno;

#[test]
fn every_command_number_decodes_to_its_command_and_the_rest_to_none() {
    let want = [
        (VCPUOP_INITIALISE, Some(VcpuCmd::Initialise)),
        (VCPUOP_UP, Some(VcpuCmd::Up)),
        (VCPUOP_DOWN, Some(VcpuCmd::Down)),
        (VCPUOP_IS_UP, Some(VcpuCmd::IsUp)),
        (VCPUOP_GET_RUNSTATE_INFO, Some(VcpuCmd::GetRunstateInfo)),
        (VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, Some(VcpuCmd::RegisterRunstateArea)),
        (VCPUOP_SET_PERIODIC_TIMER, Some(VcpuCmd::SetPeriodicTimer)),
        (VCPUOP_STOP_PERIODIC_TIMER, Some(VcpuCmd::StopPeriodicTimer)),
        (VCPUOP_SET_SINGLESHOT_TIMER, Some(VcpuCmd::SetSingleshotTimer)),
        (VCPUOP_STOP_SINGLESHOT_TIMER, Some(VcpuCmd::StopSingleshotTimer)),
        (VCPUOP_REGISTER_VCPU_INFO, Some(VcpuCmd::RegisterVcpuInfo)),
        (VCPUOP_SEND_NMI, None),
        (VCPUOP_GET_PHYSID, Some(VcpuCmd::GetPhysid)),
        (VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, Some(VcpuCmd::RegisterTimeArea)),
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

/// A kind of domain that records which of its performs the switch called.
#[derive(Default)]
struct Recorder {
    time: VcpuTime,
    accepted: u32,
    performed: Option<(&'static str, u64)>,
}

impl Recorder {
    fn record(&mut self, what: &'static str, arg: u64) -> Result<u64, Errno> {
        self.performed = Some((what, arg));
        Err(Errno::EEXIST)
    }
}

/// Each perform `name` records itself by its name.
macro_rules! performs {
    ($($name:ident),*) => {
        $(fn $name(&mut self, arg: u64) -> Result<u64, Errno> {
            self.record(stringify!($name), arg)
        })*
    };
}

impl VcpuOps for Recorder {
    fn time(&mut self) -> &mut VcpuTime {
        &mut self.time
    }
    fn accepted(&mut self) {
        self.accepted += 1;
    }
    performs! {
        initialise, get_runstate_info, register_runstate_area, set_periodic_timer,
        set_singleshot_timer, get_physid, register_time_area, register_vcpu_info
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
    let performs = [
        (VCPUOP_INITIALISE, "initialise"),
        (VCPUOP_GET_RUNSTATE_INFO, "get_runstate_info"),
        (VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, "register_runstate_area"),
        (VCPUOP_SET_PERIODIC_TIMER, "set_periodic_timer"),
        (VCPUOP_SET_SINGLESHOT_TIMER, "set_singleshot_timer"),
        (VCPUOP_GET_PHYSID, "get_physid"),
        (VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, "register_time_area"),
        (VCPUOP_REGISTER_VCPU_INFO, "register_vcpu_info"),
    ];
    for (k, (cmd, what)) in performs.into_iter().enumerate() {
        let arg = 0xABC0 + k as u64;
        assert_eq!(
            vcpu_op(&mut r, cmd, 0, arg),
            (Err(Errno::EEXIST), VcpuOpEnd::Continue),
            "{what}: the kind's answer"
        );
        assert_eq!(r.performed, Some((what, arg)), "cmd {cmd}: its perform, the argument as given");
    }
}
