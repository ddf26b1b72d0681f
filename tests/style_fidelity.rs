//! Style fidelity: a model plays like what it learned. Two contrasting corpora are written out
//! as MIDI files (A: stepwise lines with rests; B: arpeggios and leaps), a model is trained on
//! each with `jazz-train`'s defaults, 64 bars are rendered over each corpus's own changes with
//! `jazz-synth render`'s defaults, and `jazz-synth quality` measures both against the corpus.
//! The shipped Metheny model is held to its own targets over three progressions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
use rand::{RngExt, SeedableRng};
use serde_json::Value as Json;

use jazz_synth::music::changes::parse_changes;
use jazz_synth::music::theory::{pitch_class, Chord};

const TPQ: u16 = 480;

/// The changes corpus A's lines are written over (and its solos rendered over).
const CHANGES_A: &str = "Dm7 G7 | Cmaj7 | Fmaj7 | Bm7b5 E7 | Am7 | D7 | Dm7 G7 | Cmaj7";
/// The changes of corpus B.
const CHANGES_B: &str = "Cmaj7 | Am7 | Dm7 | G7 | Em7 | A7 | Dm7 | G7";
const CHORUSES: usize = 12;

#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// Scale steps, eighth and quarter notes, a rest in about one beat of eight.
    Stepwise,
    /// Chord tones two or three apart across octaves, no rests.
    Leaping,
}

struct Note {
    start: f64,
    end: f64,
    key: u8,
}

/// A melody over `changes` played `CHORUSES` times, drawn with `seed`.
fn melody(changes: &str, style: Style, seed: u64) -> Vec<Note> {
    let progression = parse_changes(changes).expect("test changes parse");
    let chorus = progression.len_beats();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut notes = Vec::new();
    let mut key: i32 = 67;
    let mut up = true;
    let mut t = 0.0;
    let end = chorus * CHORUSES as f64;
    while t < end {
        let chord = progression.chord_at(t % chorus);
        let length = if rng.random_bool(0.7) { 0.5 } else { 1.0 };
        match style {
            Style::Stepwise => {
                if rng.random_bool(0.12) {
                    t += length; // a rest
                    continue;
                }
                if rng.random_bool(0.2) || !(58..=80).contains(&key) {
                    up = key < 69;
                }
                let scale = chord.scale();
                let mut next = key + if up { 1 } else { -1 };
                while !scale.contains(pitch_class(next)) {
                    next += if up { 1 } else { -1 };
                }
                key = next;
            }
            Style::Leaping => {
                if rng.random_bool(0.25) || !(55..=84).contains(&key) {
                    up = key < 70;
                }
                let skip = if rng.random_bool(0.5) { 1 } else { 2 };
                key = chord_tone_from(&chord, key, up, skip);
            }
        }
        notes.push(Note {
            start: t,
            end: t + length,
            key: key as u8,
        });
        t += length;
    }
    notes
}

/// The `skip`-th chord tone above (or below) `from`.
fn chord_tone_from(chord: &Chord, from: i32, up: bool, skip: usize) -> i32 {
    let mut key = from;
    for _ in 0..skip {
        key += if up { 1 } else { -1 };
        while !chord.is_chord_tone(pitch_class(key)) {
            key += if up { 1 } else { -1 };
        }
    }
    key
}

/// A format-1 file: tempo, "Melody" (channel 1) and "Chords" (channel 2, the voicing of every
/// chord of the changes, chorus after chorus).
fn write_midi(path: &Path, changes: &str, notes: &[Note]) {
    let progression = parse_changes(changes).expect("test changes parse");
    let ticks = |q: f64| (q * f64::from(TPQ)).round() as u64;
    let mut melody: Vec<(u64, TrackEventKind)> =
        vec![(0, TrackEventKind::Meta(MetaMessage::TrackName(b"Melody")))];
    for n in notes {
        melody.push((ticks(n.start), note(0, n.key, true)));
        melody.push((ticks(n.end), note(0, n.key, false)));
    }
    let mut chords: Vec<(u64, TrackEventKind)> =
        vec![(0, TrackEventKind::Meta(MetaMessage::TrackName(b"Chords")))];
    let chorus = progression.len_beats();
    for c in 0..CHORUSES {
        for (start, length, symbol) in progression.chords() {
            let mut voicing = [0u8; 13];
            let count = symbol.voicing(&mut voicing);
            let at = c as f64 * chorus + start;
            for &k in &voicing[..count] {
                chords.push((ticks(at), note(1, k, true)));
                chords.push((ticks(at + length), note(1, k, false)));
            }
        }
    }
    let conductor = vec![(
        0,
        TrackEventKind::Meta(MetaMessage::Tempo(u24::new(500_000))),
    )];
    let tracks: Vec<Vec<TrackEvent>> = [conductor, melody, chords]
        .into_iter()
        .map(|mut events| {
            // Offs before ons at the same tick, so a repeated key is not cut short.
            events.sort_by_key(|(t, kind)| (*t, !is_off(kind)));
            let mut last = 0;
            let mut track: Vec<TrackEvent> = events
                .into_iter()
                .map(|(t, kind)| {
                    let delta = u28::new((t - last) as u32);
                    last = t;
                    TrackEvent { delta, kind }
                })
                .collect();
            track.push(TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
            });
            track
        })
        .collect();
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(TPQ))),
        tracks,
    };
    smf.save(path).expect("write the test corpus");
}

fn note(channel: u8, key: u8, on: bool) -> TrackEventKind<'static> {
    let (key, channel) = (u7::new(key), u4::new(channel));
    TrackEventKind::Midi {
        channel,
        message: if on {
            MidiMessage::NoteOn {
                key,
                vel: u7::new(90),
            }
        } else {
            MidiMessage::NoteOff {
                key,
                vel: u7::new(0),
            }
        },
    }
}

fn is_off(kind: &TrackEventKind) -> bool {
    matches!(
        kind,
        TrackEventKind::Midi {
            message: MidiMessage::NoteOff { .. },
            ..
        }
    )
}

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "{bin} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn quality(file: &Path) -> Json {
    let out = run(
        env!("CARGO_BIN_EXE_jazz-synth"),
        &["quality", file.to_str().unwrap(), "--json"],
    );
    serde_json::from_str(&out).expect("quality --json prints JSON")
}

/// A trained corpus: its MIDI file, the weights trained on it with defaults, its figures.
struct Trained {
    dir: PathBuf,
    weights: PathBuf,
    corpus: Json,
    changes: &'static str,
}

fn trained(name: &str, style: Style, changes: &'static str) -> Trained {
    let dir = std::env::temp_dir().join(format!("jazz-synth-style-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let midi = dir.join(format!("{name}.mid"));
    write_midi(&midi, changes, &melody(changes, style, 7));
    let weights = dir.join(format!("{name}.safetensors"));
    run(
        env!("CARGO_BIN_EXE_jazz-train"),
        &[
            midi.to_str().unwrap(),
            "--out",
            weights.to_str().unwrap(),
            "--quiet",
        ],
    );
    let corpus = quality(&midi);
    Trained {
        dir,
        weights,
        corpus,
        changes,
    }
}

fn corpus_a() -> &'static Trained {
    static A: OnceLock<Trained> = OnceLock::new();
    A.get_or_init(|| trained("a-stepwise", Style::Stepwise, CHANGES_A))
}

fn corpus_b() -> &'static Trained {
    static B: OnceLock<Trained> = OnceLock::new();
    B.get_or_init(|| trained("b-leaping", Style::Leaping, CHANGES_B))
}

/// Figures of a 64-bar render with the defaults over the corpus's own changes.
fn solo(t: &Trained, seed: u64) -> Json {
    let out = t.dir.join(format!("solo-{seed}.mid"));
    run(
        env!("CARGO_BIN_EXE_jazz-synth"),
        &[
            "render",
            "--weights",
            t.weights.to_str().unwrap(),
            "--chords",
            t.changes,
            "--bars",
            "64",
            "--seed",
            &seed.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    quality(&out)
}

fn f(j: &Json, key: &str) -> f64 {
    j[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {j}"))
}

fn report(name: &str, corpus: &Json, solo: &Json) {
    eprintln!("{name}: figure: corpus / solo");
    for key in [
        "step_share",
        "mean_interval",
        "leap_share",
        "chord_tone_share",
        "rest_share",
        "notes_per_bar",
        "longest_repeat",
        "distinct_4grams",
    ] {
        eprintln!("  {key:<18} {:>8.3} {:>8.3}", f(corpus, key), f(solo, key));
    }
}

fn assert_close_to_corpus(name: &str, t: &Trained) {
    let s = solo(t, 1);
    let c = &t.corpus;
    report(name, c, &s);
    let step = (f(&s, "step_share") - f(c, "step_share")).abs();
    assert!(step <= 0.10, "{name}: step share off by {step:.3}");
    let mean = f(&s, "mean_interval") / f(c, "mean_interval");
    assert!(
        (0.75..=1.25).contains(&mean),
        "{name}: mean interval ratio {mean:.3}"
    );
    let chord = (f(&s, "chord_tone_share") - f(c, "chord_tone_share")).abs();
    assert!(chord <= 0.10, "{name}: chord-tone share off by {chord:.3}");
    let rest = (f(&s, "rest_share") - f(c, "rest_share")).abs();
    assert!(rest <= 0.05, "{name}: rest share off by {rest:.3}");
}

#[test]
fn the_corpora_differ_as_intended() {
    let (a, b) = (&corpus_a().corpus, &corpus_b().corpus);
    assert!(f(a, "step_share") > 0.7, "{a}");
    assert!(f(b, "step_share") < 0.3, "{b}");
    assert!(f(a, "rest_share") > 0.05, "{a}");
}

#[test]
fn a_stepwise_corpus_gives_stepwise_solos() {
    assert_close_to_corpus("A (stepwise)", corpus_a());
}

#[test]
fn a_leaping_corpus_gives_leaping_solos() {
    assert_close_to_corpus("B (leaping)", corpus_b());
}

#[test]
fn the_two_models_play_differently() {
    let (a, b) = (corpus_a(), corpus_b());
    let corpora = f(&a.corpus, "step_share") - f(&b.corpus, "step_share");
    let solos = f(&solo(a, 2), "step_share") - f(&solo(b, 2), "step_share");
    eprintln!("step share difference: corpora {corpora:.3}, solos {solos:.3}");
    assert!(
        solos >= corpora / 2.0,
        "solos differ by {solos:.3}, corpora by {corpora:.3}"
    );
}

#[test]
fn the_shipped_model_follows_the_metheny_solo() {
    let dir = std::env::temp_dir().join(format!("jazz-synth-style-metheny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for progression in ["ii-V-I", "blues", "autumn"] {
        for seed in 0..3 {
            let out = dir.join(format!("{progression}-{seed}.mid"));
            run(
                env!("CARGO_BIN_EXE_jazz-synth"),
                &[
                    "render",
                    "--model",
                    "metheny",
                    "--progression",
                    progression,
                    "--bars",
                    "64",
                    "--seed",
                    &seed.to_string(),
                    "--out",
                    out.to_str().unwrap(),
                ],
            );
            let q = quality(&out);
            let what = format!("{progression} seed {seed}: {q}");
            assert!(f(&q, "mean_interval") <= 3.4, "{what}");
            assert!(f(&q, "leap_share") <= 0.04, "{what}");
            assert!(f(&q, "chord_tone_share") >= 0.5, "{what}");
            assert!(f(&q, "longest_repeat") <= 8.0, "{what}");
            assert!(f(&q, "distinct_4grams") >= 0.9, "{what}");
        }
    }
}

/// The values of the first `n` steps of the engine (default settings but `temperature`) with
/// the model in `weights` (`None`: the built-in one), over the corpus's changes.
fn engine_values(
    weights: Option<&Path>,
    changes: Option<&str>,
    temperature: f32,
    n: usize,
) -> Vec<usize> {
    use jazz_synth::standalone::render::render_timeline;
    use jazz_synth::standalone::session::{MusicOptions, Setup};
    let setup = Setup::from_options(&MusicOptions {
        weights: weights.map(Path::to_path_buf),
        chords: changes.map(str::to_string),
        temperature: Some(temperature),
        ..Default::default()
    })
    .expect("setup");
    let (_, generated) = render_timeline(&setup, 64, 48_000.0, 512);
    let values: Vec<usize> = generated.iter().map(|g| g.generated.value_index).collect();
    assert!(values.len() >= n, "only {} values in 64 bars", values.len());
    values[..n].to_vec()
}

#[test]
fn the_engine_never_goes_round_a_short_loop_more_than_four_times() {
    use jazz_synth::model::guard::longest_cycle_turns;
    let (a, b) = (corpus_a(), corpus_b());
    let models: [(&str, Option<&Path>, Option<&str>); 3] = [
        ("metheny", None, None),
        ("A", Some(&a.weights), Some(a.changes)),
        ("B", Some(&b.weights), Some(b.changes)),
    ];
    for (name, weights, changes) in models {
        for temperature in [0.0, 0.5, 1.0] {
            let values = engine_values(weights, changes, temperature, 200);
            let turns = longest_cycle_turns(&values);
            eprintln!("{name} at temperature {temperature}: longest cycle {turns} turns in a row");
            assert!(
                turns <= 4,
                "{name} at T={temperature}: {turns} turns of one cycle: {values:?}"
            );
        }
    }
}

#[test]
fn held_out_values_are_predicted_better_than_by_their_frequency() {
    for (name, t) in [("A", corpus_a()), ("B", corpus_b())] {
        let model = jazz_synth::model::weights::load_file(&t.weights).expect("trained weights");
        let v = model
            .provenance()
            .validation
            .unwrap_or_else(|| panic!("{name}: no validation in the weights"));
        eprintln!(
            "{name}: held-out NLL {:.3} per value vs unigram {:.3} ({} values, accuracy {:.3})",
            v.nll, v.unigram_nll, v.values, v.accuracy
        );
        assert!(v.values > 10, "{name}: {v:?}");
        assert!(v.nll < v.unigram_nll, "{name}: {v:?}");
        let stats = model
            .provenance()
            .corpus_stats
            .expect("corpus figures stored");
        assert!((stats.step_share - f(&t.corpus, "step_share")).abs() < 1e-9);
        assert!(model.provenance().intervals.is_some());
    }
}

#[test]
fn jazz_train_reads_a_folder_and_says_and_records_which_tracks_it_took() {
    let dir = common::temp_dir("train-folder");
    let nested = dir.join("set/one");
    std::fs::create_dir_all(&nested).unwrap();
    write_midi(
        &dir.join("a.mid"),
        CHANGES_A,
        &melody(CHANGES_A, Style::Stepwise, 1),
    );
    write_midi(
        &nested.join("b.midi"),
        CHANGES_A,
        &melody(CHANGES_A, Style::Stepwise, 2),
    );
    let weights = dir.join("folder.safetensors");
    let printed = run(
        env!("CARGO_BIN_EXE_jazz-train"),
        &[
            dir.to_str().unwrap(),
            "--epochs",
            "2",
            "--out",
            weights.to_str().unwrap(),
            "--quiet",
        ],
    );
    let lines: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains(": melody: track"))
        .collect();
    assert_eq!(lines.len(), 2, "a line per file:\n{printed}");
    assert!(
        lines[0].contains("a.mid") && lines[1].contains("b.midi"),
        "{printed}"
    );
    let model = jazz_synth::model::weights::load_file(&weights).unwrap();
    let files = &model.provenance().training_files;
    assert_eq!(files.len(), 2);
    for f in files {
        let tracks = f.tracks.as_deref().expect("the tracks are recorded");
        assert!(tracks.starts_with("melody: track"), "{tracks}");
        assert!(tracks.contains("chords:"), "{tracks}");
    }
}
