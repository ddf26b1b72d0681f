//! The weights file: bit-exact round trip, atomic saving, and a loader that
//! names the first thing wrong with a bad file instead of loading it.

use jazz_synth::model::lstm::{LstmParams, Model, Provenance, TrainingFile, MAX_WEIGHT};
use jazz_synth::model::weights::{self, WeightsError};
use jazz_synth::music::grammar::Value;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::HashMap;

mod common;
use common::temp_dir as tempdir;

const VOCAB: [&str; 5] = [
    "C,0.250",
    "S,0.500,<m3,P-4>",
    "R,1.000",
    "A,0.333,<M2,m-3>",
    "X,0.250,<P4,d-5>",
];
const HIDDEN: usize = 3;

fn params() -> LstmParams {
    let mut p = LstmParams::zeros(VOCAB.len(), HIDDEN);
    // Awkward bit patterns on purpose: subnormals, negative zero, the extremes a model may hold.
    let specials = [
        f32::MIN_POSITIVE / 3.0,
        -0.0,
        MAX_WEIGHT,
        -MAX_WEIGHT,
        1.0e-30,
        std::f32::consts::PI,
    ];
    let mut k = 0usize;
    for buf in p.tensors_mut() {
        for x in buf.iter_mut() {
            *x = if k.is_multiple_of(7) {
                specials[k % specials.len()]
            } else {
                ((k * 2_654_435_761) % 1000) as f32 / 997.0 - 0.5
            };
            k += 1;
        }
    }
    p
}

fn provenance() -> Provenance {
    let mut hyperparameters = std::collections::BTreeMap::new();
    hyperparameters.insert("epochs".to_string(), serde_json::json!(100));
    hyperparameters.insert("lr".to_string(), serde_json::json!(0.01));
    Provenance {
        training_files: vec![TrainingFile {
            name: "original_metheny.mid".into(),
            sha256: "ab".repeat(32),
            tracks: None,
        }],
        hyperparameters,
        final_loss: Some(12.345_678),
        final_accuracy: Some(0.75),
        ..Provenance::default()
    }
}

fn model() -> Model {
    Model::new(
        params(),
        VOCAB.iter().map(|s| Value::parse(s).unwrap()).collect(),
        provenance(),
    )
    .expect("consistent model")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn save_and_load_round_trip_is_bit_exact() {
    let original = model();
    let bytes = weights::to_bytes(&original);
    let loaded = weights::load(&bytes).expect("loads");
    let (a, b) = (original.params(), loaded.params());
    assert_eq!((a.n_values, a.hidden), (b.n_values, b.hidden));
    assert_eq!(bits(&a.kernel), bits(&b.kernel));
    assert_eq!(bits(&a.recurrent_kernel), bits(&b.recurrent_kernel));
    assert_eq!(bits(&a.bias), bits(&b.bias));
    assert_eq!(bits(&a.dense_kernel), bits(&b.dense_kernel));
    assert_eq!(bits(&a.dense_bias), bits(&b.dense_bias));
    assert_eq!(original.vocab(), loaded.vocab());
    assert_eq!(original.provenance(), loaded.provenance());
    // Same model, same bytes: the file is reproducible.
    assert_eq!(weights::to_bytes(&loaded), bytes);
}

#[test]
fn save_atomic_writes_a_loadable_file_and_leaves_nothing_else() {
    let dir = tempdir("save_atomic");
    let path = dir.join("model.safetensors");
    std::fs::write(&path, b"an older file").unwrap();
    weights::save_atomic(&model(), &path).expect("saves");
    let loaded = weights::load_file(&path).expect("loads");
    assert_eq!(bits(&loaded.params().kernel), bits(&params().kernel));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        ["model.safetensors"],
        "no temporary file left behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_into_a_missing_directory_fails_naming_the_path_and_writes_nothing() {
    let dir = tempdir("save_missing");
    let path = dir.join("no/such/dir/model.safetensors");
    let err = weights::save_atomic(&model(), &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no/such/dir/model.safetensors"), "{err}");
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_file_errors_name_the_file() {
    let missing = weights::load_file("/nonexistent/jazz.safetensors").unwrap_err();
    assert!(missing
        .to_string()
        .contains("/nonexistent/jazz.safetensors"));

    let dir = tempdir("load_file_bad");
    let path = dir.join("broken.safetensors");
    std::fs::write(&path, &weights::to_bytes(&model())[..100]).unwrap();
    let err = weights::load_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("broken.safetensors") && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_file_is_refused_at_any_length() {
    let bytes = weights::to_bytes(&model());
    for len in [0, 1, 7, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        match weights::load(&bytes[..len]) {
            Err(e @ WeightsError::Container(_)) => {
                assert!(e.to_string().contains("truncated"), "{e}")
            }
            other => panic!("length {len}: expected a container error, got {other:?}"),
        }
    }
}

/// A safetensors file written by the safetensors crate itself, so bad files
/// can be crafted without going through this crate's writer.
fn craft(metadata: &[(&str, String)], tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            (
                name.to_string(),
                TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn good_metadata() -> Vec<(&'static str, String)> {
    vec![
        ("format", "jazz-synth/1".into()),
        ("vocab", serde_json::to_string(&VOCAB).unwrap()),
        ("hidden", HIDDEN.to_string()),
        ("training_files", "[]".into()),
        ("hyperparameters", "{}".into()),
        ("final_loss", "null".into()),
        ("final_accuracy", "null".into()),
    ]
}

fn good_tensors() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    let p = params();
    p.tensors()
        .into_iter()
        .map(|(name, shape, data)| (name, shape, data.to_vec()))
        .collect()
}

fn load_err(metadata: &[(&str, String)], tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> String {
    match weights::load(&craft(metadata, tensors)) {
        Ok(_) => panic!("a bad file loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_crafted_good_file_loads() {
    let m = weights::load(&craft(&good_metadata(), &good_tensors())).expect("loads");
    assert_eq!(m.n_values(), VOCAB.len());
    assert_eq!(m.hidden_size(), HIDDEN);
    assert_eq!(m.provenance(), &Provenance::default());
}

#[test]
fn a_wrong_shape_is_named_with_what_was_expected() {
    let mut tensors = good_tensors();
    // Transposed dense kernel: the right size, the wrong shape.
    tensors[3].1 = vec![VOCAB.len(), HIDDEN];
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains("`dense.kernel` has shape [5, 3], expected [3, 5]"),
        "{err}"
    );

    let mut tensors = good_tensors();
    tensors[2] = ("lstm.bias", vec![4 * HIDDEN + 1], vec![0.0; 4 * HIDDEN + 1]);
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains("`lstm.bias` has shape [13], expected [12]"),
        "{err}"
    );

    // A hidden size that disagrees with every tensor.
    let mut meta = good_metadata();
    meta[2].1 = "4".into();
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("`lstm.kernel` has shape [5, 12], expected [5, 16]"),
        "{err}"
    );
}

/// Finite but huge weights (found by the `weights_file` fuzz target's reasoning: 3e38 in the
/// output layer sums to infinities and NaN probabilities) are refused, named like a NaN.
#[test]
fn a_huge_weight_is_refused_before_it_overflows_a_step() {
    let mut tensors = good_tensors();
    tensors[3].2[4] = 3.0e38;
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains(
            "`dense.kernel` holds 300000000000000000000000000000000000000 at flat index 4"
        ),
        "{err}"
    );
    assert!(err.contains("within ±1000000"), "{err}");

    let mut tensors = good_tensors();
    tensors[2].2[0] = -MAX_WEIGHT;
    let mut model =
        weights::load(&craft(&good_metadata(), &tensors)).expect("the bound itself loads");
    assert!(model.step(None).iter().all(|p| p.is_finite()));

    let mut params = model.params().clone();
    params.bias[1] = 2.0e6;
    let err = Model::new(params, model.vocab().to_vec(), Provenance::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("`lstm.bias` holds 2000000 at flat index 1"),
        "{err}"
    );
}

#[test]
fn a_nan_is_named_with_its_tensor_and_position() {
    let mut tensors = good_tensors();
    tensors[1].2[7] = f32::NAN;
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains("`lstm.recurrent_kernel` holds NaN at flat index 7"),
        "{err}"
    );

    let mut tensors = good_tensors();
    tensors[4].2[0] = f32::NEG_INFINITY;
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains("`dense.bias` holds -inf at flat index 0"),
        "{err}"
    );
}

#[test]
fn a_bad_vocab_entry_is_named() {
    let mut meta = good_metadata();
    meta[1].1 =
        r#"["C,0.250","S,0.500,<m3,P-4>","Q,1.000","A,0.333,<M2,m-3>","X,0.250,<P4,d-5>"]"#.into();
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("vocabulary entry 2 `Q,1.000` is not a grammar value"),
        "{err}"
    );

    meta[1].1 = r#"["C,0.250","S,0.500,<m3,P-4>","R,1.000","C,0.250","X,0.250,<P4,d-5>"]"#.into();
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("entry 3 `C,0.250`") && err.contains("twice"),
        "{err}"
    );

    meta[1].1 = "C,0.250".into();
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("metadata `vocab` is invalid") && err.contains("JSON array"),
        "{err}"
    );
}

#[test]
fn a_wrong_format_tag_is_named() {
    let mut meta = good_metadata();
    // (`jazz-synth/2` is the chord-aware format now; a tag from the future is refused.)
    meta[0].1 = "jazz-synth/9".into();
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("unsupported weights format `jazz-synth/9`") && err.contains("jazz-synth/1"),
        "{err}"
    );
}

#[test]
fn a_file_with_only_the_tensors_format_and_vocab_loads() {
    // What another tool (a Keras or PyTorch export, docs/model.md) writes at the least.
    let minimal = vec![
        ("format", "jazz-synth/1".to_string()),
        ("vocab", serde_json::to_string(&VOCAB).unwrap()),
    ];
    let mut m = weights::load(&craft(&minimal, &good_tensors())).expect("a minimal file loads");
    assert_eq!(m.hidden_size(), HIDDEN);
    assert_eq!(m.provenance(), &Provenance::default());
    let probs = m.step(None);
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    // Every provenance key alone is accepted too, and `hidden` when it matches.
    for (key, value) in good_metadata().into_iter().skip(2) {
        let mut meta = minimal.clone();
        meta.push((key, value));
        weights::load(&craft(&meta, &good_tensors())).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

#[test]
fn a_hidden_size_that_contradicts_the_tensors_is_refused() {
    let mut meta = good_metadata();
    meta.retain(|(k, _)| *k != "hidden");
    meta.push(("hidden", (HIDDEN + 1).to_string()));
    let err = load_err(&meta, &good_tensors());
    assert!(
        err.contains("has shape") && err.contains("hidden size"),
        "{err}"
    );
}

#[test]
fn missing_metadata_missing_tensors_and_strangers_are_named() {
    for key in ["format", "vocab"] {
        let meta: Vec<_> = good_metadata()
            .into_iter()
            .filter(|(k, _)| *k != key)
            .collect();
        let err = load_err(&meta, &good_tensors());
        assert!(
            err.contains(&format!("metadata `{key}` is missing")),
            "{err}"
        );
    }

    let tensors: Vec<_> = good_tensors()
        .into_iter()
        .filter(|t| t.0 != "lstm.bias")
        .collect();
    let err = load_err(&good_metadata(), &tensors);
    assert!(err.contains("tensor `lstm.bias` is missing"), "{err}");

    let mut tensors = good_tensors();
    tensors.push(("lstm.peephole", vec![3], vec![0.0; 3]));
    let err = load_err(&good_metadata(), &tensors);
    assert!(
        err.contains("`lstm.peephole` is not part of format"),
        "{err}"
    );

    let mut meta = good_metadata();
    meta[2].1 = "sixty-four".into();
    let err = load_err(&meta, &good_tensors());
    assert!(err.contains("metadata `hidden` is invalid"), "{err}");

    let mut meta = good_metadata();
    meta[5].1 = "\"low\"".into();
    let err = load_err(&meta, &good_tensors());
    assert!(err.contains("metadata `final_loss` is invalid"), "{err}");
}

#[test]
fn every_kind_of_problem_has_its_own_message() {
    let bytes = weights::to_bytes(&model());
    let mut shape = good_tensors();
    shape[3].1 = vec![VOCAB.len(), HIDDEN];
    let mut nan = good_tensors();
    nan[0].2[0] = f32::NAN;
    let mut vocab = good_metadata();
    vocab[1].1 = r#"["C,0.250","S,0.500","Q,1.000","R,1.000","X,0.250"]"#.into();
    let mut format = good_metadata();
    format[0].1 = "keras".into();
    let messages = [
        weights::load(&bytes[..bytes.len() - 4])
            .unwrap_err()
            .to_string(),
        load_err(&good_metadata(), &shape),
        load_err(&good_metadata(), &nan),
        load_err(&vocab, &good_tensors()),
        load_err(&format, &good_tensors()),
    ];
    let first_words: std::collections::HashSet<_> = messages
        .iter()
        .map(|m| m.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(first_words.len(), messages.len(), "{messages:#?}");
}

#[test]
fn the_shipped_model_is_the_seed_training_of_the_metheny_solo() {
    let model = weights::metheny_model();
    assert_eq!(model.hidden_size(), 64);
    assert_eq!(model.n_values(), model.vocab().len());
    let prov = model.provenance();
    let hp = &prov.hyperparameters;
    for (key, value) in [
        ("windows", serde_json::json!(60)),
        ("tx", serde_json::json!(30)),
        ("hidden", serde_json::json!(64)),
        ("epochs", serde_json::json!(100)),
        ("batch", serde_json::json!(32)),
        ("seed", serde_json::json!(0)),
        ("lr", serde_json::json!(0.01)),
        ("decay", serde_json::json!(0.01)),
    ] {
        assert_eq!(hp[key], value, "hyper-parameter {key}");
    }
    // Trained from the very file the tests read.
    let midi = std::path::Path::new(common::METHENY);
    let record = jazz_synth::train::file_record(midi).expect("the Metheny file");
    assert_eq!(prov.training_files, vec![record]);
    // It learned: far below the untrained loss of 29 · ln(n_values).
    let untrained = 29.0 * (model.n_values() as f32).ln();
    assert!(prov.final_loss.unwrap() < untrained / 4.0);
    // The embedded bytes are exactly what this crate writes for that model.
    assert_eq!(weights::to_bytes(&model), weights::METHENY_WEIGHTS);
}

#[test]
fn the_shipped_model_improvises_without_getting_stuck() {
    // The original's predict_and_sample: zero input and state, argmax fed back.
    let mut model = weights::metheny_model();
    let mut input = None;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let probs = model.step(input);
        let next = jazz_synth::model::lstm::argmax(probs);
        seen.insert(next);
        input = Some(next);
    }
    assert!(
        seen.len() >= 5,
        "only {} distinct values in 50 steps",
        seen.len()
    );
}

#[test]
fn corrupted_files_are_refused_without_panicking() {
    // Deterministic mutations of the shipped file: flipped bytes anywhere
    // (header and data), truncations and junk insertions.
    let good = weights::METHENY_WEIGHTS;
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut refused = 0;
    for round in 0..3000 {
        let mut bytes = good.to_vec();
        match round % 3 {
            0 => {
                // Mostly inside the header, where the structure is.
                let at = if round % 2 == 0 {
                    next(header_end)
                } else {
                    next(bytes.len())
                };
                bytes[at] ^= 1 << next(8);
            }
            1 => bytes.truncate(next(bytes.len())),
            _ => {
                let at = next(header_end);
                let junk = [b'"', b'}', b'9', b',', 0xff, b'['][next(6)];
                bytes.insert(at, junk);
            }
        }
        if weights::load(&bytes).is_err() {
            refused += 1;
        }
    }
    // Flips inside tensor data can leave a valid (different) model; almost
    // everything else must be refused.
    assert!(
        refused > 2000,
        "only {refused} of 3000 corrupted files refused"
    );
}
