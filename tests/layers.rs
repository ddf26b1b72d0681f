//! Stacked LSTM layers (`jazz-train --layers N`): every gradient of a stack matches a finite
//! difference, the inference model plays what the trainer computed, the `jazz-synth/3` weights
//! round-trip byte for byte and refuse damaged files with a reason, training a stack is
//! deterministic, and `jazz-train --layers 2` writes a model `jazz-synth` plays.

use std::fs;
use std::process::Command;

use jazz_synth::model::lstm::{Conditioning, Model, Provenance, Value};
use jazz_synth::model::weights;
use jazz_synth::music::conditioning::{COND_SIZE, LAYOUT};
use jazz_synth::train::NumpyRandomState;
use jazz_synth::train::{forward_backward, Batch, Network};
use jazz_synth::train::{TrainConfig, Trainer};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;
use common::corpus::{fails, solo_over_chords, succeeds, write_collection, SYNTH, TRAIN};
use common::gradient::check_gradients;

/// A corpus of `len` value indices below `n` with some structure (a walk), seeded.
fn walk(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut v = 0usize;
    (0..len)
        .map(|_| {
            v = (v + 1 + rng.random_range(0..2)) % n;
            v
        })
        .collect()
}

/// Conditioning numbers for every corpus position: `size` numbers in [0, 1), seeded.
fn cond_numbers(len: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..len * size).map(|_| rng.random::<f32>()).collect()
}

fn vocab(n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| Value::parse(&format!("C,{}.000", k + 1)).expect("a grammar value"))
        .collect()
}

#[test]
fn every_gradient_of_a_stack_matches_a_finite_difference() {
    let (n, h, tx, c, layers) = (5, 3, 5, 3, 3);
    let mut rng = NumpyRandomState::seed(7);
    let mut net = Network::<f64>::keras_init_layers(n, h, c, layers, &mut rng);
    assert_eq!(net.layers(), 3);
    for buf in net.buffers_mut() {
        for x in buf.iter_mut() {
            *x = 1.5 * *x + 0.3 * rng.standard_normal();
        }
    }
    let corpus = walk(30, n, 1);
    let cond = cond_numbers(corpus.len(), c, 2);
    let starts = [0usize, 6, 17];
    let windows: Vec<&[usize]> = starts.iter().map(|&s| &corpus[s..s + tx]).collect();
    let batch = Batch::from_windows_with(&windows, &starts, c, |k| &cond[k * c..(k + 1) * c]);

    let mut grads = net.zeros_like();
    let base = forward_backward(&net, &batch, &mut grads);
    assert!(base.loss > 0.0);
    let mut scratch = net.zeros_like();
    assert_eq!(net.buffers().len(), 7 + 3 * (layers - 1));
    let (checked, worst) = check_gradients(
        &mut net,
        &grads,
        |tensor| format!("buffer {tensor}"),
        |net| forward_backward(net, &batch, &mut scratch).loss,
    );
    let per_layer = h * 4 * h + h * 4 * h + 4 * h;
    assert_eq!(
        checked,
        n * 4 * h + h * 4 * h + 4 * h + h * n + n + c * 4 * h + (layers - 1) * per_layer
    );
    assert!(worst < 1e-4, "worst relative error {worst}");
}

/// The negative log-likelihood the inference model gives the window's targets, stepping it as
/// the engine does (the previous value and the conditioning of the value to come).
fn model_nll(model: &mut Model, batch: &Batch, c: usize) -> f64 {
    model.reset();
    let mut nll = 0.0;
    for t in 0..batch.tx() {
        let cond = &batch.cond[t][..c];
        let probs = model.step_with(batch.inputs[t][0], cond);
        if let Some(y) = batch.targets[t][0] {
            nll -= f64::from(probs[y]).ln();
        }
    }
    nll
}

#[test]
fn a_stacked_model_plays_what_the_trainer_computed() {
    for (layers, h) in [(2, 20), (3, 16), (2, 37)] {
        let (n, tx, c) = (11, 12, 4);
        let mut rng = NumpyRandomState::seed(layers as u32 * 100 + h as u32);
        let mut net = Network::<f64>::keras_init_layers(n, h, c, layers, &mut rng);
        for buf in net.buffers_mut() {
            for x in buf.iter_mut() {
                *x = 1.3 * *x + 0.1 * rng.standard_normal();
            }
        }
        let corpus = walk(40, n, 3);
        let cond = cond_numbers(corpus.len(), c, 4);
        let window = &corpus[5..5 + tx];
        let batch = Batch::from_windows_with(&[window], &[5], c, |k| &cond[k * c..(k + 1) * c]);
        let trainer_nll = forward_backward(&net, &batch, &mut net.zeros_like()).loss;

        let params = net.to_params();
        assert_eq!(params.layers(), layers);
        let conditioning = Conditioning {
            layout: LAYOUT.into(),
            size: c,
            kernel: net.cond_params(),
            styles: Vec::new(),
            style_dense: Vec::new(),
        };
        let mut model = Model::new(params, vocab(n), Provenance::default())
            .and_then(|m| m.with_conditioning(conditioning))
            .expect("a valid stacked model");
        assert_eq!(model.layers(), layers);
        for portable in [false, true] {
            model.set_portable(portable);
            let nll = model_nll(&mut model, &batch, c);
            assert!(
                (nll - trainer_nll).abs() < 1e-4 * trainer_nll.max(1.0),
                "{layers} layers of {h}, portable {portable}: model {nll}, trainer {trainer_nll}"
            );
        }
        // The state of every layer moved, and reset clears all of them.
        for l in 0..layers {
            assert!(model.layer_hidden(l).unwrap().iter().any(|&x| x != 0.0));
        }
        assert!(model.layer_hidden(layers).is_none());
        assert_eq!(model.hidden(), model.layer_hidden(layers - 1).unwrap());
        model.reset();
        for l in 0..layers {
            assert!(model.layer_hidden(l).unwrap().iter().all(|&x| x == 0.0));
        }
    }
}

/// A two-layer chord-aware model with seeded weights and the real conditioning layout.
fn stacked_model() -> Model {
    let (n, h) = (7, 8);
    let mut rng = NumpyRandomState::seed(11);
    let net = Network::<f32>::keras_init_layers(n, h, COND_SIZE, 2, &mut rng);
    Model::new(net.to_params(), vocab(n), Provenance::default())
        .and_then(|m| {
            m.with_conditioning(Conditioning {
                layout: LAYOUT.into(),
                size: COND_SIZE,
                kernel: net.cond_params(),
                styles: Vec::new(),
                style_dense: Vec::new(),
            })
        })
        .expect("a valid model")
}

/// The weights file with one metadata value replaced (the header is rewritten, tensors kept).
fn with_metadata(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let meta = header["__metadata__"].as_object_mut().unwrap();
    match value {
        Some(v) => meta.insert(key.into(), v.into()),
        None => meta.remove(key),
    };
    let mut text = header.to_string().into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

#[test]
fn a_stacked_model_round_trips_as_jazz_synth_3_and_damage_is_named() {
    let mut model = stacked_model();
    let bytes = weights::to_bytes(&model);
    let text = String::from_utf8_lossy(&bytes[..2000.min(bytes.len())]).into_owned();
    assert!(text.contains("\"jazz-synth/3\""), "{text}");
    assert!(text.contains("lstm2.kernel") && text.contains("lstm2.recurrent_kernel"));
    let mut loaded = weights::load(&bytes).expect("loads");
    assert_eq!(loaded.layers(), 2);
    assert_eq!(loaded.cond_size(), COND_SIZE);
    assert_eq!(weights::to_bytes(&loaded), bytes, "byte for byte");
    let cond: Vec<f32> = (0..COND_SIZE).map(|k| (k % 3) as f32 * 0.5).collect();
    for input in [None, Some(3), Some(0), Some(6)] {
        assert_eq!(
            model.step_with(input, &cond),
            loaded.step_with(input, &cond)
        );
    }

    let refused = |bytes: Vec<u8>| match weights::load(&bytes) {
        Ok(_) => panic!("a damaged file loaded"),
        Err(e) => e.to_string(),
    };
    for bad in ["1", "9", "two", ""] {
        let e = refused(with_metadata(&bytes, "layers", Some(bad)));
        assert!(
            e.contains("layers") && e.contains("from 2 to"),
            "{bad}: {e}"
        );
    }
    let e = refused(with_metadata(&bytes, "layers", None));
    assert!(e.contains("`layers` is missing"), "{e}");
    // Three layers announced, two stored: the missing tensor is named.
    let e = refused(with_metadata(&bytes, "layers", Some("3")));
    assert!(e.contains("lstm3.kernel") && e.contains("missing"), "{e}");
    // Read as one layer, the second layer's tensors are not part of the format.
    let e = refused(with_metadata(&bytes, "format", Some("jazz-synth/2")));
    assert!(e.contains("lstm2."), "{e}");
}

#[test]
fn training_a_stack_learns_and_gives_the_same_weights_every_time() {
    let corpus = walk(400, 9, 5);
    let cond = cond_numbers(corpus.len(), 4, 6);
    let config = TrainConfig {
        every_window: true,
        stride: 4,
        tx: 12,
        hidden: 12,
        layers: 2,
        lr: 0.02,
        decay: 0.0,
        epochs: 10,
        batch: 16,
        threads: 2,
        ..TrainConfig::default()
    };
    let run = || {
        let mut trainer =
            Trainer::new_conditioned(&corpus, 9, &config, &cond, 4).expect("a valid setup");
        let losses: Vec<f64> = (0..config.epochs)
            .map(|_| trainer.epoch().expect("an epoch").loss)
            .collect();
        (trainer.params(), losses)
    };
    let (a, losses) = run();
    let (b, _) = run();
    assert_eq!(a.layers(), 2);
    assert_eq!(a, b, "same seed and threads, same weights");
    assert!(
        losses.last().unwrap() < &(0.7 * losses[0]),
        "the loss falls: {losses:?}"
    );
}

#[test]
fn jazz_train_layers_2_writes_a_model_jazz_synth_plays() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let collection = write_collection("layers-cli", 8, |k| {
        // A melody over a two-chord vamp, a bar each.
        let (mut melody, mut chords) = (Vec::new(), Vec::new());
        for bar in 0..8 {
            let root: u8 = if bar % 2 == 0 { 62 } else { 67 };
            for k in [0u8, 3, 7, 10] {
                chords.push((bar as f64 * 4.0, 4.0, root - 12 + k));
            }
            for beat in 0..4 {
                let step = [0u8, 3, 7, 10][rng.random_range(0..4)];
                melody.push((bar as f64 * 4.0 + beat as f64, 1.0, root + step));
            }
        }
        (format!("v{k}.mid"), solo_over_chords(&melody, &chords))
    });
    let (dir, files) = (&collection.dir, &collection.solos);
    let out = dir.join("stack.safetensors");
    let stdout = succeeds(
        Command::new(TRAIN)
            .args(["--preset", "jazz", "--layers", "2", "--hidden", "8"])
            .args(["--tx", "8", "--epochs", "2", "--threads", "1"])
            .args(["--validation", "0.2", "--test", "0"])
            .arg(files)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        stdout.contains("2 LSTM layer(s) of 8 hidden units"),
        "{stdout}"
    );
    let model = weights::load_file(&out).expect("loads");
    assert_eq!((model.layers(), model.hidden_size()), (2, 8));
    assert_eq!(model.provenance().hyperparameters["layers"], 2);

    let mid = dir.join("stack.mid");
    succeeds(
        Command::new(SYNTH)
            .args(["render", "--quiet", "--bars", "4", "--weights"])
            .arg(&out)
            .arg("--out")
            .arg(&mid),
    );
    assert!(fs::metadata(&mid).unwrap().len() > 100);

    // Resuming continues the stack (its vocabulary, size and layers) with --preset jazz.
    let resumed = dir.join("resumed.safetensors");
    let stdout = succeeds(
        Command::new(TRAIN)
            .args([
                "--preset",
                "jazz",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--tx",
                "8",
            ])
            .args(["--validation", "0.2", "--test", "0", "--resume"])
            .arg(&out)
            .arg(files)
            .arg("--out")
            .arg(&resumed),
    );
    assert!(stdout.contains("resuming from"), "{stdout}");
    let again = weights::load_file(&resumed).expect("loads");
    assert_eq!((again.layers(), again.hidden_size()), (2, 8));
    assert_eq!(again.vocab(), model.vocab());
    assert_ne!(again.params(), model.params(), "it trained on");
    // A chord-aware file cannot continue as a model without the chord inputs.
    let err = fails(
        Command::new(TRAIN)
            .args(["--preset", "jazz", "--no-chords", "--resume"])
            .arg(&out)
            .arg(files)
            .arg("--out")
            .arg(dir.join("no.safetensors")),
    );
    assert!(err.contains("with the chord inputs"), "{err}");

    // Zero layers is refused with the range.
    let err = fails(
        Command::new(TRAIN)
            .args(["--preset", "jazz", "--layers", "0"])
            .arg(files)
            .arg("--out")
            .arg(dir.join("none.safetensors")),
    );
    assert!(err.contains("layers = 0 must be from 1 to 8"), "{err}");
}
