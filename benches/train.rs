//! `train_epoch_seed`: one epoch of the seed setup (60 windows × Tx 30,
//! n_values 90, hidden 64, batches of 32 and 28) on a synthetic 200-value
//! corpus of the real one's size. Target: ≤ 20 ms.
//!
//! `large_256_windows/threads_1` and `/threads_2`: 256 windows (Tx 30, batches of 32) of a
//! synthetic 100,000-value corpus with a 750-value vocabulary, on one and two threads; divide
//! by 256 for the time per window (target ≤ 0.2 ms on 2 cores, ≥ 1.7× from 1 to 2 threads).

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::train::{NumpyRandomState, TrainConfig, Trainer};

fn synthetic_corpus(len: usize, n: usize) -> Vec<usize> {
    let mut rng = NumpyRandomState::seed(11);
    let riff = [0, 3, 5, 3, 7, 5, 3, 0, 10, 7, 5, 3];
    (0..len)
        .map(|i| {
            if rng.choice(10) == 0 {
                rng.choice(n)
            } else {
                (riff[i % riff.len()] + i / 48) % n
            }
        })
        .collect()
}

fn train_epoch_seed(c: &mut Criterion) {
    let corpus = synthetic_corpus(200, 90);
    let config = TrainConfig::default();
    let mut trainer = Trainer::new(&corpus, 90, &config).expect("valid setup");
    let mut group = c.benchmark_group("train");
    group.sample_size(30);
    group.bench_function("train_epoch_seed", |b| {
        b.iter(|| trainer.epoch().expect("finite loss"))
    });
    group.finish();
}

fn train_large(c: &mut Criterion) {
    let corpus = synthetic_corpus(100_000, 750);
    let mut group = c.benchmark_group("large_256_windows");
    group.sample_size(10);
    for threads in [1, 2] {
        let config = TrainConfig {
            windows: 256,
            threads,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&corpus, 750, &config).expect("valid setup");
        group.bench_function(format!("threads_{threads}"), |b| {
            b.iter(|| trainer.epoch().expect("finite loss"))
        });
    }
    group.finish();
}

criterion_group!(benches, train_epoch_seed, train_large);
criterion_main!(benches);
