//! Host tests of the shadow model: a world with a guest, its p2m, a shadow
//! pool and a simulated TLB; a reference walk written apart from the model;
//! behaviour tests and the property test.

mod behaviour;
mod properties;
pub(crate) mod world;
