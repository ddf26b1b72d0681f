//! The chord-aware model (`--preset jazz`): it hears the changes, its notes keep the role it
//! chose, its weights round-trip in the `jazz-synth/2` format, whole solos are held out by hash,
//! and `jazz-train` trains and evaluates a collection end to end. Every corpus here is written
//! by the test itself.

use std::fs;
use std::process::Command;

use jazz_synth::engine::Rhythm;
use jazz_synth::model::lstm::Model;
use jazz_synth::model::weights;
use jazz_synth::music::conditioning::COND_SIZE;
use jazz_synth::music::contour::encoded_interval;
use jazz_synth::music::grammar::{role_by_pitch_class, Value};
use jazz_synth::standalone::render::{render_timeline, GeneratedAt};
use jazz_synth::standalone::session::{MusicOptions, Setup};
use jazz_synth::train::corpus::{self, AutoOptions, Solo};
use jazz_synth::train::jazz::{self, Encoded, JazzVocab, Part, Split};
use jazz_synth::train::TrainConfig;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;
use common::corpus::{
    fails, read_solos, solo_over_chords, solo_without_chords, succeeds, train_quietly,
    write_collection, SYNTH, TRAIN,
};
use common::temp_dir;

/// A solo over chords that change every beat between C7 and F#7 (a tritone apart, so the
/// previous note says nothing about which comes): on each beat the melody plays the chord's
/// root and then its fifth, as eighths. Half the melody's moves depend on the chord.
fn tritone_solo(seed: u64, bars: usize) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut melody, mut chords) = (Vec::new(), Vec::new());
    for beat in 0..bars * 4 {
        let t = beat as f64;
        let tritone = rng.random::<bool>();
        let root: u8 = if tritone { 66 } else { 60 };
        melody.push((t, 0.5, root));
        melody.push((t + 0.5, 0.5, root + 7));
        for k in [0u8, 4, 7, 10] {
            chords.push((t, 1.0, root - 12 + k));
        }
    }
    solo_over_chords(&melody, &chords)
}

/// `count` tritone solos of `bars` bars (seeds 0, 1, ...), written and read back.
fn solos(tag: &str, count: usize, bars: usize) -> Vec<Solo> {
    let collection = write_collection(tag, count, |k| {
        (format!("solo{k}.mid"), tritone_solo(k as u64, bars))
    });
    read_solos(&collection.files)
}

#[test]
fn the_chord_inputs_matter_where_the_melody_follows_the_chord() {
    let all = solos("jazz-cond", 12, 8);
    let (train, valid): (Vec<&Solo>, Vec<&Solo>) =
        (all[..10].iter().collect(), all[10..].iter().collect());
    let vocab = JazzVocab::build(&train, 1);
    let (tr, va) = (Encoded::of(&train, &vocab), Encoded::of(&valid, &vocab));
    assert_eq!(va.mapped, 0, "every held-out value is in the vocabulary");
    let config = TrainConfig {
        every_window: true,
        stride: 8,
        tx: 16,
        hidden: 16,
        lr: 0.02,
        decay: 0.0,
        epochs: 25,
        batch: 16,
        threads: 1,
        ..TrainConfig::default()
    };
    let run = |conditioned: bool| {
        train_quietly(&tr, &va, &vocab, &config, conditioned)
            .provenance()
            .validation
            .expect("validated")
            .nll
    };
    let (with, without) = (run(true), run(false));
    // Without the chord the next root is a coin toss every other value: ln 2 / 2 ≈ 0.35 nats.
    assert!(
        with < without - 0.2,
        "held-out NLL with the chord inputs {with:.3}, without {without:.3}"
    );
}

#[test]
fn a_chord_aware_model_round_trips_as_jazz_synth_2_and_old_files_still_load() {
    let all = solos("jazz-weights", 4, 4);
    let train: Vec<&Solo> = all.iter().collect();
    let vocab = JazzVocab::build(&train, 1);
    let enc = Encoded::of(&train, &vocab);
    let config = TrainConfig {
        every_window: true,
        stride: 8,
        tx: 8,
        hidden: 5,
        epochs: 1,
        batch: 8,
        ..TrainConfig::default()
    };
    let mut model = train_quietly(&enc, &Encoded::default(), &vocab, &config, true);
    let mut provenance = model.provenance().clone();
    provenance.pitch_model = Some(jazz::learn_pitch_model(&train, &vocab));
    model.set_provenance(provenance);
    let bytes = weights::to_bytes(&model);
    assert!(
        bytes.windows(12).any(|w| w == b"jazz-synth/2"),
        "the format tag of a chord-aware model"
    );
    let mut back = weights::load(&bytes).expect("loads");
    assert_eq!(back.cond_size(), COND_SIZE);
    assert_eq!(
        weights::to_bytes(&back),
        bytes,
        "saving again gives the same bytes"
    );
    // The same conditioning gives the same probabilities; another one changes them.
    let cond_a = all[0].notes[1].ctx.vector();
    let cond_b = all[0].notes[3].ctx.vector();
    let (mut m1, mut m2): (Model, Model) = (model.clone(), back.clone());
    let p1 = m1.step_with(Some(0), &cond_a).to_vec();
    let p2 = m2.step_with(Some(0), &cond_a).to_vec();
    assert_eq!(p1, p2);
    back.reset();
    let p3 = back.step_with(Some(0), &cond_b).to_vec();
    assert_ne!(p1, p3, "the conditioning reaches the output");
    // A file that lies about its conditioning is refused with the key named.
    let mut tampered = bytes.clone();
    let at = tampered
        .windows(17)
        .position(|w| w == b"jazz-synth/cond-1")
        .expect("the layout is named in the header");
    tampered[at + 16] = b'9';
    let err = weights::load(&tampered).expect_err("refused").to_string();
    assert!(err.contains("conditioning"), "{err}");
    // Files of the first format still load and play: the shipped seed model.
    let metheny = weights::metheny_model();
    assert_eq!(metheny.cond_size(), 0);
    assert_eq!(weights::to_bytes(&metheny), weights::METHENY_WEIGHTS);
}

#[test]
fn whole_solos_are_held_out_by_a_stable_hash() {
    let split = Split {
        validation: 0.1,
        test: 0.2,
    };
    assert_eq!(split.part(&"0".repeat(64)), Part::Test);
    assert_eq!(
        split.part(&format!("4{}", "0".repeat(63))),
        Part::Validation
    );
    assert_eq!(split.part(&"f".repeat(64)), Part::Train);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let mut counts = [0usize; 3];
    for _ in 0..10_000 {
        let hash: String = (0..64)
            .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap())
            .collect();
        counts[split.part(&hash) as usize] += 1;
    }
    assert!((6_700..7_300).contains(&counts[0]), "{counts:?}");
    assert!((800..1_200).contains(&counts[1]), "{counts:?}");
    assert!((1_800..2_200).contains(&counts[2]), "{counts:?}");
}

/// The default model's vocabulary and what it generated over a built-in progression, playing
/// phrases for `bars` bars.
fn default_render(progression: &str, seed: u64, bars: u32) -> (Vec<Value>, Vec<GeneratedAt>) {
    let setup = Setup::from_options(&MusicOptions {
        seed: Some(seed),
        progression: Some(progression.into()),
        rhythm: Some(Rhythm::Phrase),
        ..Default::default()
    })
    .unwrap();
    let (_, generated) = render_timeline(&setup, bars, 48_000.0, 512);
    (setup.model.vocab().to_vec(), generated)
}

#[test]
fn the_default_model_is_chord_aware_and_its_notes_keep_their_role() {
    let model = weights::default_model();
    assert_eq!(
        model.cond_size(),
        COND_SIZE,
        "the default model hears the changes"
    );
    assert!(model.provenance().pitch_model.is_some());
    for (progression, seed) in [("blues", 1u64), ("autumn", 2), ("rhythm", 3)] {
        let (vocab, generated) = default_render(progression, seed, 16);
        let mut notes = 0;
        for g in &generated {
            let value = vocab[g.generated.value_index];
            match g.generated.note {
                Some(note) => {
                    notes += 1;
                    assert_eq!(
                        role_by_pitch_class(note, &g.generated.chord),
                        value.role,
                        "{progression}: {value} sounded as MIDI {note} over {:?}",
                        g.generated.chord
                    );
                }
                None => assert!(value.is_rest(), "{value} sounded nothing"),
            }
        }
        assert!(notes > 16, "{progression}: {notes} notes in 16 bars");
    }
}

/// A value that names a move (a non-zero interval) moves: the WJD's players sounded their
/// previous pitch again under such a value on 1 move in 1,000, and the renders once did on 13 in
/// 1,000, whenever the pitch a value named had another role over the chord.
#[test]
fn the_default_model_moves_when_its_value_names_a_move() {
    let (mut moving, mut repeated, mut still, mut held) = (0usize, 0usize, 0usize, 0usize);
    for progression in ["blues", "autumn", "rhythm"] {
        for seed in 1..=8u64 {
            let (vocab, generated) = default_render(progression, seed, 32);
            let mut prev = None;
            for g in &generated {
                let Some(note) = g.generated.note else {
                    continue;
                };
                if let Some(prev) = prev {
                    match encoded_interval(&vocab[g.generated.value_index]) {
                        Some(0) => {
                            still += 1;
                            held += usize::from(note == prev);
                        }
                        Some(_) => {
                            moving += 1;
                            repeated += usize::from(note == prev);
                        }
                        None => {}
                    }
                }
                prev = Some(note);
            }
        }
    }
    assert!(moving > 2000, "{moving} moving values");
    assert!(
        (repeated as f64) < 0.004 * moving as f64,
        "{repeated} of {moving} values that name a move sounded the previous pitch again"
    );
    // A value that names no move still repeats the note, nearly always.
    assert!(still > 50, "{still} values of interval 0");
    assert!(held as f64 > 0.8 * still as f64, "{held} of {still}");
}

#[test]
fn jazz_train_trains_a_collection_and_evaluate_scores_its_held_out_solos() {
    let collection = write_collection("jazz-cli", 20, |k| {
        (format!("s{k:02}.mid"), tritone_solo(100 + k as u64, 4))
    });
    let (dir, files) = (&collection.dir, &collection.solos);
    // A file without chords is skipped with its reason.
    let scale: Vec<(f64, f64, u8)> = [60u8, 62, 64, 65, 67, 69, 71, 72]
        .iter()
        .enumerate()
        .map(|(beat, &note)| (beat as f64, 1.0, note))
        .collect();
    fs::write(files.join("free.mid"), solo_without_chords(&scale)).unwrap();
    let out = dir.join("model.safetensors");
    let stdout = succeeds(
        Command::new(TRAIN)
            .args([
                "--preset", "jazz", "--epochs", "2", "--hidden", "8", "--tx", "16",
            ])
            .args(["--validation", "0.2", "--test", "0.3", "--threads", "1"])
            .args(["--corpus-name", "tritone test set"])
            .arg(files)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        stdout.contains("skipped") && stdout.contains("free.mid") && stdout.contains("no chords"),
        "{stdout}"
    );
    assert!(stdout.contains("kept (seen at least 3 times)"), "{stdout}");
    assert!(stdout.contains("peak memory"), "{stdout}");
    let model = weights::load_file(&out).unwrap();
    assert_eq!(model.cond_size(), COND_SIZE);
    let corpus = model.provenance().corpus.clone().expect("corpus recorded");
    assert_eq!(corpus["name"], "tritone test set");
    assert!(
        !serde_json::to_string(&corpus)
            .unwrap()
            .contains(dir.to_str().unwrap()),
        "no local paths"
    );

    let text = succeeds(
        Command::new(TRAIN)
            .args(["evaluate", "--json", "--weights"])
            .arg(&out)
            .arg(files),
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON object");
    for key in [
        "files",
        "notes",
        "nll_value",
        "nll_value_unigram",
        "nll_value_trigram",
        "acc_value",
        "nll_note",
        "nll_note_pitch",
        "nll_note_duration",
        "nll_note_trigram",
        "ppl_pitch",
        "ppl_duration",
        "acc_pitch",
        "acc_duration",
    ] {
        assert!(
            v.get(key).is_some_and(|x| x.is_number()),
            "{key} missing in {text}"
        );
    }
    let held_out = v["files"].as_u64().unwrap();
    assert!((1..20).contains(&held_out), "{text}");
    let nll = v["nll_note"].as_f64().unwrap();
    let parts = v["nll_note_pitch"].as_f64().unwrap() + v["nll_note_duration"].as_f64().unwrap();
    assert!((nll - parts).abs() < 1e-9 && nll > 0.0, "{text}");
    assert_eq!(v["skipped"][0]["file"], "free.mid", "{text}");
    // The training solos are never scored.
    let trained = model.provenance().training_files.len() as u64;
    assert!(held_out + trained <= 20);
}

#[test]
fn changes_from_a_midi_file_are_its_chord_track_bar_by_bar() {
    let dir = temp_dir("changes-from");
    let path = dir.join("two.mid");
    // Bar 1: Dm7 for two beats, G7 for two; bar 2: Cmaj7.
    let mut chords = Vec::new();
    for (start, len, keys) in [
        (0.0, 2.0, [50u8, 53, 57, 60]),
        (2.0, 2.0, [43, 47, 50, 53]),
        (4.0, 4.0, [48, 52, 55, 59]),
    ] {
        for k in keys {
            chords.push((start, len, k));
        }
    }
    let melody: Vec<(f64, f64, u8)> = (0..8).map(|b| (f64::from(b), 1.0, 72)).collect();
    fs::write(&path, solo_over_chords(&melody, &chords)).unwrap();
    let text = corpus::changes_text(&path, &AutoOptions::default()).unwrap();
    assert_eq!(text, "Dm7 G7 | Cmaj7");
    succeeds(
        Command::new(SYNTH)
            .args(["render", "--bars", "2", "--quiet", "--changes-from"])
            .arg(&path)
            .arg("--out")
            .arg(dir.join("over.mid")),
    );
    let missing = fails(
        Command::new(SYNTH)
            .args(["render", "--changes-from", "/nonexistent/x.mid", "--out"])
            .arg(dir.join("never.mid")),
    );
    assert!(missing.contains("--changes-from"));
}

#[test]
fn the_default_model_hears_the_tempo() {
    let values_at = |tempo: f64| {
        let setup = Setup::from_options(&MusicOptions {
            seed: Some(4),
            tempo_bpm: Some(tempo),
            progression: Some("blues".into()),
            ..Default::default()
        })
        .unwrap();
        let (_, generated) = render_timeline(&setup, 8, 48_000.0, 512);
        generated
            .iter()
            .map(|g| g.generated.value_index)
            .collect::<Vec<_>>()
    };
    assert_eq!(values_at(100.0), values_at(110.0), "the same tempo band");
    assert_ne!(
        values_at(100.0),
        values_at(260.0),
        "a ballad and a burner differ"
    );
}
