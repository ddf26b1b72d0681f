//! MIDI files → measures of melody notes and chords → grammar values.
//!
//! In short:
//! - `Corpus { values: Vec<Value>, measures: usize, source: Vec<SourceFile> }`, `distinct()`.
//! - `load_metheny(path) -> Result<Corpus, CorpusError>`: the original's selection.
//! - `load_auto(path, &AutoOptions { melody_track: Option<usize>, chord_track: Option<usize> })`.
//! - Errors name the file and say why.
//!
//! # Reading MIDI
//!
//! [`read_midi`] reads Standard MIDI Files of format 0 and 1 with `midly`, after checking the
//! chunk structure itself: `midly`'s lenient mode would otherwise silently drop what follows a
//! cut or corrupt spot, and a half-read file must not become training data. Times stay in ticks
//! ([`MidiNote`]); the file's division turns them into quarter notes. SMPTE (timecode) division
//! has no beats and is refused. An RMID file (RIFF form `RMID`) is read through the Standard MIDI
//! File in its `data` chunk. A note or rest longer than a grammar value can last
//! ([`MAX_DURATION`] quarter notes, e.g. a missing note-off) is an error naming it.
//!
//! # The `metheny` preset and music21
//!
//! The original (deepjazz, and the course exercise built on it) let music21 read the file, and
//! music21's view of a MIDI track is what the values describe. [`load_metheny`] reproduces the
//! view of music21 3.1–5.1 (the versions of the course's era; 3.1, 4.1 and 5.1 all give the same
//! corpus), checked value for value against the original `preprocess.py` + `grammar.py` run on
//! those versions:
//!
//! - music21 makes one part per track that has notes, in file order. In
//!   `original_metheny.mid` that maps music21 part → MIDI track (0-based) as: part 0 → track 6
//!   "Piano", 1 → 7 "Bass", 2 → 8 "Organ", 3 → 9 "String", 4 → 10 "Piano Elec.",
//!   5 → 11 "Guitar", 6 → 12 "Trumpet", 7 → 13 "French Horn" (tracks 0–5 hold only the tempo map
//!   and title texts). The original's melody (part 5) is "Guitar", its chords (part 0) "Piano";
//!   the preset finds them by name, since music21 10 shifts part numbers by one.
//! - A note-on is ended by the next event of the same key and channel, whatever it is (music21's
//!   `matchedNoteOff` accepts another note-on too); the re-struck note-on is then swallowed.
//! - Notes whose onsets lie within 1/16 quarter note of each other and whose ends too become one
//!   chord; an onset-mate with a different end needs a second voice instead.
//! - Offsets and durations snap to the nearest multiple of 1/4 or 1/3 quarter note (the error
//!   decides, ties go to the earlier time), so triplets give `0.333`, and notes shorter than 1/8
//!   quarter note become zero-length — which the original then sets to 0.25.
//! - A part that needs voices is split into voices by first fit, and in those versions the
//!   voices keep no rests. (music21 sizes the voice list from its overlap groups and drops a
//!   note no voice can take; first fit over as many voices as needed drops none, and gives the
//!   same 769 Piano and 1106 Guitar elements as music21 on this file.) The original merges the
//!   Guitar's two voices back into one line, so the melody is every Guitar note in time order
//!   (voice 1 before voice 2 at equal offsets) and has no rests; the 224 double stops music21
//!   made chords of are dropped by `parse_melody`, as in the original.
//! - Only elements starting in [476, 548] quarter notes are kept. They are grouped into measures
//!   with `itertools.groupby` on `int(offset / 4)`, so a measure without elements would make no
//!   group and later groups would pair with the chord group of the same *index*, not the same
//!   bar (reproduced; on this file every bar from 119 to 136 has both). In the original, group 0
//!   of both lists holds only metadata at offset 0 (instrument, key, tempo, time signature):
//!   that group is the "first measure" the original skips, so no bar of music is lost. The Piano
//!   has a chord at exactly 548 and the Guitar no note there, so the chord list has one group
//!   more, which is the one the original deletes.
//!
//! Result on `original_metheny.mid`: 18 measures (bars 119–136), 193 values, 78 distinct: the
//! course's `n_values = 78`, and value for value what the original code prints under music21
//! 3.1, 4.1 and 5.1. The 90 distinct values reported for the original come from no release
//! tried: 2.0.11, 2.1.2 and 2.2.1 give 306 values / 121 distinct (rests left unquantized, such
//! as `R,0.042`, and 1/8 durations); a port to 10.5 gives 211 / 87 (10.5 puts voices inside
//! measures, fills every bar with rests, so 85 of its values are rests, makes chords of more
//! double stops, and its whole rest at 548 breaks the original's length assertion unless the
//! last melody group is dropped too).
//!
//! # The automatic mode
//!
//! [`load_auto`] works on any file: it picks the melody track (or takes the one given), makes it
//! a single line (highest note wins at a shared onset, a note ends where the next begins),
//! quantizes it like music21, fills gaps of a sixteenth or more with rests split at bar lines,
//! samples the chord the other tracks sound on every beat, and cuts 4-beat measures by bar
//! number, so silent bars are skipped without shifting chords against the melody.

use std::collections::{BTreeSet, BinaryHeap};
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::music::grammar::{
    interval_range, role_by_pitch_class, role_of, Role, Value, MAX_DURATION,
};
use crate::music::theory::{name_with_octave, pitch_class, Chord};

mod auto;
mod inputs;
mod jazz;
mod metheny;
mod midi;
mod music21;

pub use auto::*;
pub use inputs::*;
pub use jazz::*;
pub use metheny::*;
pub use midi::*;
use music21::*;

/// Time positions are counted in twelfths of a quarter note once quantized: every multiple of
/// 1/4 and of 1/3 quarter note is a whole number of twelfths, so comparisons stay exact.
pub(super) use crate::music::listen::TWELFTHS_PER_QUARTER;
/// One 4/4 measure in twelfths of a quarter note.
pub(super) const MEASURE_TWELFTHS: i64 = 4 * TWELFTHS_PER_QUARTER;
/// The original's zero-length fix: 0.25 quarter note.
pub(super) use crate::music::listen::SIXTEENTH_TWELFTHS;
/// Files larger than this are not MIDI files anyone plays; refusing them keeps memory bounded.
pub(super) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Zero-based MIDI channel of General MIDI percussion; drums carry no pitch for melody or chords.
pub(super) const DRUM_CHANNEL: u8 = 9;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a MIDI file could not become training values.
#[derive(Clone, Debug, PartialEq)]
pub enum CorpusError {
    /// One file could not be used: its path and the reason, in words a musician can act on.
    File { path: PathBuf, reason: String },
    /// [`load_many`] found no usable file; the error of each file, in the order given.
    NoUsableFile(Vec<CorpusError>),
}

impl CorpusError {
    fn file(path: &Path, reason: impl Into<String>) -> CorpusError {
        CorpusError::File {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::File { path, reason } => write!(f, "{}: {reason}", path.display()),
            CorpusError::NoUsableFile(errors) if errors.is_empty() => {
                write!(f, "no MIDI file given")
            }
            CorpusError::NoUsableFile(errors) => {
                write!(f, "none of the {} MIDI files is usable:", errors.len())?;
                for error in errors {
                    write!(f, "\n  {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CorpusError {}

// ---------------------------------------------------------------------------------------------
// From measures to values

/// One element of a melody line; times in twelfths of a quarter note.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LineElement {
    offset: i64,
    duration: i64,
    /// `None` for a rest.
    key: Option<u8>,
}

/// A chord that starts sounding at `offset` (twelfths of a quarter note).
#[derive(Clone, Copy, Debug)]
pub(super) struct ChordAt {
    offset: i64,
    chord: Chord,
}

/// How `S` (scale tone) is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScaleTest {
    /// The original compares note names with the derived scale's spelling, so some pitch
    /// classes of the scale do not count (`grammar::role_of`, `Chord::scale_by_name`).
    ByName,
    /// Any pitch class of the derived scale counts, as when `grammar::decode_pitch` turns an `S`
    /// back into a note.
    ByPitchClass,
}

/// `parse_melody` of the original for one measure: appends one value per note or rest.
///
/// `chords` are the chords of the measure in order; a note is judged against the last chord
/// starting at or before it, or the first chord when none has started yet. A note or rest
/// longer than a value can describe ([`MAX_DURATION`] quarter notes, e.g. a note whose note-off
/// is missing) is an error naming it: such a value would not read back from a weights file.
pub(super) fn measure_values(
    line: &[LineElement],
    chords: &[ChordAt],
    scale_test: ScaleTest,
    out: &mut Vec<Value>,
) -> Result<(), String> {
    let mut previous: Option<u8> = None;
    for element in line {
        if element.duration > MAX_DURATION as i64 * TWELFTHS_PER_QUARTER {
            let quarters = element.offset as f64 / TWELFTHS_PER_QUARTER as f64;
            let what = match element.key {
                Some(key) => format!("note {} (MIDI key {key})", name_with_octave(key)),
                None => "rest".to_string(),
            };
            return Err(format!(
                "has a {what} at quarter note {quarters} (bar {}) lasting {:.2} quarter notes, \
                 longer than the {MAX_DURATION} a grammar value can hold; is its note-off \
                 missing? Shorten the note in a MIDI editor",
                element.offset.div_euclid(MEASURE_TWELFTHS) + 1,
                element.duration as f64 / TWELFTHS_PER_QUARTER as f64,
            ));
        }
        let chord = chords
            .iter()
            .rev()
            .find(|c| c.offset <= element.offset)
            .or(chords.first())
            .map_or(Chord::EMPTY, |c| c.chord);
        let duration = element.duration as f64 / TWELFTHS_PER_QUARTER as f64;
        let Some(key) = element.key else {
            out.push(Value {
                role: Role::Rest,
                duration,
                range: None,
            });
            continue;
        };
        let role = match scale_test {
            ScaleTest::ByName => role_of(key, &chord),
            ScaleTest::ByPitchClass => role_by_pitch_class(key, &chord),
        };
        let range = previous.map(|prev| interval_range(prev, key));
        previous = Some(key);
        out.push(Value {
            role,
            duration,
            range,
        });
    }
    Ok(())
}

/// Splits `items` into runs of consecutive items with the same key, like `itertools.groupby`.
pub(super) fn group_consecutive<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&[T]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || key(&items[i]) != key(&items[start]) {
            if i > start {
                groups.push(&items[start..i]);
            }
            start = i;
        }
    }
    groups
}

// ---------------------------------------------------------------------------------------------
// Corpus

/// A training file: where it was and what it contained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// Values this file gave.
    pub values: usize,
    /// In the automatic mode: which tracks gave the melody and the chords, and why.
    pub tracks: Option<String>,
    /// The extraction that read it (with the file's own track choices, if it had any).
    pub preset: Preset,
}

/// The training sequence: every value of every measure, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    pub values: Vec<Value>,
    /// Measures (4 quarter notes each) the values came from.
    pub measures: usize,
    pub source: Vec<SourceFile>,
}

/// What the trainer prints about a corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorpusStats {
    pub measures: usize,
    /// Number of values in the corpus.
    pub length: usize,
    /// Number of distinct values (the vocabulary size, `n_values`).
    pub distinct: usize,
}

impl fmt::Display for CorpusStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "measures: {}, corpus length: {}, distinct values: {}",
            self.measures, self.length, self.distinct
        )
    }
}

impl Corpus {
    /// The distinct values, sorted by their printed form (`A,0.250,<M2,d-4>` < `C,0.250`):
    /// the vocabulary, in index order.
    pub fn distinct(&self) -> Vec<Value> {
        let mut keyed: Vec<(String, &Value)> =
            self.values.iter().map(|v| (v.to_string(), v)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        keyed.into_iter().map(|(_, v)| *v).collect()
    }

    /// Index in `vocab` of every value of the corpus.
    ///
    /// # Panics
    /// When a value is missing from `vocab`; a vocabulary from [`Corpus::distinct`] of this
    /// corpus has them all. Use [`Corpus::try_indices`] for a vocabulary from elsewhere.
    pub fn indices(&self, vocab: &[Value]) -> Vec<usize> {
        match self.try_indices(vocab) {
            Ok(indices) => indices,
            Err(missing) => panic!("corpus value {missing} is not in the vocabulary"),
        }
    }

    /// Index in `vocab` of every value, or the first value missing from `vocab`.
    pub fn try_indices(&self, vocab: &[Value]) -> Result<Vec<usize>, Value> {
        let mut lookup: Vec<(String, usize)> = vocab
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), i))
            .collect();
        lookup.sort();
        self.values
            .iter()
            .map(|v| {
                let key = v.to_string();
                lookup
                    .binary_search_by(|(k, _)| k.as_str().cmp(&key))
                    .map(|at| lookup[at].1)
                    .map_err(|_| *v)
            })
            .collect()
    }

    /// Measures, corpus length and distinct values.
    pub fn stats(&self) -> CorpusStats {
        CorpusStats {
            measures: self.measures,
            length: self.values.len(),
            distinct: self.distinct().len(),
        }
    }

    fn source_of(song: &MidiSong, values: usize, preset: Preset) -> Vec<SourceFile> {
        vec![SourceFile {
            path: song.path.clone(),
            sha256: song.sha256.clone(),
            values,
            tracks: None,
            preset,
        }]
    }
}

// ---------------------------------------------------------------------------------------------
// Several files

/// Which extraction to run on each file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// [`load_metheny`]: the original's selection of `original_metheny.mid`.
    Metheny,
    /// [`load_auto`] with these options.
    Auto(AutoOptions),
}

/// Loads one file with `preset`.
pub fn load(path: impl AsRef<Path>, preset: &Preset) -> Result<Corpus, CorpusError> {
    match preset {
        Preset::Metheny => load_metheny(path),
        Preset::Auto(options) => load_auto(path, options),
    }
}

/// The corpus `preset` takes from the bytes of a MIDI file; `path` only names the file in
/// errors. [`load`] without the file system (fuzzing, property tests, files from memory).
pub fn load_bytes(bytes: &[u8], path: &Path, preset: &Preset) -> Result<Corpus, CorpusError> {
    let song = parse_midi(bytes, path)?;
    match preset {
        Preset::Metheny => metheny_corpus(&song),
        Preset::Auto(options) => auto_corpus(&song, options),
    }
}

/// Loads every file with `preset` and joins their values in the order given. Files that fail
/// are skipped and returned as warnings; it is an error only when no file is usable.
pub fn load_many<P: AsRef<Path>>(
    paths: &[P],
    preset: &Preset,
) -> Result<(Corpus, Vec<CorpusError>), CorpusError> {
    let inputs: Vec<Input> = paths
        .iter()
        .map(|p| Input {
            path: p.as_ref().to_path_buf(),
            tracks: None,
        })
        .collect();
    load_inputs(&inputs, preset)
}

/// [`load_many`] over [`expand_inputs`]' files: a file's own track choices (`FILE:melody=2`)
/// replace those of an automatic `preset`.
pub fn load_inputs(
    inputs: &[Input],
    preset: &Preset,
) -> Result<(Corpus, Vec<CorpusError>), CorpusError> {
    let mut corpus = Corpus {
        values: Vec::new(),
        measures: 0,
        source: Vec::new(),
    };
    let mut warnings = Vec::new();
    for input in inputs {
        let preset = match (preset, input.tracks) {
            (Preset::Auto(_), Some(own)) => Preset::Auto(own),
            _ => *preset,
        };
        match load(&input.path, &preset) {
            Ok(part) => {
                corpus.values.extend(part.values);
                corpus.measures += part.measures;
                corpus.source.extend(part.source);
            }
            Err(error) => warnings.push(error),
        }
    }
    if corpus.source.is_empty() {
        return Err(CorpusError::NoUsableFile(warnings));
    }
    Ok((corpus, warnings))
}
