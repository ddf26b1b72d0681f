//! The trainer: NumPy's random draws, Keras's initialisation, exact
//! gradients, determinism, input validation, and learning on the seed setup.

mod common;
use common::gradient::check_gradients;
use jazz_synth::model::lstm::Model;
use jazz_synth::music::grammar::Value;
use jazz_synth::train::{
    self, forward_backward, Batch, Network, NumpyRandomState, TrainConfig, TrainError,
};

fn vocab(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| Value::parse(&format!("C,{}.250", i + 1)).expect("a grammar value"))
        .collect()
}

/// A corpus with learnable structure: a 12-value riff over `n` values,
/// transposed now and then and with occasional random notes, drawn from the
/// same MT19937 so the test is self-contained.
fn synthetic_corpus(len: usize, n: usize, seed: u32) -> Vec<usize> {
    let mut rng = NumpyRandomState::seed(seed);
    let riff = [0, 3, 5, 3, 7, 5, 3, 0, 10, 7, 5, 3];
    let mut shift = 0;
    (0..len)
        .map(|i| {
            if i % 48 == 0 {
                shift = rng.choice(n);
            }
            if rng.choice(10) == 0 {
                rng.choice(n)
            } else {
                (riff[i % riff.len()] + shift) % n
            }
        })
        .collect()
}

// ---- NumPy's RandomState ----

#[test]
fn choice_matches_numpy_for_every_fixture_draw() {
    let path = common::fixture("numpy_choice_seed0.json");
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let draws = fixture["draws"].as_object().expect("draws object");
    assert!(draws.len() >= 3);
    for (n, expected) in draws {
        let n: usize = n.parse().expect("numeric key");
        let expected: Vec<usize> = expected
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_u64().expect("integer") as usize)
            .collect();
        let mut rng = NumpyRandomState::seed(0);
        let ours: Vec<usize> = (0..expected.len()).map(|_| rng.choice(n)).collect();
        assert_eq!(ours, expected, "np.random.choice({n}) after seed(0)");
    }
}

#[test]
fn mt19937_and_the_legacy_distributions_match_numpy() {
    // Values printed by NumPy 2.4.6's legacy RandomState.
    let mut rng = NumpyRandomState::seed(0);
    let raw: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
    assert_eq!(raw, [2_357_136_044, 2_546_248_239, 3_071_714_933]);

    let mut rng = NumpyRandomState::seed(0);
    let u: Vec<f64> = (0..3).map(|_| rng.random_sample()).collect();
    assert_eq!(
        u,
        [0.5488135039273248, 0.7151893663724195, 0.6027633760716439]
    );

    let mut rng = NumpyRandomState::seed(0);
    let g: Vec<f64> = (0..5).map(|_| rng.standard_normal()).collect();
    assert_eq!(
        g,
        [
            1.764052345967664,
            0.4001572083672233,
            0.9787379841057392,
            2.240893199201458,
            1.8675579901499675
        ]
    );

    let mut rng = NumpyRandomState::seed(0);
    let mut a: Vec<usize> = (0..10).collect();
    rng.shuffle(&mut a);
    assert_eq!(a, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);

    // Beyond 32 bits NumPy draws 64-bit words.
    let mut rng = NumpyRandomState::seed(0);
    assert_eq!(rng.choice(1 << 40), 741_280_623_151);
    assert_eq!(rng.choice(1 << 40), 506_137_267_392);

    // Reference MT19937 output for init_genrand(5489).
    assert_eq!(NumpyRandomState::seed(5489).next_u32(), 3_499_211_612);
}

#[test]
fn the_seed_windows_are_numpys() {
    // The seed setup draws 60 starts from choice(len - 30); for a 193-value
    // corpus that is the fixture's N = 163 row.
    let mut rng = NumpyRandomState::seed(0);
    let starts = train::draw_window_starts(&mut rng, 193, 30, 60);
    let mut check = NumpyRandomState::seed(0);
    let expected: Vec<usize> = (0..60).map(|_| check.choice(163)).collect();
    assert_eq!(starts, expected);
    assert_eq!(&starts[..5], &[47, 117, 67, 103, 9]);
}

// ---- initialisation ----

#[test]
fn keras_initialisation_has_the_documented_properties() {
    let (n, h) = (90, 64);
    let net = Network::<f64>::keras_init(n, h, &mut NumpyRandomState::seed(3));
    // Recurrent kernel [H, 4H] with orthonormal rows: U·Uᵀ = I.
    let u = &net.recurrent_kernel;
    let uut = u.dot(&u.t());
    for i in 0..h {
        for j in 0..h {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((uut[[i, j]] - want).abs() < 1e-10, "U·Uᵀ[{i},{j}]");
        }
    }
    // Glorot-uniform limits, and the draws actually spread over them.
    for (w, fan) in [(&net.kernel, n + 4 * h), (&net.dense_kernel, h + n)] {
        let limit = (6.0 / fan as f64).sqrt();
        let max = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            max <= limit && max > 0.95 * limit,
            "max {max}, limit {limit}"
        );
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        assert!(mean.abs() < 0.05 * limit);
    }
    // Zero biases except the forget gate's 1 (unit_forget_bias).
    for (k, &b) in net.bias.iter().enumerate() {
        let want = if (h..2 * h).contains(&k) { 1.0 } else { 0.0 };
        assert_eq!(b, want, "bias[{k}]");
    }
    assert!(net.dense_bias.iter().all(|&b| b == 0.0));
}

// ---- gradients ----

#[test]
fn every_gradient_matches_a_finite_difference() {
    let (n, h, tx) = (6, 4, 6);
    let mut rng = NumpyRandomState::seed(42);
    let mut net = Network::<f64>::keras_init(n, h, &mut rng);
    // Non-zero biases and larger weights, so no gradient is trivially zero.
    for buf in net.buffers_mut() {
        for x in buf.iter_mut() {
            *x = 1.5 * *x + 0.3 * rng.standard_normal();
        }
    }
    let corpus = synthetic_corpus(40, n, 1);
    let windows: Vec<&[usize]> = [0, 7, 19].iter().map(|&s| &corpus[s..s + tx]).collect();
    let batch = Batch::from_windows(&windows);

    let mut grads = Network::zeros(n, h);
    let base = forward_backward(&net, &batch, &mut grads);
    assert!(base.loss > 0.0);
    let mut scratch = Network::zeros(n, h);

    let names = [
        "kernel",
        "recurrent_kernel",
        "bias",
        "dense_kernel",
        "dense_bias",
        "cond_kernel", // empty: this network hears no conditioning
        "style_dense", // empty: nor styles
    ];
    assert_eq!(net.buffers().len(), names.len());
    // Where both vanish (e.g. the kernel row of a value never input) they must agree closely.
    let (checked, worst) = check_gradients(
        &mut net,
        &grads,
        |tensor| names[tensor].to_string(),
        |net| forward_backward(net, &batch, &mut scratch).loss,
    );
    assert_eq!(checked, n * 4 * h + h * 4 * h + 4 * h + h * n + n);
    assert!(worst < 1e-4);
}

#[test]
fn the_last_steps_zero_target_adds_no_loss() {
    let (n, h) = (5, 3);
    let net = Network::<f64>::keras_init(n, h, &mut NumpyRandomState::seed(1));
    let window = [1usize, 2, 3, 4];
    let full = Batch::from_windows(&[&window]);
    assert_eq!(full.targets[3], vec![None]);
    assert_eq!(full.inputs[0], vec![None]);
    let mut g = Network::zeros(n, h);
    let r4 = forward_backward(&net, &full, &mut g);
    // The same window one step shorter, with the 4th value as a real target
    // of step 2, has the same three real targets and the same loss.
    let short = Batch::from_windows(&[&window[..3]]);
    let r3 = forward_backward(&net, &short, &mut g);
    assert_eq!(r4.targets, 3);
    assert_eq!(r3.targets, 2);
    let mut with_last = short.clone();
    with_last.targets[2] = vec![Some(4)];
    let r3b = forward_backward(&net, &with_last, &mut g);
    assert!((r4.loss - r3b.loss).abs() < 1e-12);
}

// ---- training runs ----

fn small_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        windows: 20,
        tx: 12,
        hidden: 16,
        epochs,
        batch: 8,
        ..TrainConfig::default()
    }
}

fn bits(m: &Model) -> Vec<u32> {
    let p = m.params();
    [
        &p.kernel,
        &p.recurrent_kernel,
        &p.bias,
        &p.dense_kernel,
        &p.dense_bias,
    ]
    .iter()
    .flat_map(|b| b.iter().map(|x| x.to_bits()))
    .collect()
}

#[test]
fn the_same_seed_gives_the_same_weights_bit_for_bit() {
    let corpus = synthetic_corpus(200, 20, 7);
    let config = small_config(5);
    let (a, ra) = train::train(&corpus, vocab(20), &config, |_| {}).unwrap();
    let (b, rb) = train::train(&corpus, vocab(20), &config, |_| {}).unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(ra, rb);
    let other = TrainConfig { seed: 1, ..config };
    let (c, _) = train::train(&corpus, vocab(20), &other, |_| {}).unwrap();
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn training_reports_every_epoch_and_records_provenance() {
    let corpus = synthetic_corpus(200, 20, 7);
    let config = small_config(4);
    let mut seen = Vec::new();
    let (model, report) =
        train::train(&corpus, vocab(20), &config, |s| seen.push(s.clone())).unwrap();
    assert_eq!(seen, report.epochs);
    assert_eq!(
        seen.iter().map(|s| s.epoch).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for s in &seen {
        assert!((s.loss_per_value - s.loss / 11.0).abs() < 1e-12);
        assert!((0.0..=1.0).contains(&s.accuracy));
    }
    // 20 windows in batches of 8 → 3 updates per epoch: lr / (1 + 0.01 · 12).
    assert!((seen[3].learning_rate - 0.01 / 1.12).abs() < 1e-15);
    let prov = model.provenance();
    assert_eq!(prov.final_loss, Some(seen[3].loss as f32));
    assert_eq!(prov.hyperparameters["tx"], serde_json::json!(12));
    assert_eq!(prov.hyperparameters["seed"], serde_json::json!(0));
    assert_eq!(model.vocab(), &vocab(20)[..]);
    assert_eq!(report.window_starts.len(), 20);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let err = train::train(&[1, 2, 3], vocab(4), &small_config(1), |_| {}).unwrap_err();
    assert_eq!(err, TrainError::CorpusTooShort { len: 3, tx: 12 });
    assert!(err.to_string().contains("at least 13"), "{err}");

    let corpus = synthetic_corpus(100, 20, 1);
    let err = train::train(&corpus, vocab(10), &small_config(1), |_| {}).unwrap_err();
    assert!(
        matches!(err, TrainError::IndexOutOfVocab { n_values: 10, .. }),
        "{err}"
    );

    let err = train::train(&corpus, Vec::new(), &small_config(1), |_| {}).unwrap_err();
    assert_eq!(err, TrainError::EmptyVocab);

    for (config, needle) in [
        (
            TrainConfig {
                lr: -1.0,
                ..small_config(1)
            },
            "lr",
        ),
        (
            TrainConfig {
                beta2: 1.0,
                ..small_config(1)
            },
            "beta2",
        ),
        (
            TrainConfig {
                batch: 0,
                ..small_config(1)
            },
            "batch",
        ),
        (
            TrainConfig {
                tx: 1,
                ..small_config(1)
            },
            "tx",
        ),
        (
            TrainConfig {
                hidden: 0,
                ..small_config(1)
            },
            "hidden",
        ),
    ] {
        let err = train::train(&corpus, vocab(20), &config, |_| {}).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn a_diverging_run_stops_with_an_error() {
    // A learning rate of 1e38 moves the weights by about ±1e38 per update
    // (Adam normalises the gradient); a few updates overflow f32.
    let corpus = synthetic_corpus(200, 20, 7);
    let config = TrainConfig {
        lr: 1e38,
        ..small_config(30)
    };
    let mut epochs_seen = 0;
    let Err(err) = train::train(&corpus, vocab(20), &config, |_| epochs_seen += 1) else {
        panic!("training with lr = 1e38 finished");
    };
    match err {
        TrainError::Diverged { epoch } => assert_eq!(epoch, epochs_seen + 1),
        e => panic!("unexpected error {e}"),
    }
    assert!(err.to_string().contains("--lr"), "{err}");
}

use common::METHENY;

/// The seed setup on the real Metheny corpus: the loss falls under half its
/// first-epoch value within 100 epochs and the model beats always predicting
/// the most frequent value. The same run checks the shipped weights: they
/// are this training's result (equal up to floating-point differences
/// between machines, e.g. FMA or not in the matrix products), so they cannot
/// silently go stale when the corpus or the trainer changes.
#[test]
fn seed_setup_learns_the_metheny_solo_and_gives_the_shipped_weights() {
    let corpus = jazz_synth::train::corpus::load_metheny(METHENY).expect("the Metheny corpus");
    let vocab = corpus.distinct();
    let indices = corpus.indices(&vocab);
    let mut curve = Vec::new();
    let (model, report) = train::train(&indices, vocab.clone(), &TrainConfig::default(), |s| {
        curve.push((s.loss, s.accuracy))
    })
    .expect("trains");
    let (first, last) = (curve[0], curve[curve.len() - 1]);
    eprintln!(
        "Metheny: {} values, {} distinct; epoch 1 loss {:.4} accuracy {:.4}; \
         epoch 100 loss {:.4} accuracy {:.4}; most-frequent baseline {:.4}",
        indices.len(),
        vocab.len(),
        first.0,
        first.1,
        last.0,
        last.1,
        report.baseline_accuracy
    );
    assert_eq!(curve.len(), 100);
    assert!(last.0 < first.0 / 2.0, "loss {} → {}", first.0, last.0);
    assert!(
        last.1 > report.baseline_accuracy,
        "accuracy {} vs baseline {}",
        last.1,
        report.baseline_accuracy
    );

    let shipped = jazz_synth::model::weights::metheny_model();
    assert_eq!(
        shipped.provenance().training_files,
        train::training_files(&corpus.source),
        "the shipped weights name the Metheny file and its SHA-256"
    );
    let text = |m: &Model| m.vocab().iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert!(
        text(&shipped) == text(&model),
        "the shipped vocabulary differs"
    );
    // The trained model's vocabulary is what a weights file stores (three
    // decimals), so saving and loading it changes nothing.
    assert!(shipped.vocab() == model.vocab());
    let (a, b) = (shipped.params(), model.params());
    for ((name, _, x), (_, _, y)) in a.tensors().into_iter().zip(b.tensors()) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-2,
            "shipped `{name}` differs from a fresh seed training by {worst}: \
             regenerate weights/metheny.safetensors"
        );
    }
}

// ---- covering the corpus, stopping early ----

#[test]
fn every_window_covers_each_position_once_per_epoch() {
    let corpus = synthetic_corpus(200, 14, 3);
    let config = TrainConfig {
        every_window: true,
        ..small_config(2)
    };
    let (model, report) = train::train(&corpus, vocab(14), &config, |_| {}).unwrap();
    let want: Vec<usize> = (0..200 - config.tx).collect();
    assert_eq!(report.window_starts, want);
    // Recorded as a hyper-parameter only when on, so the seed setup's stay the original's.
    assert_eq!(
        model.provenance().hyperparameters["every_window"],
        serde_json::json!(true)
    );
    let (seed_model, _) = train::train(&corpus, vocab(14), &small_config(1), |_| {}).unwrap();
    assert!(!seed_model
        .provenance()
        .hyperparameters
        .contains_key("every_window"));
}

#[test]
fn patience_stops_when_the_held_out_loss_stops_improving_and_keeps_the_best_epoch() {
    use jazz_synth::train::evaluate::{train_validated, Ended, Stopping};
    // Random values: nothing to learn, so the held-out loss soon rises as the windows are
    // memorised.
    let mut rng = NumpyRandomState::seed(9);
    let corpus: Vec<usize> = (0..400).map(|_| rng.choice(20)).collect();
    let (train_part, held_out) = corpus.split_at(340);
    let config = TrainConfig {
        every_window: true,
        ..small_config(200)
    };
    let stopping = Stopping {
        patience: Some(3),
        stop: None,
    };
    let (model, run) = train_validated(
        train_part,
        held_out,
        vocab(20),
        &config,
        stopping,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(run.ended, Ended::Patience);
    let epochs = run.report.epochs.len();
    assert!(epochs < 200, "stopped early, after {epochs} epochs");
    assert_eq!(
        run.kept_epoch,
        epochs - 3,
        "the best epoch, 3 before the stop"
    );
    assert!(model.provenance().validation.is_some());
}

#[test]
fn an_interrupted_run_ends_after_its_epoch_and_its_weights_save_and_load() {
    use jazz_synth::train::evaluate::{train_validated, Ended, Stopping};
    use std::sync::atomic::{AtomicBool, Ordering};
    let corpus = synthetic_corpus(300, 12, 4);
    let (train_part, held_out) = corpus.split_at(270);
    let stop = AtomicBool::new(false);
    let stopping = Stopping {
        patience: None,
        stop: Some(&stop),
    };
    let (model, run) = train_validated(
        train_part,
        held_out,
        vocab(12),
        &small_config(50),
        stopping,
        |s, _| {
            if s.epoch == 4 {
                // What Ctrl-C does: the flag is set while an epoch runs.
                stop.store(true, Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    assert_eq!(run.ended, Ended::Interrupted);
    assert_eq!(run.report.epochs.len(), 4);
    assert!(run.kept_epoch <= 4);
    let path = common::temp_dir("interrupted").join("best.safetensors");
    jazz_synth::model::weights::save_atomic(&model, &path).unwrap();
    let loaded = jazz_synth::model::weights::load_file(&path).expect("a loadable file");
    assert_eq!(bits(&loaded), bits(&model));

    // Interrupted before anything was learned: an error, and nothing to write.
    let stop = AtomicBool::new(true);
    let err = train_validated(
        train_part,
        held_out,
        vocab(12),
        &small_config(50),
        Stopping {
            patience: None,
            stop: Some(&stop),
        },
        |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing written"), "{err}");
}

#[test]
fn two_threads_give_the_same_weights_every_time_and_learn_as_one_does() {
    let corpus = synthetic_corpus(600, 16, 5);
    let config = |threads| TrainConfig {
        threads,
        ..small_config(6)
    };
    let (a, ra) = train::train(&corpus, vocab(16), &config(2), |_| {}).unwrap();
    let (b, _) = train::train(&corpus, vocab(16), &config(2), |_| {}).unwrap();
    assert_eq!(bits(&a), bits(&b), "same seed, same threads: same weights");
    let (one, r1) = train::train(&corpus, vocab(16), &config(1), |_| {}).unwrap();
    // The same maths summed in another order: the losses agree closely, epoch by epoch.
    for (x, y) in ra.epochs.iter().zip(&r1.epochs) {
        assert!(
            (x.loss - y.loss).abs() < 1e-3 * y.loss,
            "epoch {}: {} vs {}",
            x.epoch,
            x.loss,
            y.loss
        );
    }
    assert_ne!(bits(&a), bits(&one));
    assert_eq!(
        a.provenance().hyperparameters["threads"],
        serde_json::json!(2)
    );
    assert!(!one.provenance().hyperparameters.contains_key("threads"));
}

/// Interrupt, then resume from the file written: the resumed run starts where the first one
/// stopped (its first epoch's loss is that of a run already trained, far below a fresh run's
/// first epoch) and writes a loadable file. Weights that do not fit the run are refused.
#[test]
fn a_run_resumes_from_the_weights_it_wrote() {
    let corpus = synthetic_corpus(400, 14, 6);
    let (first, r1) = train::train(&corpus, vocab(14), &small_config(8), |_| {}).unwrap();
    let path = common::temp_dir("resume").join("first.safetensors");
    jazz_synth::model::weights::save_atomic(&first, &path).unwrap();
    let saved = jazz_synth::model::weights::load_file(&path).unwrap();

    let resumed = TrainConfig {
        start_from: Some(saved.params().clone()),
        seed: 1,
        ..small_config(3)
    };
    let (second, r2) = train::train(&corpus, vocab(14), &resumed, |_| {}).unwrap();
    let (_, fresh) = train::train(
        &corpus,
        vocab(14),
        &TrainConfig {
            seed: 1,
            ..small_config(3)
        },
        |_| {},
    )
    .unwrap();
    let last = r1.epochs.last().unwrap().loss;
    let resumed_first = r2.epochs[0].loss;
    assert!(
        resumed_first < fresh.epochs[0].loss * 0.9 && resumed_first < last * 1.2,
        "resumed {resumed_first}, first run ended at {last}, fresh start {}",
        fresh.epochs[0].loss
    );
    let again = common::temp_dir("resume").join("second.safetensors");
    jazz_synth::model::weights::save_atomic(&second, &again).unwrap();
    assert!(jazz_synth::model::weights::load_file(&again).is_ok());

    let wrong = TrainConfig {
        start_from: Some(saved.params().clone()),
        ..small_config(1)
    };
    let err = train::train(&corpus, vocab(15), &wrong, |_| {}).unwrap_err();
    assert!(err.to_string().contains("cannot resume"), "{err}");
}

/// `jazz-train --resume`: continues from the file an earlier run wrote, says so, and writes a
/// loadable file; weights whose vocabulary lacks the files' values are refused with a message.
#[test]
fn jazz_train_resume_continues_and_refuses_a_model_that_does_not_fit() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_jazz-train");
    let dir = common::temp_dir("resume-cli");
    let first = dir.join("first.safetensors");
    let train = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = train(&[
        common::METHENY,
        "--epochs",
        "2",
        "--quiet",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let second = dir.join("second.safetensors");
    let (ok, out, err) = train(&[
        common::METHENY,
        "--epochs",
        "1",
        "--quiet",
        "--resume",
        first.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("resuming from"), "{out}");
    let a = jazz_synth::model::weights::load_file(&first).unwrap();
    let b = jazz_synth::model::weights::load_file(&second).expect("a loadable file");
    assert_eq!(
        a.vocab(),
        b.vocab(),
        "the resumed model keeps its vocabulary"
    );

    // The shipped Metheny model learned the metheny preset's values, not these.
    let (ok, _, err) = train(&[
        common::METHENY,
        "--epochs",
        "1",
        "--quiet",
        "--resume",
        "weights/metheny.safetensors",
        "--out",
        dir.join("third.safetensors").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("cannot resume") && err.contains("never learned"),
        "{err}"
    );
    assert!(!dir.join("third.safetensors").exists());
}
