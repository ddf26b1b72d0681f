//! The engine against a simulated host: beats on the exact sample, the same
//! solo for any block size, state across blocks, no stuck notes, and no
//! allocation on the audio path.

use assert_no_alloc::{assert_no_alloc, AllocDisabler};

mod common;

use jazz_synth::engine::{
    sample_sequence, samples_per_beat, ChordSource, Contour, Engine, Generated, MidiIn, NoteEvent,
    Output, Rhythm, Settings, Swing, Transport,
};
use jazz_synth::model::lstm::{self, sample_with, Model};
use jazz_synth::model::weights;
use jazz_synth::music::grammar::{Role, Value};
use jazz_synth::music::theory::Chord;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

// ---------------------------------------------------------------------------
// A model and a simulated host.
// ---------------------------------------------------------------------------

/// Values in the style of the Metheny corpus: every role, 16ths, 8ths,
/// triplets, quarters, longer notes, with and without `<UP,DOWN>` ranges.
const VOCAB: &[&str] = &[
    "C,0.250",
    "C,0.500",
    "C,1.000",
    "S,0.500",
    "S,0.250,<m3,m-3>",
    "S,0.500,<M2,M-6>",
    "C,0.500,<P4,m-2>",
    "C,0.333,<m3,P-4>",
    "A,0.250,<m2,M-3>",
    "A,0.500,<M3,m-2>",
    "X,0.250,<P5,m-3>",
    "X,0.667,<m2,m-6>",
    "R,0.250",
    "R,0.500",
    "R,1.000",
    "C,1.500,<M3,M-2>",
    "S,1.333,<P4,M-3>",
    "C,0.750,<m6,P-5>",
    "S,0.125,<M2,m-2>",
    "C,2.000",
];

/// A small random network over [`VOCAB`], a different model to swap in.
fn model_with_seed(seed: u64) -> Model {
    common::random_model(VOCAB, 16, seed)
}

/// The real seed model (weights/metheny.safetensors, trained on the Metheny solo): the engine's
/// mechanics are checked on a model without chord inputs, whose value stream is
/// `sample_sequence`'s (the chord-aware default is checked in tests/jazz_model.rs).
fn model() -> Model {
    weights::metheny_model()
}

/// The timing rules are tested on the original's engine: a value per beat, pitches drawn like
/// the original, straight eighths. (The learned contour is tested on its own below and in
/// style_fidelity.rs; swing in tests/swing.rs.)
fn settings() -> Settings {
    Settings {
        temperature: 0.8,
        seed: 42,
        rhythm: Rhythm::Beat,
        contour: Contour::Original,
        swing: Swing::STRAIGHT,
        ..Settings::default()
    }
}

/// An event at an absolute sample (since the simulated host started).
#[derive(Clone, Copy, Debug, PartialEq)]
struct At<T> {
    sample: u64,
    event: T,
}

/// A host: a sample counter and a transport laid over it. The position of
/// each block is computed from the sample count like a host does, never
/// accumulated.
struct Host {
    engine: Engine,
    out: Output,
    sample_rate: f64,
    tempo: f64,
    /// The position (beats) at `segment_start`, and the absolute sample
    /// since which the tempo held.
    segment_position: f64,
    segment_start: u64,
    now: u64,
    playing: bool,
    notes: Vec<At<NoteEvent>>,
    generated: Vec<At<Generated>>,
    /// MIDI input at absolute samples, fed as blocks cover them.
    midi: Vec<At<MidiIn>>,
    midi_block: Vec<MidiIn>,
}

impl Host {
    fn new(engine: Engine, sample_rate: f64, tempo: f64) -> Host {
        Host {
            engine,
            out: Output::with_capacity(256),
            sample_rate,
            tempo,
            segment_position: 0.0,
            segment_start: 0,
            now: 0,
            playing: true,
            notes: Vec::new(),
            generated: Vec::new(),
            midi: Vec::new(),
            midi_block: Vec::with_capacity(256),
        }
    }

    fn with(settings: Settings, sample_rate: f64, tempo: f64) -> Host {
        Host::new(
            Engine::new(Box::new(model()), settings, sample_rate),
            sample_rate,
            tempo,
        )
    }

    fn position(&self) -> f64 {
        self.segment_position
            + (self.now - self.segment_start) as f64 * self.tempo / (60.0 * self.sample_rate)
    }

    fn transport(&self) -> Transport {
        Transport {
            playing: self.playing,
            tempo_bpm: self.tempo,
            position_beats: Some(self.position()),
            time_sig: (4, 4),
            bar: None,
        }
    }

    /// Runs one block with `transport`.
    fn block_with(&mut self, transport: Transport, n: u32) {
        self.midi_block.clear();
        let end = self.now + n as u64;
        for m in self
            .midi
            .iter()
            .filter(|m| m.sample >= self.now && m.sample < end)
        {
            let offset = (m.sample - self.now) as u32;
            self.midi_block.push(match m.event {
                MidiIn::NoteOn {
                    channel,
                    note,
                    velocity,
                    ..
                } => MidiIn::NoteOn {
                    sample: offset,
                    channel,
                    note,
                    velocity,
                },
                MidiIn::NoteOff { channel, note, .. } => MidiIn::NoteOff {
                    sample: offset,
                    channel,
                    note,
                },
            });
        }
        self.out.clear();
        self.engine
            .process(&transport, n, &self.midi_block, &mut self.out);
        self.record(n);
    }

    fn record(&mut self, n: u32) {
        let mut last = 0;
        for &e in &self.out.notes {
            assert!(e.sample() < n.max(1), "event {e:?} outside a block of {n}");
            assert!(
                e.sample() >= last,
                "events out of order: {:?}",
                self.out.notes
            );
            last = e.sample();
            self.notes.push(At {
                sample: self.now + e.sample() as u64,
                event: e,
            });
        }
        for &g in &self.out.generated {
            self.generated.push(At {
                sample: self.now + g.sample as u64,
                event: g,
            });
        }
        self.now += n as u64;
    }

    fn block(&mut self, n: u32) {
        let t = self.transport();
        self.block_with(t, n);
    }

    /// Plays `samples` samples in blocks whose sizes come from `sizes` (cycled).
    fn play(&mut self, samples: u64, sizes: &[u32]) {
        let end = self.now + samples;
        let mut i = 0;
        while self.now < end {
            let n = (sizes[i % sizes.len()] as u64).min(end - self.now) as u32;
            self.block(n);
            i += 1;
        }
    }

    fn play_beats(&mut self, beats: f64, block: u32) {
        let samples = (beats * samples_per_beat(self.sample_rate, self.tempo)).round() as u64;
        self.play(samples, &[block]);
    }

    /// The host jumps (or loops) to `position` at the current sample.
    fn jump_to(&mut self, position: f64) {
        self.segment_position = position;
        self.segment_start = self.now;
    }

    fn set_tempo(&mut self, tempo: f64) {
        self.segment_position = self.position();
        self.segment_start = self.now;
        self.tempo = tempo;
    }

    fn stop(&mut self, n: u32) {
        self.playing = false;
        self.block(n);
    }

    fn start_at(&mut self, position: f64) {
        self.playing = true;
        self.jump_to(position);
    }

    fn ons(&self) -> Vec<(u64, u8)> {
        self.notes
            .iter()
            .filter_map(|e| match e.event {
                NoteEvent::On { note, .. } => Some((e.sample, note)),
                _ => None,
            })
            .collect()
    }

    fn values(&self) -> Vec<usize> {
        self.generated.iter().map(|g| g.event.value_index).collect()
    }
}

/// Monophony and pairing: every On comes when nothing sounds, every Off ends
/// the note that sounds (same note, same channel). Returns what still sounds.
fn check_pairing(notes: &[At<NoteEvent>]) -> Option<(u8, u8)> {
    let mut sounding: Option<(u8, u8)> = None;
    for e in notes {
        match e.event {
            NoteEvent::On { note, channel, .. } => {
                assert_eq!(
                    sounding, None,
                    "note-on {note} at sample {} while {sounding:?} sounds",
                    e.sample
                );
                sounding = Some((note, channel));
            }
            NoteEvent::Off { note, channel, .. } => {
                assert_eq!(
                    sounding,
                    Some((note, channel)),
                    "note-off {note} at sample {} does not end the sounding note",
                    e.sample
                );
                sounding = None;
            }
        }
    }
    sounding
}

/// Events with only their absolute sample (the in-block offset depends on
/// the block size by design).
fn absolute(notes: &[At<NoteEvent>]) -> Vec<At<NoteEvent>> {
    notes
        .iter()
        .map(|e| At {
            sample: e.sample,
            event: match e.event {
                NoteEvent::On {
                    channel,
                    note,
                    velocity,
                    ..
                } => NoteEvent::On {
                    sample: 0,
                    channel,
                    note,
                    velocity,
                },
                NoteEvent::Off { channel, note, .. } => NoteEvent::Off {
                    sample: 0,
                    channel,
                    note,
                },
            },
        })
        .collect()
}

fn exact_beat_sample(beat: i64, sample_rate: f64, tempo: f64) -> u64 {
    (beat as f64 * samples_per_beat(sample_rate, tempo)).round() as u64
}

// ---------------------------------------------------------------------------
// Timing.
// ---------------------------------------------------------------------------

#[test]
fn notes_fall_on_the_host_beat() {
    for sample_rate in [44_100.0, 48_000.0] {
        for tempo in [60.0, 120.0, 137.5, 200.0] {
            for block in [1, 512, 4096] {
                let mut host = Host::with(settings(), sample_rate, tempo);
                host.play_beats(16.0, block);
                let what = format!("{sample_rate} Hz, {tempo} BPM, blocks of {block}");
                let beats: Vec<i64> = host.generated.iter().map(|g| g.event.beat).collect();
                assert_eq!(beats, (0..16).collect::<Vec<_>>(), "{what}");
                for g in &host.generated {
                    let exact = exact_beat_sample(g.event.beat, sample_rate, tempo);
                    assert_eq!(g.sample, exact, "value of beat {} ({what})", g.event.beat);
                }
                let ons = host.ons();
                assert!(ons.len() >= 8, "the solo plays notes ({what}): {ons:?}");
                for (sample, note) in ons {
                    let g = host.generated.iter().find(|g| g.sample == sample);
                    let g = g.unwrap_or_else(|| {
                        panic!("note-on {note} at {sample} off the beat ({what})")
                    });
                    assert_eq!(g.event.note, Some(note));
                }
            }
        }
    }
}

#[test]
fn a_beat_on_the_block_end_belongs_to_the_next_block() {
    // 120 BPM at 48 kHz: 24000 samples per beat, so beat 1 is exactly the
    // end of a 24000-sample block and sample 0 of the next.
    for block in [24_000, 12_000, 8_000, 1] {
        let mut host = Host::with(settings(), 48_000.0, 120.0);
        host.block(block);
        let first: Vec<u32> = host.out.generated.iter().map(|g| g.sample).collect();
        assert_eq!(
            first,
            [0],
            "block of {block}: only beat 0 in the first block"
        );
        host.play(48_000 - block as u64, &[block]);
        let beats: Vec<(u64, i64)> = host
            .generated
            .iter()
            .map(|g| (g.sample, g.event.beat))
            .collect();
        assert_eq!(beats, [(0, 0), (24_000, 1)], "block of {block}");
    }
    // 4096-sample blocks at 48 kHz, 90 BPM (32000 samples per beat): beat 1
    // lies in the 8th block (28672..32768) at offset 3328.
    let mut host = Host::with(settings(), 48_000.0, 90.0);
    host.play(4096 * 8, &[4096]);
    let last = host.generated.last().unwrap();
    assert_eq!(
        (last.sample, last.event.sample, last.event.beat),
        (32_000, 3328, 1)
    );
}

#[test]
fn a_beat_half_a_sample_early_sounds_at_sample_zero() {
    // A host whose position is a hair past the beat still gets it, at sample 0;
    // a beat 0.6 samples before the block end rounds into the next block.
    let s = settings();
    let mut engine = Engine::new(Box::new(model()), s, 48_000.0);
    let mut out = Output::with_capacity(64);
    let spb = samples_per_beat(48_000.0, 120.0);
    engine.process(&Transport::playing_at(0.3 / spb, 120.0), 100, &[], &mut out);
    assert_eq!(out.generated.len(), 1);
    assert_eq!(out.generated[0].sample, 0);
    out.clear();
    let mut engine = Engine::new(Box::new(model()), s, 48_000.0);
    engine.process(
        &Transport::playing_at(1.0 - 99.6 / spb, 120.0),
        100,
        &[],
        &mut out,
    );
    assert!(
        out.generated.is_empty(),
        "beat 1 rounds to sample 100, the next block"
    );
    out.clear();
    engine.process(
        &Transport::playing_at(1.0 + 0.4 / spb, 120.0),
        100,
        &[],
        &mut out,
    );
    assert_eq!(out.generated.len(), 1);
    assert_eq!((out.generated[0].sample, out.generated[0].beat), (0, 1));
}

#[test]
fn same_solo_for_any_block_size() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let random: Vec<u32> = (0..1000).map(|_| rng.random_range(1..3000)).collect();
    for rhythm in [Rhythm::Beat, Rhythm::Phrase] {
        let s = Settings {
            rhythm,
            ..settings()
        };
        let run = |sizes: &[u32]| {
            let mut host = Host::with(s, 44_100.0, 137.5);
            // Chords from the keyboard too, so their timing is checked as well.
            host.engine.set_settings(&Settings {
                chord_source: ChordSource::MidiInput,
                ..s
            });
            for (i, chord) in [[62u8, 65, 69], [67, 71, 74], [60, 64, 67]]
                .iter()
                .enumerate()
            {
                let at = 30_000 + i as u64 * 100_001;
                for &note in chord {
                    host.midi.push(At {
                        sample: at,
                        event: MidiIn::NoteOn {
                            sample: 0,
                            channel: 0,
                            note,
                            velocity: 90,
                        },
                    });
                    host.midi.push(At {
                        sample: at + 90_000,
                        event: MidiIn::NoteOff {
                            sample: 0,
                            channel: 0,
                            note,
                        },
                    });
                }
            }
            host.play(12 * 19_244, sizes);
            host.stop(64);
            let values = host.values();
            (absolute(&host.notes), values)
        };
        let reference = run(&[512]);
        assert!(reference.0.len() > 12, "{rhythm:?}: {:?}", reference.0);
        for sizes in [&[1u32][..], &[7], &[64], &[4096], &random] {
            let other = run(sizes);
            assert_eq!(
                other.1,
                reference.1,
                "{rhythm:?}: values, blocks {:?}",
                &sizes[..1]
            );
            assert_eq!(
                other.0,
                reference.0,
                "{rhythm:?}: notes, blocks {:?}",
                &sizes[..1]
            );
        }
    }
}

#[test]
fn phrase_rhythm_follows_value_durations_on_the_grid() {
    let s = Settings {
        rhythm: Rhythm::Phrase,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    host.play_beats(32.0, 333);
    let vocab: Vec<Value> = model().vocab().to_vec();
    let spb = samples_per_beat(48_000.0, 120.0);
    // Each value starts where the previous value's duration (on the 1/12
    // grid, computed from the host position) ends.
    let mut grid_position = 0.0f64;
    for g in &host.generated {
        let expected = (grid_position * spb).round() as u64;
        assert_eq!(g.sample, expected, "value at grid position {grid_position}");
        let ticks = (vocab[g.event.value_index].duration * 12.0)
            .round()
            .max(1.0);
        grid_position += ticks / 12.0;
    }
    assert!(
        host.generated.len() > 32,
        "phrases hold sixteenths: {}",
        host.generated.len()
    );
    // Off-beat onsets exist (sixteenths, triplets).
    assert!(host.generated.iter().any(|g| g.sample % 24_000 != 0));
}

#[test]
fn beat_rhythm_notes_last_their_value() {
    let mut host = Host::with(settings(), 48_000.0, 120.0);
    host.play_beats(32.0, 512);
    let vocab: Vec<Value> = model().vocab().to_vec();
    let mut checked = 0;
    for (i, g) in host.generated.iter().enumerate() {
        let Some(note) = g.event.note else { continue };
        let on = host
            .notes
            .iter()
            .position(|e| e.sample == g.sample && matches!(e.event, NoteEvent::On { .. }))
            .unwrap();
        let off = host.notes[on + 1..]
            .iter()
            .find(|e| matches!(e.event, NoteEvent::Off { note: n, .. } if n == note));
        let Some(off) = off else { continue };
        // The duration on the 1/12-beat grid, cut at the next beat.
        let duration = ((vocab[g.event.value_index].duration * 12.0).round() / 12.0).min(1.0);
        let expected_len = ((g.event.beat as f64 + duration) * 24_000.0).round() as u64 - g.sample;
        let next_onset = host.generated.get(i + 1).map(|n| n.sample);
        let expected_end =
            next_onset.map_or(g.sample + expected_len, |n| n.min(g.sample + expected_len));
        assert_eq!(
            off.sample, expected_end,
            "note {note} of value {}",
            vocab[g.event.value_index]
        );
        checked += 1;
    }
    assert!(checked > 10);
}

// ---------------------------------------------------------------------------
// State across blocks.
// ---------------------------------------------------------------------------

#[test]
fn lstm_state_after_n_beats_equals_n_direct_steps() {
    for temperature in [0.0, 0.8] {
        let s = Settings {
            temperature,
            ..settings()
        };
        let mut host = Host::with(s, 44_100.0, 137.5);
        host.play_beats(40.5, 300);
        let n = host.generated.len();
        assert_eq!(n, 41);

        let mut direct = model();
        let values = sample_sequence(&mut direct, n, temperature, s.seed);
        assert_eq!(host.values(), values, "temperature {temperature}");
        assert_eq!(host.engine.model().hidden(), direct.hidden());
        assert_eq!(host.engine.model().cell(), direct.cell());
    }
}

#[test]
fn argmax_solo_is_the_feed_back_argmax_sequence() {
    let s = Settings {
        temperature: 0.0,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    host.play_beats(24.0, 4096);
    // The original's inference written out: zero input first, then the
    // argmax of each step fed back as a one-hot input.
    let mut m = model();
    let mut input = None;
    let mut expected = Vec::new();
    for _ in 0..24 {
        let i = lstm::argmax(m.step(input));
        expected.push(i);
        input = Some(i);
    }
    assert_eq!(host.values(), expected);
    let seed_does_not_matter = sample_sequence(&mut model(), 24, 0.0, 999);
    assert_eq!(seed_does_not_matter, expected);
}

#[test]
fn sample_with_follows_the_tempered_distribution() {
    let probs = [0.5f32, 0.25, 0.15, 0.1, 0.0];
    let mut weights = [0.0f32; 8];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    assert_eq!(sample_with(&probs, 0.0, &mut rng, &mut weights), 0);
    assert_eq!(
        sample_with(&[0.1, 0.4, 0.4, 0.1], 0.0, &mut rng, &mut weights),
        1,
        "first maximum"
    );
    for temperature in [0.25f32, 0.5, 0.7, 1.0, 2.0] {
        let tempered: Vec<f64> = probs
            .iter()
            .map(|&p| f64::from(p).powf(1.0 / f64::from(temperature)))
            .collect();
        let z: f64 = tempered.iter().sum();
        let mut counts = [0usize; 5];
        let n = 200_000;
        for _ in 0..n {
            counts[sample_with(&probs, temperature, &mut rng, &mut weights)] += 1;
        }
        assert_eq!(counts[4], 0, "a zero probability is never drawn");
        for i in 0..5 {
            let expected = tempered[i] / z;
            let got = counts[i] as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.005,
                "T={temperature} value {i}: {got} vs {expected}"
            );
        }
    }
    // Too small a scratch buffer computes the weights twice: same draw.
    for temperature in [0.5f32, 0.7] {
        let (mut a, mut b) = (
            Xoshiro256PlusPlus::seed_from_u64(9),
            Xoshiro256PlusPlus::seed_from_u64(9),
        );
        for _ in 0..1000 {
            assert_eq!(
                sample_with(&probs, temperature, &mut a, &mut [0.0f32; 2]),
                sample_with(&probs, temperature, &mut b, &mut weights)
            );
        }
    }
}

#[test]
fn start_resets_state_and_rng_unless_told_not_to() {
    let mut host = Host::with(settings(), 48_000.0, 120.0);
    host.play_beats(8.0, 512);
    let first = host.values();
    host.stop(512);
    host.generated.clear();
    host.start_at(0.0);
    host.play_beats(8.0, 512);
    assert_eq!(host.values(), first, "same seed and position, same solo");

    let s = Settings {
        reset_on_start: false,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    host.play_beats(8.0, 512);
    host.stop(512);
    host.generated.clear();
    host.start_at(0.0);
    host.play_beats(8.0, 512);
    let mut direct = model();
    let sixteen = sample_sequence(&mut direct, 16, s.temperature, s.seed);
    assert_eq!(
        host.values(),
        sixteen[8..],
        "the solo continues where it stopped"
    );
}

// ---------------------------------------------------------------------------
// No stuck notes.
// ---------------------------------------------------------------------------

/// A low-temperature solo of long notes so something sounds at most moments.
fn sustaining() -> Settings {
    Settings {
        temperature: 0.3,
        ..settings()
    }
}

#[test]
fn stop_ends_the_sounding_note_at_the_stop_sample() {
    let mut host = Host::with(sustaining(), 48_000.0, 120.0);
    let mut stops = 0;
    for round in 0..20 {
        host.start_at(0.0);
        host.play(24_000 * 2 + 1_000 * round, &[512]);
        // Half the rounds stop over a sounding note (the moment after a note-on).
        while round % 2 == 0 && host.engine.sounding_note().is_none() {
            host.block(37);
        }
        let sounding = host.engine.sounding_note();
        let before = host.notes.len();
        let stop_at = host.now;
        host.stop(512);
        match sounding {
            Some(note) => {
                stops += 1;
                assert_eq!(host.notes.len(), before + 1);
                let last = host.notes.last().unwrap();
                assert_eq!(last.sample, stop_at);
                assert!(matches!(last.event, NoteEvent::Off { note: n, .. } if n == note));
            }
            None => assert_eq!(host.notes.len(), before),
        }
        assert_eq!(host.engine.sounding_note(), None);
        // Stopped: silence, however long.
        let silent_from = host.notes.len();
        host.play(48_000, &[512]);
        assert_eq!(host.notes.len(), silent_from);
    }
    assert!(stops >= 10, "the test stopped over sounding notes: {stops}");
    assert_eq!(check_pairing(&host.notes), None);
}

#[test]
fn loops_and_jumps_never_double_or_strand_a_note() {
    let mut host = Host::with(sustaining(), 44_100.0, 120.0);
    let spb = samples_per_beat(44_100.0, 120.0);
    host.play(((4.0 - 0.25) * spb) as u64, &[256]);
    // A loop back to bar 1, a jump forward, a loop to a position just after a
    // beat, a jump exactly onto a beat.
    for target in [0.0, 13.5, 2.0 + 0.3 / spb, 7.0] {
        let sounding = host.engine.sounding_note();
        let before = host.notes.len();
        let at = host.now;
        host.jump_to(target);
        host.block(256);
        let block: Vec<At<NoteEvent>> = host.notes[before..].to_vec();
        if let Some(note) = sounding {
            assert!(
                matches!(block.first(), Some(At { sample, event: NoteEvent::Off { note: n, .. } }) if *sample == at && *n == note),
                "jump to {target}: the sounding note ends at the jump: {block:?}"
            );
        }
        let generated_here: Vec<i64> = host
            .generated
            .iter()
            .filter(|g| g.sample >= at)
            .map(|g| g.event.beat)
            .collect();
        if target.fract() == 0.0 || target.fract() < 1e-3 {
            assert_eq!(
                generated_here,
                [target.floor() as i64],
                "jump to {target} plays its beat"
            );
        } else {
            assert!(
                generated_here.is_empty(),
                "jump to {target}: nothing before the next beat"
            );
        }
        host.play((2.5 * spb) as u64, &[256]);
    }
    // Every beat value exactly once per pass of the grid after each jump.
    let beats: Vec<i64> = host.generated.iter().map(|g| g.event.beat).collect();
    for w in beats.windows(2) {
        assert!(
            w[1] == w[0] + 1 || [0, 14, 2, 7].contains(&w[1]),
            "beats run in order between jumps: {beats:?}"
        );
    }
    host.stop(256);
    assert_eq!(check_pairing(&host.notes), None);
}

#[test]
fn tempo_changes_keep_the_grid() {
    let mut host = Host::with(sustaining(), 48_000.0, 120.0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    for _ in 0..40 {
        host.play(rng.random_range(1_000..30_000), &[480]);
        host.set_tempo(rng.random_range(60.0..220.0));
    }
    let beats: Vec<i64> = host.generated.iter().map(|g| g.event.beat).collect();
    let expected: Vec<i64> = (0..beats.len() as i64).collect();
    assert_eq!(
        beats, expected,
        "no beat doubled or skipped across tempo changes"
    );
    host.stop(480);
    assert_eq!(check_pairing(&host.notes), None);
}

#[test]
fn weights_swap_happens_on_a_beat_and_returns_the_old_model() {
    let mut host = Host::with(sustaining(), 48_000.0, 120.0);
    host.play(24_000 * 3 + 5_000, &[512]);
    let other = model_with_seed(99);
    let other_kernel = other.params().kernel.clone();
    host.engine.queue_model(Box::new(other));
    let sounding = host.engine.sounding_note();
    let before = host.notes.len();
    // Until the beat, the old model plays and nothing comes back.
    host.play(24_000 - 5_000 - 512, &[512]);
    assert!(host.engine.take_retired().is_none());
    assert_ne!(host.engine.model().params().kernel, other_kernel);
    host.play(1024, &[512]);
    let retired = host
        .engine
        .take_retired()
        .expect("the old model comes back");
    assert_eq!(retired.params().kernel, model().params().kernel);
    assert!(host.engine.take_retired().is_none());
    assert_eq!(host.engine.model().params().kernel, other_kernel);
    // The swap happened on beat 4: what sounded ends there, the new model
    // starts from zero state with the zero input.
    let beat4 = 4 * 24_000;
    if let Some(note) = sounding {
        let off = host.notes[before..]
            .iter()
            .find(|e| matches!(e.event, NoteEvent::Off { note: n, .. } if n == note))
            .unwrap();
        assert!(off.sample <= beat4);
    }
    let g = host.generated.last().unwrap();
    assert_eq!((g.sample, g.event.beat), (beat4, 4));
    let mut fresh = model_with_seed(99);
    let probs = fresh.step(None).to_vec();
    let mut one = model_with_seed(99);
    let _ = sample_sequence(&mut one, 1, 0.0, 0);
    assert_eq!(host.engine.model().hidden(), one.hidden(), "{probs:?}");
    host.play(24_000 * 4, &[512]);
    host.stop(512);
    assert_eq!(check_pairing(&host.notes), None);
}

#[test]
fn a_model_queued_while_stopped_is_swapped_at_once() {
    let mut host = Host::with(settings(), 48_000.0, 120.0);
    host.stop(256);
    host.engine.queue_model(Box::new(model_with_seed(5)));
    host.engine.queue_model(Box::new(model_with_seed(6)));
    host.stop(256);
    let a = host.engine.take_retired().unwrap();
    let b = host.engine.take_retired().unwrap();
    assert!(host.engine.take_retired().is_none());
    let kernels = [a.params().kernel.clone(), b.params().kernel.clone()];
    assert!(kernels.contains(&model().params().kernel));
    assert!(kernels.contains(&model_with_seed(5).params().kernel));
    assert_eq!(
        host.engine.model().params().kernel,
        model_with_seed(6).params().kernel
    );
}

#[test]
fn all_notes_off_ends_the_note_where_asked() {
    let mut host = Host::with(sustaining(), 48_000.0, 120.0);
    let mut ended = 0;
    for _ in 0..30 {
        host.play(7_777, &[512]);
        if let Some(note) = host.engine.sounding_note() {
            host.out.clear();
            host.engine.all_notes_off(17, &mut host.out);
            assert_eq!(
                host.out.notes,
                [NoteEvent::Off {
                    sample: 17,
                    channel: 0,
                    note
                }]
            );
            ended += 1;
            host.notes.push(At {
                sample: host.now,
                event: host.out.notes[0],
            });
        }
        assert_eq!(host.engine.sounding_note(), None);
        host.out.clear();
        host.engine.all_notes_off(0, &mut host.out);
        assert!(host.out.notes.is_empty(), "nothing left to end");
    }
    assert!(ended > 5);
    assert_eq!(check_pairing(&host.notes), None);
}

#[test]
fn random_transport_every_note_on_has_its_note_off_and_stays_in_range() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2024);
    for round in 0..6 {
        let low = rng.random_range(30..70u8);
        let high = low + rng.random_range(0..30u8);
        let s = Settings {
            low,
            high,
            temperature: rng.random_range(0.0..1.5),
            rhythm: if round % 2 == 0 {
                Rhythm::Beat
            } else {
                Rhythm::Phrase
            },
            channel: round as u8,
            transpose: rng.random_range(-6..7),
            ..settings()
        };
        let mut host = Host::with(s, 44_100.0, 120.0);
        for _ in 0..300 {
            random_host_step(&mut host, &mut rng);
        }
        host.stop(64);
        assert_eq!(
            check_pairing(&host.notes),
            None,
            "round {round}: nothing left sounding"
        );
        let ons = host.ons();
        assert!(ons.len() > 50, "round {round}: {}", ons.len());
        for (at, note) in ons {
            assert!(
                (low..=high).contains(&note),
                "note {note} at {at} outside {low}..={high}"
            );
        }
        for e in &host.notes {
            let channel = match e.event {
                NoteEvent::On {
                    channel, velocity, ..
                } => {
                    assert_eq!(velocity, s.velocity);
                    channel
                }
                NoteEvent::Off { channel, .. } => channel,
            };
            assert_eq!(channel, s.channel);
        }
    }
}

/// One random host action: play blocks of random size, change tempo, jump,
/// loop, stop, start, toggle free run with no position, swap a model.
fn random_host_step(host: &mut Host, rng: &mut Xoshiro256PlusPlus) {
    match rng.random_range(0..20) {
        0 => host.set_tempo(rng.random_range(40.0..300.0)),
        1 => host.jump_to(rng.random_range(0.0..64.0)),
        2 => host.jump_to(
            (host.position() - rng.random_range(0.0..8.0))
                .max(0.0)
                .floor(),
        ),
        3 => {
            host.stop(rng.random_range(1..2048));
            host.start_at(rng.random_range(0..32) as f64);
        }
        4 => {
            let mut s = *host.engine.settings();
            s.free_run = true;
            host.engine.set_settings(&s);
            let t = Transport {
                playing: false,
                tempo_bpm: host.tempo,
                position_beats: None,
                time_sig: (4, 4),
                bar: None,
            };
            for _ in 0..rng.random_range(1..40) {
                host.block_with(t, rng.random_range(1..4096));
            }
            s.free_run = false;
            host.engine.set_settings(&s);
        }
        5 => {
            host.engine
                .queue_model(Box::new(model_with_seed(rng.random_range(0..3))));
        }
        _ => {
            let n = rng.random_range(1..4096);
            host.block(n);
        }
    }
    while host.engine.take_retired().is_some() {}
}

#[test]
fn no_position_is_silent_unless_free_run() {
    let no_position = Transport {
        playing: true,
        tempo_bpm: 120.0,
        position_beats: None,
        time_sig: (4, 4),
        bar: None,
    };
    let mut host = Host::with(settings(), 48_000.0, 120.0);
    for _ in 0..200 {
        host.block_with(no_position, 512);
    }
    assert!(host.notes.is_empty() && host.generated.is_empty());

    let s = Settings {
        free_run: true,
        ..settings()
    };
    let run = |sizes: &[u32]| {
        let mut host = Host::with(s, 48_000.0, 120.0);
        let mut i = 0;
        while host.now < 8 * 24_000 {
            let n = sizes[i % sizes.len()].min((8 * 24_000 - host.now) as u32);
            host.block_with(no_position, n);
            i += 1;
        }
        host.generated
            .iter()
            .map(|g| (g.sample, g.event.beat, g.event.value_index, g.event.note))
            .collect::<Vec<_>>()
    };
    let generated = run(&[512]);
    let samples: Vec<(u64, i64)> = generated.iter().map(|g| (g.0, g.1)).collect();
    let expected: Vec<(u64, i64)> = (0..8).map(|k| (k as u64 * 24_000, k)).collect();
    assert_eq!(samples, expected, "free run keeps its own beat");
    assert_eq!(
        run(&[1, 999, 4096, 7]),
        generated,
        "free run is block-size independent too"
    );
}

#[test]
fn garbage_transport_is_silence_not_a_panic() {
    let mut engine = Engine::new(Box::new(model()), settings(), 48_000.0);
    let mut out = Output::with_capacity(16);
    let garbage = [
        Transport::playing_at(f64::NAN, 120.0),
        Transport::playing_at(1e300, 120.0),
        Transport::playing_at(-1e300, 120.0),
        Transport::playing_at(f64::INFINITY, 120.0),
        Transport::playing_at(4.0, 0.0),
        Transport::playing_at(4.0, -120.0),
        Transport::playing_at(4.0, f64::NAN),
    ];
    for t in garbage {
        for n in [0, 1, 512] {
            engine.process(&t, n, &[], &mut out);
        }
    }
    assert!(
        out.notes.is_empty() && out.generated.is_empty(),
        "{:?}",
        out.notes
    );
    // Extreme but valid: negative positions (pre-roll) and huge tempos play.
    engine.process(&Transport::playing_at(-2.0, 120.0), 48_000, &[], &mut out);
    assert_eq!(
        out.generated.iter().map(|g| g.beat).collect::<Vec<_>>(),
        [-2, -1]
    );
    out.clear();
    engine.process(&Transport::playing_at(0.0, 1e9), 4096, &[], &mut out);
    // Clamped to 1000 BPM: 2880 samples per beat, so beats 0 and 1 in 4096 samples.
    assert_eq!(
        out.generated.iter().map(|g| g.sample).collect::<Vec<_>>(),
        [0, 2880]
    );
    out.clear();
    let mut tiny = Output::with_capacity(0);
    engine.process(
        &Transport::playing_at(100.0, 1000.0),
        48_000,
        &[],
        &mut tiny,
    );
    assert!(tiny.notes.len() <= tiny.notes.capacity());
    assert_eq!(check_pairing(&[]), None);
}

// ---------------------------------------------------------------------------
// Chords.
// ---------------------------------------------------------------------------

/// Pitch classes of the notes played over `chord` held on the MIDI input.
fn solo_over_held(chord: &[u8]) -> (Vec<u8>, Vec<Generated>) {
    let s = Settings {
        chord_source: ChordSource::MidiInput,
        temperature: 1.0,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    for &note in chord {
        host.midi.push(At {
            sample: 0,
            event: MidiIn::NoteOn {
                sample: 0,
                channel: 0,
                note,
                velocity: 80,
            },
        });
    }
    host.play_beats(96.0, 512);
    let pcs = host.ons().iter().map(|&(_, n)| n % 12).collect();
    (pcs, host.generated.iter().map(|g| g.event).collect())
}

#[test]
fn chords_from_midi_input_change_which_pitches_are_chosen() {
    let c_major = [60, 64, 67];
    let f_sharp_major = [66, 70, 73];
    let (over_c, gen_c) = solo_over_held(&c_major);
    let (over_fs, gen_fs) = solo_over_held(&f_sharp_major);
    assert_ne!(over_c, over_fs);
    // Same values (same seed), different chords, so different pitches.
    let values_c: Vec<usize> = gen_c.iter().map(|g| g.value_index).collect();
    let values_fs: Vec<usize> = gen_fs.iter().map(|g| g.value_index).collect();
    assert_eq!(values_c, values_fs);
    assert!(gen_c.iter().all(|g| g.chord == Chord::from_midi(&c_major)));
    assert!(gen_fs
        .iter()
        .all(|g| g.chord == Chord::from_midi(&f_sharp_major)));
    // `C` values are chord tones of the held chord.
    let vocab = model().vocab().to_vec();
    let mut chord_tones = 0;
    for (g, chord) in [(&gen_c, &c_major), (&gen_fs, &f_sharp_major)]
        .iter()
        .flat_map(|(gs, ch)| gs.iter().map(move |g| (g, *ch)))
    {
        if let (Some(note), Role::Chord) = (g.note, vocab[g.value_index].role) {
            assert!(
                chord.iter().any(|c| c % 12 == note % 12),
                "{note} over {chord:?}"
            );
            chord_tones += 1;
        }
    }
    assert!(chord_tones > 20);
    // F# major's tones dominate its solo; C major's tones (no F#, A#, C#) that one.
    let share = |pcs: &[u8], set: &[u8]| {
        pcs.iter().filter(|p| set.contains(p)).count() as f64 / pcs.len() as f64
    };
    assert!(share(&over_c, &[6, 10, 1]) < share(&over_fs, &[6, 10, 1]));
}

#[test]
fn the_last_midi_chord_holds_after_release() {
    let s = Settings {
        chord_source: ChordSource::MidiInput,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    // Before any chord: the progression (ii-V-I in C starts on Dm7).
    host.play_beats(1.0, 512);
    assert_eq!(host.generated[0].event.chord, host.engine.chord_at(0.0));
    let d_minor = host.engine.progression().chord_at(0.0);
    assert_eq!(host.generated[0].event.chord, d_minor);
    let a_flat7 = [56u8, 60, 63, 66];
    let at = host.now + 100;
    for (i, &note) in a_flat7.iter().enumerate() {
        host.midi.push(At {
            sample: at + i as u64,
            event: MidiIn::NoteOn {
                sample: 0,
                channel: 0,
                note,
                velocity: 70,
            },
        });
        // Released one by one: the chord holds through the release.
        host.midi.push(At {
            sample: at + 5_000 + 3_000 * i as u64,
            event: MidiIn::NoteOff {
                sample: 0,
                channel: 0,
                note,
            },
        });
    }
    host.play_beats(8.0, 512);
    let expected = Chord::from_midi(&a_flat7);
    assert_eq!(host.engine.midi_chord(), Some(expected));
    // Beat 1 (sample 24000) came before the chord (24100); every later beat is over it.
    assert_eq!(host.generated[1].event.chord, d_minor);
    assert!(host.generated[2..]
        .iter()
        .all(|g| g.event.chord == expected));
    // A legato change: the new chord is pressed before the old one is let go.
    let at = host.now;
    for note in [61u8, 65, 68] {
        host.midi.push(At {
            sample: at,
            event: MidiIn::NoteOn {
                sample: 0,
                channel: 0,
                note,
                velocity: 70,
            },
        });
        host.midi.push(At {
            sample: at + 30_000,
            event: MidiIn::NoteOff {
                sample: 0,
                channel: 0,
                note,
            },
        });
    }
    for note in [60u8, 64, 67] {
        host.midi.push(At {
            sample: at + 20_000,
            event: MidiIn::NoteOn {
                sample: 0,
                channel: 0,
                note,
                velocity: 70,
            },
        });
    }
    host.play(25_000, &[512]);
    assert_ne!(
        host.engine.midi_chord(),
        Some(Chord::from_midi(&[61, 65, 68])),
        "both chords held"
    );
    host.play(25_000, &[512]);
    assert_eq!(
        host.engine.midi_chord(),
        Some(Chord::from_midi(&[60, 64, 67]))
    );
}

#[test]
fn progression_chords_follow_the_host_position_and_transpose() {
    let s = Settings {
        progression: 1, // 12-bar blues in F
        transpose: 2,
        ..settings()
    };
    let mut host = Host::with(s, 48_000.0, 120.0);
    host.play_beats(48.0, 1024);
    let blues = jazz_synth::music::changes::builtin(1).unwrap();
    for g in &host.generated {
        let written = blues.chord_at(g.event.beat as f64);
        assert_eq!(
            g.event.chord.root,
            (written.root + 2) % 12,
            "beat {}",
            g.event.beat
        );
        assert_eq!(g.event.chord.pcs, written.pcs.transpose(2));
        assert_eq!(g.event.chord.quality, written.quality);
    }
    // Bar 2 of the blues in F is Bb7; transposed up a tone, C7.
    assert_eq!(host.generated[4].event.chord.root, 0);
}

// ---------------------------------------------------------------------------
// The audio path never allocates.
// ---------------------------------------------------------------------------

#[test]
fn no_allocation_on_the_audio_path() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(77);
    let spare: Vec<Box<Model>> = (0..40).map(|i| Box::new(model_with_seed(i))).collect();
    let mut spare = spare.into_iter();
    let mut engine = Engine::new(Box::new(model()), settings(), 44_100.0);
    let mut out = Output::with_capacity(256);
    let mut midi = Vec::with_capacity(64);
    let mut position = 0.0f64;
    let mut tempo = 120.0;
    let mut playing = true;
    let mut s = settings();
    let mut blocks = 0;
    let mut notes = 0;
    while blocks < 60_000 {
        let n: u32 = rng.random_range(1..2048);
        midi.clear();
        for _ in 0..rng.random_range(0..3) {
            let note = rng.random_range(48..72);
            let sample = rng.random_range(0..n);
            midi.push(if rng.random_bool(0.5) {
                MidiIn::NoteOn {
                    sample,
                    channel: 0,
                    note,
                    velocity: 90,
                }
            } else {
                MidiIn::NoteOff {
                    sample,
                    channel: 0,
                    note,
                }
            });
        }
        midi.sort_by_key(|m| match *m {
            MidiIn::NoteOn { sample, .. } | MidiIn::NoteOff { sample, .. } => sample,
        });
        match rng.random_range(0..100) {
            0 => position = rng.random_range(0.0..100.0),
            1 => tempo = rng.random_range(30.0..400.0),
            2 => playing = !playing,
            3 => {
                s.rhythm = if s.rhythm == Rhythm::Beat {
                    Rhythm::Phrase
                } else {
                    Rhythm::Beat
                };
                s.chord_source = if rng.random_bool(0.5) {
                    ChordSource::MidiInput
                } else {
                    ChordSource::Progression
                };
                s.progression = rng.random_range(0..6);
                s.temperature = rng.random_range(0.0..2.0);
                s.free_run = rng.random_bool(0.5);
            }
            4 => {
                if let Some(m) = spare.next() {
                    assert_no_alloc(|| engine.queue_model(m));
                }
            }
            _ => {}
        }
        let transport = Transport {
            playing,
            tempo_bpm: tempo,
            position_beats: if blocks % 5000 < 300 {
                None
            } else {
                Some(position)
            },
            time_sig: (4, 4),
            bar: None,
        };
        out.clear();
        assert_no_alloc(|| {
            engine.set_settings(&s);
            engine.process(&transport, n, &midi, &mut out);
            if blocks % 997 == 0 {
                engine.all_notes_off(n - 1, &mut out);
            }
        });
        notes += out.notes.len();
        if playing {
            position += n as f64 * tempo / (60.0 * 44_100.0);
        }
        // Retired models are dropped here, off the "audio thread".
        while engine.take_retired().is_some() {}
        blocks += 1;
    }
    assert!(notes > 1000, "the run played: {notes} events");
}

/// Plays `bars` of the host's bars (block by block, 512 samples, 120 BPM) with `transport_at`
/// giving the transport for a position; returns every generated value's (beat, chord).
fn chords_played(
    settings: Settings,
    until_beat: f64,
    transport_at: impl Fn(f64) -> Transport,
) -> Vec<(i64, Chord)> {
    let mut engine = Engine::new(Box::new(model()), settings, 48_000.0);
    let mut out = Output::with_capacity(64);
    let spb = samples_per_beat(48_000.0, 120.0);
    let mut played = Vec::new();
    let mut position = 0.0;
    while position < until_beat {
        out.clear();
        engine.process(&transport_at(position), 512, &[], &mut out);
        played.extend(out.generated.iter().map(|g| (g.beat, g.chord)));
        position += 512.0 / spb;
    }
    played
}

/// The progression's bars follow the host's: the ii-V-I chart (`Dm7 | G7 | Cmaj7 | Cmaj7`,
/// written in 4/4) gives each chord one host bar, whatever the time signature.
#[test]
fn progression_bars_follow_the_host_time_signature() {
    let chart = jazz_synth::music::changes::builtin(0).expect("ii-V-I");
    let s = Settings {
        rhythm: Rhythm::Beat,
        chord_source: ChordSource::Progression,
        progression: 0,
        transpose: 0,
        ..settings()
    };
    for (time_sig, quarters_per_bar) in [
        ((4, 4), 4.0),
        ((3, 4), 3.0),
        ((6, 8), 3.0),
        ((2, 2), 4.0),
        ((5, 4), 5.0),
        ((7, 8), 3.5),
    ] {
        let played = chords_played(s, 40.0, |p| Transport {
            time_sig,
            ..Transport::playing_at(p, 120.0)
        });
        assert!(played.len() >= 39, "{time_sig:?}: {} values", played.len());
        for (beat, chord) in played {
            let bar = (beat as f64 / quarters_per_bar + 1e-9).floor();
            assert_eq!(
                chord,
                chart.chord_at(bar * 4.0),
                "{time_sig:?}: beat {beat} is in host bar {bar}"
            );
        }
    }
    // 3/4 really differs from 4/4: beat 3 starts the second bar (G7), not the first's 4th beat.
    let waltz = chords_played(s, 4.0, |p| Transport {
        time_sig: (3, 4),
        ..Transport::playing_at(p, 120.0)
    });
    assert_eq!(
        waltz.iter().find(|(b, _)| *b == 3).unwrap().1,
        chart.chord_at(4.0)
    );
    assert_ne!(chart.chord_at(4.0), chart.chord_at(3.0));
}

/// With the host's bar start and number, the chart follows meter changes: a song opening with
/// one 2/4 bar, then 4/4, has its second bar (G7) from beat 2.
#[test]
fn progression_bars_follow_the_host_bar_numbers_through_a_meter_change() {
    let chart = jazz_synth::music::changes::builtin(0).expect("ii-V-I");
    let s = Settings {
        rhythm: Rhythm::Beat,
        chord_source: ChordSource::Progression,
        progression: 0,
        ..settings()
    };
    let bar_of = |p: f64| -> i64 {
        if p < 2.0 {
            0
        } else {
            1 + ((p - 2.0) / 4.0).floor() as i64
        }
    };
    let played = chords_played(s, 30.0, |p| {
        let n = bar_of(p);
        let (time_sig, start) = if n == 0 {
            ((2, 4), 0.0)
        } else {
            ((4, 4), 2.0 + 4.0 * (n - 1) as f64)
        };
        Transport {
            time_sig,
            bar: Some((start, n)),
            ..Transport::playing_at(p, 120.0)
        }
    });
    assert!(played.len() >= 29);
    for (beat, chord) in played {
        let n = bar_of(beat as f64);
        assert_eq!(
            chord,
            chart.chord_at(n as f64 * 4.0),
            "beat {beat} in bar {n}"
        );
    }
}
