//! Time, pure: the TSC→nanosecond scale Xen publishes to guests
//! ([`scale`]), the system clock built on it ([`clock`]), the odd/even
//! version protocol of `vcpu_time_info` and the wallclock ([`info`]), the
//! refinement of the TSC frequency while guests run ([`refine`]), the
//! CMOS RTC date as Unix time ([`rtc`]), the per-vCPU guest timers
//! ([`timers`]) and runstate accounting ([`runstate`]). The arch layer only
//! reads the TSC and the RTC, and programs the hardware timer.

pub mod clock;
pub mod info;
pub mod refine;
pub mod rtc;
pub mod runstate;
pub mod scale;
pub mod timers;
pub mod vcpu;

pub use clock::{Clock, SystemTime};
pub use scale::TimeScale;
