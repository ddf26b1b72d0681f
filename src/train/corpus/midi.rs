//! Reading Standard MIDI Files (and RMID) into tracks of notes in ticks, checked chunk by chunk.

use super::*;

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
pub(super) struct KeyEvent {
    pub(super) tick: u64,
    pub(super) channel: u8,
    pub(super) key: u8,
    /// A note-on with a velocity above zero; everything else that names a key (note-off, note-on
    /// at velocity 0, polyphonic pressure) can end a note in music21's eyes.
    pub(super) starts: bool,
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
    pub(super) key_events: Vec<KeyEvent>,
}

impl MidiTrack {
    /// `6 "Piano"` or `3 (no name)`, for messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} \"{name}\"", self.index),
            None => format!("{} (no name)", self.index),
        }
    }

    pub fn pitched_notes(&self) -> impl Iterator<Item = &MidiNote> {
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
    /// Time signatures, in order of time (none: 4/4 throughout).
    pub meters: Vec<Meter>,
    /// The first tempo the file sets, quarter notes per minute (`None`: it sets none, which
    /// MIDI reads as 120).
    pub tempo_bpm: Option<f64>,
}

/// A time signature of the file, from `tick` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meter {
    pub tick: u64,
    /// Bar length in twelfths of a quarter note (48 for 4/4, 36 for 3/4 and 6/8).
    pub bar_twelfths: i64,
}

/// Where the bars of a song lie, in quantized twelfths of a quarter note: each meter's bars
/// from where it starts (a meter starting inside a bar starts a new bar there).
#[derive(Clone, Debug, PartialEq)]
pub struct BarGrid {
    /// (start, bar length, index of the first bar from there), in order.
    segments: Vec<(i64, i64, i64)>,
}

impl BarGrid {
    pub(super) fn of(song: &MidiSong) -> BarGrid {
        let tpq = i64::from(song.ticks_per_quarter);
        let mut segments: Vec<(i64, i64, i64)> = vec![(0, MEASURE_TWELFTHS, 0)];
        for m in &song.meters {
            let at = quantize(ticks(m.tick), tpq).max(0);
            let last = segments.last_mut().expect("one segment");
            if at <= last.0 {
                last.1 = m.bar_twelfths;
            } else {
                let (start, len, first) = *last;
                segments.push((
                    at,
                    m.bar_twelfths,
                    first + (at - start + len - 1).div_euclid(len),
                ));
            }
        }
        BarGrid { segments }
    }

    fn segment(&self, offset: i64) -> (i64, i64, i64) {
        *self
            .segments
            .iter()
            .rev()
            .find(|s| s.0 <= offset)
            .unwrap_or(&self.segments[0])
    }

    /// The bar holding `offset`: (index, start, length).
    pub(super) fn bar_of(&self, offset: i64) -> (i64, i64, i64) {
        let (start, len, first) = self.segment(offset);
        let k = (offset - start).div_euclid(len);
        (first + k, start + k * len, len)
    }

    /// Where the bar holding `offset` ends.
    pub(super) fn bar_end(&self, offset: i64) -> i64 {
        let (_, start, len) = self.bar_of(offset);
        let end = start + len;
        // A meter change inside the bar ends it early.
        self.segments
            .iter()
            .map(|s| s.0)
            .find(|&s| s > offset && s < end)
            .unwrap_or(end)
    }
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

    pub(super) fn track_named(&self, name: &str) -> Option<&MidiTrack> {
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
    let mut meters = Vec::new();
    let mut tempos: Vec<(u64, u32)> = Vec::new();
    for (index, chunk) in chunks.into_iter().enumerate() {
        parsed.push(read_track(index, chunk, &mut meters, &mut tempos).map_err(fail)?);
    }
    meters.sort_by_key(|m: &Meter| m.tick);
    meters.dedup_by_key(|m| m.tick);
    if format == 0 && parsed.len() == 1 {
        parsed = split_by_channel(parsed.remove(0));
    }
    tempos.sort_by_key(|t| t.0);
    let tempo_bpm = tempos
        .first()
        .filter(|t| t.1 > 0)
        .map(|t| 60_000_000.0 / f64::from(t.1));
    Ok(MidiSong {
        tempo_bpm,
        path: path.to_path_buf(),
        format,
        ticks_per_quarter,
        tracks: parsed,
        sha256: sha256_hex(bytes),
        meters,
    })
}

pub(super) fn smpte_refusal(frames_per_second: i16, ticks_per_frame: u8) -> String {
    format!(
        "uses SMPTE timing ({frames_per_second} frames/s × {ticks_per_frame} ticks) instead of \
         ticks per quarter note, so it has no beats to measure; re-export it with musical (PPQ) \
         timing"
    )
}

/// The Standard MIDI File inside an RMID file (RIFF form `RMID`, the SMF in its `data` chunk).
pub(super) fn unwrap_rmid(bytes: &[u8]) -> Result<&[u8], String> {
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
pub(super) fn track_chunks(mut rest: &[u8], declared: usize) -> Result<Vec<&[u8]>, String> {
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
pub(super) fn split_by_channel(track: MidiTrack) -> Vec<MidiTrack> {
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

pub(super) fn read_track(
    index: usize,
    chunk: &[u8],
    meters: &mut Vec<Meter>,
    tempos: &mut Vec<(u64, u32)>,
) -> Result<MidiTrack, String> {
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
            midly::TrackEventKind::Meta(midly::MetaMessage::TimeSignature(n, d, ..)) => {
                // Bars of a whole number of twelfths of a quarter note only (1/16 and longer
                // note values); others keep the meter before them.
                let quarter_twelfths = TWELFTHS_PER_QUARTER * 4;
                if n > 0 && d <= 4 && (i64::from(n) * quarter_twelfths) % (1 << d) == 0 {
                    meters.push(Meter {
                        tick,
                        bar_twelfths: i64::from(n) * quarter_twelfths / (1 << d),
                    });
                }
            }
            midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(us)) => {
                tempos.push((tick, us.as_int()));
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
pub(super) fn decode_text(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    };
    text.trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string()
}

/// Pairs note-ons with note-offs per key and channel, first in first out; notes left open end
/// at `track_end`.
pub(super) fn pair_notes(events: &[KeyEvent], track_end: u64) -> Vec<MidiNote> {
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

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
