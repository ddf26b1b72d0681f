//! jazz-synth: an LSTM jazz improviser (deepjazz lineage) as a plugin, a
//! standalone player and a trainer. Domain modules are plain Rust; the plugin
//! glue (`plugin`, `params`) and the binaries stay thin.

pub mod changes;
pub mod corpus;
pub mod engine;
pub mod fuzzing;
pub mod grammar;
pub mod jackio;
pub mod live;
pub mod lstm;
pub mod midiclock;
pub mod params;
pub mod plugin;
pub mod preview;
pub mod render;
pub mod state;
pub mod theory;
pub mod train;
pub mod weights;
