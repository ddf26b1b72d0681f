//! `process_block`: one 512-sample block at 48 kHz holding a beat in the Beat rhythm (one LSTM
//! step, sampling, pitch decoding, note events). `process_block_idle`: the same block size with
//! no beat in it. The engine plays continuously at 120 BPM; only the blocks of the kind measured
//! are timed. `process_block_default`: every block of continuous play on the default settings
//! (Phrase rhythm, learned contour), so values come as often as the model's durations say.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::engine::{samples_per_beat, Engine, Output, Rhythm, Settings, Transport};
use jazz_synth::model::lstm::Model;

const SAMPLE_RATE: f64 = 48_000.0;
const TEMPO: f64 = 120.0;
const BLOCK: u32 = 512;

/// The real default model (weights/metheny.safetensors).
fn model() -> Model {
    jazz_synth::model::weights::default_model()
}

/// A host playing from beat 0; `next` runs one block and says whether it
/// held a beat.
struct Host {
    engine: Engine,
    out: Output,
    sample: u64,
}

impl Host {
    fn new(settings: Settings) -> Host {
        Host {
            engine: Engine::new(Box::new(model()), settings, SAMPLE_RATE),
            out: Output::with_capacity(256),
            sample: 0,
        }
    }

    fn transport(&self) -> Transport {
        Transport::playing_at(
            self.sample as f64 / samples_per_beat(SAMPLE_RATE, TEMPO),
            TEMPO,
        )
    }

    fn block_has_beat(&self) -> bool {
        let spb = samples_per_beat(SAMPLE_RATE, TEMPO);
        let start = self.sample as f64 / spb;
        let end = (self.sample + BLOCK as u64) as f64 / spb;
        start.ceil() < end || start.fract() == 0.0
    }

    fn run(&mut self) {
        let t = self.transport();
        self.out.clear();
        self.engine.process(&t, BLOCK, &[], &mut self.out);
        black_box(&self.out.notes);
        self.sample += BLOCK as u64;
    }

    /// Times `iters` blocks of the wanted kind, running the others untimed.
    fn time(&mut self, iters: u64, with_beat: bool) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            while self.block_has_beat() != with_beat {
                self.run();
            }
            let t = self.transport();
            self.out.clear();
            let start = Instant::now();
            self.engine
                .process(black_box(&t), BLOCK, &[], &mut self.out);
            total += start.elapsed();
            if with_beat {
                debug_assert_eq!(self.out.generated.len(), 1);
            }
            black_box(&self.out.notes);
            self.sample += BLOCK as u64;
        }
        total
    }
}

/// The settings of the per-beat benchmarks.
fn beat_settings() -> Settings {
    Settings {
        temperature: 0.5,
        rhythm: Rhythm::Beat,
        ..Settings::default()
    }
}

fn process_block(c: &mut Criterion) {
    let mut host = Host::new(beat_settings());
    c.bench_function("process_block", |b| {
        b.iter_custom(|iters| host.time(iters, true))
    });
    let mut host = Host::new(beat_settings());
    c.bench_function("process_block_idle", |b| {
        b.iter_custom(|iters| host.time(iters, false))
    });
    let mut host = Host::new(Settings::default());
    c.bench_function("process_block_default", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                host.run();
            }
            start.elapsed()
        })
    });
}

criterion_group!(benches, process_block);
criterion_main!(benches);
