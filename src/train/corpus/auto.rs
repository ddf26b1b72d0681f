//! The automatic mode: any MIDI file, the melody track found or given, chords from the other
//! tracks on every beat.

use super::*;

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
pub(super) const MIN_MELODY_NOTES: usize = 8;
/// Least share of single-note onsets for a track to count as a melody.
pub(super) const MIN_MONOPHONY: f64 = 0.5;

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

pub(super) fn pick_track<'a>(
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
/// [`TrackProfile::score`]; when no track plays mostly single notes (a piano part), the top
/// voice of the best-scoring track with 8 notes or more. Errors name the file and list its
/// tracks.
pub fn choose_melody_track(song: &MidiSong, options: &AutoOptions) -> Result<usize, CorpusError> {
    choose_melody(song, options).map(|c| c.track.index)
}

/// The melody track chosen, why, and whether only its top voice is the melody.
pub(super) struct MelodyChoice<'a> {
    pub(super) track: &'a MidiTrack,
    pub(super) why: String,
    /// The track plays chords too: its highest note at each onset is the melody, the others
    /// join the accompaniment.
    pub(super) top_voice: bool,
}

pub(super) fn choose_melody<'a>(
    song: &'a MidiSong,
    options: &AutoOptions,
) -> Result<MelodyChoice<'a>, CorpusError> {
    if let Some(index) = options.melody_track {
        let track = pick_track(song, index, "melody")?;
        return Ok(MelodyChoice {
            track,
            why: "as asked".into(),
            // Chords from the melody's own track, or a file with nothing else: its top voice.
            top_voice: options.chord_track == Some(index)
                || (options.chord_track.is_none()
                    && song
                        .tracks
                        .iter()
                        .all(|t| t.index == index || t.pitched_notes().next().is_none())),
        });
    }
    if song
        .tracks
        .iter()
        .all(|t| t.pitched_notes().next().is_none())
    {
        let drums = song.tracks.iter().any(|t| !t.notes.is_empty());
        let reason = if drums {
            "has only drums (MIDI channel 10): no melody or chords to learn from".to_string()
        } else {
            "has no notes".to_string()
        };
        return Err(CorpusError::file(&song.path, reason));
    }
    let profiles: Vec<TrackProfile> = track_profiles(song)
        .into_iter()
        .filter(|p| Some(p.index) != options.chord_track && p.notes >= MIN_MELODY_NOTES)
        .collect();
    let best = |lines_only: bool| {
        profiles
            .iter()
            .filter(|p| !lines_only || p.monophony >= MIN_MONOPHONY)
            .max_by(|a, b| a.score.total_cmp(&b.score).then(b.index.cmp(&a.index)))
    };
    if let Some(p) = best(true) {
        return Ok(MelodyChoice {
            track: &song.tracks[p.index],
            why: format!(
                "the busiest single-note line, high register weighted ({} of {} onsets single \
                 notes, mean note {})",
                p.single_onsets,
                p.onsets,
                name_with_octave(p.mean_key.round().clamp(0.0, 127.0) as u8)
            ),
            top_voice: false,
        });
    }
    match best(false) {
        Some(p) => Ok(MelodyChoice {
            track: &song.tracks[p.index],
            why: format!(
                "no track plays mostly single notes, so the top voice of this one is the melody \
                 and its other notes join the chords ({} notes, {:.0} % of onsets single)",
                p.notes,
                100.0 * p.monophony
            ),
            top_voice: true,
        }),
        None => Err(CorpusError::file(
            &song.path,
            format!(
                "has no usable melody: no track has at least {MIN_MELODY_NOTES} pitched notes \
                 ({}); choose one with --melody-track or FILE:melody=N",
                song.describe_tracks()
            ),
        )),
    }
}

/// The melody track the automatic mode takes (its position in `song.tracks`) and, when that
/// track plays chords too (a piano part), the notes below its top voice, which join the chords.
pub fn melody_with_lower_voices(
    song: &MidiSong,
    options: &AutoOptions,
) -> Result<(usize, Vec<MidiNote>), CorpusError> {
    let choice = choose_melody(song, options)?;
    let lower = if choice.top_voice {
        below_top_voice(choice.track, song.ticks_per_quarter)
    } else {
        Vec::new()
    };
    let position = song
        .tracks
        .iter()
        .position(|t| t.index == choice.track.index)
        .unwrap_or(0);
    Ok((position, lower))
}

/// The notes of `track` that are not its highest at their (quantized) onset: what is left of a
/// piano part when the top voice is the melody.
fn below_top_voice(track: &MidiTrack, ticks_per_quarter: u16) -> Vec<MidiNote> {
    let tpq = i64::from(ticks_per_quarter);
    let onset = |n: &MidiNote| quantize(ticks(n.start), tpq);
    let mut top: std::collections::BTreeMap<i64, u8> = std::collections::BTreeMap::new();
    for n in track.pitched_notes() {
        let k = top.entry(onset(n)).or_insert(n.key);
        *k = (*k).max(n.key);
    }
    track
        .pitched_notes()
        .filter(|n| top.get(&onset(n)) != Some(&n.key))
        .copied()
        .collect()
}

/// The melody track as one line of notes and rests, quantized like music21.
pub(super) fn melody_line(
    track: &MidiTrack,
    ticks_per_quarter: u16,
    grid: &BarGrid,
) -> Vec<LineElement> {
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
                let bar_end = grid.bar_end(start);
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
/// Returns, for each bar in `bars` (sorted; start and length in twelfths of a quarter note), the
/// chords starting in it, sampled on each of its quarter-note beats; the chord sounding when
/// the bar starts is carried in at its first beat.
pub(super) fn beat_chords(
    accompaniment: &[MidiNote],
    bars: &[(i64, i64)],
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
    for &(bar_start, bar_len) in bars {
        let mut chords = Vec::new();
        let beats = (bar_len / TWELFTHS_PER_QUARTER).max(1);
        for beat in 0..beats {
            let quarter = u64::try_from(bar_start / TWELFTHS_PER_QUARTER + beat).unwrap_or(0);
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
            let offset = bar_start + beat * TWELFTHS_PER_QUARTER;
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

/// The notes the chords are heard from: the given chord track, or every track but the
/// melody's, plus the lower voices of a melody track that plays chords too.
pub(super) fn accompaniment_of(
    song: &MidiSong,
    options: &AutoOptions,
    choice: &MelodyChoice<'_>,
) -> Result<Vec<MidiNote>, CorpusError> {
    let melody = choice.track;
    let mut accompaniment: Vec<MidiNote> = match options.chord_track {
        Some(index) if index == melody.index => Vec::new(),
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
    if choice.top_voice {
        accompaniment.extend(below_top_voice(melody, song.ticks_per_quarter));
    }
    Ok(accompaniment)
}

pub(super) fn auto_corpus(song: &MidiSong, options: &AutoOptions) -> Result<Corpus, CorpusError> {
    let fail = |reason: String| CorpusError::file(&song.path, reason);
    let choice = choose_melody(song, options)?;
    let melody = choice.track;
    let accompaniment = accompaniment_of(song, options, &choice)?;
    let chord_tracks: Vec<String> = song
        .tracks
        .iter()
        .filter(|t| match options.chord_track {
            Some(index) => t.index == index && (index != melody.index || choice.top_voice),
            None => t.index != melody.index && t.pitched_notes().next().is_some(),
        })
        .map(|t| t.label())
        .collect();
    let mut chords_from = chord_tracks.join(", ");
    if choice.top_voice && options.chord_track.is_none() {
        chords_from = if chords_from.is_empty() {
            format!("the lower notes of track {}", melody.label())
        } else {
            format!(
                "{chords_from} and the lower notes of track {}",
                melody.label()
            )
        };
    }
    let tracks = format!(
        "melody: track {} ({}); chords: {}; meter: {}",
        melody.label(),
        choice.why,
        if chords_from.is_empty() {
            "none"
        } else {
            &chords_from
        },
        super::jazz::meter_text(song)
    );

    let grid = BarGrid::of(song);
    let line = melody_line(melody, song.ticks_per_quarter, &grid);
    let bar = |e: &LineElement| grid.bar_of(e.offset).0;
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
    let bars: Vec<(i64, i64)> = groups
        .iter()
        .map(|g| {
            let (_, start, _) = grid.bar_of(g[0].offset);
            (start, grid.bar_end(start) - start)
        })
        .collect();
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
    for (bar_chords, &(bar_start, _)) in chords.iter_mut().zip(&bars) {
        if bar_chords.is_empty() {
            bar_chords.push(ChordAt {
                offset: bar_start,
                chord: first_chord,
            });
        }
    }

    let mut values = Vec::new();
    for (group, bar_chords) in groups.iter().zip(&chords) {
        measure_values(group, bar_chords, ScaleTest::ByPitchClass, &mut values).map_err(fail)?;
    }
    let mut source = Corpus::source_of(song, values.len(), Preset::Auto(*options));
    source[0].tracks = Some(tracks);
    Ok(Corpus {
        values,
        measures: groups.len(),
        source,
    })
}
