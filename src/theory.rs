//! Music theory without music21: pitch spelling, directed interval names,
//! chords, scales and approach tones — exactly as the original's strings need.
//!
//! CONTRACT (owned by the theory/grammar helper; signatures may grow, not change):
//! - `pitch_name(midi: i32) -> &'static str`       music21 default spelling: C C# D E- E F F# G G# A B- B
//! - `Interval { generic: i32 /* signed steps: 1 unison, 2 second, -3 third down */, semitones: i32 }`
//!   - `Interval::between(start_midi, end_midi)` using the default spellings' letters
//!   - `Interval::directed_name(&self) -> String` (`P1`, `m2`, `M-3`, `P-4`, `A4`, `d5`, `M9`, `P-11`)
//!   - `Interval::parse(&str) -> Result<Interval, String>` (inverse of directed_name)
//!   - `Interval::add(self, other)`, `Interval::subtract(self, other)` as music21's interval.add/subtract
//! - `PcSet(u16)`: bitmask of pitch classes, `Copy`, no allocation.
//! - `Chord { pcs: PcSet, root: u8, quality: Quality }` (`Copy`), `Chord::from_midi(&[u8])`,
//!   `chord.scale() -> PcSet` (major if Major else Dorian on the root), `is_chord_tone(pc)`,
//!   `is_scale_tone(pc)`, `is_approach_tone(pc)` (±1 semitone from a chord tone).
