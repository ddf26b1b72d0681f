//! Grammar values: `ROLE,DURATION[,<UP,DOWN>]` (e.g. `C,0.250`, `S,0.500,<m3,P-4>`).
//!
//! CONTRACT (owned by the theory/grammar helper):
//! - `enum Role { Rest, Chord, Scale, Approach, Other }` printed `R C S A X`.
//! - `struct Value { role: Role, duration: f64 /* quarter notes */, range: Option<(Interval, Interval)> }`
//!   `Clone + PartialEq + Debug`; `Value::parse(&str) -> Result<Value, GrammarError>`; `Display` prints
//!   the exact original string; parse∘print is lossless.
//! - `decode_pitch(value, chord: &Chord, prev: Option<u8>, low: u8, high: u8, rng: &mut impl rand::Rng)
//!    -> Option<u8>`: the original's decoding of one value to a MIDI pitch (None for rests); never allocates.
