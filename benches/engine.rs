//! `process_block`: one 512-sample block at 48 kHz holding a beat in the Beat rhythm (one LSTM
//! step, sampling, pitch decoding, note events). `process_block_idle`: the same block size with
//! no beat in it. The engine plays continuously at 120 BPM; only the blocks of the kind measured
//! are timed. `process_block_default`: every block of continuous play on the default settings
//! (Phrase rhythm, learned contour), so values come as often as the model's durations say.
//! `process_block_trade`: every block of trading fours while the player calls a note every
//! eighth (each press and release goes through the listener; values are heard through the
//! LSTM), answering in the other turns.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::engine::{
    samples_per_beat, Engine, MidiIn, Mode, Output, Rhythm, Settings, Transport,
};
use jazz_synth::model::lstm::Model;

const SAMPLE_RATE: f64 = 48_000.0;
const TEMPO: f64 = 120.0;
const BLOCK: u32 = 512;

/// The real default model (weights/wjd.safetensors: chord-aware, 256 hidden units).
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

fn process_block_trade(c: &mut Criterion) {
    let mut host = Host::new(Settings {
        mode: Mode::Trade,
        trade_bars: 4,
        ..Settings::default()
    });
    let spb = samples_per_beat(SAMPLE_RATE, TEMPO);
    let eighth = (spb / 2.0) as u64;
    let mut midi: Vec<MidiIn> = Vec::with_capacity(16);
    c.bench_function("process_block_trade", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A note on every eighth of the block, the previous one released there.
                midi.clear();
                let first = host.sample.div_ceil(eighth) * eighth;
                let mut at = first;
                while at < host.sample + u64::from(BLOCK) {
                    let step = at / eighth;
                    let note = 60 + [0u8, 2, 4, 5, 7, 9, 11, 12][(step % 8) as usize];
                    let previous = 60 + [0u8, 2, 4, 5, 7, 9, 11, 12][((step + 7) % 8) as usize];
                    let sample = (at - host.sample) as u32;
                    midi.push(MidiIn::NoteOff {
                        sample,
                        channel: 0,
                        note: previous,
                    });
                    midi.push(MidiIn::NoteOn {
                        sample,
                        channel: 0,
                        note,
                        velocity: 90,
                    });
                    at += eighth;
                }
                let t = host.transport();
                host.out.clear();
                let start = Instant::now();
                host.engine
                    .process(black_box(&t), BLOCK, black_box(&midi), &mut host.out);
                total += start.elapsed();
                black_box(&host.out.notes);
                host.sample += u64::from(BLOCK);
            }
            total
        })
    });
}

criterion_group!(benches, process_block, process_block_trade);
criterion_main!(benches);
