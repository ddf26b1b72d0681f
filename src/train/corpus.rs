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

use crate::music::grammar::{interval_range, role_of, Role, Value, MAX_DURATION};
use crate::music::theory::{name_with_octave, pitch_class, Chord};

/// Time positions are counted in twelfths of a quarter note once quantized: every multiple of
/// 1/4 and of 1/3 quarter note is a whole number of twelfths, so comparisons stay exact.
const TWELFTHS_PER_QUARTER: i64 = 12;
/// One 4/4 measure in twelfths of a quarter note.
const MEASURE_TWELFTHS: i64 = 4 * TWELFTHS_PER_QUARTER;
/// The original's zero-length fix: 0.25 quarter note.
const SIXTEENTH_TWELFTHS: i64 = 3;
/// Files larger than this are not MIDI files anyone plays; refusing them keeps memory bounded.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Zero-based MIDI channel of General MIDI percussion; drums carry no pitch for melody or chords.
const DRUM_CHANNEL: u8 = 9;

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
// Reading Standard MIDI Files

/// One sounding note of a track, times in ticks from the start of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidiNote {
    /// Note-on time in ticks.
    pub start: u64,
    /// Note-off time in ticks (`>= start`).
    pub end: u64,
    /// MIDI note number.
    pub key: u8,
    /// Zero-based MIDI channel (9 is General MIDI percussion).
    pub channel: u8,
    /// Note-on velocity, 1..=127.
    pub velocity: u8,
}

/// A key event as it stands in the file, kept for music21's own note pairing.
#[derive(Clone, Copy, Debug)]
struct KeyEvent {
    tick: u64,
    channel: u8,
    key: u8,
    /// A note-on with a velocity above zero; everything else that names a key (note-off, note-on
    /// at velocity 0, polyphonic pressure) can end a note in music21's eyes.
    starts: bool,
    velocity: u8,
}

/// One track chunk of a MIDI file.
#[derive(Clone, Debug)]
pub struct MidiTrack {
    /// Zero-based position of the track chunk in the file (of the channel, for a format 0 file
    /// split by channel).
    pub index: usize,
    /// The first track-name meta event, if any, trimmed.
    pub name: Option<String>,
    /// Notes in note-on order. A note-on at velocity 0 is a note-off; overlapping notes of one
    /// key and channel end first-in, first-out; a note never ended lasts to the end of track.
    pub notes: Vec<MidiNote>,
    /// Time of the track's last event (normally its end-of-track), in ticks.
    pub end: u64,
    key_events: Vec<KeyEvent>,
}

impl MidiTrack {
    /// `6 "Piano"` or `3 (no name)`, for messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} \"{name}\"", self.index),
            None => format!("{} (no name)", self.index),
        }
    }

    fn pitched_notes(&self) -> impl Iterator<Item = &MidiNote> {
        self.notes.iter().filter(|n| n.channel != DRUM_CHANNEL)
    }
}

/// A Standard MIDI File read into tracks of notes.
#[derive(Clone, Debug)]
pub struct MidiSong {
    /// The file it came from, for messages.
    pub path: PathBuf,
    /// SMF format: 0 (one track) or 1 (parallel tracks).
    pub format: u16,
    /// The file's division: ticks per quarter note (always > 0).
    pub ticks_per_quarter: u16,
    /// Every track chunk, in file order. A format 0 file whose one track uses several channels
    /// is given as one track per channel, in channel order (named "channel N", 1-based).
    pub tracks: Vec<MidiTrack>,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

impl MidiSong {
    /// The tracks that have pitched (non-drum) notes, as `index "name" (N notes)`, for messages.
    pub fn describe_tracks(&self) -> String {
        let listed: Vec<String> = self
            .tracks
            .iter()
            .filter_map(|t| {
                let n = t.pitched_notes().count();
                (n > 0).then(|| format!("{} ({n} notes)", t.label()))
            })
            .collect();
        if listed.is_empty() {
            "no track has pitched notes".to_string()
        } else {
            format!("tracks with notes: {}", listed.join(", "))
        }
    }

    fn track_named(&self, name: &str) -> Option<&MidiTrack> {
        self.tracks.iter().find(|t| {
            t.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

/// Reads a Standard MIDI File (format 0 or 1, metrical division).
///
/// Every failure is a [`CorpusError::File`] naming `path`: unreadable, empty, not MIDI,
/// truncated, corrupt events, format 2, SMPTE division.
pub fn read_midi(path: impl AsRef<Path>) -> Result<MidiSong, CorpusError> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path)
        .map_err(|e| CorpusError::file(path, format!("cannot read the file: {e}")))?;
    if meta.is_dir() {
        return Err(CorpusError::file(path, "is a folder, not a MIDI file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(CorpusError::file(
            path,
            format!(
                "is {} MB, too large for a MIDI file (limit {} MB)",
                meta.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| CorpusError::file(path, format!("cannot read the file: {e}")))?;
    parse_midi(&bytes, path)
}

/// Parses the bytes of a Standard MIDI File; `path` only names the file in errors.
pub fn parse_midi(bytes: &[u8], path: &Path) -> Result<MidiSong, CorpusError> {
    let fail = |reason: String| CorpusError::file(path, reason);
    if bytes.is_empty() {
        return Err(fail("the file is empty (0 bytes), not a MIDI file".into()));
    }
    if !bytes.starts_with(b"MThd") && !bytes.starts_with(b"RIFF") {
        return Err(fail(
            "not a Standard MIDI File (it does not start with \"MThd\")".into(),
        ));
    }
    let smf = if bytes.starts_with(b"RIFF") {
        unwrap_rmid(bytes).map_err(fail)?
    } else {
        bytes
    };
    // SMPTE timing is refused before midly reads the header: midly 0.5 negates the frame-rate
    // byte as an i8, which overflows (a panic with overflow checks) for 0x80.
    let header_len = smf
        .get(4..8)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if let (Some(6..), Some(&[frames, ticks])) = (header_len, smf.get(12..14)) {
        if frames & 0x80 != 0 {
            return Err(fail(smpte_refusal(-i16::from(frames as i8), ticks)));
        }
    }
    let (header, tracks) =
        midly::parse(smf).map_err(|e| fail(format!("not a readable MIDI file: {e}")))?;
    let declared_tracks = tracks.size_hint().0;
    let format = match header.format {
        midly::Format::SingleTrack => 0,
        midly::Format::Parallel => 1,
        midly::Format::Sequential => return Err(fail(
            "is a format 2 MIDI file (independent sequences); only formats 0 and 1 are supported"
                .into(),
        )),
    };
    let ticks_per_quarter = match header.timing {
        midly::Timing::Metrical(t) if t.as_int() > 0 => t.as_int(),
        midly::Timing::Metrical(_) => {
            return Err(fail(
                "its header gives 0 ticks per quarter note, so notes have no duration".into(),
            ))
        }
        midly::Timing::Timecode(fps, sub) => {
            return Err(fail(smpte_refusal(i16::from(fps.as_int()), sub)))
        }
    };

    if declared_tracks == 0 {
        return Err(fail("contains no track (its header announces 0)".into()));
    }
    let chunks = track_chunks(tracks.unread(), declared_tracks).map_err(fail)?;
    let mut parsed = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.into_iter().enumerate() {
        parsed.push(read_track(index, chunk).map_err(fail)?);
    }
    if format == 0 && parsed.len() == 1 {
        parsed = split_by_channel(parsed.remove(0));
    }
    Ok(MidiSong {
        path: path.to_path_buf(),
        format,
        ticks_per_quarter,
        tracks: parsed,
        sha256: sha256_hex(bytes),
    })
}

fn smpte_refusal(frames_per_second: i16, ticks_per_frame: u8) -> String {
    format!(
        "uses SMPTE timing ({frames_per_second} frames/s × {ticks_per_frame} ticks) instead of \
         ticks per quarter note, so it has no beats to measure; re-export it with musical (PPQ) \
         timing"
    )
}

/// The Standard MIDI File inside an RMID file (RIFF form `RMID`, the SMF in its `data` chunk).
fn unwrap_rmid(bytes: &[u8]) -> Result<&[u8], String> {
    // RIFF chunks: a 4-byte id, a little-endian 32-bit length, the data, a pad byte if odd.
    fn chunk(rest: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        let (id, rest) = rest.split_at_checked(4)?;
        let (len, rest) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (data, rest) = rest.split_at_checked(len)?;
        let rest = if len % 2 == 1 {
            rest.get(1..).unwrap_or(&[])
        } else {
            rest
        };
        Some((id, data, rest))
    }
    let not_rmid = || "is a RIFF file but not an RMID (RIFF MIDI) file".to_string();
    let (_, riff, _) = chunk(bytes).ok_or_else(not_rmid)?;
    let Some(mut rest) = riff.strip_prefix(b"RMID") else {
        return Err(not_rmid());
    };
    while let Some((id, data, after)) = chunk(rest) {
        if id == b"data" {
            return if data.starts_with(b"MThd") {
                Ok(data)
            } else {
                Err("is an RMID file whose data chunk is not a Standard MIDI File".into())
            };
        }
        rest = after;
    }
    Err("is an RMID file without a complete data chunk (truncated?)".into())
}

/// Splits the bytes after the header into the `declared` `MTrk` chunk bodies, refusing cut
/// chunks. Unknown chunks with a readable id are skipped, as the standard asks; bytes after the
/// last declared track are padding some writers leave and are ignored.
fn track_chunks(mut rest: &[u8], declared: usize) -> Result<Vec<&[u8]>, String> {
    let mut chunks = Vec::new();
    while chunks.len() < declared {
        if rest.is_empty() {
            return Err(format!(
                "is truncated: its header announces {declared} tracks but only {} are present",
                chunks.len()
            ));
        }
        if rest.len() < 8 {
            return Err(format!(
                "is truncated: {} stray bytes where track {} should start",
                rest.len(),
                chunks.len()
            ));
        }
        let id = &rest[..4];
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let body = &rest[8..];
        if id != b"MTrk" && !id.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(format!(
                "is corrupt: garbage where track {} should start",
                chunks.len()
            ));
        }
        if body.len() < len {
            return Err(format!(
                "is truncated: track {} should hold {len} bytes but the file ends after {}",
                chunks.len(),
                body.len()
            ));
        }
        if id == b"MTrk" {
            chunks.push(&body[..len]);
        }
        rest = &body[len..];
    }
    Ok(chunks)
}

/// A format 0 file keeps every part in its one track; one track per channel lets the melody
/// and the chords be told apart like the tracks of a format 1 file.
fn split_by_channel(track: MidiTrack) -> Vec<MidiTrack> {
    let mut channels: Vec<u8> = track.notes.iter().map(|n| n.channel).collect();
    channels.sort_unstable();
    channels.dedup();
    if channels.len() < 2 {
        return vec![track];
    }
    channels
        .iter()
        .enumerate()
        .map(|(index, &channel)| {
            let label = format!("channel {}", u16::from(channel) + 1);
            MidiTrack {
                index,
                name: Some(match &track.name {
                    Some(name) => format!("{name}, {label}"),
                    None => label,
                }),
                notes: track
                    .notes
                    .iter()
                    .filter(|n| n.channel == channel)
                    .copied()
                    .collect(),
                end: track.end,
                key_events: track
                    .key_events
                    .iter()
                    .filter(|e| e.channel == channel)
                    .copied()
                    .collect(),
            }
        })
        .collect()
}

fn read_track(index: usize, chunk: &[u8]) -> Result<MidiTrack, String> {
    let mut events = midly::EventIter::new(chunk);
    let mut tick: u64 = 0;
    let mut name = None;
    let mut key_events = Vec::new();
    loop {
        let unread = events.unread().len();
        let Some(event) = events.next() else {
            // midly stops silently at a malformed event in lenient mode; bytes left unread
            // before the stop mean exactly that.
            if unread > 0 {
                return Err(format!(
                    "is corrupt: track {index} has an unreadable event {} bytes into the track",
                    chunk.len() - unread
                ));
            }
            break;
        };
        let event = event.map_err(|e| format!("is corrupt: track {index} has a bad event: {e}"))?;
        tick += u64::from(event.delta.as_int());
        match event.kind {
            midly::TrackEventKind::Midi { channel, message } => {
                let channel = channel.as_int();
                let (key, starts, velocity) = match message {
                    midly::MidiMessage::NoteOn { key, vel } => (key, vel.as_int() > 0, vel),
                    midly::MidiMessage::NoteOff { key, vel } => (key, false, vel),
                    midly::MidiMessage::Aftertouch { key, vel } => (key, false, vel),
                    _ => continue,
                };
                key_events.push(KeyEvent {
                    tick,
                    channel,
                    key: key.as_int(),
                    starts,
                    velocity: velocity.as_int(),
                });
            }
            midly::TrackEventKind::Meta(midly::MetaMessage::TrackName(raw)) if name.is_none() => {
                let text = decode_text(raw);
                if !text.is_empty() {
                    name = Some(text);
                }
            }
            midly::TrackEventKind::Meta(midly::MetaMessage::EndOfTrack) => break,
            _ => {}
        }
    }
    let notes = pair_notes(&key_events, tick);
    Ok(MidiTrack {
        index,
        name,
        notes,
        end: tick,
        key_events,
    })
}

/// Track names are usually ASCII, sometimes Latin-1 from old sequencers.
fn decode_text(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    };
    text.trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string()
}

/// Pairs note-ons with note-offs per key and channel, first in first out; notes left open end
/// at `track_end`.
fn pair_notes(events: &[KeyEvent], track_end: u64) -> Vec<MidiNote> {
    let mut open: Vec<std::collections::VecDeque<usize>> = vec![Default::default(); 16 * 128];
    let mut notes: Vec<MidiNote> = Vec::new();
    for e in events {
        let slot = usize::from(e.channel) * 128 + usize::from(e.key);
        if e.starts {
            open[slot].push_back(notes.len());
            notes.push(MidiNote {
                start: e.tick,
                end: track_end.max(e.tick),
                key: e.key,
                channel: e.channel,
                velocity: e.velocity,
            });
        } else if let Some(i) = open[slot].pop_front() {
            notes[i].end = e.tick;
        }
    }
    notes
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Quantization (music21's `Stream.quantize` with its default divisors (4, 3))

/// Snaps `ticks` (a time or a duration) to the nearest multiple of 1/4 or 1/3 quarter note and
/// returns it in twelfths of a quarter note. music21 takes, for each grid, the lower multiple
/// unless the value lies past the half-way point, then the grid with the smaller error, then the
/// smaller value; exact integer arithmetic reproduces its float results for any sane division.
fn quantize(ticks: i64, ticks_per_quarter: i64) -> i64 {
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

fn ticks(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX / 16)
}

// ---------------------------------------------------------------------------------------------
// music21 3.x–5.x: a MIDI track as a part

/// A note or chord of a part as music21 built it; times in twelfths of a quarter note.
#[derive(Clone, Debug, PartialEq)]
struct PartElement {
    offset: i64,
    duration: i64,
    /// MIDI note numbers in music21's order (gathering order for chords).
    pitches: Vec<u8>,
    is_chord: bool,
}

/// Notes music21 3.x pairs: each note-on ends at the very next event of its key and channel.
/// Returns (on tick, off tick, key) in note-on order.
fn music21_pairs(track: &MidiTrack) -> Vec<(i64, i64, u8)> {
    let events = &track.key_events;
    let mut next_same = vec![usize::MAX; events.len()];
    let mut last_seen = vec![usize::MAX; 16 * 128];
    for (i, e) in events.iter().enumerate().rev() {
        let slot = usize::from(e.channel) * 128 + usize::from(e.key);
        next_same[i] = last_seen[slot];
        last_seen[slot] = i;
    }
    let mut taken = vec![false; events.len()];
    let mut pairs = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if taken[i] || !e.starts {
            continue;
        }
        // music21 drops a note-on that is never matched; ending it at the end of the track
        // instead keeps it, and the original file has none.
        let off = match next_same[i] {
            usize::MAX => track.end,
            j => {
                taken[j] = true;
                events[j].tick
            }
        };
        pairs.push((ticks(e.tick), ticks(off), e.key));
    }
    pairs
}

/// Longest run of onset-mates examined for one chord; only absurd files reach it, and there
/// music21's exact behaviour is no longer worth quadratic time.
const MAX_CHORD_SCAN: usize = 512;

/// The notes and chords music21 3.1–5.1 make of a MIDI track, sorted the way its flattened
/// part lists them: by offset, then voice, then creation order.
fn music21_part(track: &MidiTrack, ticks_per_quarter: u16) -> Vec<PartElement> {
    let tpq = i64::from(ticks_per_quarter);
    let notes = music21_pairs(track);
    let within_tolerance = |a: i64, b: i64| 16 * (a - b).abs() <= tpq;

    // Chord gathering, as midiTrackToStream does it (onset-mates already gathered into an
    // earlier chord can be gathered again; music21 does not check).
    let mut gathered = vec![false; notes.len()];
    let mut voices_required = false;
    let mut raw: Vec<(i64, i64, Vec<u8>, bool)> = Vec::with_capacity(notes.len());
    for i in 0..notes.len() {
        if gathered[i] {
            continue;
        }
        let (on, off, key) = notes[i];
        let mut chord: Vec<usize> = Vec::new();
        for (j, &(on_j, off_j, _)) in notes.iter().enumerate().skip(i + 1).take(MAX_CHORD_SCAN) {
            if !within_tolerance(on_j, on) {
                break;
            }
            if !within_tolerance(off_j, off) {
                voices_required = true;
                continue;
            }
            if chord.is_empty() {
                chord.push(i);
                gathered[i] = true;
            }
            chord.push(j);
            gathered[j] = true;
        }
        let (duration, pitches, is_chord) = if chord.is_empty() {
            (off - on, vec![key], false)
        } else {
            // music21 takes the first note's end and the last gathered note's start.
            let last_on = notes[*chord.last().unwrap_or(&i)].0;
            let pitches = chord.iter().map(|&k| notes[k].2).collect();
            (off - last_on, pitches, true)
        };
        // A zero-tick note or chord gets one quarter note before quantization.
        let duration = if duration == 0 { tpq } else { duration };
        raw.push((on, duration, pitches, is_chord));
    }

    let mut elements: Vec<(PartElement, usize)> = raw
        .into_iter()
        .map(|(on, duration, pitches, is_chord)| {
            let element = PartElement {
                offset: quantize(on, tpq),
                duration: quantize(duration, tpq),
                pitches,
                is_chord,
            };
            (element, 0)
        })
        .collect();
    // Creation order breaks offset ties; the sort is stable.
    elements.sort_by_key(|(e, _)| e.offset);

    if voices_required {
        // makeVoices: each element goes to the first voice that has ended by its offset.
        let mut free: BTreeSet<usize> = BTreeSet::new();
        let mut busy: BinaryHeap<std::cmp::Reverse<(i64, usize)>> = BinaryHeap::new();
        let mut voice_count = 0;
        for (e, voice) in elements.iter_mut() {
            while let Some(std::cmp::Reverse((end, v))) = busy.peek().copied() {
                if end > e.offset {
                    break;
                }
                busy.pop();
                free.insert(v);
            }
            *voice = match free.pop_first() {
                Some(v) => v,
                None => {
                    voice_count += 1;
                    voice_count - 1
                }
            };
            busy.push(std::cmp::Reverse((e.offset + e.duration, *voice)));
        }
        elements.sort_by_key(|(e, voice)| (e.offset, *voice));
    }
    elements.into_iter().map(|(e, _)| e).collect()
}

// ---------------------------------------------------------------------------------------------
// From measures to values

/// One element of a melody line; times in twelfths of a quarter note.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LineElement {
    offset: i64,
    duration: i64,
    /// `None` for a rest.
    key: Option<u8>,
}

/// A chord that starts sounding at `offset` (twelfths of a quarter note).
#[derive(Clone, Copy, Debug)]
struct ChordAt {
    offset: i64,
    chord: Chord,
}

/// How `S` (scale tone) is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScaleTest {
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
fn measure_values(
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
            ScaleTest::ByPitchClass => {
                let pc = pitch_class(key);
                if chord.is_chord_tone(pc) {
                    Role::Chord
                } else if chord.is_scale_tone(pc) {
                    Role::Scale
                } else if chord.is_approach_tone(pc) {
                    Role::Approach
                } else {
                    Role::Other
                }
            }
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
fn group_consecutive<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&[T]> {
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

    fn source_of(song: &MidiSong) -> Vec<SourceFile> {
        vec![SourceFile {
            path: song.path.clone(),
            sha256: song.sha256.clone(),
        }]
    }
}

// ---------------------------------------------------------------------------------------------
// The metheny preset

/// Name of the track the original takes its melody from (music21 part 5).
pub const METHENY_MELODY_TRACK: &str = "Guitar";
/// Name of the track the original takes its chords from (music21 part 0).
pub const METHENY_CHORD_TRACK: &str = "Piano";
/// The accompanied solo the original selects: offsets from 476 to 548 quarter notes, both ends
/// included.
pub const METHENY_SOLO_QUARTERS: (i64, i64) = (476, 548);

/// The original's corpus of `original_metheny.mid`: see the module documentation.
pub fn load_metheny(path: impl AsRef<Path>) -> Result<Corpus, CorpusError> {
    metheny_corpus(&read_midi(path)?)
}

/// A chord under a measure of the solo.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureChord {
    /// Where it starts, in quarter notes from the start of its measure (0 ≤ beat < 4).
    pub beat: f64,
    /// Its MIDI note numbers, in the order music21 lists them.
    pub pitches: Vec<u8>,
}

/// The chords under each measure of [`load_metheny`]'s corpus (18 measures on the original
/// file), as the original's generator plays its solo over them, measure by measure.
pub fn load_metheny_chords(path: impl AsRef<Path>) -> Result<Vec<Vec<MeasureChord>>, CorpusError> {
    let song = read_midi(path)?;
    Ok(metheny_measures(&song)?
        .into_iter()
        .map(|measure| {
            measure
                .chords
                .into_iter()
                .map(|c| MeasureChord {
                    beat: c.offset.rem_euclid(MEASURE_TWELFTHS) as f64
                        / TWELFTHS_PER_QUARTER as f64,
                    pitches: c.pitches,
                })
                .collect()
        })
        .collect())
}

fn metheny_corpus(song: &MidiSong) -> Result<Corpus, CorpusError> {
    let measures = metheny_measures(song)?;
    let mut values = Vec::new();
    for measure in &measures {
        let chords: Vec<ChordAt> = measure
            .chords
            .iter()
            .map(|c| ChordAt {
                offset: c.offset,
                chord: Chord::from_midi(&c.pitches),
            })
            .collect();
        measure_values(&measure.line, &chords, ScaleTest::ByName, &mut values)
            .map_err(|reason| CorpusError::file(&song.path, reason))?;
    }
    Ok(Corpus {
        values,
        measures: measures.len(),
        source: Corpus::source_of(song),
    })
}

/// One measure of the original: melody notes (no rests in music21 3–5's view) and the Piano
/// chords of the group with the same index.
struct MethenyMeasure {
    line: Vec<LineElement>,
    chords: Vec<PartElement>,
}

fn metheny_measures(song: &MidiSong) -> Result<Vec<MethenyMeasure>, CorpusError> {
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let find = |name: &str, role: &str| {
        song.track_named(name).ok_or_else(|| {
            fail(format!(
                "has no track named \"{name}\" ({role}); the metheny preset reproduces the \
                 original on original_metheny.mid, use the auto preset for other files ({})",
                song.describe_tracks()
            ))
        })
    };
    let guitar = find(METHENY_MELODY_TRACK, "the original's melody")?;
    let piano = find(METHENY_CHORD_TRACK, "the original's chords")?;

    let (first, last) = METHENY_SOLO_QUARTERS;
    let in_solo = |offset: i64| {
        (first * TWELFTHS_PER_QUARTER..=last * TWELFTHS_PER_QUARTER).contains(&offset)
    };
    let mut melody = music21_part(guitar, song.ticks_per_quarter);
    for e in &mut melody {
        if e.duration == 0 {
            e.duration = SIXTEENTH_TWELFTHS;
        }
    }
    melody.retain(|e| in_solo(e.offset));
    let mut chords = music21_part(piano, song.ticks_per_quarter);
    chords.retain(|e| e.is_chord && in_solo(e.offset));

    let bar = |e: &PartElement| e.offset.div_euclid(MEASURE_TWELFTHS);
    let melody_groups = group_consecutive(&melody, bar);
    let chord_groups = group_consecutive(&chords, bar);
    // The original deletes the last chord group and asserts equal lengths.
    if melody_groups.is_empty() || chord_groups.len() != melody_groups.len() + 1 {
        return Err(fail(format!(
            "does not match the original's layout: between quarter notes {first} and {last} the \
             \"{}\" track gives {} measure groups and the \"{}\" track {} chord groups, where the \
             original needs one chord group more than melody groups",
            METHENY_MELODY_TRACK,
            melody_groups.len(),
            METHENY_CHORD_TRACK,
            chord_groups.len()
        )));
    }

    let mut measures = Vec::with_capacity(melody_groups.len());
    for (notes, chords) in melody_groups.iter().zip(&chord_groups) {
        // parse_melody keeps notes and rests only; the guitar's double stops are chords.
        let line: Vec<LineElement> = notes
            .iter()
            .filter(|e| !e.is_chord)
            .map(|e| LineElement {
                offset: e.offset,
                duration: e.duration,
                key: e.pitches.first().copied(),
            })
            .collect();
        // The original would fail on a group of chords only (`measure[0]`); it has no value.
        if !line.is_empty() {
            measures.push(MethenyMeasure {
                line,
                chords: chords.to_vec(),
            });
        }
    }
    Ok(measures)
}

// ---------------------------------------------------------------------------------------------
// The automatic mode

/// Choices for [`load_auto`]; `None` lets it decide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoOptions {
    /// Zero-based track index (position of the track chunk in the file) of the melody.
    pub melody_track: Option<usize>,
    /// Zero-based track index of the only track chords are taken from; by default every other
    /// track that has pitched notes.
    pub chord_track: Option<usize>,
}

/// Fewest pitched notes a track needs to be picked as the melody automatically.
const MIN_MELODY_NOTES: usize = 8;
/// Least share of single-note onsets for a track to count as a melody.
const MIN_MONOPHONY: f64 = 0.5;

/// How a track looks as a melody candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackProfile {
    /// Zero-based track index.
    pub index: usize,
    pub name: Option<String>,
    /// Pitched (non-drum) notes.
    pub notes: usize,
    /// Onsets: notes starting within 1/16 quarter note of each other count as one.
    pub onsets: usize,
    /// Onsets where a single note starts.
    pub single_onsets: usize,
    /// `single_onsets / onsets`, 0..=1: 1 for a line, near 0 for block chords. Legato overlaps
    /// do not lower it, double stops do.
    pub monophony: f64,
    /// Mean MIDI note number.
    pub mean_key: f64,
    /// Melody score: single-note onsets, doubled for every octave the mean pitch lies above
    /// middle C (halved for every octave below), so a busy bass line loses to the solo above it.
    pub score: f64,
}

/// The melody-candidate profile of every track with pitched notes.
pub fn track_profiles(song: &MidiSong) -> Vec<TrackProfile> {
    let tolerance = u64::from(song.ticks_per_quarter / 16);
    song.tracks
        .iter()
        .filter_map(|t| {
            let mut starts: Vec<u64> = t.pitched_notes().map(|n| n.start).collect();
            if starts.is_empty() {
                return None;
            }
            starts.sort_unstable();
            let (mut onsets, mut single_onsets) = (0, 0);
            let mut i = 0;
            while i < starts.len() {
                let mut j = i + 1;
                while j < starts.len() && starts[j] - starts[i] <= tolerance {
                    j += 1;
                }
                onsets += 1;
                single_onsets += usize::from(j - i == 1);
                i = j;
            }
            let notes = starts.len();
            let mean_key = t.pitched_notes().map(|n| f64::from(n.key)).sum::<f64>() / notes as f64;
            Some(TrackProfile {
                index: t.index,
                name: t.name.clone(),
                notes,
                onsets,
                single_onsets,
                monophony: single_onsets as f64 / onsets as f64,
                mean_key,
                score: single_onsets as f64 * ((mean_key - 60.0) / 12.0).exp2(),
            })
        })
        .collect()
}

/// Values from any MIDI file: melody track chosen (or given), chords sampled on every beat from
/// the other tracks (or the given one). See the module documentation.
pub fn load_auto(path: impl AsRef<Path>, options: &AutoOptions) -> Result<Corpus, CorpusError> {
    auto_corpus(&read_midi(path)?, options)
}

fn pick_track<'a>(
    song: &'a MidiSong,
    index: usize,
    what: &str,
) -> Result<&'a MidiTrack, CorpusError> {
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let track = song.tracks.get(index).ok_or_else(|| {
        fail(format!(
            "has no track {index} for the {what} (tracks are numbered 0 to {}; {})",
            song.tracks.len() - 1,
            song.describe_tracks()
        ))
    })?;
    if track.pitched_notes().next().is_none() {
        return Err(fail(format!(
            "track {} has no pitched notes to use as the {what} ({})",
            track.label(),
            song.describe_tracks()
        )));
    }
    Ok(track)
}

/// The track [`load_auto`] takes the melody from: the given one, else among tracks with at
/// least 8 pitched notes and at least half of their onsets single notes, the best
/// [`TrackProfile::score`]. Errors name the file and list its tracks.
pub fn choose_melody_track(song: &MidiSong, options: &AutoOptions) -> Result<usize, CorpusError> {
    choose_melody(song, options).map(|t| t.index)
}

fn choose_melody<'a>(
    song: &'a MidiSong,
    options: &AutoOptions,
) -> Result<&'a MidiTrack, CorpusError> {
    if let Some(index) = options.melody_track {
        return pick_track(song, index, "melody");
    }
    let chosen = track_profiles(song)
        .into_iter()
        .filter(|p| Some(p.index) != options.chord_track)
        .filter(|p| p.notes >= MIN_MELODY_NOTES && p.monophony >= MIN_MONOPHONY)
        .max_by(|a, b| a.score.total_cmp(&b.score).then(b.index.cmp(&a.index)));
    match chosen {
        Some(p) => Ok(&song.tracks[p.index]),
        None => Err(CorpusError::file(
            &song.path,
            format!(
                "has no usable melody: no track has at least {MIN_MELODY_NOTES} pitched notes \
                 that mostly start one at a time ({}); choose one with --melody-track",
                song.describe_tracks()
            ),
        )),
    }
}

/// The melody track as one line of notes and rests, quantized like music21.
fn melody_line(track: &MidiTrack, ticks_per_quarter: u16) -> Vec<LineElement> {
    let tpq = i64::from(ticks_per_quarter);
    let mut notes: Vec<LineElement> = track
        .pitched_notes()
        .map(|n| LineElement {
            offset: quantize(ticks(n.start), tpq),
            duration: quantize(ticks(n.end) - ticks(n.start), tpq),
            key: Some(n.key),
        })
        .collect();
    // Highest note first at a shared onset, then keep one note per onset.
    notes.sort_by_key(|n| (n.offset, std::cmp::Reverse(n.key)));
    notes.dedup_by_key(|n| n.offset);
    let mut line = Vec::with_capacity(notes.len() * 2);
    for i in 0..notes.len() {
        let mut note = notes[i];
        if note.duration == 0 {
            note.duration = SIXTEENTH_TWELFTHS;
        }
        if let Some(next) = notes.get(i + 1) {
            let gap_to_next = next.offset - note.offset;
            let mut gap = gap_to_next - note.duration.min(gap_to_next);
            // A gap shorter than a sixteenth is articulation, not a rest.
            if gap < SIXTEENTH_TWELFTHS {
                note.duration = gap_to_next;
                gap = 0;
            } else {
                note.duration = gap_to_next - gap;
            }
            line.push(note);
            // Rests are cut at bar lines so every measure starts on its own values.
            let mut start = note.offset + note.duration;
            while gap > 0 {
                let bar_end = (start.div_euclid(MEASURE_TWELFTHS) + 1) * MEASURE_TWELFTHS;
                let piece = gap.min(bar_end - start);
                line.push(LineElement {
                    offset: start,
                    duration: piece,
                    key: None,
                });
                start += piece;
                gap -= piece;
            }
        } else {
            line.push(note);
        }
    }
    line
}

/// Samples the chord the accompaniment sounds on every beat of the given bars.
///
/// Returns, for each bar in `bars` (sorted), the chords starting in it; the chord sounding when
/// the bar starts is carried in at its first beat.
fn beat_chords(
    accompaniment: &[MidiNote],
    bars: &[i64],
    ticks_per_quarter: u16,
) -> Vec<Vec<ChordAt>> {
    let tpq = u64::from(ticks_per_quarter);
    let mut notes: Vec<&MidiNote> = accompaniment.iter().collect();
    notes.sort_by_key(|n| n.start);
    let mut next = 0;
    // Min-heap on end time of the notes begun so far.
    let mut sounding: BinaryHeap<std::cmp::Reverse<(u64, u8)>> = BinaryHeap::new();
    let mut current: Option<Chord> = None;
    let mut per_bar = Vec::with_capacity(bars.len());
    for &bar in bars {
        let mut chords = Vec::new();
        for beat in 0..4 {
            let quarter = u64::try_from(bar * 4 + beat).unwrap_or(0);
            // Listen an eighth into the beat, so chords struck a little late still count.
            let at = quarter.saturating_mul(tpq).saturating_add(tpq / 8);
            while next < notes.len() && notes[next].start <= at {
                sounding.push(std::cmp::Reverse((notes[next].end, notes[next].key)));
                next += 1;
            }
            while sounding
                .peek()
                .is_some_and(|std::cmp::Reverse((end, _))| *end <= at)
            {
                sounding.pop();
            }
            let mut keys: Vec<u8> = sounding.iter().map(|r| r.0 .1).collect();
            keys.sort_unstable();
            keys.dedup();
            let distinct_pcs = keys
                .iter()
                .map(|&k| pitch_class(k))
                .collect::<BTreeSet<u8>>()
                .len();
            let offset = (bar * 4 + beat) * TWELFTHS_PER_QUARTER;
            if distinct_pcs >= 2 {
                let chord = Chord::from_midi(&keys);
                if beat == 0 || current != Some(chord) {
                    chords.push(ChordAt { offset, chord });
                }
                current = Some(chord);
            } else if beat == 0 {
                if let Some(chord) = current {
                    chords.push(ChordAt { offset, chord });
                }
            }
        }
        per_bar.push(chords);
    }
    per_bar
}

fn auto_corpus(song: &MidiSong, options: &AutoOptions) -> Result<Corpus, CorpusError> {
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let melody = choose_melody(song, options)?;
    let accompaniment: Vec<MidiNote> = match options.chord_track {
        Some(index) => pick_track(song, index, "chords")?
            .pitched_notes()
            .copied()
            .collect(),
        None => song
            .tracks
            .iter()
            .filter(|t| t.index != melody.index)
            .flat_map(|t| t.pitched_notes().copied())
            .collect(),
    };

    let line = melody_line(melody, song.ticks_per_quarter);
    let bar = |e: &LineElement| e.offset.div_euclid(MEASURE_TWELFTHS);
    let groups: Vec<&[LineElement]> = group_consecutive(&line, bar)
        .into_iter()
        .filter(|g| g.iter().any(|e| e.key.is_some()))
        .collect();
    if groups.is_empty() {
        return Err(fail(format!(
            "has no usable melody: track {} has no notes ({})",
            melody.label(),
            song.describe_tracks()
        )));
    }
    let bars: Vec<i64> = groups.iter().map(|g| bar(&g[0])).collect();
    let mut chords = beat_chords(&accompaniment, &bars, song.ticks_per_quarter);
    // Bars before the first chord take the first chord, as the original falls back to the
    // first chord it knows.
    let Some(first_chord) = chords.iter().flatten().next().map(|c| c.chord) else {
        return Err(fail(format!(
            "has no chords under the melody (track {}): the other tracks never sound two \
             different pitch classes together on a beat; choose a chord track with \
             --chord-track ({})",
            melody.label(),
            song.describe_tracks()
        )));
    };
    for (bar_chords, &bar) in chords.iter_mut().zip(&bars) {
        if bar_chords.is_empty() {
            bar_chords.push(ChordAt {
                offset: bar * MEASURE_TWELFTHS,
                chord: first_chord,
            });
        }
    }

    let mut values = Vec::new();
    for (group, bar_chords) in groups.iter().zip(&chords) {
        measure_values(group, bar_chords, ScaleTest::ByPitchClass, &mut values).map_err(fail)?;
    }
    Ok(Corpus {
        values,
        measures: groups.len(),
        source: Corpus::source_of(song),
    })
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
    let mut corpus = Corpus {
        values: Vec::new(),
        measures: 0,
        source: Vec::new(),
    };
    let mut warnings = Vec::new();
    for path in paths {
        match load(path, preset) {
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
