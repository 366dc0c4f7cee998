//! Grant table host tests: a row per status code and errno, the XSA
//! regressions, and a property test over random sequences from several
//! domains with the combined invariant checker after every step.

mod harness;
mod properties;
mod replace;
mod rows;
mod xsa;
