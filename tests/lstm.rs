//! The inference LSTM against an independent f64 computation of the same
//! equations, its state handling, sampling, and the no-allocation promise.

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use jazz_synth::model::lstm::{argmax, sample, LstmParams, Model, Provenance};
use jazz_synth::music::grammar::Value;

mod common;
use common::random_params;
use rand::rngs::SmallRng;
use rand::SeedableRng;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

fn model(params: LstmParams) -> Model {
    let vocab = (0..params.n_values).map(vocab_value).collect();
    Model::new(params, vocab, Provenance::default()).expect("consistent model")
}

/// The equations of the module documentation, in f64, straight from the
/// Keras-layout parameters, with no packing and library transcendentals.
struct Reference {
    h: Vec<f64>,
    c: Vec<f64>,
}

impl Reference {
    fn new(hidden: usize) -> Reference {
        Reference {
            h: vec![0.0; hidden],
            c: vec![0.0; hidden],
        }
    }

    fn step(&mut self, p: &LstmParams, input: Option<usize>) -> Vec<f64> {
        let (n, hd) = (p.n_values, p.hidden);
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut z = vec![0.0f64; 4 * hd];
        for (j, z) in z.iter_mut().enumerate() {
            let mut acc = f64::from(p.bias[j]);
            if let Some(i) = input {
                acc += f64::from(p.kernel[i * 4 * hd + j]);
            }
            for k in 0..hd {
                acc += self.h[k] * f64::from(p.recurrent_kernel[k * 4 * hd + j]);
            }
            *z = acc;
        }
        for u in 0..hd {
            let i = sigmoid(z[u]);
            let f = sigmoid(z[hd + u]);
            let g = z[2 * hd + u].tanh();
            let o = sigmoid(z[3 * hd + u]);
            self.c[u] = f * self.c[u] + i * g;
            self.h[u] = o * self.c[u].tanh();
        }
        let logits: Vec<f64> = (0..n)
            .map(|v| {
                f64::from(p.dense_bias[v])
                    + (0..hd)
                        .map(|k| self.h[k] * f64::from(p.dense_kernel[k * n + v]))
                        .sum::<f64>()
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }
}

fn assert_close(what: &str, step: usize, got: &[f32], want: &[f64]) {
    assert_within(1e-5, what, step, got, want);
}

fn assert_within(tolerance: f64, what: &str, step: usize, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what} length at step {step}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= tolerance,
            "{what}[{i}] at step {step}: model {g}, reference {w}"
        );
    }
}

fn check_against_reference(n_values: usize, hidden: usize, portable: bool) {
    let params = random_params(n_values, hidden, 7 + n_values as u64, [0.4; 5]);
    let mut m = model(params.clone());
    m.set_portable(portable);
    let mut reference = Reference::new(hidden);
    let inputs = [None, Some(3), Some(n_values - 1), Some(0), Some(3), Some(1)];
    for (t, &input) in inputs.iter().cycle().take(24).enumerate() {
        let input = input.map(|i| i % n_values);
        let want = reference.step(&params, input);
        let got = m.step(input).to_vec();
        assert_close("probability", t, &got, &want);
        assert_close("hidden", t, m.hidden(), &reference.h);
        assert_close("cell", t, m.cell(), &reference.c);
        let sum: f32 = got.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    }
}

#[test]
fn step_matches_an_f64_reference_at_the_seed_size() {
    check_against_reference(90, 64, false);
}

#[test]
fn portable_step_matches_an_f64_reference_at_the_seed_size() {
    check_against_reference(90, 64, true);
}

#[test]
fn step_matches_the_reference_at_sizes_that_are_not_whole_blocks() {
    for (n, h) in [(1, 1), (7, 5), (33, 9), (78, 17)] {
        check_against_reference(n, h, false);
        check_against_reference(n, h, true);
    }
}

#[test]
fn saturated_gates_stay_finite_and_match() {
    // Weights of ±6 drive pre-activations to ±19, deep into the tails of σ
    // and tanh. Such a network amplifies f32 rounding from step to step (a
    // naive f32 loop with libm drifts from f64 at the same rate), so the
    // comparison is over the first steps with a 1e-4 tolerance; finiteness
    // is checked for much longer.
    let params = random_params(20, 16, 99, [6.0; 5]);
    let mut m = model(params.clone());
    let mut reference = Reference::new(16);
    for t in 0..300 {
        let input = if t == 0 { None } else { Some(t % 20) };
        let want = reference.step(&params, input);
        let got = m.step(input).to_vec();
        assert!(got.iter().all(|p| p.is_finite() && *p >= 0.0), "step {t}");
        assert!(m.hidden().iter().all(|h| h.abs() <= 1.0), "step {t}");
        if t < 6 {
            assert_within(1e-4, "hidden", t, m.hidden(), &reference.h);
            assert_within(1e-4, "cell", t, m.cell(), &reference.c);
            assert_within(1e-4, "probability", t, &got, &want);
        }
    }
}

#[test]
fn reset_returns_to_the_first_step() {
    let mut m = model(random_params(30, 12, 3, [0.5; 5]));
    let first = m.step(None).to_vec();
    m.step(Some(4));
    m.step(Some(9));
    assert!(m.hidden().iter().any(|&x| x != 0.0));
    m.reset();
    assert!(m.hidden().iter().all(|&x| x == 0.0));
    assert!(m.cell().iter().all(|&x| x == 0.0));
    assert_eq!(m.step(None), &first[..]);
}

#[test]
fn stepping_and_sampling_never_allocate() {
    let mut m = model(random_params(90, 64, 5, [0.3; 5]));
    let mut rng = SmallRng::seed_from_u64(1);
    let mut input = None;
    assert_no_alloc(|| {
        for _ in 0..200 {
            let probs = m.step(input);
            input = Some(sample(probs, 0.7, &mut rng));
        }
        m.reset();
        let probs = m.step(None);
        input = Some(sample(probs, 0.0, &mut rng));
    });
    assert!(input.is_some());
}

#[test]
fn zero_temperature_takes_the_first_maximum_like_numpy() {
    let mut rng = SmallRng::seed_from_u64(0);
    assert_eq!(sample(&[0.1, 0.4, 0.4, 0.1], 0.0, &mut rng), 1);
    assert_eq!(sample(&[0.7, 0.1, 0.2], 0.0, &mut rng), 0);
    assert_eq!(argmax(&[0.2, 0.2, 0.6, 0.6]), 2);
    assert_eq!(sample(&[0.1, 0.9], -1.0, &mut rng), 1);
}

#[test]
fn temperature_one_draws_in_proportion_to_the_probabilities() {
    let probs = [0.5f32, 0.3, 0.15, 0.05];
    let mut rng = SmallRng::seed_from_u64(11);
    let mut counts = [0usize; 4];
    let n = 40_000;
    for _ in 0..n {
        counts[sample(&probs, 1.0, &mut rng)] += 1;
    }
    for (c, p) in counts.iter().zip(probs) {
        let freq = *c as f32 / n as f32;
        assert!(
            (freq - p).abs() < 0.01,
            "frequency {freq} for probability {p}"
        );
    }
}

#[test]
fn low_temperature_sharpens_and_never_picks_impossible_values() {
    // p^(1/0.5) renormalised: 0.6² : 0.4² = 0.6923 : 0.3077.
    let probs = [0.0f32, 0.6, 0.4, 0.0];
    let mut rng = SmallRng::seed_from_u64(12);
    let mut counts = [0usize; 4];
    let n = 40_000;
    for _ in 0..n {
        counts[sample(&probs, 0.5, &mut rng)] += 1;
    }
    assert_eq!(counts[0] + counts[3], 0);
    let freq = counts[1] as f64 / n as f64;
    assert!((freq - 0.6923).abs() < 0.01, "frequency {freq}");
    // A tiny temperature must not underflow into nonsense.
    for _ in 0..100 {
        assert_eq!(sample(&probs, 1e-4, &mut rng), 1);
    }
}

#[test]
fn a_model_can_be_built_on_one_thread_and_played_on_another() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Model>();
    assert_send::<Box<Model>>();
    let boxed = Box::new(model(random_params(10, 4, 1, [0.5; 5])));
    let played = std::thread::spawn(move || {
        let mut m = boxed;
        m.step(None).len()
    })
    .join()
    .unwrap();
    assert_eq!(played, 10);
}

#[test]
fn inconsistent_models_are_refused_with_a_reason() {
    let params = random_params(5, 3, 1, [0.5; 5]);
    let err = Model::new(params.clone(), vec![vocab_value(0)], Provenance::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("vocabulary has 1 values"), "{err}");

    let mut short = params.clone();
    short.bias.pop();
    let err = model_err(short);
    assert!(err.contains("lstm.bias"), "{err}");

    let mut nan = params;
    nan.dense_kernel[2] = f32::NAN;
    let err = model_err(nan);
    assert!(
        err.contains("dense.kernel") && err.contains("non-finite"),
        "{err}"
    );
}

fn model_err(params: LstmParams) -> String {
    let vocab = (0..params.n_values).map(vocab_value).collect();
    Model::new(params, vocab, Provenance::default())
        .unwrap_err()
        .to_string()
}

/// A distinct grammar value per index: chord tones of increasing length.
fn vocab_value(i: usize) -> Value {
    Value::parse(&format!("C,{}.250", i + 1)).expect("a grammar value")
}
