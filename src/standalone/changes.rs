//! What `--changes FILE|LINK` reads, for every standalone front end (live, JACK, render, trade):
//! a lead sheet (iReal Pro link or playlist, MusicXML, `.mxl`) through `music::leadsheet`, or a
//! MIDI file's chords as the corpus reader hears them. Either way the result is chord text,
//! what `--chords` takes.

use std::path::Path;

use crate::music::leadsheet::{self, ireal, Format};
use crate::train::corpus;

/// Changes read from a lead sheet or MIDI file.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedChanges {
    /// Chord text, with the meter first unless it is 4/4 (`--chords` syntax).
    pub chord_text: String,
    /// Quarter notes per minute, when the lead sheet gives one.
    pub tempo_bpm: Option<f64>,
    /// The tune's title (or the file's name).
    pub title: String,
    /// What was read differently from how it is written, for the user to see.
    pub notes: Vec<String>,
}

/// Reads `source` (a path or a pasted iReal link); `tune` picks a song from a playlist. The
/// error says what to fix: the song, bar and symbol, or which songs there are.
pub fn load(source: &str, tune: Option<&str>) -> Result<LoadedChanges, String> {
    let trimmed = source.trim();
    let is_midi_name = {
        let lower = trimmed.to_ascii_lowercase();
        lower.ends_with(".mid") || lower.ends_with(".midi")
    };
    let midi = !ireal::is_link(trimmed)
        && (is_midi_name
            || std::fs::read(trimmed)
                .ok()
                .is_some_and(|b| leadsheet::sniff("", Some(&b)) == Some(Format::Midi)));
    if midi {
        if tune.is_some() {
            return Err("--tune picks a song of a playlist; a MIDI file holds one tune".into());
        }
        let text = corpus::changes_text(trimmed, &Default::default()).map_err(|e| e.to_string())?;
        let title = Path::new(trimmed)
            .file_name()
            .map_or_else(|| trimmed.to_string(), |n| n.to_string_lossy().into_owned());
        return Ok(LoadedChanges {
            chord_text: text,
            tempo_bpm: None,
            title,
            notes: Vec::new(),
        });
    }
    let book = leadsheet::read(trimmed).map_err(|e| e.to_string())?;
    let song = book.pick(tune)?;
    Ok(LoadedChanges {
        chord_text: song.chord_text().map_err(|e| e.to_string())?,
        tempo_bpm: song.tempo_bpm,
        title: song.title.clone(),
        notes: song.notes.clone(),
    })
}
