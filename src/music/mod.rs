//! The musical floor: pitch spelling and intervals (`theory`), the grammar of generated values
//! (`grammar`), chord progressions (`changes`), lead sheets read in (`leadsheet`: iReal Pro,
//! MusicXML), the learned pitch decoder (`contour`), a player's notes heard as values
//! (`listen`), where swung eighths fall (`swing`), the rhythm section's parts (`band`), style
//! names (`style`) and the figures that describe a melodic line (`quality`). Plain Rust;
//! depends on nothing else here.

pub mod band;
pub mod changes;
pub mod conditioning;
pub mod contour;
pub mod grammar;
pub mod leadsheet;
pub mod listen;
pub mod pitch;
pub mod quality;
pub mod style;
pub mod swing;
pub mod theory;
