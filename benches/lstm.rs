//! `lstm_step`: one inference step at the seed size (n_values 90, hidden 64),
//! feeding back the argmax as the engine does. Target: median ≤ 1 µs.
//! `lstm_step_default`: one step of the default (chord-aware WJD) model with its conditioning
//! vector, as the engine runs it once per value.
//! `lstm_step_style` / `lstm_step_guided`: one step of the built-in `wjd-styles` model in a
//! style, at strength 1 (one pass, with the style's dense rows) and at the default strength
//! 2.5 (two passes: the style and the average of the styles).

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::model::lstm::{argmax, sample, LstmParams, Model, Provenance};
use jazz_synth::music::grammar::Value;
use rand::SeedableRng;
use std::hint::black_box;

fn seed_size_model() -> Model {
    let (n, h) = (90, 64);
    let mut p = LstmParams::zeros(n, h);
    // Deterministic, non-trivial weights (a cheap hash), ±0.25.
    let mut s = 0x9E37_79B9u32;
    for buf in p.tensors_mut() {
        for x in buf.iter_mut() {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *x = (s as f32 / u32::MAX as f32 - 0.5) * 0.5;
        }
    }
    let vocab = (0..n).map(vocab_value).collect();
    Model::new(p, vocab, Provenance::default()).expect("consistent model")
}

fn lstm_step(c: &mut Criterion) {
    let mut model = seed_size_model();
    let mut input = None;
    c.bench_function("lstm_step", |b| {
        b.iter(|| {
            let probs = model.step(black_box(input));
            input = Some(argmax(probs));
        })
    });
    let mut portable = seed_size_model();
    portable.set_portable(true);
    let mut input = None;
    c.bench_function("lstm_step_portable", |b| {
        b.iter(|| {
            let probs = portable.step(black_box(input));
            input = Some(argmax(probs));
        })
    });
}

/// The chord inputs of a value on Dm7 going to G7 at 160 BPM (the benches' conditioning).
fn write_dm7_context(cond: &mut [f32]) {
    use jazz_synth::music::conditioning::Context;
    use jazz_synth::music::theory::Chord;
    let dm7 = Chord::from_midi(&[50, 53, 57, 60]);
    let g7 = Chord::from_midi(&[43, 47, 50, 53]);
    Context::at(dm7, Some((g7, 48)), Some(64), 6, 0)
        .with_tempo(160.0)
        .write(cond);
}

fn lstm_step_default(c: &mut Criterion) {
    use jazz_synth::music::conditioning::COND_SIZE;
    let mut model = jazz_synth::model::weights::default_model();
    let mut cond = [0.0f32; COND_SIZE];
    write_dm7_context(&mut cond);
    let mut input = None;
    c.bench_function("lstm_step_default", |b| {
        b.iter(|| {
            let probs = model.step_with(black_box(input), black_box(&cond));
            input = Some(argmax(probs));
        })
    });
}

fn lstm_step_styled(c: &mut Criterion) {
    use jazz_synth::music::conditioning::{write_style, write_style_average, MAX_COND};
    let mut model = jazz_synth::model::weights::builtin_model("wjd-styles").expect("built in");
    let styles = model.styles().len();
    let mut cond = [0.0f32; MAX_COND];
    write_dm7_context(&mut cond);
    let mut average = cond;
    write_style(&mut cond, styles, 3);
    write_style_average(&mut average, styles);
    let size = model.cond_size();
    let mut input = None;
    c.bench_function("lstm_step_style", |b| {
        b.iter(|| {
            let probs = model.step_with(black_box(input), black_box(&cond[..size]));
            input = Some(argmax(probs));
        })
    });
    model.reset();
    let mut input = None;
    c.bench_function("lstm_step_guided", |b| {
        b.iter(|| {
            let probs = model.step_guided(
                black_box(input),
                black_box(&cond[..size]),
                &average[..size],
                2.5,
            );
            input = Some(argmax(probs));
        })
    });
}

/// `sample` at deepjazz's temperature 0.5 over one step's probabilities.
fn lstm_sample(c: &mut Criterion) {
    let mut model = seed_size_model();
    let probs = model.step(Some(3)).to_vec();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    c.bench_function("lstm_sample_t0.5", |b| {
        b.iter(|| sample(black_box(&probs), 0.5, &mut rng))
    });
}

criterion_group!(
    benches,
    lstm_step,
    lstm_step_default,
    lstm_step_styled,
    lstm_sample
);
criterion_main!(benches);

/// A distinct grammar value per index: chord tones of increasing length.
fn vocab_value(i: usize) -> Value {
    Value::parse(&format!("C,{}.250", i + 1)).expect("a grammar value")
}
