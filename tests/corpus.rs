//! The corpus on the real training file, on hand-made MIDI files, and on broken ones.

use std::path::{Path, PathBuf};

use jazz_synth::music::grammar::Value;
use jazz_synth::train::corpus::{
    choose_melody_track, expand_inputs, load_auto, load_inputs, load_many, load_metheny,
    load_metheny_chords, parse_midi, read_midi, track_profiles, AutoOptions, CorpusError, Preset,
};
use midly::num::{u15, u28};
use midly::{Format, Header, MetaMessage, Timing, TrackEvent, TrackEventKind};

mod common;
use common::midi_file::{format1, notes, smf_bytes, track_events, Ev};
use common::METHENY;

/// The original pipeline (deepjazz `preprocess.py` + `grammar.py`) run with music21 4.1 on
/// `original_metheny.mid`, one line per measure; music21 3.1 and 5.1 print the same.
const MUSIC21_METHENY: [&str; 18] = [
    "C,0.500 C,0.333,<P1,d-5> C,0.250,<M-2,m-6> C,0.250,<M3,d-3> C,0.250,<d6,m2> C,0.250,<d5,P1> C,0.667,<M2,d-4> C,0.250,<d1,P-5> C,0.250,<P-4,d-8> S,0.250,<d4,M-2> S,0.250,<P5,A1> C,0.250,<d5,P1>",
    "C,0.500 S,0.250,<m2,P-4> C,0.250,<P4,m-2> A,0.250,<P4,m-2> S,0.500,<d1,P-5> C,0.250,<P1,d-5> C,0.250,<m2,P-4> A,0.250,<m2,P-4> C,0.250,<M2,d-4> A,0.250,<d4,M-2> C,0.250,<P4,m-2> C,0.250,<P4,m-2>",
    "C,0.250 C,0.250,<d2,A-4> A,0.250,<m-2,d-6> C,0.250,<d3,M-3> A,0.250,<M3,d-3> C,0.250,<d6,m2> C,0.250,<A4,d-2> C,0.250,<d3,M-3> C,0.250,<m2,P-4> A,0.250,<m2,P-4> S,0.250,<P1,d-5> C,0.250,<m2,P-4> C,0.250,<P1,d-5> C,0.250,<m2,P-4> A,0.250,<m2,P-4>",
    "C,0.250 S,0.250,<d6,m2> X,0.250,<A4,d-2> S,0.250,<dd5,d1> C,0.250,<P4,m-2> C,0.250,<M3,d-3> C,0.250,<dd5,d1> S,0.250,<P4,m-2> C,0.250,<P4,m-2> C,0.250,<M3,d-3> C,0.250,<dd5,d1> A,0.250,<M3,d-3>",
    "C,0.500 A,0.333,<M2,d-4> C,0.250,<d4,M-2> A,0.333,<M2,d-4> C,0.250,<m2,P-4> C,0.250,<A-4,P-8> C,0.250,<P4,m-2> A,0.250,<P4,m-2> S,0.250,<d5,P1> A,0.333,<P1,d-5> C,0.250,<d4,M-2> C,0.250,<P5,A1>",
    "C,0.250 S,0.250,<d4,M-2> A,0.250,<m-2,d-6> C,0.250,<d5,P1> A,0.250,<P1,d-5> C,0.250,<d5,P1> C,0.250,<d1,P-5> A,0.333,<A4,d-2>",
    "S,0.333 C,0.500,<m2,P-4> S,0.250,<P1,d-5> C,0.250,<m2,P-4> C,0.250,<P4,m-2> C,0.250,<m3,m-3> S,0.250,<m2,P-4> C,0.500,<m6,M2> C,0.250,<P1,d-5> C,0.250,<m7,M3> C,0.250,<d4,M-2>",
    "C,0.250 C,0.333,<d1,P-5> S,0.250,<M-2,m-6> C,0.250,<P11,M7> C,0.250,<M-2,m-6> S,0.333,<d7,m3> C,0.667,<M2,d-4>",
    "C,0.250 C,0.250,<d5,P1> C,0.250,<m7,M3> C,0.250,<m2,P-4> C,0.250,<P5,A1> C,0.750,<m3,m-3>",
    "S,0.250 C,0.250,<m2,P-4> C,0.250,<M2,d-4> C,0.250,<m2,P-4> A,0.250,<M2,d-4> A,0.250,<m2,P-4> C,0.250,<m2,P-4> A,0.333,<M2,d-4> C,0.250,<d3,M-3> X,0.250,<d1,P-5> S,0.250,<A4,d-2> S,0.250,<d1,P-5>",
    "C,0.250 C,0.250,<P1,d-5> C,0.333,<m3,m-3> S,0.333,<m2,P-4> C,0.333,<m2,P-4> C,0.250,<m3,m-3> C,0.250,<P1,d-5> C,0.333,<m3,m-3> C,0.250,<d5,P1> C,0.250,<P5,A1>",
    "S,0.250 S,0.250,<P1,d-5> C,0.333,<m7,M3> S,0.333,<d1,P-5> S,0.500,<m7,M3> C,0.250,<P1,d-5> S,0.250,<m3,m-3> A,0.250,<P-4,d-8> C,0.250,<d4,M-2> C,0.250,<d5,P1> C,0.250,<P5,A1>",
    "S,0.250 S,0.250,<d1,P-5> S,0.750,<m3,m-3> C,0.250,<P1,d-5> S,0.750,<d5,P1> C,0.250,<P1,d-5> C,0.250,<m3,m-3> S,0.250,<d5,P1> C,0.250,<P4,m-2> C,0.250,<d5,P1>",
    "C,0.500 C,0.250,<d4,M-2> C,0.333,<M2,d-4> S,0.250,<d1,P-5> C,0.333,<P5,A1> S,0.250,<d1,P-5> C,0.333,<m3,m-3> C,0.250,<P1,d-5>",
    "S,0.333 S,0.250,<d1,P-5> C,0.250,<P1,d-5> S,0.500,<m7,M3> S,0.250,<d1,P-5> C,0.250,<P4,m-2> C,0.250,<m3,m-3> C,0.250,<m-2,d-6> C,0.250,<d2,A-4> C,0.250,<P4,m-2> S,0.667,<d5,P1> C,0.250,<P1,d-5>",
    "C,0.250 X,0.250,<A4,d-2> C,0.250,<d2,A-4> S,0.250,<P4,m-2> A,0.250,<P1,d-5> A,0.250,<P4,m-2> S,0.250,<d2,A-4> C,0.250,<P4,m-2> X,0.250,<A4,d-2> C,0.250,<d2,A-4> C,0.250,<m-2,d-6> A,0.250,<d5,P1> C,0.250,<d1,P-5> S,0.250,<d5,P1> A,0.250,<m-2,d-6> A,0.250,<d5,P1> S,0.250,<d1,P-5> C,0.250,<P4,m-2> A,0.250,<P1,d-5>",
    "C,0.500 C,0.250,<P4,m-2> C,0.250,<M3,d-3> S,0.250,<dd5,d1> C,0.500,<P4,m-2> C,0.333,<A4,d-2> C,0.667,<d6,m2> C,0.500,<m2,P-4>",
    "S,0.250 S,0.667,<m3,m-3> C,0.250,<M3,d-3> X,0.250,<d2,A-4> X,0.250,<m6,M2> X,0.250,<M-2,m-6> C,0.250,<m7,M3> S,0.250,<P4,m-2>",
];

fn music21_values() -> Vec<&'static str> {
    MUSIC21_METHENY
        .iter()
        .flat_map(|m| m.split_whitespace())
        .collect()
}

fn printed(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// A scratch file that removes itself.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("jazz-synth-corpus-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write a scratch file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file_error(result: Result<impl std::fmt::Debug, CorpusError>, path: &Path) -> String {
    let error = result.expect_err("the file must be refused");
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "the error must name the file: {message}"
    );
    message
}

// ---------------------------------------------------------------------------------------------
// The metheny preset

#[test]
fn metheny_preset_reproduces_music21s_corpus_value_for_value() {
    let corpus = load_metheny(METHENY).expect("the original file loads");
    assert_eq!(printed(&corpus.values), music21_values());
}

#[test]
fn metheny_statistics_match_the_course_data() {
    let stats = load_metheny(METHENY).unwrap().stats();
    assert_eq!(stats.measures, 18);
    assert_eq!(stats.length, 193);
    // The course reports n_values = 78; the deepjazz README 90; music21 10 gives 87.
    assert_eq!(stats.distinct, 78);
    assert!((70..=100).contains(&stats.distinct));
    assert_eq!(
        stats.to_string(),
        "measures: 18, corpus length: 193, distinct values: 78"
    );
}

#[test]
fn every_corpus_value_round_trips_through_the_grammar() {
    let metheny = load_metheny(METHENY).unwrap();
    let auto = load_auto(METHENY, &AutoOptions::default()).unwrap();
    for value in metheny.values.iter().chain(&auto.values) {
        let text = value.to_string();
        let parsed = Value::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.to_string(), text);
    }
}

#[test]
fn vocabulary_is_sorted_by_printed_form_and_indices_point_into_it() {
    let corpus = load_metheny(METHENY).unwrap();
    let vocab = corpus.distinct();
    let names = printed(&vocab);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted and without repeats");
    let indices = corpus.indices(&vocab);
    assert_eq!(indices.len(), corpus.values.len());
    for (index, value) in indices.iter().zip(&corpus.values) {
        assert_eq!(names[*index], value.to_string());
    }
    let missing = corpus
        .try_indices(&vocab[1..])
        .expect_err("first value removed");
    assert_eq!(missing.to_string(), names[0]);
}

#[test]
fn metheny_chords_come_with_every_corpus_measure() {
    let chords = load_metheny_chords(METHENY).unwrap();
    assert_eq!(chords.len(), load_metheny(METHENY).unwrap().measures);
    // Chord groups of the original: 2 2 2 3 3 3 4 1 4 3 2 4 2 4 2 4 2 4 (music21 3.1).
    let counts: Vec<usize> = chords.iter().map(Vec::len).collect();
    assert_eq!(
        counts,
        [2, 2, 2, 3, 3, 3, 4, 1, 4, 3, 2, 4, 2, 4, 2, 4, 2, 4]
    );
    for measure in &chords {
        for chord in measure {
            assert!((0.0..4.0).contains(&chord.beat), "{chord:?}");
            assert!(chord.pitches.len() >= 2, "{chord:?}");
        }
    }
}

#[test]
fn music21_parts_are_the_tracks_with_notes_in_file_order() {
    let song = read_midi(METHENY).unwrap();
    let with_notes: Vec<(usize, &str)> = song
        .tracks
        .iter()
        .filter(|t| !t.notes.is_empty())
        .map(|t| (t.index, t.name.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(with_notes[0], (6, "Piano"), "music21 part 0: the chords");
    assert_eq!(with_notes[1], (7, "Bass"));
    assert_eq!(with_notes[5], (11, "Guitar"), "music21 part 5: the melody");
    assert_eq!(with_notes[6], (12, "Trumpet"));
    assert_eq!(with_notes[7], (13, "French Horn"));
    assert_eq!(song.ticks_per_quarter, 96);
    assert_eq!(song.format, 1);
}

#[test]
fn source_records_the_path_and_sha256_of_the_file() {
    use sha2::Digest;
    let corpus = load_metheny(METHENY).unwrap();
    let bytes = std::fs::read(METHENY).unwrap();
    let expected: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(corpus.source.len(), 1);
    assert_eq!(corpus.source[0].path, Path::new(METHENY));
    assert_eq!(corpus.source[0].sha256, expected);
}

#[test]
fn metheny_preset_on_another_file_says_which_track_is_missing() {
    let file = TempFile::new(
        "no-guitar.mid",
        &format1(96, &[("Lead", notes(96, &[(0.0, 1.0, 60)]))]),
    );
    let message = file_error(load_metheny(&file.0), &file.0);
    assert!(message.contains("\"Guitar\""), "{message}");
    assert!(message.contains("auto"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Reading MIDI

#[test]
fn note_on_with_velocity_zero_ends_the_note() {
    let bytes = format1(96, &[("Lead", vec![(0, 0, 60, 80), (48, 0, 60, 0)])]);
    let song = parse_midi(&bytes, Path::new("velocity-zero.mid")).unwrap();
    let track = &song.tracks[0];
    assert_eq!(track.name.as_deref(), Some("Lead"));
    assert_eq!(track.notes.len(), 1);
    assert_eq!((track.notes[0].start, track.notes[0].end), (0, 48));
    assert_eq!(track.notes[0].velocity, 80);
}

#[test]
fn note_off_events_end_notes_too() {
    let track = track_events("Lead", &[(0, 2, 64, 70), (96, 2, 64, 0)], false);
    let bytes = smf_bytes(
        Header::new(Format::SingleTrack, Timing::Metrical(u15::new(96))),
        vec![track],
    );
    let song = parse_midi(&bytes, Path::new("note-off.mid")).unwrap();
    assert_eq!(song.format, 0);
    let note = song.tracks[0].notes[0];
    assert_eq!(
        (note.start, note.end, note.key, note.channel),
        (0, 96, 64, 2)
    );
}

#[test]
fn overlapping_notes_of_one_key_end_first_in_first_out() {
    let events = vec![
        (0, 0, 60, 90),
        (10, 0, 60, 90),
        (20, 0, 60, 0),
        (30, 0, 60, 0),
    ];
    let song = parse_midi(&format1(96, &[("Lead", events)]), Path::new("overlap.mid")).unwrap();
    let spans: Vec<(u64, u64)> = song.tracks[0]
        .notes
        .iter()
        .map(|n| (n.start, n.end))
        .collect();
    assert_eq!(spans, vec![(0, 20), (10, 30)]);
}

#[test]
fn a_note_never_ended_lasts_to_the_end_of_its_track() {
    let events = vec![
        (0, 0, 60, 90),
        (50, 0, 62, 90),
        (80, 0, 62, 0),
        (200, 1, 1, 0),
    ];
    let song = parse_midi(&format1(96, &[("Lead", events)]), Path::new("open.mid")).unwrap();
    let track = &song.tracks[0];
    assert_eq!(track.end, 200);
    let c = track.notes.iter().find(|n| n.key == 60).unwrap();
    assert_eq!((c.start, c.end), (0, 200));
}

#[test]
fn same_music_at_any_division_gives_the_same_values() {
    let melody = [
        (0.0, 1.0, 72),
        (1.0, 0.5, 74),
        (1.5, 0.5, 76),
        (2.0, 1.0 / 3.0, 77),
        (2.0 + 1.0 / 3.0, 1.0 / 3.0, 79),
        (2.0 + 2.0 / 3.0, 1.0 / 3.0, 81),
        (4.0, 2.0, 72),
        (6.5, 1.5, 71),
    ];
    let chords = [(0.0, 8.0, 48), (0.0, 8.0, 52), (0.0, 8.0, 55)];
    let mut seen = Vec::new();
    for tpq in [96u16, 480, 960, 120] {
        let bytes = format1(
            tpq,
            &[
                ("Lead", notes(tpq as u32, &melody)),
                ("Comp", notes(tpq as u32, &chords)),
            ],
        );
        let file = TempFile::new(&format!("division-{tpq}.mid"), &bytes);
        let options = AutoOptions {
            melody_track: Some(0),
            chord_track: Some(1),
        };
        seen.push(printed(&load_auto(&file.0, &options).unwrap().values));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    // The triplet F and G over C major.
    assert!(
        seen[0].contains(&"A,0.333,<d4,M-2>".to_string()),
        "{:?}",
        seen[0]
    );
    assert!(
        seen[0].contains(&"C,0.333,<P4,m-2>".to_string()),
        "{:?}",
        seen[0]
    );
}

#[test]
fn a_format_0_file_is_read_as_one_track_per_channel() {
    let mut events: Vec<Ev> = Vec::new();
    let melody: Vec<(f64, f64, u8)> = (0..16)
        .map(|i| (i as f64 * 0.5, 0.5, 72 + (i % 5) as u8))
        .collect();
    events.extend(notes(96, &melody));
    for (start, key) in [
        (0.0, 48),
        (0.0, 52),
        (0.0, 55),
        (4.0, 53),
        (4.0, 57),
        (4.0, 60),
    ] {
        for (tick, _, key, vel) in notes(96, &[(start, 4.0, key)]) {
            events.push((tick, 3, key, vel));
        }
    }
    let bytes = smf_bytes(
        Header::new(Format::SingleTrack, Timing::Metrical(u15::new(96))),
        vec![track_events("Song", &events, true)],
    );
    let file = TempFile::new("format0.mid", &bytes);
    let song = read_midi(&file.0).unwrap();
    let names: Vec<&str> = song
        .tracks
        .iter()
        .map(|t| t.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["Song, channel 1", "Song, channel 4"]);
    assert_eq!(choose_melody_track(&song, &AutoOptions::default()), Ok(0));
    let corpus = load_auto(&file.0, &AutoOptions::default()).unwrap();
    assert_eq!(corpus.measures, 2);
    assert_eq!(corpus.values.len(), 16);
}

#[test]
fn padding_after_the_last_track_is_ignored() {
    let mut bytes = format1(96, &[("Lead", notes(96, &[(0.0, 1.0, 60)]))]);
    let clean = parse_midi(&bytes, Path::new("clean.mid")).unwrap();
    bytes.extend_from_slice(&[0; 5]);
    let padded = parse_midi(&bytes, Path::new("padded.mid")).unwrap();
    assert_eq!(padded.tracks[0].notes, clean.tracks[0].notes);
}

// ---------------------------------------------------------------------------------------------
// Broken files

#[test]
fn an_empty_file_is_refused_by_name() {
    let file = TempFile::new("empty.mid", b"");
    let message = file_error(read_midi(&file.0), &file.0);
    assert!(message.contains("empty"), "{message}");
    file_error(load_metheny(&file.0), &file.0);
    file_error(load_auto(&file.0, &AutoOptions::default()), &file.0);
}

#[test]
fn random_junk_is_refused_by_name() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let file = TempFile::new("junk.mid", &junk);
    let message = file_error(read_midi(&file.0), &file.0);
    assert!(message.contains("not a Standard MIDI File"), "{message}");
}

#[test]
fn a_missing_file_is_refused_by_name() {
    let path = Path::new("/nonexistent/jazz-synth/solo.mid");
    let message = file_error(read_midi(path), path);
    assert!(message.contains("cannot read"), "{message}");
}

#[test]
fn the_real_file_cut_anywhere_is_refused_by_name_without_panicking() {
    let bytes = std::fs::read(METHENY).unwrap();
    let path = Path::new("cut.mid");
    let mut cuts: Vec<usize> = (0..64).collect();
    cuts.extend((64..bytes.len()).step_by(997));
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        let result = parse_midi(&bytes[..cut], path);
        let message = file_error(result, path);
        assert!(
            message.contains("truncated") || message.contains("empty") || message.contains("MIDI"),
            "cut at {cut}: {message}"
        );
    }
    let file = TempFile::new("truncated.mid", &bytes[..bytes.len() / 2]);
    let message = file_error(load_metheny(&file.0), &file.0);
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let original = std::fs::read(METHENY).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..200 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        // Either outcome is fine; reaching here without a panic is the point.
        if let Ok(song) = parse_midi(&bytes, Path::new("flipped.mid")) {
            let _ = choose_melody_track(&song, &AutoOptions::default());
        }
    }
    // A valid header followed by noise.
    for seed in 0..200u64 {
        let mut bytes = b"MThd\0\0\0\x06\0\x01\0\x02\0\x60MTrk\0\0\x01\0".to_vec();
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for _ in 0..256 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            bytes.push(s as u8);
        }
        let _ = parse_midi(&bytes, Path::new("noise.mid"));
    }
}

#[test]
fn a_header_announcing_more_tracks_than_present_is_truncation() {
    let mut bytes = format1(96, &[("Lead", notes(96, &[(0.0, 1.0, 60)]))]);
    bytes[11] = 3; // the track count's low byte
    let message = file_error(
        parse_midi(&bytes, Path::new("few.mid")),
        Path::new("few.mid"),
    );
    assert!(
        message.contains("announces 3 tracks but only 1"),
        "{message}"
    );
}

#[test]
fn smpte_timing_is_refused_with_a_reason() {
    let bytes = smf_bytes(
        Header::new(Format::Parallel, Timing::Timecode(midly::Fps::Fps25, 40)),
        vec![track_events("Lead", &notes(40, &[(0.0, 1.0, 60)]), true)],
    );
    let file = TempFile::new("smpte.mid", &bytes);
    let message = file_error(read_midi(&file.0), &file.0);
    assert!(message.contains("SMPTE"), "{message}");
}

/// Found by the `midi_corpus` fuzz target: a division word of 0x8000 (SMPTE, frame-rate byte
/// 0x80) made midly negate -128 as an i8, a panic wherever overflow checks are on (debug and
/// test builds). Every SMPTE division is now refused before midly reads it.
#[test]
fn any_smpte_division_is_refused_without_reaching_midly() {
    for (frames, ticks, says) in [
        (0x80u8, 0u8, "128 frames/s × 0 ticks"),
        (0xE7, 40, "25 frames/s × 40 ticks"),
        (0xFF, 1, "1 frames/s"),
    ] {
        let mut bytes = b"MThd\0\0\0\x06\0\0\xff\x03".to_vec();
        bytes.extend([frames, ticks]);
        let path = Path::new("smpte-division.mid");
        let message = file_error(parse_midi(&bytes, path), path);
        assert!(
            message.contains("SMPTE") && message.contains(says),
            "{message}"
        );
    }
    // A header too short to hold a division is refused by midly as unreadable.
    let path = Path::new("short-header.mid");
    let message = file_error(parse_midi(b"MThd\0\0\0\x04\0\0\xff\x03\x80\0", path), path);
    assert!(message.contains("not a readable MIDI file"), "{message}");
}

/// An RMID file (RIFF form `RMID`, the Standard MIDI File in its `data` chunk) reads like the
/// file it wraps; a cut or foreign RIFF file is refused by name.
#[test]
fn an_rmid_file_reads_like_the_midi_file_inside() {
    let smf = format1(
        96,
        &[("Lead", notes(96, &[(0.0, 1.0, 60), (1.0, 1.0, 64)]))],
    );
    let riff = |form: &[u8], data: &[u8]| {
        let mut body = form.to_vec();
        body.extend(b"INFO\x01\0\0\0x\0"); // an odd-sized chunk before, padded
        body.extend(b"data");
        body.extend((data.len() as u32).to_le_bytes());
        body.extend(data);
        let mut file = b"RIFF".to_vec();
        file.extend((body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    };
    let path = Path::new("song.rmi");
    let plain = parse_midi(&smf, path).unwrap();
    let wrapped = parse_midi(&riff(b"RMID", &smf), path).unwrap();
    assert_eq!(wrapped.tracks.len(), plain.tracks.len());
    for (a, b) in wrapped.tracks.iter().zip(&plain.tracks) {
        assert_eq!((&a.name, &a.notes), (&b.name, &b.notes));
    }
    assert_eq!(wrapped.tracks[0].notes.len(), 2);
    assert_eq!(wrapped.ticks_per_quarter, 96);

    let cut = riff(b"RMID", &smf);
    let message = file_error(parse_midi(&cut[..cut.len() - 3], path), path);
    assert!(
        message.contains("RIFF") || message.contains("RMID"),
        "{message}"
    );
    let message = file_error(parse_midi(&riff(b"WAVE", &smf), path), path);
    assert!(message.contains("not an RMID"), "{message}");
    let message = file_error(parse_midi(&riff(b"RMID", b"not midi"), path), path);
    assert!(message.contains("not a Standard MIDI File"), "{message}");
}

#[test]
fn format_2_is_refused_with_a_reason() {
    let bytes = smf_bytes(
        Header::new(Format::Sequential, Timing::Metrical(u15::new(96))),
        vec![track_events("Lead", &notes(96, &[(0.0, 1.0, 60)]), true)],
    );
    let message = file_error(parse_midi(&bytes, Path::new("f2.mid")), Path::new("f2.mid"));
    assert!(message.contains("format 2"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// The automatic mode

#[test]
fn auto_mode_finds_the_guitar_solo_in_the_metheny_file() {
    let song = read_midi(METHENY).unwrap();
    assert_eq!(choose_melody_track(&song, &AutoOptions::default()), Ok(11));
    let profiles = track_profiles(&song);
    let bass = profiles.iter().find(|p| p.index == 7).unwrap();
    assert_eq!(bass.monophony, 1.0, "the bass line is monophonic");
    let corpus = load_auto(METHENY, &AutoOptions::default()).unwrap();
    let stats = corpus.stats();
    assert!(stats.measures > 100, "{stats}");
    assert!(corpus
        .values
        .iter()
        .any(|v| v.to_string().starts_with("R,")));
}

#[test]
fn auto_mode_writes_rests_and_judges_notes_against_the_sounding_chord() {
    // Bar 1 over C major: C (chord tone), a rest, D (in the derived G major scale), E (chord).
    // Bar 2: A minor for two beats, C (chord), B (A Dorian); then C major again, A# (nothing
    // near C E G: other), D# (a semitone under E: approach).
    let melody = [
        (0.0, 1.0, 72),
        (2.0, 1.0, 74),
        (3.0, 1.0, 76),
        (4.0, 1.0, 72),
        (5.0, 1.0, 71),
        (6.0, 1.0, 70),
        (7.0, 1.0, 63),
    ];
    let chords = [
        (0.0, 4.0, 48),
        (0.0, 4.0, 52),
        (0.0, 4.0, 55),
        (4.0, 2.0, 45),
        (4.0, 2.0, 48),
        (4.0, 2.0, 52),
        (6.0, 2.0, 48),
        (6.0, 2.0, 52),
        (6.0, 2.0, 55),
    ];
    let bytes = format1(
        96,
        &[
            ("Comp", notes(96, &chords)),
            ("Lead", notes(96, &melody)),
            ("Drums", vec![(0, 9, 36, 100), (20, 9, 36, 0)]),
        ],
    );
    let file = TempFile::new("roles.mid", &bytes);
    let lead = AutoOptions {
        melody_track: Some(1),
        chord_track: None,
    };
    let corpus = load_auto(&file.0, &lead).unwrap();
    let got = printed(&corpus.values);
    assert_eq!(
        got,
        [
            "C,1.000",
            "R,1.000",
            "S,1.000,<P4,m-2>",
            "C,1.000,<P4,m-2>",
            // A new measure starts the interval chain again.
            "C,1.000",
            // C5 → B4 is m-2; B4 → A#4 (spelled B-4) is d1; B-4 → E-4 is P-5.
            "S,1.000,<M2,d-4>",
            "X,1.000,<d3,M-3>",
            "A,1.000,<M-3,m-7>",
        ]
    );
    assert_eq!(corpus.measures, 2);
}

/// Found by the `midi_corpus` fuzz target: a last note held for 559,240 quarter notes (a delta
/// time of 2^28 - 1 ticks) became a value no weights file can hold. Up to 1000 quarter notes is
/// a value; longer is an error naming the note, where and how long.
#[test]
fn a_note_held_longer_than_a_value_can_last_is_refused_by_name() {
    let chords: Vec<Ev> = (0..8)
        .flat_map(|i| {
            notes(
                96,
                &[
                    (i as f64, 1.0, 48),
                    (i as f64, 1.0, 52),
                    (i as f64, 1.0, 55),
                ],
            )
        })
        .collect();
    let melody = |last: f64| {
        let mut list: Vec<(f64, f64, u8)> = (0..8).map(|i| (i as f64 * 0.5, 0.5, 72)).collect();
        list.push((4.0, last, 64));
        notes(96, &list)
    };
    let lead = AutoOptions {
        melody_track: Some(1),
        chord_track: None,
    };

    let file = TempFile::new(
        "long.mid",
        &format1(96, &[("Comp", chords.clone()), ("Lead", melody(1000.0))]),
    );
    let corpus = load_auto(&file.0, &lead).expect("a 1000-quarter note is a value");
    assert_eq!(corpus.values.last().unwrap().to_string(), "C,1000.000");

    let file = TempFile::new(
        "stuck.mid",
        &format1(96, &[("Comp", chords), ("Lead", melody(1000.25))]),
    );
    let message = file_error(load_auto(&file.0, &lead), &file.0);
    for needle in [
        "note E4 (MIDI key 64) at quarter note 4 (bar 2) lasting 1000.25 quarter notes",
        "longer than the 1000",
        "note-off missing",
    ] {
        assert!(message.contains(needle), "missing {needle:?} in {message}");
    }
}

/// Block chords C–E–G with a moving top voice, one per beat for 16 beats, on one track.
fn piano_part() -> Vec<Ev> {
    (0..16)
        .flat_map(|i| {
            let top = [67, 69, 71, 72][i % 4];
            notes(
                96,
                &[
                    (i as f64, 1.0, 60),
                    (i as f64, 1.0, 64),
                    (i as f64, 1.0, top),
                ],
            )
        })
        .collect()
}

#[test]
fn a_single_piano_track_gives_its_top_voice_as_melody_and_the_rest_as_chords() {
    let file = TempFile::new("piano.mid", &format1(96, &[("Piano", piano_part())]));
    let corpus = load_auto(&file.0, &AutoOptions::default()).expect("a piano part trains");
    let tracks = corpus.source[0]
        .tracks
        .clone()
        .expect("the choice is recorded");
    assert!(tracks.contains("top voice"), "{tracks}");
    assert!(
        tracks.contains("lower notes of track 0 \"Piano\""),
        "{tracks}"
    );
    // The melody is the top voice (G A B C over C–E, four times): chord tones and scale tones
    // of C, never the accompaniment's own C and E as melody notes.
    assert_eq!(corpus.values.len(), 16);
    let with_drums = TempFile::new(
        "piano-drums.mid",
        &format1(
            96,
            &[
                ("Piano", piano_part()),
                (
                    "Drums",
                    (0..16)
                        .flat_map(|i| [(i * 96, 9, 36, 100), (i * 96 + 10, 9, 36, 0)])
                        .collect(),
                ),
            ],
        ),
    );
    let same = load_auto(&with_drums.0, &AutoOptions::default()).unwrap();
    assert_eq!(
        printed(&same.values),
        printed(&corpus.values),
        "drums change nothing"
    );
}

#[test]
fn a_file_of_drums_only_is_skipped_with_a_message_that_says_so() {
    let drums: Vec<Ev> = (0..16)
        .flat_map(|i| [(i * 96, 9, 36, 100), (i * 96 + 10, 9, 36, 0)])
        .collect();
    let file = TempFile::new("drums.mid", &format1(96, &[("Drums", drums)]));
    let message = file_error(load_auto(&file.0, &AutoOptions::default()), &file.0);
    assert!(message.contains("only drums"), "{message}");
    assert!(!message.contains("--melody-track"), "{message}");
}

#[test]
fn auto_mode_without_a_melody_names_the_file_and_why() {
    // Three block chords: fewer than the 8 notes a melody needs on any track.
    let block_chords: Vec<Ev> = (0..2)
        .flat_map(|i| {
            notes(
                96,
                &[
                    (i as f64, 1.0, 60),
                    (i as f64, 1.0, 64),
                    (i as f64, 1.0, 67),
                ],
            )
        })
        .collect();
    let file = TempFile::new("no-melody.mid", &format1(96, &[("Pad", block_chords)]));
    let message = file_error(load_auto(&file.0, &AutoOptions::default()), &file.0);
    assert!(message.contains("no usable melody"), "{message}");
    assert!(message.contains("--melody-track"), "{message}");
}

#[test]
fn folders_are_searched_recursively_and_files_take_their_own_tracks() {
    let dir = common::temp_dir("inputs");
    let nested = dir.join("rags/slow");
    std::fs::create_dir_all(&nested).unwrap();
    let lead = notes(
        96,
        &(0..16)
            .map(|i| (i as f64, 1.0, 72 + (i % 5) as u8))
            .collect::<Vec<_>>(),
    );
    let comp = piano_part();
    let song = format1(96, &[("Lead", lead), ("Comp", comp)]);
    std::fs::write(dir.join("a.mid"), &song).unwrap();
    std::fs::write(nested.join("b.MIDI"), &song).unwrap();
    std::fs::write(nested.join("c.kar"), &song).unwrap();
    std::fs::write(nested.join("notes.txt"), b"not MIDI").unwrap();
    let inputs = expand_inputs(std::slice::from_ref(&dir)).unwrap();
    let names: Vec<String> = inputs
        .iter()
        .map(|i| i.path.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a.mid", "rags/slow/b.MIDI", "rags/slow/c.kar"]);

    // A pattern, and a file with its own tracks: the piano part's top voice as the melody.
    let pattern = nested.join("*.kar");
    let own = PathBuf::from(format!("{}:melody=1,chords=1", dir.join("a.mid").display()));
    let inputs = expand_inputs(&[pattern, own]).unwrap();
    assert_eq!(inputs.len(), 2);
    assert!(inputs[1].tracks.is_some());
    let (corpus, warnings) = load_inputs(&inputs, &Preset::Auto(AutoOptions::default())).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let first = corpus.source[0].tracks.clone().unwrap();
    let second = corpus.source[1].tracks.clone().unwrap();
    assert!(first.starts_with("melody: track 0 \"Lead\""), "{first}");
    assert!(first.contains("chords: 1 \"Comp\""), "{first}");
    assert!(
        second.starts_with("melody: track 1 \"Comp\" (as asked)"),
        "{second}"
    );

    // What names nothing is refused by name.
    let err = expand_inputs(&[dir.join("missing.mid")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.mid") && err.contains("does not exist"),
        "{err}"
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = expand_inputs(&[empty]).unwrap_err().to_string();
    assert!(err.contains("no MIDI files"), "{err}");
}

#[test]
fn auto_mode_without_chords_says_so() {
    let melody = notes(
        96,
        &(0..16)
            .map(|i| (i as f64, 1.0, 60 + i as u8))
            .collect::<Vec<_>>(),
    );
    let file = TempFile::new("solo.mid", &format1(96, &[("Lead", melody)]));
    let message = file_error(load_auto(&file.0, &AutoOptions::default()), &file.0);
    assert!(message.contains("no chords"), "{message}");
}

#[test]
fn auto_mode_takes_the_tracks_it_is_given() {
    let guitar_over_piano = AutoOptions {
        melody_track: Some(11),
        chord_track: Some(6),
    };
    let corpus = load_auto(METHENY, &guitar_over_piano).unwrap();
    assert!(corpus.measures > 100);
    let missing = AutoOptions {
        melody_track: Some(99),
        chord_track: None,
    };
    let message = file_error(load_auto(METHENY, &missing), Path::new(METHENY));
    assert!(message.contains("no track 99"), "{message}");
    let silent = AutoOptions {
        melody_track: Some(0),
        chord_track: None,
    };
    let message = file_error(load_auto(METHENY, &silent), Path::new(METHENY));
    assert!(message.contains("no pitched notes"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Several files

#[test]
fn load_many_skips_bad_files_with_a_warning() {
    let empty = TempFile::new("many-empty.mid", b"");
    let paths = [
        PathBuf::from(METHENY),
        empty.0.clone(),
        PathBuf::from(METHENY),
    ];
    let (corpus, warnings) = load_many(&paths, &Preset::Metheny).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0]
        .to_string()
        .contains(&empty.0.display().to_string()));
    assert_eq!(corpus.source.len(), 2);
    assert_eq!(corpus.measures, 36);
    assert_eq!(corpus.values.len(), 2 * 193);
    assert_eq!(corpus.stats().distinct, 78);
}

#[test]
fn load_many_fails_when_no_file_is_usable() {
    let empty = TempFile::new("only-empty.mid", b"");
    let junk = TempFile::new("only-junk.mid", b"MThd\0\0");
    let error = load_many(&[&empty.0, &junk.0], &Preset::Auto(AutoOptions::default()))
        .expect_err("nothing to train on");
    let message = error.to_string();
    assert!(
        message.contains(&empty.0.display().to_string()),
        "{message}"
    );
    assert!(message.contains(&junk.0.display().to_string()), "{message}");
    let none: [&Path; 0] = [];
    assert!(load_many(&none, &Preset::Metheny).is_err());
}

/// A conductor track with time signatures `(tick, numerator, denominator power of two)`.
fn meter_track(meters: &[(u32, u8, u8)]) -> Vec<TrackEvent<'static>> {
    let mut out = Vec::new();
    let mut now = 0;
    for &(tick, n, d) in meters {
        out.push(TrackEvent {
            delta: u28::new(tick - now),
            kind: TrackEventKind::Meta(MetaMessage::TimeSignature(n, d, 24, 8)),
        });
        now = tick;
    }
    out.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    out
}

/// A tune of `bars` bars of `beats` quarter notes: a stepwise quarter-note melody over one held
/// chord a bar (C major, then G major, alternating).
fn tune_in(beats: &[usize], meters: &[(u32, u8, u8)]) -> Vec<u8> {
    let (mut melody, mut chords) = (Vec::new(), Vec::new());
    let mut at = 0.0;
    for (bar, &n) in beats.iter().enumerate() {
        let chord: &[u8] = if bar % 2 == 0 {
            &[48, 52, 55]
        } else {
            &[43, 47, 50]
        };
        for &k in chord {
            chords.push((at, n as f64, k));
        }
        for b in 0..n {
            melody.push((at + b as f64, 1.0, 72 + ((bar * 3 + b) % 5) as u8));
        }
        at += n as f64;
    }
    smf_bytes(
        Header::new(Format::Parallel, Timing::Metrical(u15::new(96))),
        vec![
            meter_track(meters),
            track_events("Lead", &notes(96, &melody), true),
            track_events("Comp", &notes(96, &chords), true),
        ],
    )
}

#[test]
fn measures_follow_the_files_time_signatures() {
    // A waltz: 8 bars of 3/4 are 8 measures, not 6 of 4 beats.
    let waltz = TempFile::new("waltz.mid", &tune_in(&[3; 8], &[(0, 3, 2)]));
    let corpus = load_auto(&waltz.0, &AutoOptions::default()).unwrap();
    assert_eq!(corpus.measures, 8);
    // Every measure starts on its own bar's chord: the first value of each bar is a chord
    // tone or scale tone of it, with no interval (a measure's first note has none).
    let firsts: Vec<&Value> = corpus.values.iter().filter(|v| v.range.is_none()).collect();
    assert_eq!(firsts.len(), 8, "one measure start per 3/4 bar");

    // 6/8 bars are three quarter notes too.
    let jig = TempFile::new("jig.mid", &tune_in(&[3; 6], &[(0, 6, 3)]));
    assert_eq!(
        load_auto(&jig.0, &AutoOptions::default()).unwrap().measures,
        6
    );

    // Two bars of 4/4, then 3/4 from tick 8 · 96: 2 + 4 measures.
    let change = TempFile::new(
        "change.mid",
        &tune_in(&[4, 4, 3, 3, 3, 3], &[(0, 4, 2), (8 * 96, 3, 2)]),
    );
    let corpus = load_auto(&change.0, &AutoOptions::default()).unwrap();
    assert_eq!(corpus.measures, 6);
    assert_eq!(corpus.values.len(), 8 + 12);
}

/// What `jazz-train` prints for each file of the automatic preset names its meter.
#[test]
fn each_files_line_names_its_meter() {
    for (name, bars, meters, meter) in [
        ("waltz.mid", vec![3; 4], vec![(0, 3, 2)], "meter: 3/4"),
        ("four.mid", vec![4; 4], vec![(0, 4, 2)], "meter: 4/4"),
        ("none.mid", vec![4; 2], vec![], "meter: 4/4"),
        (
            "change.mid",
            vec![4, 4, 3, 3],
            vec![(0, 4, 2), (8 * 96, 3, 2)],
            "meter: 4/4, 3/4",
        ),
    ] {
        let file = TempFile::new(name, &tune_in(&bars, &meters));
        let corpus = load_auto(&file.0, &AutoOptions::default()).unwrap();
        let line = corpus.source[0].tracks.clone().expect("a line per file");
        assert!(line.ends_with(meter), "{name}: {line}");
    }
}

/// `jazz-synth quality` reads a single piano track as the trainer does: the top voice is the
/// line, the notes below it the chords (not the line's own notes).
#[test]
fn the_quality_line_of_a_piano_part_takes_its_chords_from_the_lower_voices() {
    use jazz_synth::music::theory::Chord;
    use jazz_synth::train::lines::{file_line, LineTracks};
    let file = TempFile::new("piano-line.mid", &format1(96, &[("Piano", piano_part())]));
    let line = file_line(&file.0, LineTracks::default()).expect("a line");
    let keys: Vec<u8> = line.notes().iter().map(|n| n.key).collect();
    assert_eq!(&keys[..4], &[67, 69, 71, 72], "the top voice");
    assert!(!line.chords().is_empty(), "chords from the lower voices");
    let c_e = Chord::from_midi(&[60, 64]).pcs;
    assert!(
        line.chords().iter().all(|(_, c)| c.pcs == c_e),
        "{:?}",
        line.chords()
    );
}
