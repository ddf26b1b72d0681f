//! Replays every saved fuzz input (`fuzz/regressions/<target>/`) through the same entry point
//! its cargo-fuzz target calls (`jazz_synth::fuzzing`), on stable Rust in every CI run: inputs
//! that once crashed a reader stay fixed, and the hand-made seeds (valid and broken files) keep
//! each target's assertions exercised.

mod common;
use common::summary;

use std::path::Path;

use jazz_synth::fuzzing;

/// Runs `entry` on every file of `fuzz/regressions/<target>/`; returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new("fuzz/regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| entry(&bytes));
        assert!(outcome.is_ok(), "{} fails its fuzz target", file.display());
    }
    summary::report("fuzz-regressions", files.len() as f64);
    files.len()
}

#[test]
fn midi_corpus_regressions() {
    replay("midi_corpus", fuzzing::midi_corpus);
}

#[test]
fn weights_file_regressions() {
    replay("weights_file", fuzzing::weights_file);
}

#[test]
fn grammar_value_regressions() {
    replay("grammar_value", fuzzing::grammar_value);
}

#[test]
fn chord_text_regressions() {
    replay("chord_text", fuzzing::chord_text);
}

#[test]
fn saved_state_regressions() {
    replay("saved_state", fuzzing::saved_state);
}

/// Every seed of the fuzzers' corpora (`cargo run --example fuzz_seeds`) passes its target: the
/// Metheny file, each of its grammar values, the shipped and a tiny model, the built-in
/// progressions, the default and a typical saved state.
#[test]
fn the_seed_corpora_pass_their_targets() {
    let midi = std::fs::read(common::METHENY).expect("the Metheny MIDI file");
    let seeds = fuzzing::seeds(&midi).expect("seeds from the Metheny file");
    for (target, entry) in fuzzing::TARGETS {
        let mine: Vec<_> = seeds.iter().filter(|s| s.target == target).collect();
        assert!(!mine.is_empty(), "no seeds for {target}");
        for seed in mine {
            let outcome = std::panic::catch_unwind(|| entry(&seed.bytes));
            assert!(
                outcome.is_ok(),
                "seed {target}/{} fails its target",
                seed.name
            );
        }
    }
    let values = seeds.iter().filter(|s| s.target == "grammar_value").count();
    assert!(values >= 70, "only {values} distinct Metheny values");
    let tiny = seeds.iter().find(|s| s.name == "tiny.safetensors").unwrap();
    assert_eq!(
        jazz_synth::model::weights::load(&tiny.bytes)
            .unwrap()
            .n_values(),
        3
    );
}

/// The seeds are not vacuous: the valid ones really are valid input.
#[test]
fn the_valid_seeds_load() {
    let bytes = std::fs::read("fuzz/regressions/midi_corpus/two-tracks.mid").unwrap();
    let corpus = jazz_synth::train::corpus::load_bytes(
        &bytes,
        Path::new("two-tracks.mid"),
        &jazz_synth::train::corpus::Preset::Auto(Default::default()),
    )
    .expect("the two-track seed is a usable MIDI file");
    assert!(corpus.values.len() >= 8);
    let weights = std::fs::read("fuzz/regressions/weights_file/tiny-valid.safetensors").unwrap();
    assert_eq!(
        jazz_synth::model::weights::load(&weights)
            .unwrap()
            .n_values(),
        3
    );
    let state = std::fs::read("fuzz/regressions/saved_state/session").unwrap();
    let (_, warnings) = jazz_synth::plugin::state::load(&state).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}
