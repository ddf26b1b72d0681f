//! The pitch and exact length a value leaves open, learned from a corpus and stored in the
//! weights (`pitch_model`): one distribution that both plays (the engine draws from it) and
//! scores (the evaluator reads the probability of the pitch actually played).
//!
//! A value names a role (`C`, `S`, `A`, `X`) and, for every note after a solo's first, the
//! interval from the previous note (the middle of its `<UP,DOWN>` window). The candidates are
//! the pitches of the range **whose role over the chord is the value's**, so a `C` value always
//! sounds a chord tone, an `S` a scale tone that is not a chord tone, an `A` a semitone from a
//! chord tone. Each candidate is weighted by how far it lies from the encoded interval (how the
//! corpus's notes sat against their value after the vocabulary was reduced: nearly always on
//! it), or, for a note without an interval, by the corpus's intervals onto that role from the
//! previous note, or, for a solo's first note, by the corpus's register.
//!
//! The exact length is the same idea: a value's duration is on a grid (sixteenths, triplets,
//! eighths...), and the corpus says which exact lengths (in 1/24 of a beat) each grid duration
//! stood for. Scoring uses it; playing uses the grid duration.

use serde::{Deserialize, Serialize};

use crate::music::contour::encoded_interval;
use crate::music::grammar::{role_by_pitch_class, Role, Value};
use crate::music::theory::Chord;

/// Intervals and offsets are counted from −`SPAN` to +`SPAN` semitones (wider ones count at the edge).
pub const SPAN: i32 = 24;
const BINS: usize = 2 * SPAN as usize + 1;
/// Pseudo-count added to every bin, so every pitch of the right role keeps a chance.
const PSEUDO: f32 = 0.05;
/// Exact lengths are counted up to this many 24ths of a beat (8 beats).
pub const MAX_DUR24: usize = 192;

/// Learned pitch and length distributions. See the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PitchModel {
    /// Per note role (C, S, A, X): counts of (actual interval − encoded interval), −24..=24.
    pub offsets: Vec<Vec<f32>>,
    /// Per note role: counts of the interval from the previous note, for notes whose value
    /// has no interval.
    pub free: Vec<Vec<f32>>,
    /// Counts of the MIDI pitch of solos' first notes (128 bins).
    pub register: Vec<f32>,
    /// For each grid duration (twelfths of a beat, as the value's duration): counts of the exact
    /// lengths it stood for, in 24ths of a beat (index 0 = 1/24 ... [`MAX_DUR24`] − 1).
    pub durations: Vec<(u32, Vec<f32>)>,
}

fn note_row(role: Role) -> Option<usize> {
    match role {
        Role::Chord => Some(0),
        Role::Scale => Some(1),
        Role::Approach => Some(2),
        Role::Other => Some(3),
        Role::Rest => None,
    }
}

fn bin(semitones: i32) -> usize {
    (semitones.clamp(-SPAN, SPAN) + SPAN) as usize
}

/// Twelfths of a beat a value lasts (its printed duration, rounded to the grid).
pub fn value_twelfths(value: &Value) -> u32 {
    (value.duration * 12.0).round().clamp(1.0, 12_000.0) as u32
}

impl Default for PitchModel {
    fn default() -> Self {
        PitchModel {
            offsets: vec![vec![0.0; BINS]; 4],
            free: vec![vec![0.0; BINS]; 4],
            register: vec![0.0; 128],
            durations: Vec::new(),
        }
    }
}

impl PitchModel {
    /// Counts one note: played at `pitch` after `prev`, written as `value`.
    pub fn add_note(&mut self, value: &Value, prev: Option<u8>, pitch: u8) {
        let Some(row) = note_row(value.role) else {
            return;
        };
        match (prev, encoded_interval(value)) {
            (Some(prev), Some(step)) => {
                let actual = i32::from(pitch) - i32::from(prev);
                self.offsets[row][bin(actual - step)] += 1.0;
            }
            (Some(prev), None) => {
                self.free[row][bin(i32::from(pitch) - i32::from(prev))] += 1.0;
            }
            (None, _) => self.register[usize::from(pitch.min(127))] += 1.0,
        }
    }

    /// Counts one element's exact length (`dur24`, 24ths of a beat) under its value's grid length.
    pub fn add_duration(&mut self, value: &Value, dur24: u32) {
        let grid = value_twelfths(value);
        let at = match self.durations.binary_search_by_key(&grid, |(g, _)| *g) {
            Ok(at) => at,
            Err(at) => {
                self.durations.insert(at, (grid, vec![0.0; MAX_DUR24]));
                at
            }
        };
        let k = (dur24.clamp(1, MAX_DUR24 as u32) - 1) as usize;
        self.durations[at].1[k] += 1.0;
    }

    /// Checks a model read from a file.
    pub fn validate(&self) -> Result<(), String> {
        let rows_ok =
            |rows: &Vec<Vec<f32>>| rows.len() == 4 && rows.iter().all(|r| r.len() == BINS);
        if !rows_ok(&self.offsets) || !rows_ok(&self.free) {
            return Err(format!("offsets and free must be 4 rows of {BINS} counts"));
        }
        if self.register.len() != 128 {
            return Err("register must have 128 counts".into());
        }
        let all = self
            .offsets
            .iter()
            .chain(&self.free)
            .flatten()
            .chain(&self.register)
            .chain(self.durations.iter().flat_map(|(_, d)| d.iter()));
        for x in all {
            if !x.is_finite() || *x < 0.0 {
                return Err(format!(
                    "counts must be finite and not negative (found {x})"
                ));
            }
        }
        if self.durations.iter().any(|(_, d)| d.len() != MAX_DUR24)
            || self.durations.windows(2).any(|w| w[0].0 >= w[1].0)
        {
            return Err(format!(
                "durations must be sorted by grid length, each with {MAX_DUR24} counts"
            ));
        }
        Ok(())
    }

    /// The weight of each pitch in `low..=high` for `value` over `chord` after `prev`, written
    /// into `out` (128 entries; zero outside the range and for pitches of another role).
    /// Returns the sum of the weights (0 when no pitch of the range has the value's role, or
    /// for a rest). Never allocates.
    pub fn weights(
        &self,
        value: &Value,
        chord: &Chord,
        prev: Option<u8>,
        (low, high): (u8, u8),
        out: &mut [f32; 128],
    ) -> f32 {
        out.fill(0.0);
        let Some(row) = note_row(value.role) else {
            return 0.0;
        };
        let (low, high) = (low.min(high).min(127), high.max(low).min(127));
        let step = encoded_interval(value);
        let mut total = 0.0;
        for p in low..=high {
            if role_by_pitch_class(p, chord) != value.role {
                continue;
            }
            let w = match (prev, step) {
                (Some(prev), Some(step)) => {
                    self.offsets[row][bin(i32::from(p) - i32::from(prev) - step)] + PSEUDO
                }
                (Some(prev), None) => self.free[row][bin(i32::from(p) - i32::from(prev))] + PSEUDO,
                (None, _) => self.register[usize::from(p)] + PSEUDO,
            };
            out[usize::from(p)] = w;
            total += w;
        }
        total
    }

    /// Probability of the exact length `dur24` (24ths of a beat) given the value's grid length:
    /// the counts of that grid length, smoothed over the lengths that round to it.
    pub fn duration_probability(&self, value: &Value, dur24: u32) -> f64 {
        let grid = value_twelfths(value);
        let k = (dur24.clamp(1, MAX_DUR24 as u32) - 1) as usize;
        match self.durations.binary_search_by_key(&grid, |(g, _)| *g) {
            Ok(at) => {
                let counts = &self.durations[at].1;
                let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
                // Pseudo-counts on every length: unseen lengths keep a small chance.
                let pseudo = 0.001;
                (f64::from(counts[k]) + pseudo) / (total + pseudo * MAX_DUR24 as f64)
            }
            // A grid length the corpus never had: exactly its own length.
            Err(_) if k + 1 == (grid * 2) as usize => 0.99,
            Err(_) => 0.01 / MAX_DUR24 as f64,
        }
    }
}

/// Draws a pitch in proportion to `weights` (as [`PitchModel::weights`] wrote them), with
/// `u` uniform in [0, 1). `None` when all weights are zero.
pub fn draw(weights: &[f32; 128], total: f32, u: f32) -> Option<u8> {
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let mut left = u * total;
    let mut last = None;
    for (p, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last = Some(p as u8);
            if left < w {
                return last;
            }
            left -= w;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::grammar::interval_range;

    fn value(text: &str) -> Value {
        Value::parse(text).expect("value")
    }

    #[test]
    fn every_candidate_has_the_values_role() {
        let c7 = Chord::from_midi(&[48, 52, 55, 58]);
        let model = PitchModel::default();
        let mut w = [0.0; 128];
        // Over a dominant seventh every pitch class is a chord, scale or approach tone: no X.
        let x = value("X,0.500");
        assert_eq!(model.weights(&x, &c7, Some(60), (48, 84), &mut w), 0.0);
        assert_eq!(draw(&w, 0.0, 0.5), None);
        for text in ["C,0.500", "S,0.500", "A,0.500"] {
            let v = value(text);
            let total = model.weights(&v, &c7, Some(60), (48, 84), &mut w);
            assert!(total > 0.0, "{text}");
            for p in 0..128u8 {
                if w[usize::from(p)] > 0.0 {
                    assert_eq!(role_by_pitch_class(p, &c7), v.role, "{text}: pitch {p}");
                    assert!((48..=84).contains(&p));
                }
            }
        }
        assert_eq!(
            model.weights(&value("R,0.500"), &c7, Some(60), (48, 84), &mut w),
            0.0
        );
    }

    #[test]
    fn learned_offsets_put_the_note_on_its_interval() {
        let c7 = Chord::from_midi(&[48, 52, 55, 58]);
        let mut model = PitchModel::default();
        // E4 -> G4 (a minor third up onto a chord tone), many times.
        let (up, down) = interval_range(64, 67);
        let v = Value {
            role: Role::Chord,
            duration: 0.5,
            range: Some((up, down)),
        };
        for _ in 0..100 {
            model.add_note(&v, Some(64), 67);
        }
        let mut w = [0.0; 128];
        let total = model.weights(&v, &c7, Some(64), (36, 96), &mut w);
        assert!(w[67] / total > 0.95, "G4 gets {}", w[67] / total);
        assert_eq!(draw(&w, total, 0.5), Some(67));
    }

    #[test]
    fn durations_are_learned_per_grid_length() {
        let mut model = PitchModel::default();
        let eighth = value("C,0.500");
        for _ in 0..30 {
            model.add_duration(&eighth, 12);
        }
        for _ in 0..10 {
            model.add_duration(&eighth, 11);
        }
        let p12 = model.duration_probability(&eighth, 12);
        let p11 = model.duration_probability(&eighth, 11);
        assert!((p12 - 0.75).abs() < 0.01 && (p11 - 0.25).abs() < 0.01);
        assert!(model.validate().is_ok());
        let sum: f64 = (1..=MAX_DUR24 as u32)
            .map(|d| model.duration_probability(&eighth, d))
            .sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }
}
