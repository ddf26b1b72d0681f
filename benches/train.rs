//! `train_epoch_seed`: one epoch of the seed setup (60 windows × Tx 30,
//! n_values 90, hidden 64, batches of 32 and 28) on a synthetic 200-value
//! corpus of the real one's size. Target: ≤ 20 ms.
//!
//! `large_256_windows/threads_1` and `/threads_2`: 256 windows (Tx 30, batches of 32) of a
//! synthetic 100,000-value corpus with a 750-value vocabulary, on one and two threads; divide
//! by 256 for the time per window (target ≤ 0.2 ms on 2 cores, ≥ 1.7× from 1 to 2 threads).
//!
//! `wjd_64_windows/{stepwise,fused}_h{H}_l{L}_t{T}`: 64 windows of the chord-aware model's
//! shape on a corpus of the WJD's size (170,000 training values, a 1,673-value vocabulary, 79
//! conditioning inputs, Tx 64, batches of 32), hidden 128, 256 and 512, one and two LSTM
//! layers, one and two threads, with the kernel `jazz-train` uses on collections (fused) and,
//! at hidden 256, the step-by-step one. An epoch of the WJD (`--preset jazz`, stride 32) is
//! about 5,200 windows: multiply the time by 81 for an epoch. Targets (issue 21): at the
//! default size (hidden 256, one layer, two threads) half of Keras's epoch time; at hidden 512
//! no slower than Keras; ≥ 1.8× from one to two threads at hidden ≥ 128.
//!
//! `read_1000_files`: a folder of 1,000 small MIDI files (a melody track and a chord track, 8
//! bars each, as a real collection of lead sheets has) read into one corpus the way `jazz-train`
//! reads a folder (expand the folder, read, choose tracks, quantize, make values, hash).
//! Target: under 1 s.

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::train::corpus::{expand_inputs, load_inputs, AutoOptions, Preset};
use jazz_synth::train::{Kernel, NumpyRandomState, TrainConfig, Trainer};
use midly::num::{u15, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

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

/// One lead sheet: 8 bars of eighth notes wandering over a scale, whole-bar chords below.
fn lead_sheet(seed: u32) -> Vec<u8> {
    let mut rng = NumpyRandomState::seed(seed);
    let tpq = 480u32;
    let track = |name: &'static [u8], events: Vec<(u32, u8, bool)>| {
        let mut out = vec![TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(name)),
        }];
        let mut now = 0;
        for (tick, key, on) in events {
            out.push(TrackEvent {
                delta: u28::new(tick - now),
                kind: TrackEventKind::Midi {
                    channel: u4::new(0),
                    message: MidiMessage::NoteOn {
                        key: u7::new(key),
                        vel: u7::new(if on { 90 } else { 0 }),
                    },
                },
            });
            now = tick;
        }
        out.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        out
    };
    let scale = [60u8, 62, 64, 65, 67, 69, 71, 72, 74];
    let mut melody = Vec::new();
    let mut step = 4usize;
    for i in 0..64u32 {
        step = (step + rng.choice(3))
            .saturating_sub(1)
            .min(scale.len() - 1);
        melody.push((i * tpq / 2, scale[step], true));
        melody.push((i * tpq / 2 + tpq / 2 - 20, scale[step], false));
    }
    let mut chords = Vec::new();
    for bar in 0..8u32 {
        let root = [48u8, 53, 55, 50][bar as usize % 4];
        for key in [root, root + 4, root + 7, root + 10] {
            chords.push((bar * 4 * tpq, key, true));
        }
        for key in [root, root + 4, root + 7, root + 10] {
            chords.push(((bar + 1) * 4 * tpq - 10, key, false));
        }
    }
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(tpq as u16))),
        tracks: vec![track(b"Melody", melody), track(b"Chords", chords)],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("write to memory");
    bytes
}

fn read_1000_files(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("jazz-synth-bench-1000-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    for i in 0..1000u32 {
        std::fs::write(dir.join(format!("tune{i:04}.mid")), lead_sheet(i)).expect("write a file");
    }
    let preset = Preset::Auto(AutoOptions::default());
    let mut group = c.benchmark_group("corpus");
    group.sample_size(10);
    group.bench_function("read_1000_files", |b| {
        b.iter(|| {
            let inputs = expand_inputs(std::slice::from_ref(&dir)).expect("the folder");
            let (corpus, skipped) = load_inputs(&inputs, &preset).expect("a corpus");
            assert_eq!((corpus.source.len(), skipped.len()), (1000, 0));
            corpus.values.len()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn train_wjd_sized(c: &mut Criterion) {
    const N: usize = 1673;
    const COND: usize = 79;
    let corpus = synthetic_corpus(170_000, N);
    // Conditioning like the real one: a few ones among zeros, changing along the corpus.
    let cond: Vec<f32> = (0..corpus.len() * COND)
        .map(|k| {
            let (pos, input) = (k / COND, k % COND);
            f32::from(u8::from((pos / 4 + input * 7) % 13 == 0))
        })
        .collect();
    let mut group = c.benchmark_group("wjd_64_windows");
    group.sample_size(10);
    let mut cases = Vec::new();
    for hidden in [128, 256, 512] {
        for layers in [1, 2] {
            for threads in [1, 2] {
                cases.push((Kernel::Fused, hidden, layers, threads));
            }
        }
    }
    cases.push((Kernel::Stepwise, 256, 1, 1));
    cases.push((Kernel::Stepwise, 256, 1, 2));
    for (kernel, hidden, layers, threads) in cases {
        let config = TrainConfig {
            windows: 64,
            tx: 64,
            hidden,
            layers,
            threads,
            kernel,
            lr: 0.003,
            decay: 0.0001,
            ..TrainConfig::default()
        };
        let mut trainer =
            Trainer::new_conditioned(&corpus, N, &config, &cond, COND).expect("valid setup");
        let name = match kernel {
            Kernel::Fused => "fused",
            Kernel::Stepwise => "stepwise",
        };
        group.bench_function(format!("{name}_h{hidden}_l{layers}_t{threads}"), |b| {
            b.iter(|| trainer.epoch().expect("finite loss"))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    train_epoch_seed,
    train_large,
    train_wjd_sized,
    read_1000_files
);
criterion_main!(benches);
