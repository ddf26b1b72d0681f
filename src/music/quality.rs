//! How a melodic line sounds, in numbers: the figures `jazz-synth quality` prints for a solo and
//! `jazz-train` prints (and stores in the weights) for the corpus it learned from, so that a
//! model's solos can be held against its training material.
//!
//! A [`Line`] is a monophonic melody (times in quarter notes) over chords. Every figure is a
//! plain count over that line; nothing here knows where the line came from.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::music::theory::{pitch_class, Chord};

/// Semitones above which a move counts as a leap "over a fifth".
pub const LEAP_SEMITONES: i32 = 7;
/// Semitones up to which a move counts as a step (repeated notes included).
pub const STEP_SEMITONES: i32 = 2;
/// Length of the note n-grams counted by [`Figures::distinct_4grams`].
const NGRAM: usize = 4;

/// One note of a line. Times in quarter notes from the start of the piece.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineNote {
    pub start: f64,
    pub end: f64,
    /// MIDI note number.
    pub key: u8,
}

/// A melody and the chords under it. Build it with [`Line::new`], which makes it monophonic.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    notes: Vec<LineNote>,
    /// `(start in quarter notes, chord)`, sorted by start; a chord lasts until the next.
    chords: Vec<(f64, Chord)>,
    /// Quarter notes per bar, for notes per bar.
    beats_per_bar: f64,
}

impl Line {
    /// A line from any notes: sorted by start; of notes starting together (within a 64th) the
    /// highest is kept (the top voice); a note is cut where the next one starts. Notes of zero
    /// length after cutting are dropped. `chords` need not be sorted.
    pub fn new(notes: &[LineNote], chords: &[(f64, Chord)], beats_per_bar: f64) -> Line {
        let mut sorted: Vec<LineNote> = notes
            .iter()
            .copied()
            .filter(|n| n.start.is_finite() && n.end.is_finite() && n.end > n.start)
            .collect();
        sorted.sort_by(|a, b| a.start.total_cmp(&b.start).then(b.key.cmp(&a.key)));
        let mut line: Vec<LineNote> = Vec::with_capacity(sorted.len());
        for n in sorted {
            if let Some(last) = line.last_mut() {
                if n.start - last.start < 1.0 / 16.0 {
                    continue; // same onset: the higher note came first and stays
                }
                last.end = last.end.min(n.start);
            }
            line.push(n);
        }
        let mut chords = chords.to_vec();
        chords.sort_by(|a, b| a.0.total_cmp(&b.0));
        Line {
            notes: line,
            chords,
            beats_per_bar: if beats_per_bar > 0.0 {
                beats_per_bar
            } else {
                4.0
            },
        }
    }

    /// The notes, monophonic and in order.
    pub fn notes(&self) -> &[LineNote] {
        &self.notes
    }

    /// The chords, `(start in quarter notes, chord)` in order.
    pub fn chords(&self) -> &[(f64, Chord)] {
        &self.chords
    }

    /// The chord sounding at `time` (quarter notes): the last one starting at or before it
    /// (a thousandth of a quarter note of tolerance), else the first, else none.
    pub fn chord_at(&self, time: f64) -> Chord {
        let after = self
            .chords
            .partition_point(|(start, _)| *start <= time + 1e-3);
        match after {
            0 => self.chords.first().map_or(Chord::EMPTY, |c| c.1),
            i => self.chords[i - 1].1,
        }
    }

    /// The figures of this line.
    pub fn figures(&self) -> Figures {
        Figures::of(self)
    }

    /// How this line breathes: see [`Breath`].
    pub fn breath(&self) -> Breath {
        Breath::of(&self.notes)
    }
}

/// How a line breathes: its density, its silent beats and its phrases. A phrase is a run of
/// notes each starting less than a beat after the previous one ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Breath {
    /// Onsets per quarter-note beat, from the first onset's beat to the end of the last note.
    pub notes_per_beat: f64,
    /// Beats of that span during which no note sounds at all.
    pub silent_beat_share: f64,
    pub phrases: usize,
    /// Median notes of a phrase.
    pub phrase_notes_median: f64,
    /// Median beats from a phrase's first onset to its last.
    pub phrase_beats_median: f64,
    /// Median beats from a phrase's last onset to the next phrase's first.
    pub gap_beats_median: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

impl Breath {
    fn of(notes: &[LineNote]) -> Breath {
        let (Some(first), Some(last)) = (notes.first(), notes.last()) else {
            return Breath::default();
        };
        let from = first.start.floor();
        let to = notes.iter().map(|n| n.end).fold(last.end, f64::max).ceil();
        let beats = ((to - from).max(1.0)) as usize;
        let mut sounding = vec![false; beats];
        for n in notes {
            let a = ((n.start - from).floor().max(0.0)) as usize;
            let b = ((n.end - from).ceil().max(0.0)) as usize;
            for s in sounding.iter_mut().take(b.min(beats)).skip(a) {
                *s = true;
            }
        }
        let silent = sounding.iter().filter(|s| !**s).count();
        // Phrases: split where a note starts a beat or more after the previous one ended.
        let mut phrases: Vec<&[LineNote]> = Vec::new();
        let mut start = 0;
        for i in 1..=notes.len() {
            if i == notes.len() || notes[i].start - notes[i - 1].end >= 1.0 {
                phrases.push(&notes[start..i]);
                start = i;
            }
        }
        let gaps = phrases
            .windows(2)
            .map(|w| w[1][0].start - w[0][w[0].len() - 1].start)
            .collect();
        Breath {
            notes_per_beat: notes.len() as f64 / beats as f64,
            silent_beat_share: silent as f64 / beats as f64,
            phrases: phrases.len(),
            phrase_notes_median: median(phrases.iter().map(|p| p.len() as f64).collect()),
            phrase_beats_median: median(
                phrases
                    .iter()
                    .map(|p| p[p.len() - 1].start - p[0].start)
                    .collect(),
            ),
            gap_beats_median: median(gaps),
        }
    }
}

/// What [`Line::figures`] measures. Shares are 0..=1; intervals in semitones.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Notes in the line.
    pub notes: usize,
    /// Notes whose pitch class sounds in the chord under them.
    pub chord_tone_share: f64,
    /// Chord tones and tones of the chord's scale (major over major chords, else Dorian).
    pub inside_share: f64,
    /// Moves between consecutive notes of at most 2 semitones (repeats included).
    pub step_share: f64,
    /// Moves between consecutive notes that repeat the pitch. `step_share − repeat_share` is the
    /// share of steps of 1 or 2 semitones, the WJD's own count of steps. `None` in figures stored
    /// by an older jazz-train, which did not count repeats apart (and not written then, so such
    /// figures are saved again byte for byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_share: Option<f64>,
    /// Mean size of the moves between consecutive notes.
    pub mean_interval: f64,
    /// Moves of more than 7 semitones.
    pub leap_share: f64,
    /// Share of the time from the first note's start to the last note's end with no note sounding.
    pub rest_share: f64,
    pub notes_per_bar: f64,
    /// Highest minus lowest MIDI note.
    pub pitch_range: u8,
    /// The longest run of pitches that occurs twice in the line (the two may overlap): a line
    /// stuck in a loop has one as long as the loop.
    pub longest_repeat: usize,
    /// Distinct 4-note pitch sequences over all of them (1 = none repeats).
    pub distinct_4grams: f64,
}

impl Figures {
    fn of(line: &Line) -> Figures {
        let notes = &line.notes;
        let n = notes.len();
        let share = |count: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                count as f64 / of as f64
            }
        };
        let mut chord_tones = 0;
        let mut inside = 0;
        for note in notes {
            let chord = line.chord_at(note.start);
            let pc = pitch_class(note.key);
            if chord.is_chord_tone(pc) {
                chord_tones += 1;
                inside += 1;
            } else if chord.is_scale_tone(pc) {
                inside += 1;
            }
        }
        let moves: Vec<i32> = notes
            .windows(2)
            .map(|w| (i32::from(w[1].key) - i32::from(w[0].key)).abs())
            .collect();
        let steps = moves.iter().filter(|&&m| m <= STEP_SEMITONES).count();
        let repeats = moves.iter().filter(|&&m| m == 0).count();
        let leaps = moves.iter().filter(|&&m| m > LEAP_SEMITONES).count();
        let mean_interval = if moves.is_empty() {
            0.0
        } else {
            moves.iter().map(|&m| f64::from(m)).sum::<f64>() / moves.len() as f64
        };
        let (span, sounding) = match (notes.first(), notes.last()) {
            (Some(first), Some(last)) => (
                last.end - first.start,
                notes.iter().map(|n| n.end - n.start).sum::<f64>(),
            ),
            _ => (0.0, 0.0),
        };
        let rest_share = if span > 0.0 {
            (1.0 - sounding / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let keys: Vec<u8> = notes.iter().map(|n| n.key).collect();
        let bars = span / line.beats_per_bar;
        let grams: Vec<&[u8]> = keys.windows(NGRAM).collect();
        let distinct: HashSet<&[u8]> = grams.iter().copied().collect();
        Figures {
            notes: n,
            chord_tone_share: share(chord_tones, n),
            inside_share: share(inside, n),
            step_share: share(steps, moves.len()),
            repeat_share: Some(share(repeats, moves.len())),
            mean_interval,
            leap_share: share(leaps, moves.len()),
            rest_share,
            notes_per_bar: if bars > 0.0 { n as f64 / bars } else { 0.0 },
            pitch_range: match (keys.iter().min(), keys.iter().max()) {
                (Some(lo), Some(hi)) => hi - lo,
                _ => 0,
            },
            longest_repeat: longest_repeat(&keys),
            distinct_4grams: if grams.is_empty() {
                1.0
            } else {
                share(distinct.len(), grams.len())
            },
        }
    }

    /// Moves of 1 or 2 semitones (steps without repeated notes), as the WJD counts steps; `None`
    /// for stored figures that did not count repeats.
    pub fn stepwise_share(&self) -> Option<f64> {
        self.repeat_share.map(|r| self.step_share - r)
    }

    /// The figures as rows `(label, value as printed)`, in the order of the struct.
    pub fn rows(&self) -> [(&'static str, String); 12] {
        let pct = |x: f64| format!("{:.1} %", 100.0 * x);
        [
            ("notes", self.notes.to_string()),
            ("chord tones", pct(self.chord_tone_share)),
            ("inside (chord + scale)", pct(self.inside_share)),
            ("steps (<= 2 semitones)", pct(self.step_share)),
            (
                "repeated notes",
                self.repeat_share.map_or_else(|| "-".into(), pct),
            ),
            (
                "mean interval",
                format!("{:.2} semitones", self.mean_interval),
            ),
            ("leaps over a fifth", pct(self.leap_share)),
            ("rest (time)", pct(self.rest_share)),
            ("notes per bar", format!("{:.2}", self.notes_per_bar)),
            ("pitch range", format!("{} semitones", self.pitch_range)),
            ("longest repeat", format!("{} notes", self.longest_repeat)),
            ("distinct 4-grams", pct(self.distinct_4grams)),
        ]
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, value) in self.rows() {
            writeln!(f, "  {label:<24}{value}")?;
        }
        Ok(())
    }
}

/// Two figures side by side (`what` = the column headings), for "solo vs corpus".
pub fn compare(a: &Figures, b: &Figures, headings: (&str, &str)) -> String {
    let mut out = format!("  {:<24}{:>18}{:>18}\n", "", headings.0, headings.1);
    for ((label, x), (_, y)) in a.rows().into_iter().zip(b.rows()) {
        out.push_str(&format!("  {label:<24}{x:>18}{y:>18}\n"));
    }
    out
}

/// Length of the longest run of `keys` that occurs at two different positions (overlap
/// allowed). Binary search on the length with a set of the runs of that length: O(n log n)
/// hashing, fine for corpora of 100,000 notes.
fn longest_repeat(keys: &[u8]) -> usize {
    let repeats = |len: usize| -> bool {
        let mut seen = HashSet::with_capacity(keys.len());
        keys.windows(len).any(|w| !seen.insert(w))
    };
    let (mut lo, mut hi) = (0, keys.len().saturating_sub(1));
    // Invariant: a run of length `lo` repeats (trivially for 0); none of length > hi does.
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if repeats(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_split_by_a_beat_of_silence() {
        let n = |start: f64, end: f64| LineNote {
            start,
            end,
            key: 60,
        };
        // Two phrases: three eighths, then (after 2.5 beats of silence) two quarters.
        let notes = [
            n(0.0, 0.5),
            n(0.5, 1.0),
            n(1.0, 1.5),
            n(4.0, 5.0),
            n(5.0, 6.0),
        ];
        let b = Line::new(&notes, &[], 4.0).breath();
        assert_eq!(b.phrases, 2);
        assert_eq!(b.phrase_notes_median, 2.5);
        assert_eq!(b.gap_beats_median, 3.0, "last onset 1.0 to next first 4.0");
        assert_eq!(b.phrase_beats_median, 1.0, "spans 1.0 and 1.0");
        // Beats 0..6: beats 2 and 3 silent.
        assert!((b.silent_beat_share - 2.0 / 6.0).abs() < 1e-12);
        assert!((b.notes_per_beat - 5.0 / 6.0).abs() < 1e-12);
    }

    fn line(keys: &[u8], beat: f64) -> Line {
        let notes: Vec<LineNote> = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| LineNote {
                start: i as f64,
                end: i as f64 + beat,
                key,
            })
            .collect();
        Line::new(&notes, &[(0.0, Chord::from_midi(&[60, 64, 67]))], 4.0)
    }

    #[test]
    fn repeated_notes_count_as_small_moves_but_not_as_steps_of_one_or_two_semitones() {
        // Moves: 0, 2, 0, 3, 1.
        let f = line(&[60, 60, 62, 62, 65, 64], 1.0).figures();
        assert!((f.step_share - 0.8).abs() < 1e-12);
        assert_eq!(f.repeat_share, Some(0.4));
        assert!((f.stepwise_share().unwrap() - 0.4).abs() < 1e-12);
        // Figures stored by an older jazz-train have no repeat count: read as unknown, shown as "-".
        let mut json = serde_json::to_value(f).unwrap();
        json.as_object_mut().unwrap().remove("repeat_share");
        let old: Figures = serde_json::from_value(json).unwrap();
        assert_eq!(old.repeat_share, None);
        assert_eq!(old.stepwise_share(), None);
        assert!(old.to_string().contains("repeated notes"));
        assert!(old.to_string().lines().any(|l| l.trim_end().ends_with('-')));
    }

    #[test]
    fn a_scale_run_is_all_steps_and_half_chord_tones() {
        let f = line(&[60, 62, 64, 65, 67, 69, 71, 72], 1.0).figures();
        assert_eq!(f.step_share, 1.0);
        assert_eq!(f.repeat_share, Some(0.0));
        assert_eq!(f.leap_share, 0.0);
        assert!((f.mean_interval - 12.0 / 7.0).abs() < 1e-9);
        assert_eq!(f.chord_tone_share, 0.5); // C E G C of 8
        assert_eq!(f.rest_share, 0.0);
        assert_eq!(f.notes_per_bar, 4.0);
        assert_eq!(f.pitch_range, 12);
        assert_eq!(f.longest_repeat, 0);
        assert_eq!(f.distinct_4grams, 1.0);
    }

    #[test]
    fn a_two_note_loop_repeats_as_long_as_it_runs() {
        let keys: Vec<u8> = (0..20).map(|i| if i % 2 == 0 { 60 } else { 72 }).collect();
        let f = line(&keys, 1.0).figures();
        assert_eq!(f.longest_repeat, 18);
        assert_eq!(f.leap_share, 1.0);
        assert!(f.distinct_4grams < 0.2);
    }

    #[test]
    fn half_length_notes_leave_half_the_time_silent() {
        let f = line(&[60, 64, 67, 72, 67], 0.5).figures();
        // Span 4.5 quarters, 2.5 sounding.
        assert!((f.rest_share - 2.0 / 4.5).abs() < 1e-9);
    }

    #[test]
    fn chords_keep_the_top_voice_and_cut_overlaps() {
        let notes = [
            LineNote {
                start: 0.0,
                end: 2.0,
                key: 60,
            },
            LineNote {
                start: 0.0,
                end: 1.0,
                key: 64,
            },
            LineNote {
                start: 1.0,
                end: 2.0,
                key: 65,
            },
        ];
        let l = Line::new(&notes, &[], 4.0);
        assert_eq!(
            l.notes().iter().map(|n| (n.key, n.end)).collect::<Vec<_>>(),
            [(64, 1.0), (65, 2.0)]
        );
    }

    #[test]
    fn the_chord_is_the_last_one_started() {
        let c = Chord::from_midi(&[60, 64, 67]);
        let f = Chord::from_midi(&[65, 69, 72]);
        let l = Line::new(&[], &[(4.0, f), (0.0, c)], 4.0);
        assert_eq!(l.chord_at(0.0), c);
        assert_eq!(l.chord_at(3.9), c);
        assert_eq!(l.chord_at(4.0), f);
        assert_eq!(l.chord_at(100.0), f);
    }
}
