//! The standalone front end: live MIDI through ALSA (`live`) or JACK (`jackio`), MIDI clock
//! (`midiclock`) and offline rendering to MIDI/WAV files (`render`). Both live front ends run
//! their blocks through one driver (`driver`); `ports` finds and opens MIDI ports; `session` turns
//! options into a setup; `changes` reads `--changes` (lead sheets, MIDI chord tracks).

pub mod changes;
mod driver;
pub mod jackio;
pub mod live;
pub mod midiclock;
pub mod ports;
pub mod render;
pub mod session;
