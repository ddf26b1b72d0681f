//! `train_epoch_seed`: one epoch of the seed setup (60 windows × Tx 30,
//! n_values 90, hidden 64, batches of 32 and 28) on a synthetic 200-value
//! corpus of the real one's size. Target: ≤ 20 ms.

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

criterion_group!(benches, train_epoch_seed);
criterion_main!(benches);
