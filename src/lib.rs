//! jazz-synth: an LSTM jazz improviser (deepjazz lineage) as a plugin, a standalone player and a
//! trainer. The folders are the floors, each importing only those below it:
//!
//! - [`files`]: the one atomic file write;
//! - [`music`]: pitch theory, the value grammar, chord progressions;
//! - [`model`]: the LSTM and its weights file;
//! - [`train`]: MIDI files → corpus of values → trained weights;
//! - [`engine`]: the host-agnostic beat clock that turns model output into notes;
//! - [`plugin`] and [`standalone`]: the front ends (CLAP/VST3, live MIDI/JACK, files).

pub mod engine;
pub mod files;
pub mod fuzzing;
pub mod model;
pub mod music;
pub mod plugin;
pub mod standalone;
pub mod train;
