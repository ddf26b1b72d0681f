//! Lead sheets in: tunes as musicians keep them (iReal Pro links and playlists, MusicXML with
//! chord symbols) read into one [`LeadSheet`] — the bars as they are played, repeats, endings,
//! D.C./D.S. and codas expanded — and from there into the chord text the rest of jazz-synth
//! plays (`--chords`, the plugin's changes field, its saved state).
//!
//! The readers share [`form`]: each turns its chart into written bars with their marks, and the
//! form walk decides which bars sound in which order. A chord symbol that cannot be read is an
//! error naming the song, the written bar and the symbol; nothing plays until it is fixed.

pub mod form;
pub mod ireal;
pub mod musicxml;

use std::fmt;
use std::path::Path;

use crate::music::changes::{self, bar_text, ChordSymbol, Progression};

/// Positions inside a bar are counted in twelfths of a quarter note (the engine's grid), so
/// triplet quarters and sixteenths are both whole numbers.
pub const TICKS_PER_BEAT: u32 = 12;

/// A tune read from a lead sheet.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadSheet {
    pub title: String,
    pub composer: Option<String>,
    /// Time signature (numerator, denominator), one for the whole tune.
    pub meter: (u32, u32),
    /// Quarter notes per minute, when the lead sheet gives one.
    pub tempo_bpm: Option<f64>,
    /// The bars in the order they are played (one chorus).
    pub bars: Vec<PlayedBar>,
    /// What was read differently from how it is written (a pickup bar left out...), for the
    /// user to see.
    pub notes: Vec<String>,
}

/// One played bar.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayedBar {
    /// 1-based number of the bar as written in the lead sheet (what its author sees).
    pub written: usize,
    /// The chords that start in this bar: offset from the bar's start in [`TICKS_PER_BEAT`]
    /// ticks (quarter note / 12), ascending. Empty, or a first chord after 0, means the chord
    /// before holds.
    pub chords: Vec<(u32, ChordSymbol)>,
}

/// Why a lead sheet could not be read: the song, the bar (as written) and the symbol when the
/// problem has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadSheetError {
    /// The song's title, or the file or link it was read from when the title is unknown.
    pub song: String,
    /// 1-based bar as written.
    pub bar: Option<usize>,
    /// The chord symbol (or mark) as written.
    pub symbol: Option<String>,
    /// What is wrong, in a musician's words.
    pub reason: String,
}

impl LeadSheetError {
    pub(crate) fn new(song: &str, reason: impl Into<String>) -> Self {
        LeadSheetError {
            song: song.to_string(),
            bar: None,
            symbol: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at_bar(song: &str, bar: usize, reason: impl Into<String>) -> Self {
        LeadSheetError {
            bar: Some(bar),
            ..Self::new(song, reason)
        }
    }

    pub(crate) fn symbol(song: &str, bar: usize, symbol: &str, reason: impl Into<String>) -> Self {
        LeadSheetError {
            bar: Some(bar),
            symbol: Some(symbol.to_string()),
            ..Self::new(song, reason)
        }
    }
}

impl fmt::Display for LeadSheetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.song)?;
        if let Some(bar) = self.bar {
            write!(f, ", bar {bar}")?;
        }
        if let Some(symbol) = &self.symbol {
            write!(f, ": chord symbol \"{symbol}\"")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for LeadSheetError {}

impl LeadSheet {
    /// Quarter notes per bar of [`LeadSheet::meter`] (3 for 3/4 and 6/8).
    pub fn beats_per_bar(&self) -> u32 {
        let (n, d) = self.meter;
        (n * 4 / d.max(1)).max(1)
    }

    /// The tune as chord text: the meter first unless it is 4/4 (`3/4 Am | E7`), bars by `|`,
    /// chords placed with `.` slots where they do not share a bar evenly. A bar's opening chord
    /// is written out even where it holds over from the bar before. It parses back (with
    /// [`changes::parse_changes_with_meter`]) to [`LeadSheet::progression`].
    pub fn chord_text(&self) -> Result<String, LeadSheetError> {
        let bpb = self.beats_per_bar();
        let mut previous = self.last_chord()?;
        let mut text = String::new();
        if self.meter != (4, 4) {
            text.push_str(&format!("{}/{} ", self.meter.0, self.meter.1));
        }
        for (i, bar) in self.bars.iter().enumerate() {
            let mut chords: Vec<(f64, ChordSymbol)> = Vec::with_capacity(bar.chords.len() + 1);
            if bar.chords.first().is_none_or(|(at, _)| *at > 0) {
                chords.push((0.0, previous));
            }
            for &(at, symbol) in &bar.chords {
                chords.push((f64::from(at) / f64::from(TICKS_PER_BEAT), symbol));
            }
            if let Some((_, last)) = chords.last() {
                previous = *last;
            }
            if i > 0 {
                text.push_str(" | ");
            }
            text.push_str(&bar_text(&chords, bpb));
        }
        Ok(text)
    }

    /// The tune as the progression jazz-synth plays, cycling.
    pub fn progression(&self) -> Result<Progression, LeadSheetError> {
        let text = self.chord_text()?;
        changes::parse_changes_with_meter(&text).map_err(|e| {
            LeadSheetError::new(
                &self.title,
                format!("its chord text does not read back ({e}): {text}"),
            )
        })
    }

    /// The chord sounding at the end of the tune (before its first bar, as it cycles).
    fn last_chord(&self) -> Result<ChordSymbol, LeadSheetError> {
        self.bars
            .iter()
            .rev()
            .find_map(|b| b.chords.last().map(|(_, s)| *s))
            .ok_or_else(|| LeadSheetError::new(&self.title, "has no chord symbols"))
    }
}

/// What `--changes` reads: every song of a lead-sheet file or link.
#[derive(Clone, Debug, PartialEq)]
pub struct Songbook {
    /// The playlist's name, when it has one.
    pub name: Option<String>,
    pub songs: Vec<LeadSheet>,
    /// Songs whose charts could not be read, each with why (the song, bar and symbol).
    pub refused: Vec<LeadSheetError>,
}

impl Songbook {
    /// A book of one song.
    pub fn one(song: LeadSheet) -> Songbook {
        Songbook {
            name: None,
            songs: vec![song],
            refused: Vec::new(),
        }
    }

    /// The song to play: the only one, or the one `tune` names (case, spaces and punctuation
    /// ignored; a unique part of the title is enough).
    pub fn pick(&self, tune: Option<&str>) -> Result<&LeadSheet, String> {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let titles = || {
            self.songs
                .iter()
                .map(|s| format!("  {}", s.title))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if let Some(e) = tune.and_then(|name| {
            let wanted = norm(name);
            self.refused.iter().find(|e| norm(&e.song) == wanted)
        }) {
            return Err(e.to_string());
        }
        match tune {
            None if self.songs.len() == 1 && self.refused.is_empty() => Ok(&self.songs[0]),
            None if self.songs.is_empty() && self.refused.len() == 1 => {
                Err(self.refused[0].to_string())
            }
            None => Err(format!(
                "the playlist holds {} songs: choose one by its title (--tune NAME):\n{}",
                self.songs.len() + self.refused.len(),
                titles()
            )),
            Some(name) => {
                let wanted = norm(name);
                if let Some(song) = self.songs.iter().find(|s| norm(&s.title) == wanted) {
                    return Ok(song);
                }
                let found: Vec<&LeadSheet> = self
                    .songs
                    .iter()
                    .filter(|s| !wanted.is_empty() && norm(&s.title).contains(&wanted))
                    .collect();
                match found.as_slice() {
                    [one] => Ok(one),
                    [] => Err(
                        match self
                            .refused
                            .iter()
                            .find(|e| norm(&e.song).contains(&wanted))
                        {
                            Some(e) => e.to_string(),
                            None => {
                                format!("no song \"{name}\" here; the songs are:\n{}", titles())
                            }
                        },
                    ),
                    many => Err(format!(
                        "\"{name}\" matches {} songs; give more of the title:\n{}",
                        many.len(),
                        many.iter()
                            .map(|s| format!("  {}", s.title))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )),
                }
            }
        }
    }
}

/// The kinds of lead sheet `--changes` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An iReal Pro link, playlist or HTML export.
    IReal,
    /// MusicXML, plain.
    MusicXml,
    /// Compressed MusicXML (a ZIP archive).
    Mxl,
    /// A Standard MIDI File (its chords are heard by the corpus reader, not here).
    Midi,
}

/// Tells what `source` (a path or a pasted link) is, from its text or the file's first bytes.
pub fn sniff(source: &str, bytes: Option<&[u8]>) -> Option<Format> {
    let trimmed = source.trim_start();
    if ireal::is_link(trimmed) {
        return Some(Format::IReal);
    }
    let bytes = bytes?;
    if bytes.starts_with(b"MThd") {
        return Some(Format::Midi);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(Format::Mxl);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if head.contains("irealb://") || head.contains("irealbook://") {
        return Some(Format::IReal);
    }
    if head.contains("<score-partwise") || head.contains("<score-timewise") {
        return Some(Format::MusicXml);
    }
    // A big HTML export may hold its first link past the first 4 KB.
    let all = String::from_utf8_lossy(bytes);
    if all.contains("irealb://") || all.contains("irealbook://") {
        return Some(Format::IReal);
    }
    None
}

/// Reads every song of a lead sheet given as a pasted iReal link or as a file (iReal link or
/// HTML playlist, `.musicxml`, `.xml`, `.mxl`). A MIDI file is refused here: its chords come
/// from the corpus reader (`train::corpus::changes_text`).
pub fn read(source: &str) -> Result<Songbook, LeadSheetError> {
    if ireal::is_link(source.trim_start()) {
        return ireal::read_playlists(source);
    }
    let path = Path::new(source);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.to_string());
    let bytes = std::fs::read(path)
        .map_err(|e| LeadSheetError::new(&name, format!("cannot read {source}: {e}")))?;
    read_bytes(&name, &bytes)
}

/// As [`read`], on a file's bytes; `name` names it in errors.
pub fn read_bytes(name: &str, bytes: &[u8]) -> Result<Songbook, LeadSheetError> {
    match sniff("", Some(bytes)) {
        Some(Format::IReal) => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                LeadSheetError::new(name, "is not text (an iReal playlist is UTF-8 text)")
            })?;
            ireal::read_playlists(text)
        }
        Some(Format::MusicXml) => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                LeadSheetError::new(
                    name,
                    "is not UTF-8 text (save the MusicXML as UTF-8, or as .mxl)",
                )
            })?;
            musicxml::read_xml(name, text).map(Songbook::one)
        }
        Some(Format::Mxl) => musicxml::read_mxl(name, bytes).map(Songbook::one),
        Some(Format::Midi) => Err(LeadSheetError::new(
            name,
            "is a MIDI file: its chords are read by --changes FILE.mid (the corpus reader)",
        )),
        None => Err(LeadSheetError::new(
            name,
            "is not a lead sheet jazz-synth reads: give an iReal Pro link or playlist \
             (irealb://, irealbook://, an exported .html), MusicXML (.musicxml, .xml, .mxl) or \
             a MIDI file",
        )),
    }
}
