//! The chord-aware reading of a solo (`--preset jazz`): the automatic mode's melody and chords,
//! kept note by note with what a chord-aware model hears ([`Context`]) and what it is scored on
//! (the exact pitch and length played).
//!
//! Values follow the seed's grammar with three changes that keep a corpus of 200,000 notes to a
//! vocabulary of hundreds instead of thousands, all for the same reason (the long tail):
//! - every note after a solo's first carries its interval from the previous note, across bar
//!   lines and rests (the seed starts each measure afresh, a habit of its measure-by-measure
//!   decoder; a bar line is not where a phrase starts);
//! - intervals wider than an octave are written as the octave in their direction (3.1 % of the
//!   WJD's moves; the pitch model keeps the exact leap scoreable);
//! - durations are rounded to a grid ([`DURATION_GRID`]: every twelfth of a beat up to a beat,
//!   then coarser steps up to a whole note) on a log scale, so a 13/12-beat length becomes a 7/6
//!   instead of a value of its own. The exact length is kept in [`JazzNote::dur24`].

use super::*;
use crate::music::conditioning::Context;

/// Value durations, in twelfths of a beat: every twelfth up to a beat (the reader's onsets sit
/// on sixteenths and triplets, so their distances are whole twelfths), then 7/6, 5/4, 4/3, 3/2,
/// 5/3, 7/4, 2, 5/2, 3, 7/2 and 4 beats.
pub const DURATION_GRID: [i64; 23] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 20, 21, 24, 30, 36, 42, 48,
];

/// Widest interval a value writes, in semitones.
pub const MAX_VALUE_INTERVAL: i32 = 12;

/// The grid duration (quarter notes) nearest `twelfths` on a log scale.
pub fn grid_duration(twelfths: i64) -> f64 {
    let d = twelfths.max(1) as f64;
    let best = DURATION_GRID
        .iter()
        .copied()
        .min_by(|&a, &b| {
            let da = (d / a as f64).ln().abs();
            let db = (d / b as f64).ln().abs();
            da.total_cmp(&db)
        })
        .unwrap_or(12);
    best as f64 / TWELFTHS_PER_QUARTER as f64
}

/// The value a note (or rest, `key` = `None`) becomes: role over `chord`, grid duration, and the
/// interval from `prev` (clamped to an octave).
pub fn jazz_value(key: Option<u8>, twelfths: i64, chord: &Chord, prev: Option<u8>) -> Value {
    let duration = grid_duration(twelfths);
    let Some(key) = key else {
        return Value {
            role: Role::Rest,
            duration,
            range: None,
        };
    };
    let range = prev.map(|p| {
        let step = (i32::from(key) - i32::from(p)).clamp(-MAX_VALUE_INTERVAL, MAX_VALUE_INTERVAL);
        let target = (i32::from(p) + step).clamp(0, 127) as u8;
        interval_range(p, target)
    });
    Value {
        role: role_by_pitch_class(key, chord),
        duration,
        range,
    }
}

/// One element of a solo as the chord-aware model sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JazzNote {
    /// The value it is written as.
    pub value: Value,
    /// The pitch played (`None` for a rest).
    pub key: Option<u8>,
    /// Its exact length in 24ths of a beat (after the reader's quantisation to sixteenths and
    /// triplets; a note lasts to the next onset unless a rest of a sixteenth or more follows).
    pub dur24: u32,
    /// What the model hears beside the previous value.
    pub ctx: Context,
}

/// A solo read for the chord-aware model.
#[derive(Clone, Debug, PartialEq)]
pub struct Solo {
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Which tracks gave the melody and the chords, and why.
    pub tracks: String,
    /// The file's meters, as printed (`4/4`, or `4/4, 3/4` for a change).
    pub meter: String,
    pub notes: Vec<JazzNote>,
}

/// Reads one file for the chord-aware model. Errors name the file and the reason (no melody,
/// no chords under it, ...).
pub fn load_solo(path: impl AsRef<Path>, options: &AutoOptions) -> Result<Solo, CorpusError> {
    solo_of(&read_midi(path)?, options)
}

/// Reads every input (a file's own track choices replace `options`); files that cannot be used
/// are returned as errors beside the solos, in order.
pub fn load_solos(inputs: &[Input], options: &AutoOptions) -> (Vec<Solo>, Vec<CorpusError>) {
    let mut solos = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        match load_solo(&input.path, &input.tracks.unwrap_or(*options)) {
            Ok(solo) => solos.push(solo),
            Err(e) => errors.push(e),
        }
    }
    (solos, errors)
}

/// The file's meters as musicians write them (`3/4`; `4/4, 3/4` when it changes), from the
/// bar lengths: whole quarter notes as `/4`, the rest as `/8`.
pub(super) fn meter_text(song: &MidiSong) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in &song.meters {
        let text = if m.bar_twelfths % 12 == 0 {
            format!("{}/4", m.bar_twelfths / 12)
        } else {
            format!("{}/8", m.bar_twelfths / 6)
        };
        if seen.last() != Some(&text) {
            seen.push(text);
        }
    }
    if seen.is_empty() {
        "4/4".into()
    } else {
        seen.join(", ")
    }
}

fn solo_of(song: &MidiSong, options: &AutoOptions) -> Result<Solo, CorpusError> {
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let choice = choose_melody(song, options)?;
    let melody = choice.track;
    let accompaniment = accompaniment_of(song, options, &choice)?;
    let grid = BarGrid::of(song);
    let line = melody_line(melody, song.ticks_per_quarter, &grid);
    if !line.iter().any(|e| e.key.is_some()) {
        return Err(fail(format!(
            "has no usable melody: track {} has no notes",
            melody.label()
        )));
    }
    // Every bar the line touches, in order, once.
    let mut bars: Vec<(i64, i64)> = Vec::new();
    for e in &line {
        let (_, start, len) = grid.bar_of(e.offset);
        if bars.last().map(|b| b.0) != Some(start) {
            bars.push((start, len));
        }
    }
    let timeline: Vec<ChordAt> = beat_chords(&accompaniment, &bars, song.ticks_per_quarter)
        .into_iter()
        .flatten()
        .collect();
    if timeline.is_empty() {
        return Err(fail(format!(
            "has no chords under the melody (track {}): nothing else sounds two different pitch \
             classes together on a beat, so there are no changes to learn from (free jazz?); \
             choose a chord track with FILE.mid:chords=N if it has one",
            melody.label()
        )));
    }
    let mut notes = Vec::with_capacity(line.len());
    let mut prev: Option<u8> = None;
    let mut at = 0usize;
    for e in &line {
        while at + 1 < timeline.len() && timeline[at + 1].offset <= e.offset {
            at += 1;
        }
        let chord = timeline[at].chord;
        let next = timeline[at + 1..]
            .iter()
            .find(|c| c.chord.pcs != chord.pcs)
            .map(|c| (c.chord, c.offset));
        let (_, bar_start, _) = grid.bar_of(e.offset);
        let ctx = Context::at(chord, next, prev, e.offset, bar_start)
            .with_tempo(song.tempo_bpm.unwrap_or(120.0));
        let value = jazz_value(e.key, e.duration, &chord, prev);
        notes.push(JazzNote {
            value,
            key: e.key,
            dur24: u32::try_from(e.duration.clamp(1, 1 << 20) * 2).unwrap_or(2),
            ctx,
        });
        if e.key.is_some() {
            prev = e.key;
        }
    }
    Ok(Solo {
        path: song.path.clone(),
        sha256: song.sha256.clone(),
        tracks: format!("melody: track {} ({})", melody.label(), choice.why),
        meter: meter_text(song),
        notes,
    })
}

/// The chord changes of a MIDI file as chord text (`--chords` syntax), for playing over them
/// (`jazz-synth render --changes-from`): the chord sounding on every beat (as the corpus reader
/// hears it: what the tracks other than the melody sound, or `chords` from `options`), bar by
/// bar from the melody's first bar to its last (or over the whole file when no melody is
/// found), in the file's first meter. A beat with no chord keeps the one before.
pub fn changes_text(path: impl AsRef<Path>, options: &AutoOptions) -> Result<String, CorpusError> {
    let song = read_midi(path)?;
    changes_text_of(&song, options)
}

fn changes_text_of(song: &MidiSong, options: &AutoOptions) -> Result<String, CorpusError> {
    use crate::music::changes::ChordSymbol;
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let melody = choose_melody(song, options).ok().map(|c| c.track.index);
    let accompaniment: Vec<MidiNote> = song
        .tracks
        .iter()
        .filter(|t| match options.chord_track {
            Some(i) => t.index == i,
            None => Some(t.index) != melody,
        })
        .flat_map(|t| t.pitched_notes().copied())
        .collect();
    let grid = BarGrid::of(song);
    let tpq = i64::from(song.ticks_per_quarter);
    let span_of = |notes: &mut dyn Iterator<Item = &MidiNote>| {
        notes.fold(None, |acc: Option<(i64, i64)>, n| {
            let (s, e) = (quantize(ticks(n.start), tpq), quantize(ticks(n.end), tpq));
            Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
        })
    };
    let span = match melody.and_then(|m| song.tracks.iter().find(|t| t.index == m)) {
        Some(track) => span_of(&mut track.pitched_notes()),
        None => span_of(&mut accompaniment.iter()),
    }
    .ok_or_else(|| fail("has no notes".into()))?;
    let mut bars: Vec<(i64, i64)> = Vec::new();
    let (_, mut start, _) = grid.bar_of(span.0);
    while start < span.1.max(span.0 + 1) {
        let end = grid.bar_end(start);
        bars.push((start, end - start));
        start = end;
    }
    let per_bar = beat_chords(&accompaniment, &bars, song.ticks_per_quarter);
    if per_bar.iter().all(|b| b.is_empty()) {
        return Err(fail(
            "has no chords: no track other than the melody sounds two different pitch classes \
             together on a beat"
                .into(),
        ));
    }
    let symbol = |c: &Chord| {
        let root = c.root % 12;
        let intervals = c
            .pcs
            .iter()
            .fold(0u16, |m, pc| m | (1 << ((pc + 12 - root) % 12)));
        ChordSymbol {
            root,
            intervals,
            bass: None,
        }
        .to_string()
    };
    let beats_per_bar = (bars[0].1 / TWELFTHS_PER_QUARTER).max(1);
    let mut current: Option<String> = per_bar.iter().flatten().next().map(|c| symbol(&c.chord));
    let mut text = if beats_per_bar == 4 {
        String::new()
    } else {
        format!("{beats_per_bar}/4 ")
    };
    for (k, (chords, &(bar_start, _))) in per_bar.iter().zip(&bars).enumerate() {
        let mut beats: Vec<String> = Vec::with_capacity(beats_per_bar as usize);
        for b in 0..beats_per_bar {
            let at = bar_start + b * TWELFTHS_PER_QUARTER;
            if let Some(c) = chords
                .iter()
                .rev()
                .find(|c| c.offset <= at && c.offset > at - TWELFTHS_PER_QUARTER)
            {
                current = Some(symbol(&c.chord));
            }
            beats.push(current.clone().unwrap_or_else(|| "C".into()));
        }
        // One symbol for a bar of one chord, two for halves, else one per beat.
        let half = beats.len() / 2;
        let bar_text = if beats.iter().all(|b| *b == beats[0]) {
            beats[0].clone()
        } else if beats.len().is_multiple_of(2)
            && beats[..half].iter().all(|b| *b == beats[0])
            && beats[half..].iter().all(|b| *b == beats[half])
        {
            format!("{} {}", beats[0], beats[half])
        } else {
            beats.join(" ")
        };
        if k > 0 {
            text.push_str(" | ");
        }
        text.push_str(&bar_text);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_to_the_grid_on_a_log_scale() {
        assert_eq!(grid_duration(6), 0.5);
        assert_eq!(grid_duration(7), 7.0 / 12.0);
        assert_eq!(grid_duration(1), 1.0 / 12.0);
        assert_eq!(grid_duration(13), 14.0 / 12.0);
        assert_eq!(grid_duration(100), 4.0);
        assert_eq!(grid_duration(34), 3.0);
        assert_eq!(grid_duration(26), 2.0);
    }

    #[test]
    fn wide_leaps_are_written_as_an_octave() {
        let c7 = Chord::from_midi(&[48, 52, 55, 58]);
        let v = jazz_value(Some(79), 6, &c7, Some(60));
        assert_eq!(crate::music::contour::encoded_interval(&v), Some(12));
        assert_eq!(v.role, Role::Chord);
        let down = jazz_value(Some(60), 6, &c7, Some(64));
        assert_eq!(crate::music::contour::encoded_interval(&down), Some(-4));
    }
}
