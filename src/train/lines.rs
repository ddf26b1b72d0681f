//! The melodic line of a MIDI file over its chords, as [`quality`](crate::music::quality)
//! measures it: the solo a `jazz-synth render` wrote, or the melodies a model was trained on.

use std::path::Path;

use crate::music::quality::{Line, LineNote};
use crate::music::theory::Chord;
use crate::train::corpus::{
    melody_with_lower_voices, read_midi, AutoOptions, CorpusError, MidiSong, Preset, SourceFile,
    METHENY_CHORD_TRACK, METHENY_MELODY_TRACK, METHENY_SOLO_QUARTERS,
};

/// General MIDI's percussion channel (0-based): never a melody or a chord.
const DRUMS: u8 = 9;

/// Which tracks hold the line and the chords; `None` chooses like the trainer's automatic mode
/// (the melody track it would pick; chords from every other pitched track).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineTracks {
    pub solo: Option<usize>,
    pub chords: Option<usize>,
}

/// The line of `song`: the chosen track's notes (top voice) and a chord on every quarter note
/// from the notes sounding in the chord tracks during it (the last chord holds over silence).
/// A track that plays both (a piano part, no other chords) gives its top voice as the line and
/// its lower notes as the chords, as the trainer reads it.
/// `window` keeps only notes starting inside it (quarter notes, ends included).
pub fn song_line(
    song: &MidiSong,
    tracks: LineTracks,
    window: Option<(f64, f64)>,
) -> Result<Line, CorpusError> {
    let options = AutoOptions {
        melody_track: tracks.solo,
        chord_track: tracks.chords,
    };
    let (solo, lower) = melody_with_lower_voices(song, &options)?;
    if let Some(chords) = tracks.chords {
        if song.tracks.get(chords).is_none() {
            return Err(CorpusError::File {
                path: song.path.clone(),
                reason: format!(
                    "has no track {chords} for the chords ({})",
                    song.describe_tracks()
                ),
            });
        }
    }
    let tpq = f64::from(song.ticks_per_quarter);
    let quarters = |tick: u64| tick as f64 / tpq;
    let inside = |start: f64| window.is_none_or(|(a, b)| start >= a && start <= b);
    let notes: Vec<LineNote> = song.tracks[solo]
        .notes
        .iter()
        .filter(|n| n.channel != DRUMS && inside(quarters(n.start)))
        .map(|n| LineNote {
            start: quarters(n.start),
            end: quarters(n.end.max(n.start + 1)),
            key: n.key,
        })
        .collect();
    let chord_notes: Vec<(f64, f64, u8)> = song
        .tracks
        .iter()
        .filter(|t| match tracks.chords {
            Some(c) => t.index == c && c != solo,
            None => t.index != solo,
        })
        .flat_map(|t| t.notes.iter())
        // A piano part's notes below its top voice are chords too (as the trainer reads them).
        .chain(lower.iter())
        .filter(|n| n.channel != DRUMS)
        .map(|n| (quarters(n.start), quarters(n.end), n.key))
        .collect();
    let end = notes.iter().map(|n| n.end).fold(0.0, f64::max);
    let mut chords = Vec::new();
    let mut last = Chord::EMPTY;
    let mut beat = notes.first().map_or(0.0, |n| n.start.floor());
    let mut keys = Vec::new();
    while beat < end {
        keys.clear();
        keys.extend(
            chord_notes
                .iter()
                .filter(|(s, e, _)| *s < beat + 1.0 && *e > beat)
                .map(|&(_, _, k)| k),
        );
        keys.sort_unstable();
        keys.dedup();
        let chord = Chord::from_midi(&keys);
        if !chord.is_empty() && chord != last {
            chords.push((beat, chord));
            last = chord;
        }
        beat += 1.0;
    }
    Ok(Line::new(&notes, &chords, 4.0))
}

/// The line of the MIDI file at `path`; see [`song_line`].
pub fn file_line(path: impl AsRef<Path>, tracks: LineTracks) -> Result<Line, CorpusError> {
    song_line(&read_midi(path)?, tracks, None)
}

/// The lines a corpus was built from, one per file, taken the way its preset took its values:
/// the Metheny preset's guitar solo over its piano chords, or the automatic mode's melody.
pub fn corpus_lines(sources: &[SourceFile]) -> Vec<Line> {
    sources
        .iter()
        .filter_map(|source| {
            let song = read_midi(&source.path).ok()?;
            match source.preset {
                Preset::Metheny => {
                    let find = |name: &str| {
                        song.tracks
                            .iter()
                            .position(|t| t.name.as_deref() == Some(name))
                    };
                    let (a, b) = METHENY_SOLO_QUARTERS;
                    let tracks = LineTracks {
                        solo: find(METHENY_MELODY_TRACK),
                        chords: find(METHENY_CHORD_TRACK),
                    };
                    song_line(&song, tracks, Some((a as f64, b as f64))).ok()
                }
                Preset::Auto(options) => {
                    let tracks = LineTracks {
                        solo: options.melody_track,
                        chords: options.chord_track,
                    };
                    song_line(&song, tracks, None).ok()
                }
            }
        })
        .collect()
}

/// One line made of `lines` played one after another (each moved to start where the previous
/// ended), so a whole corpus has one set of figures.
pub fn joined(lines: &[Line]) -> Line {
    let mut notes = Vec::new();
    let mut chords = Vec::new();
    let mut offset = 0.0;
    for line in lines {
        let Some(first) = line.notes().first() else {
            continue;
        };
        let shift = offset - first.start;
        let last_end = line.notes().last().map_or(first.start, |n| n.end);
        notes.extend(line.notes().iter().map(|n| LineNote {
            start: n.start + shift,
            end: n.end + shift,
            key: n.key,
        }));
        chords.extend(
            line.chords()
                .iter()
                .map(|&(t, c)| ((t + shift).max(offset), c)),
        );
        offset = last_end + shift;
    }
    Line::new(&notes, &chords, 4.0)
}
