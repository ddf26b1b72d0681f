//! Notes a player plays, turned into grammar values as they happen: the automatic corpus reader
//! (`train::corpus`, automatic mode) worked as a stream, so the engine can feed a call through
//! the LSTM exactly as the trainer would have read the same phrase from a MIDI file.
//!
//! The rules are the reader's, one for one:
//! - times snap to the nearest 1/4 or 1/3 quarter note ([`quantize`], music21's rule);
//! - the line is the highest note at each (quantized) onset; a note ends where the next begins
//!   when the gap between them is shorter than a sixteenth, otherwise the gap is a rest, cut at
//!   bar lines; a zero-length note lasts a sixteenth;
//! - a bar in which no note starts gives no values (its rests are dropped);
//! - the `<UP,DOWN>` range is measured from the previous note of the same bar, so the first note
//!   of a bar has none;
//! - roles are judged by pitch class against the chord sounding at the note's onset
//!   ([`role_by_pitch_class`]).
//!
//! A phrase ends ([`Listener::finish`]) where the player's turn ends: a note still held is cut
//! there, and no rest follows the last note (a file's last note has none either).
//!
//! Fixed-size state, no allocation: the engine runs this on the audio thread.

use crate::music::grammar::{interval_range, role_by_pitch_class, Role, Value};
use crate::music::theory::Chord;

/// Twelfths of a quarter note: every multiple of 1/4 and of 1/3 quarter note is a whole number
/// of them, so quantized times compare exactly.
pub const TWELFTHS_PER_QUARTER: i64 = 12;
/// The shortest rest, and the length of a zero-length note: a sixteenth.
pub const SIXTEENTH_TWELFTHS: i64 = 3;
/// Resolution of the unquantized times the listener keeps (ticks per quarter note).
pub const LIVE_TICKS_PER_QUARTER: i64 = 960;

/// Snaps `ticks` (a time or a duration, at `ticks_per_quarter`) to the nearest multiple of 1/4 or
/// 1/3 quarter note and returns it in twelfths of a quarter note. music21 takes, for each grid,
/// the lower multiple unless the value lies past the half-way point, then the grid with the
/// smaller error, then the smaller value; exact integer arithmetic reproduces its float results
/// for any sane division.
pub fn quantize(ticks: i64, ticks_per_quarter: i64) -> i64 {
    let ticks = ticks.max(0);
    let mut best = (i64::MAX, i64::MAX);
    for divisor in [4, 3] {
        let scaled = ticks * divisor;
        let multiple = scaled / ticks_per_quarter;
        let rest = scaled - multiple * ticks_per_quarter;
        let (multiple, error) = if 2 * rest <= ticks_per_quarter {
            (multiple, rest)
        } else {
            (multiple + 1, ticks_per_quarter - rest)
        };
        let step = TWELFTHS_PER_QUARTER / divisor;
        // Both errors over the common denominator ticks_per_quarter · 12.
        best = best.min((error * step, multiple * step));
    }
    best.1
}

/// A position in quarter notes as listener ticks ([`LIVE_TICKS_PER_QUARTER`]).
pub fn live_ticks(quarters: f64) -> i64 {
    (quarters * LIVE_TICKS_PER_QUARTER as f64).round() as i64
}

/// A position in listener ticks quantized to twelfths of a quarter note. Negative positions
/// (a host's pre-roll) quantize like positive ones: the grid repeats every quarter note.
pub fn quantize_position(ticks: i64) -> i64 {
    let quarter = ticks.div_euclid(LIVE_TICKS_PER_QUARTER);
    let within = ticks.rem_euclid(LIVE_TICKS_PER_QUARTER);
    quarter * TWELFTHS_PER_QUARTER + quantize(within, LIVE_TICKS_PER_QUARTER)
}

/// A bar: its index and where it starts and ends, in twelfths of a quarter note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    pub index: i64,
    pub start: i64,
    pub end: i64,
}

/// One value heard, with the note that made it (None for a rest).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heard {
    pub value: Value,
    pub key: Option<u8>,
    /// Where the element starts, in twelfths of a quarter note.
    pub onset: i64,
}

/// A note whose value is not known yet: it ends where the next note begins, or at its release.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Quantized onset, twelfths.
    onset: i64,
    /// Unquantized press and release, listener ticks.
    pressed: i64,
    released: Option<i64>,
    key: u8,
    chord: Chord,
    bar: i64,
}

/// The streaming corpus reader. Feed presses and releases in time order; values come out
/// through the `emit` callback as soon as they are known.
#[derive(Clone, Copy, Debug, Default)]
pub struct Listener {
    pending: Option<Pending>,
    /// Bar of the last value given and the last note in that bar, for `<UP,DOWN>`.
    last_bar: Option<i64>,
    previous: Option<u8>,
    /// Values given since the last [`Listener::finish`].
    heard: usize,
}

impl Listener {
    /// Forgets everything (transport stop, reset).
    pub fn clear(&mut self) {
        *self = Listener::default();
    }

    /// Whether a note is waiting for its end.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Values given since the phrase began.
    pub fn heard(&self) -> usize {
        self.heard
    }

    /// A key pressed at `ticks` (listener ticks), over `chord` (the chord sounding there).
    /// `bar_of` gives the bar holding a position in twelfths.
    pub fn press(
        &mut self,
        ticks: i64,
        key: u8,
        chord: Chord,
        bar_of: impl Fn(i64) -> Bar,
        emit: &mut impl FnMut(Heard),
    ) {
        let onset = quantize_position(ticks);
        if let Some(p) = &mut self.pending {
            if p.onset == onset {
                // Two notes on one onset: the highest is the line.
                if key > p.key {
                    p.key = key;
                    p.pressed = ticks;
                    p.released = None;
                }
                return;
            }
            if onset < p.onset {
                // Out of order (cannot happen with sorted input); keep the earlier note.
                return;
            }
        }
        if let Some(p) = self.pending.take() {
            self.give_note(p, Some(onset), &bar_of, emit);
        }
        let bar = bar_of(onset).index;
        self.pending = Some(Pending {
            onset,
            pressed: ticks,
            released: None,
            key,
            chord,
            bar,
        });
    }

    /// A key released at `ticks`. Releases of notes that are not the line's are ignored.
    pub fn release(&mut self, ticks: i64, key: u8) {
        if let Some(p) = &mut self.pending {
            if p.key == key && p.released.is_none() {
                p.released = Some(ticks.max(p.pressed));
            }
        }
    }

    /// Whether the note waiting has been released at or before `ticks`: in listening-while-
    /// soloing the engine gives it then, rather than waiting for a next note that may not come.
    pub fn released_before(&self, ticks: i64) -> bool {
        self.pending
            .is_some_and(|p| p.released.is_some_and(|r| r <= ticks))
    }

    /// The phrase ends at `end` (twelfths): a waiting note is given, cut at `end` if it is still
    /// held, and the next note starts a new phrase. No rest follows the last note.
    pub fn finish(&mut self, end: i64, emit: &mut impl FnMut(Heard)) {
        if let Some(p) = self.pending.take() {
            let room = (end - p.onset).max(SIXTEENTH_TWELFTHS);
            let length = self.note_length(&p).min(room);
            self.emit_note(&p, length, emit);
        }
        self.last_bar = None;
        self.previous = None;
        self.heard = 0;
    }

    /// The note's own (quantized) length; a held note lasts "forever" (until the next onset).
    fn note_length(&self, p: &Pending) -> i64 {
        match p.released {
            Some(r) => match quantize(r - p.pressed, LIVE_TICKS_PER_QUARTER) {
                0 => SIXTEENTH_TWELFTHS,
                d => d,
            },
            None => i64::MAX / 4,
        }
    }

    /// Gives `p`, ended by a note at `next_onset`, and the rest between them.
    fn give_note(
        &mut self,
        p: Pending,
        next_onset: Option<i64>,
        bar_of: &impl Fn(i64) -> Bar,
        emit: &mut impl FnMut(Heard),
    ) {
        let own = self.note_length(&p);
        let Some(next) = next_onset else {
            self.emit_note(&p, own, emit);
            return;
        };
        let gap_to_next = next - p.onset;
        let mut gap = gap_to_next - own.min(gap_to_next);
        let length = if gap < SIXTEENTH_TWELFTHS {
            gap = 0;
            gap_to_next
        } else {
            gap_to_next - gap
        };
        self.emit_note(&p, length, emit);
        // Rests, cut at bar lines; a piece in a bar where no note starts is dropped, as the
        // reader drops bars without notes.
        let next_bar = bar_of(next).index;
        let mut start = p.onset + length;
        while gap > 0 {
            let bar = bar_of(start);
            let piece = gap.min((bar.end - start).max(1));
            if bar.index == p.bar || bar.index == next_bar {
                let value = Value {
                    role: Role::Rest,
                    duration: piece as f64 / TWELFTHS_PER_QUARTER as f64,
                    range: None,
                };
                self.give(bar.index, start, value, None, emit);
            }
            start += piece;
            gap -= piece;
        }
    }

    fn emit_note(&mut self, p: &Pending, length: i64, emit: &mut impl FnMut(Heard)) {
        if self.last_bar != Some(p.bar) {
            self.previous = None;
        }
        let value = Value {
            role: role_by_pitch_class(p.key, &p.chord),
            duration: length as f64 / TWELFTHS_PER_QUARTER as f64,
            range: self.previous.map(|prev| interval_range(prev, p.key)),
        };
        self.previous = Some(p.key);
        self.give(p.bar, p.onset, value, Some(p.key), emit);
    }

    fn give(
        &mut self,
        bar: i64,
        onset: i64,
        value: Value,
        key: Option<u8>,
        emit: &mut impl FnMut(Heard),
    ) {
        if self.last_bar != Some(bar) {
            self.last_bar = Some(bar);
            if key.is_none() {
                self.previous = None;
            }
        }
        self.heard += 1;
        emit(Heard { value, key, onset });
    }
}

/// The vocabulary entry closest to `value`: the value itself when the model knows it, otherwise
/// the same role (rest or note first) with the nearest length and the nearest range. A live
/// phrase makes values no training file had; the model can only hear the ones it knows.
pub fn nearest_value(vocab: &[Value], value: &Value) -> Option<usize> {
    let cost = |v: &Value| -> f64 {
        if v == value {
            return 0.0;
        }
        let mut c = 0.0;
        if v.is_rest() != value.is_rest() {
            c += 1000.0;
        } else if v.role != value.role {
            c += 100.0;
        }
        let (a, b) = (v.duration.max(1e-3), value.duration.max(1e-3));
        c += (a / b).log2().abs() * 10.0;
        c += match (v.range, value.range) {
            (Some((vu, vd)), Some((u, d))) => {
                f64::from((vu.semitones - u.semitones).abs() + (vd.semitones - d.semitones).abs())
                    * 0.5
            }
            (None, None) => 0.0,
            _ => 5.0,
        };
        c
    };
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in vocab.iter().enumerate() {
        let c = cost(v);
        if best.is_none_or(|(_, b)| c < b) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| i)
}
