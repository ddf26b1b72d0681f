//! What a chord-aware model hears beside the previous value: the harmony now and next, where
//! the note falls in the bar, and where the melody stands. One definition, used by the corpus
//! reader (training and evaluation) and by the engine (playing), so the network hears the same
//! thing in both.
//!
//! # Layout `jazz-synth/cond-1` ([`COND_SIZE`] numbers, each 0 or 1)
//!
//! | slots | meaning |
//! |---|---|
//! | 0–11 | the chord sounding at the value's onset, as pitch classes relative to the previous note's pitch class (relative to the chord's root when there is no previous note) |
//! | 12–23 | the next different chord, relative to the same pitch class |
//! | 24–35 | the chord now relative to its own root (its quality, whatever the key) |
//! | 36–47 | the next chord's root relative to this chord's root (root motion: a ii–V is slot 41) |
//! | 48–55 | beat of the bar the onset falls in (0–7; later beats count as 7) |
//! | 56–62 | where in the beat: on it, ¼, ⅓, ½, ⅔, ¾, elsewhere |
//! | 63–66 | beats to the next chord change: ≤ 1, ≤ 2, ≤ 4, further or none |
//! | 67 | no chord sounds (NC) |
//! | 68 | no previous note (the solo's first) |
//! | 69–74 | register of the previous note: below E3 (52), 52–59, 60–67, 68–75, 76–83, 84 and up |
//! | 75–78 | tempo: below 120 BPM, 120–179, 180–239, 240 and up (none set when unknown) |
//!
//! Relative to the previous note because the values are: a value names a role against the chord
//! and the interval from the previous note, so "which intervals from here land on a chord tone"
//! is what the network needs to choose well. Tempo because players fill a beat differently at
//! 100 and at 300 BPM.
//!
//! # Layout `jazz-synth/cond-2` ([`COND_SIZE`] + S numbers)
//!
//! `cond-1`'s 79 slots, then one slot per style the model learned (S of them, in the order the
//! weights file lists them, see [`crate::music::style`]): slot 79 + k is 1 when the solo is in
//! style k. "any" (no style) sets none of them, so a model trained with some windows' style
//! withheld plays an average voice there. The weights file records the layout it was trained
//! with, and for `cond-2` the style names.

use crate::music::theory::{pitch_class, Chord};

/// Numbers in a conditioning vector.
pub const COND_SIZE: usize = 79;

/// The layout name stored in weights files trained with these inputs.
pub const LAYOUT: &str = "jazz-synth/cond-1";

/// The layout with a style block after [`COND_SIZE`] slots.
pub const LAYOUT_STYLED: &str = "jazz-synth/cond-2";

/// The widest conditioning vector any layout has (`cond-2` with the most styles).
pub const MAX_COND: usize = COND_SIZE + crate::music::style::MAX_STYLES;

/// Writes the style block of a `cond-2` vector: `styles` slots after [`COND_SIZE`], all 0 for
/// knob position 0 ("any") or one past the list, else slot `COND_SIZE + knob − 1` set. `out`
/// must hold `COND_SIZE + styles` numbers (shorter: nothing written). Never allocates.
pub fn write_style(out: &mut [f32], styles: usize, knob: usize) {
    let Some(block) = out.get_mut(COND_SIZE..COND_SIZE + styles) else {
        return;
    };
    block.fill(0.0);
    if let Some(slot) = knob.checked_sub(1).and_then(|k| block.get_mut(k)) {
        *slot = 1.0;
    }
}

/// The style block of `out` (the `styles` numbers after [`COND_SIZE`]) set to the average of the
/// styles, `1/styles` each: the reference style strength leans away from (see
/// [`crate::model::lstm::Model::step_guided`]). Nothing happens without styles or room.
pub fn write_style_average(out: &mut [f32], styles: usize) {
    if let Some(block) = out.get_mut(COND_SIZE..COND_SIZE + styles) {
        block.fill(1.0 / styles as f32);
    }
}

/// Twelfths of a quarter note per beat (the corpus's and the engine's grid).
const TWELFTHS: i64 = 12;

/// Where a value starts: everything the conditioning vector is made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Context {
    /// The chord sounding at the onset ([`Chord::EMPTY`] for no chord).
    pub chord: Chord,
    /// The next chord that differs from `chord` ([`Chord::EMPTY`] when none is known).
    pub next_chord: Chord,
    /// Beats (rounded up) from the onset to that change; `None` when none is known.
    pub beats_to_change: Option<u32>,
    /// The last pitch played before this value (MIDI), `None` at the start of a solo.
    pub prev_pitch: Option<u8>,
    /// Beat of the bar the onset falls in, from 0.
    pub beat_in_bar: u32,
    /// Position inside that beat, in twelfths (0..12).
    pub tick_in_beat: u32,
    /// Tempo in quarter notes per minute, if known.
    pub tempo_bpm: Option<f64>,
}

impl Context {
    /// Context of an onset `offset` twelfths into a bar that started at `bar_start`.
    pub fn at(
        chord: Chord,
        next: Option<(Chord, i64)>,
        prev_pitch: Option<u8>,
        offset: i64,
        bar_start: i64,
    ) -> Context {
        let into_bar = (offset - bar_start).max(0);
        Context {
            chord,
            next_chord: next.map_or(Chord::EMPTY, |(c, _)| c),
            beats_to_change: next.map(|(_, at)| {
                let d = (at - offset).max(0);
                u32::try_from((d + TWELFTHS - 1) / TWELFTHS).unwrap_or(u32::MAX)
            }),
            prev_pitch,
            beat_in_bar: u32::try_from(into_bar / TWELFTHS).unwrap_or(u32::MAX),
            tick_in_beat: (into_bar % TWELFTHS) as u32,
            tempo_bpm: None,
        }
    }

    /// The same context at `tempo_bpm` (ignored unless a positive finite number).
    pub fn with_tempo(mut self, tempo_bpm: f64) -> Context {
        self.tempo_bpm = (tempo_bpm.is_finite() && tempo_bpm > 0.0).then_some(tempo_bpm);
        self
    }

    /// Writes the conditioning vector into `out` (at least [`COND_SIZE`] long; extra entries
    /// are left alone). Never allocates.
    pub fn write(&self, out: &mut [f32]) {
        let out = &mut out[..COND_SIZE];
        out.fill(0.0);
        let chord_empty = self.chord.pcs.is_empty();
        let reference = match self.prev_pitch {
            Some(p) => pitch_class(p),
            None => self.chord.root % 12,
        };
        let rel = |pc: u8, to: u8| usize::from((pc + 12 - to % 12) % 12);
        for pc in self.chord.pcs.iter() {
            out[rel(pc, reference)] = 1.0;
            out[24 + rel(pc, self.chord.root)] = 1.0;
        }
        if !self.next_chord.pcs.is_empty() {
            for pc in self.next_chord.pcs.iter() {
                out[12 + rel(pc, reference)] = 1.0;
            }
            if !chord_empty {
                out[36 + rel(self.next_chord.root, self.chord.root)] = 1.0;
            }
        }
        out[48 + self.beat_in_bar.min(7) as usize] = 1.0;
        let within = match self.tick_in_beat {
            0 => 0,
            3 => 1,
            4 => 2,
            6 => 3,
            8 => 4,
            9 => 5,
            _ => 6,
        };
        out[56 + within] = 1.0;
        let change = match self.beats_to_change {
            Some(0..=1) => 0,
            Some(2) => 1,
            Some(3..=4) => 2,
            _ => 3,
        };
        out[63 + change] = 1.0;
        if chord_empty {
            out[67] = 1.0;
        }
        match self.prev_pitch {
            None => out[68] = 1.0,
            Some(p) => {
                let band = match p {
                    0..=51 => 0,
                    52..=59 => 1,
                    60..=67 => 2,
                    68..=75 => 3,
                    76..=83 => 4,
                    _ => 5,
                };
                out[69 + band] = 1.0;
            }
        }
        if let Some(t) = self.tempo_bpm {
            let band = match t {
                t if t < 120.0 => 0,
                t if t < 180.0 => 1,
                t if t < 240.0 => 2,
                _ => 3,
            };
            out[75 + band] = 1.0;
        }
    }

    /// The conditioning vector as a new array (for tests and offline use).
    pub fn vector(&self) -> [f32; COND_SIZE] {
        let mut v = [0.0; COND_SIZE];
        self.write(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(notes: &[u8]) -> Chord {
        Chord::from_midi(notes)
    }

    #[test]
    fn a_ii_v_from_the_ninth_of_dm7() {
        // Dm7 (D F A C) then G7; previous note E (the ninth), beat 3 on the off-beat eighth.
        let dm7 = chord(&[50, 53, 57, 60]);
        let g7 = chord(&[43, 47, 50, 53]);
        let ctx = Context::at(dm7, Some((g7, 48)), Some(64), 30, 0);
        let v = ctx.vector();
        // Chord tones relative to E: D = 10, F = 1, A = 5, C = 8.
        let now: Vec<usize> = (0..12).filter(|&i| v[i] == 1.0).collect();
        assert_eq!(now, vec![1, 5, 8, 10]);
        // G7 relative to E: G = 3, B = 7, D = 10, F = 1.
        let next: Vec<usize> = (12..24).filter(|&i| v[i] == 1.0).map(|i| i - 12).collect();
        assert_eq!(next, vec![1, 3, 7, 10]);
        // Quality of Dm7 from D: 0, 3, 7, 10.
        let quality: Vec<usize> = (24..36).filter(|&i| v[i] == 1.0).map(|i| i - 24).collect();
        assert_eq!(quality, vec![0, 3, 7, 10]);
        // Root motion D -> G is +5.
        assert_eq!(v[36 + 5], 1.0);
        assert_eq!(v[48 + 2], 1.0, "beat 3 of the bar (index 2)");
        assert_eq!(v[56 + 3], 1.0, "the off-beat eighth");
        assert_eq!(v[63 + 1], 1.0, "the change is 1.5 beats away: within 2");
        assert_eq!(v[69 + 2], 1.0, "E4 is in the 60-67 band");
        assert_eq!(
            v.iter().filter(|&&x| x == 1.0).count(),
            4 + 4 + 4 + 1 + 1 + 1 + 1 + 1
        );
    }

    #[test]
    fn the_style_block_follows_the_chord_inputs() {
        let mut v = [7.0f32; COND_SIZE + 4];
        write_style(&mut v, 3, 2);
        assert_eq!(v[COND_SIZE..], [0.0, 1.0, 0.0, 7.0]);
        write_style(&mut v, 3, 0);
        assert_eq!(v[COND_SIZE..], [0.0, 0.0, 0.0, 7.0]);
        write_style(&mut v, 3, 9);
        assert_eq!(v[COND_SIZE..], [0.0, 0.0, 0.0, 7.0]);
        assert!(v[..COND_SIZE].iter().all(|&x| x == 7.0));
        let mut short = [0.0f32; COND_SIZE];
        write_style(&mut short, 3, 1);
        assert!(short.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn no_chord_and_no_previous_note_are_flagged() {
        let ctx = Context::at(Chord::EMPTY, None, None, 0, 0);
        let v = ctx.vector();
        assert_eq!(v[67], 1.0);
        assert_eq!(v[68], 1.0);
        assert_eq!(v[63 + 3], 1.0);
        assert!(v[..48].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn transposing_melody_and_harmony_together_changes_nothing_but_the_register() {
        let c7 = chord(&[48, 52, 55, 58]);
        let f7 = chord(&[53, 57, 60, 63]);
        let d7 = chord(&[50, 54, 57, 60]);
        let g7 = chord(&[55, 59, 62, 65]);
        let a = Context::at(c7, Some((f7, 24)), Some(64), 6, 0).vector();
        let b = Context::at(d7, Some((g7, 24)), Some(66), 6, 0).vector();
        assert_eq!(a[..69], b[..69]);
    }
}
