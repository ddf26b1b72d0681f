//! The improvising engine: host transport in, sample-accurate note events out.
//! Knows beats, samples, chords and notes; knows nothing of nice-plug, midir or JACK.
//!
//! CONTRACT (owned by the engine helper): see issue 4, section 1.
