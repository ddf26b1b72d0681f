//! The `metheny` preset: the original's selection of `original_metheny.mid`.

use super::*;

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

pub(super) fn metheny_corpus(song: &MidiSong) -> Result<Corpus, CorpusError> {
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
        source: Corpus::source_of(song, values.len(), Preset::Metheny),
        values,
        measures: measures.len(),
    })
}

/// One measure of the original: melody notes (no rests in music21 3–5's view) and the Piano
/// chords of the group with the same index.
pub(super) struct MethenyMeasure {
    line: Vec<LineElement>,
    chords: Vec<PartElement>,
}

pub(super) fn metheny_measures(song: &MidiSong) -> Result<Vec<MethenyMeasure>, CorpusError> {
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
