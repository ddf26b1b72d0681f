//! Helpers shared by test binaries (each binary compiles the modules it declares).
#![allow(dead_code)]

pub mod alt_weights;
pub mod plugin_host;
pub mod summary;
