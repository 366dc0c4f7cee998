//! The hostile guest: an unprivileged PV kernel, written only against
//! `abi`, that attacks the hypervisor it runs on.
//!
//! `start_info.cmd_line` picks the mode:
//!
//! | command line | what it does |
//! |---|---|
//! | `mode=fuzz seed=N ops=N [trace=1] [oracle=periodic]` | seeded random and structured hypercalls over every implemented hypercall, with oracles after every successful call that can change a mapping |
//! | `mode=f1 [case=idle]` | stale TLB entry → write PTEs into a frame pinned as L1 (`idle`: across a block and the idle loop) |
//! | `mode=f2` | stale TLB entry → call gate into ring 0 in a loaded GDT |
//! | `mode=f3 case=cs0\|cs-e008\|cs-e020\|ss0\|ss-e010\|rip` | `iret` with a bad selector or RIP |
//! | `mode=f4` | SYSCALL from 32-bit compatibility mode |
//! | `mode=f5 case=mmu\|console` | a 2³¹-entry `mmu_update` / a 4 GiB `console_io` (never return; bounded by `timeout=`) |
//! | `mode=f6` | (as domain 0) reservations of dead and never-built domains |
//! | `mode=f7` | shared_info as a page table, written by the hypervisor's own CR2 store (found by the fuzzer) |
//! | `mode=f9 case=hv\|hole\|unmapped\|wrap` + `-int3\|-ud2\|-iret\|-upcall\|-iretup` | an exception, the `iret` hypercall, an event send whose upcall is due, or an `iret` that unmasks a pending upcall, on a hostile kernel stack pointer (the domain is crashed) |
//! | `mode=f8` | shared_info given back with `decrease_reservation` and handed out again (found by the fuzzer) |
//!
//! Each mode ends with `Test result: SUCCESS` when the attack was defeated
//! (an errno or a recovered fault), or `Test result: FAILURE` and a line
//! saying what broke. Faults are recovered (see [`arch`]) and counted.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod attacks;
#[cfg(target_os = "none")]
mod bounce_stack;
#[cfg(target_os = "none")]
mod env;
#[cfg(target_os = "none")]
mod fuzz;
#[cfg(target_os = "none")]
mod oracle;

#[cfg(target_os = "none")]
use guest_kernel::say;

#[cfg(target_os = "none")]
guest_rt::guest! { name: "hostile", main: |boot| run(boot.start_info()) }

/// Options from the command line.
#[cfg(target_os = "none")]
pub struct Options<'a> {
    mode: &'a str,
    case: &'a str,
    seed: u64,
    ops: u64,
    trace: bool,
    every_call: bool,
}

#[cfg(target_os = "none")]
fn parse(cmdline: &str) -> Options<'_> {
    let mut o = Options { mode: "fuzz", case: "", seed: 1, ops: 10_000, trace: false, every_call: true };
    for token in cmdline.split_ascii_whitespace() {
        match token.split_once('=') {
            Some(("mode", v)) => o.mode = v,
            Some(("case", v)) => o.case = v,
            Some(("seed", v)) => o.seed = v.parse().unwrap_or(1),
            Some(("ops", v)) => o.ops = v.parse().unwrap_or(10_000),
            Some(("trace", v)) => o.trace = v == "1",
            Some(("oracle", v)) => o.every_call = v != "periodic",
            _ => {}
        }
    }
    o
}

/// Runs the selected mode and shuts down.
#[cfg(target_os = "none")]
pub fn run(si: &'static abi::start_info::StartInfo) -> ! {
    arch::install_traps();
    let o = parse(si.cmdline());
    say!(
        "hostile: mode {} case '{}' seed {} ops {}, {} pages, flags {:#x}",
        o.mode,
        o.case,
        o.seed,
        o.ops,
        si.nr_pages,
        si.flags
    );
    let mut env = env::Env::new(si);
    let verdict = match o.mode {
        "f1" => attacks::f1(&mut env, o.case),
        "f2" => attacks::f2(&mut env),
        "f3" => attacks::f3(&mut env, o.case),
        "f4" => attacks::f4(&mut env),
        "f5" => attacks::f5(&mut env, o.case),
        "f6" => attacks::f6(&mut env),
        "f7" => attacks::f7(&mut env),
        "f8" => attacks::f8(&mut env),
        "f9" => bounce_stack::f9(&mut env, o.case),
        "fuzz" => fuzz::run(&mut env, o.seed, o.ops, o.trace, o.every_call),
        other => crate::broke!("unknown mode '{other}'"),
    };
    let faults: u64 = arch::FAULTS.iter().map(|c| c.load(core::sync::atomic::Ordering::Relaxed)).sum();
    say!("hostile: {faults} faults recovered");
    match verdict {
        Ok(()) => say!("Test result: SUCCESS"),
        Err(env::Broke) => say!("Test result: FAILURE"),
    }
    abi::guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the hostile guest is a PV guest: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}
