//! What machine a measurement ran on: [`hotrisk_engine::machine`] (moved there so that the demo,
//! which lives in the engine crate, reports it too).

pub use hotrisk_engine::machine::Machine;
