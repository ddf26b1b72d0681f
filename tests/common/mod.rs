//! Helpers shared by the test binaries. Every test file includes them the same way, `mod common;`,
//! and uses what it needs (each binary compiles all of it, hence `dead_code`).
#![allow(dead_code)]

pub mod alt_weights;
pub mod clap_harness;
pub mod corpus;
pub mod display;
pub mod gradient;
pub mod midi_file;
pub mod plugin_host;
pub mod summary;

use std::path::PathBuf;

use jazz_synth::engine::Rhythm;
use jazz_synth::model::lstm::{LstmParams, Model, Provenance};
use jazz_synth::music::grammar::Value;
use jazz_synth::standalone::session::{MusicOptions, Setup};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The Metheny transcription the seed model trains on (in `data/`).
pub const METHENY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/original_metheny.mid");

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh, empty folder for one caller's files, under cargo's scratch folder for tests. Every
/// call gets its own (tests of a binary run in parallel and may share a tag).
pub fn temp_dir(tag: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("jazz-synth-{tag}-{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Scales of [`random_params`] that give a lively network: inputs matter, the recurrence
/// saturates sometimes, and the softmax is far from uniform.
pub const LIVELY: [f32; 5] = [1.0, 0.5, 0.2, 2.0, 0.5];

/// Seeded random parameters: each tensor (kernel, recurrent kernel, bias, dense kernel, dense
/// bias) uniform in ± its scale.
pub fn random_params(n_values: usize, hidden: usize, seed: u64, scales: [f32; 5]) -> LstmParams {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut p = LstmParams::zeros(n_values, hidden);
    for (buf, scale) in p.tensors_mut().into_iter().zip(scales) {
        for x in buf.iter_mut() {
            *x = (rng.random::<f32>() * 2.0 - 1.0) * scale;
        }
    }
    p
}

/// A seeded random network of `hidden` units over `vocab` (value strings).
pub fn random_model(vocab: &[&str], hidden: usize, seed: u64) -> Model {
    let vocab: Vec<Value> = vocab
        .iter()
        .map(|s| Value::parse(s).expect("a grammar value"))
        .collect();
    let params = random_params(vocab.len(), hidden, seed, LIVELY);
    Model::new(params, vocab, Provenance::default()).expect("a valid model")
}

/// The standalone's setup with defaults, on the beat grid (one value per beat), which the
/// timing tests check.
pub fn beat_setup(seed: u64, tempo: f64) -> Setup {
    Setup::from_options(&MusicOptions {
        seed: Some(seed),
        tempo_bpm: Some(tempo),
        rhythm: Some(Rhythm::Beat),
        ..Default::default()
    })
    .expect("the default setup")
}
