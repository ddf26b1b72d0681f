//! The improvising engine: host transport in, sample-accurate note events out.
//! Knows beats, samples, chords and notes; knows nothing of nice-plug, midir or JACK.
//!
//! # Time
//! Everything musical is placed on a grid of [`TICKS_PER_BEAT`] ticks per
//! quarter-note beat (12: sixteenths and eighth-note triplets both land on
//! it). Grid positions are integers, so nothing drifts; a block maps them to
//! samples from the host's position at its first sample, never by counting
//! samples across blocks.
//!
//! A grid position `t` (in beats) falls in the block whose first sample is at
//! position `p` (beats), `n` samples long, when its offset
//! `floor((t - p) · samples_per_beat + 0.5)` lies in `[0, n)`: the beat
//! belongs to the block that holds the sample it rounds to. So a beat exactly
//! at the block end (offset `n`) belongs to the next block, at its sample 0,
//! and a beat half a sample before `p` still sounds at sample 0 of this one.
//! This keeps every note on the same absolute sample whatever the block size
//! (the simpler rule `p ≤ k < p + n/spb` with clamping would put a beat 0.7
//! samples into a 1-sample block at that block's sample 0, but at sample 1 in
//! a larger block).
//!
//! # Determinism
//! The LSTM and the two RNGs (one draws values, one places pitches) advance
//! once per generated value, in grid order, never per block. The value
//! stream therefore equals [`sample_sequence`] for the same model, seed and
//! temperature, and the notes are the same for any block size.

pub mod preview;

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::model::guard::CycleGuard;
use crate::model::lstm::{self, Model};
use crate::music::changes::{self, Progression};
pub use crate::music::contour::Contour;
use crate::music::contour::{decode_learned, RecentNotes};
use crate::music::grammar::decode_pitch;
use crate::music::theory::Chord;

/// Grid ticks per quarter-note beat (lcm of 4 sixteenths and 3 triplets).
pub const TICKS_PER_BEAT: i64 = 12;

/// A host position that differs from the one expected (previous position
/// plus the previous block's length) by more than this many samples is a
/// jump or loop. Smaller differences are rounding and tempo-ramp slop.
pub const JUMP_TOLERANCE_SAMPLES: f64 = 2.0;

/// The longest note or phrase step in beats; a value's duration beyond it is
/// cut (the grammar allows up to 1000 quarter notes, which would stall a
/// phrase for minutes).
pub const MAX_VALUE_BEATS: f64 = 8.0;

/// Tempos outside this range (BPM) are clamped; a tempo that is not a
/// positive finite number stops the clock.
pub const TEMPO_RANGE_BPM: (f64, f64) = (1.0, 1000.0);

/// Models waiting in [`Engine::take_retired`] before the engine would have to
/// drop one on the audio thread.
const RETIRED_SLOTS: usize = 4;

/// Vocabularies up to this size keep their tempered weights in the engine's
/// scratch buffer; larger ones (none exist) compute them twice.
pub const MAX_FAST_VOCAB: usize = 1024;

/// Input notes pressed within this many seconds of each other belong to one chord.
const CHORD_GROUP_SECONDS: f64 = 0.1;

/// Salt for the pitch RNG's seed, so it is a different stream from the value RNG.
const PITCH_SEED_SALT: u64 = 0x9E37_79B9_7F4A_7C15;

/// Host transport at the first sample of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transport {
    pub playing: bool,
    /// Tempo in quarter-note beats per minute.
    pub tempo_bpm: f64,
    /// Position in quarter-note beats at the block's first sample; None = host gives no position.
    pub position_beats: Option<f64>,
    /// Time signature (numerator, denominator): how many quarter notes a bar of
    /// the host lasts. A progression's bars follow the host's bars (a 4/4 chart
    /// in a 3/4 song gives each chart bar 3 beats).
    pub time_sig: (u32, u32),
    /// Where the bar holding the block's first sample starts (quarter notes)
    /// and its number (0 = the song's first bar), when the host says. With it
    /// the chart follows the host's bars through meter changes; without it bars
    /// are counted from position 0 in the current meter.
    pub bar: Option<(f64, i64)>,
}

impl Transport {
    /// A playing transport at `position_beats` and `tempo_bpm`, in 4/4.
    pub fn playing_at(position_beats: f64, tempo_bpm: f64) -> Transport {
        Transport {
            playing: true,
            tempo_bpm,
            position_beats: Some(position_beats),
            time_sig: (4, 4),
            bar: None,
        }
    }

    /// A stopped transport.
    pub fn stopped(tempo_bpm: f64) -> Transport {
        Transport {
            playing: false,
            tempo_bpm,
            position_beats: None,
            time_sig: (4, 4),
            bar: None,
        }
    }
}

/// A MIDI message arriving in the block (chords from the keyboard), `sample`
/// offset in the block. Give them in sample order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MidiIn {
    /// A note-on with velocity 0 counts as a note-off.
    NoteOn {
        sample: u32,
        note: u8,
        velocity: u8,
    },
    NoteOff {
        sample: u32,
        note: u8,
    },
}

impl MidiIn {
    fn sample(&self) -> u32 {
        match *self {
            MidiIn::NoteOn { sample, .. } | MidiIn::NoteOff { sample, .. } => sample,
        }
    }
}

/// Output, sample-accurate: `sample` is the offset in the block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoteEvent {
    On {
        sample: u32,
        channel: u8,
        note: u8,
        velocity: u8,
    },
    Off {
        sample: u32,
        channel: u8,
        note: u8,
    },
}

impl NoteEvent {
    /// Offset of the event in its block, in samples.
    pub fn sample(&self) -> u32 {
        match *self {
            NoteEvent::On { sample, .. } | NoteEvent::Off { sample, .. } => sample,
        }
    }
}

/// One generated value (for displays/logs; written alongside the notes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generated {
    /// Offset in the block, in samples.
    pub sample: u32,
    /// The quarter-note beat (floor of the grid position) it was generated on.
    pub beat: i64,
    /// Index into the model's vocabulary.
    pub value_index: usize,
    /// The MIDI note played, None for a rest.
    pub note: Option<u8>,
    /// The chord the pitch was chosen against (transposed).
    pub chord: Chord,
}

/// How generated values map to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rhythm {
    /// One value per beat; the note lasts the value's duration, cut at the next beat.
    Beat,
    /// The value's duration (on the 1/12-beat grid) decides when the next value comes: the
    /// rhythms of the training material.
    #[default]
    Phrase,
}

/// Where the chords come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChordSource {
    /// The built-in (or custom, see [`Engine::set_progression`]) progression.
    #[default]
    Progression,
    /// The notes held on the MIDI input (at least three pitch classes); the
    /// last chord holds after release; the progression plays until the first chord.
    MidiInput,
}

/// Parameters the front ends set (plain values; the plugin maps its params into this every block).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Sampling temperature; 0 = argmax (the original's behaviour). The default, 0.8, keeps
    /// rarer values (rests, say) close to how often the model learned them; deepjazz's 0.5
    /// squares the probabilities and thins them out.
    pub temperature: f32,
    /// Seed of the RNGs, applied on reset (start of playback when `reset_on_start`).
    pub seed: u64,
    /// Lowest and highest MIDI note played.
    pub low: u8,
    pub high: u8,
    /// MIDI velocity of the notes (1..=127).
    pub velocity: u8,
    /// MIDI channel of the output, 0-based (0..=15).
    pub channel: u8,
    pub rhythm: Rhythm,
    /// How a value becomes a pitch, and whether the loop guard draws the values.
    pub contour: Contour,
    pub chord_source: ChordSource,
    /// Index in [`changes::BUILTIN`] (clamped), unless a custom progression is set.
    pub progression: usize,
    /// Semitones added to the progression's chords (not to chords from MIDI input).
    pub transpose: i8,
    /// Reset LSTM state and RNGs when playback starts, so the same seed and position give the same solo.
    pub reset_on_start: bool,
    /// Play on an internal clock when the host gives no position.
    pub free_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            temperature: 0.8,
            seed: 0,
            low: 55,
            high: 84,
            velocity: 100,
            channel: 0,
            rhythm: Rhythm::Phrase,
            contour: Contour::Learned,
            chord_source: ChordSource::Progression,
            progression: 0,
            transpose: 0,
            reset_on_start: true,
            free_run: false,
        }
    }
}

/// Preallocated output of one block. [`Engine::process`] and
/// [`Engine::all_notes_off`] append; call [`Output::clear`] before each block.
/// The engine never grows the vectors: when `notes` is full it defers the
/// block's remaining events to the next block (late, never lost).
pub struct Output {
    pub notes: Vec<NoteEvent>,
    pub generated: Vec<Generated>,
}

impl Output {
    /// Room for `n` note events and `n` generated values. 3 per beat in a
    /// block is enough; 256 covers any block up to 8192 samples at 1000 BPM.
    pub fn with_capacity(n: usize) -> Self {
        let n = n.max(4);
        Output {
            notes: Vec::with_capacity(n),
            generated: Vec::with_capacity(n),
        }
    }

    pub fn clear(&mut self) {
        self.notes.clear();
        self.generated.clear();
    }

    fn free_notes(&self) -> usize {
        self.notes.capacity() - self.notes.len()
    }
}

#[derive(Clone, Copy, Debug)]
struct Sounding {
    note: u8,
    channel: u8,
    /// Grid tick at which the note's duration ends.
    off_tick: i64,
}

/// The internal clock for free run: an anchor and whole samples since it, so
/// the position does not depend on how the samples were split into blocks.
#[derive(Clone, Copy, Debug)]
struct FreeClock {
    anchor_beats: f64,
    samples: u64,
    samples_per_beat: f64,
}

impl FreeClock {
    fn position(&self) -> f64 {
        self.anchor_beats + self.samples as f64 / self.samples_per_beat
    }
}

/// The improviser. See the module documentation for the timing rules.
pub struct Engine {
    /// The last values drawn, for the loop guard (learned contour only).
    guard: CycleGuard,
    /// The last notes played, for the learned decoder's repeat check.
    recent_notes: RecentNotes,
    model: Box<Model>,
    pending: Option<Box<Model>>,
    retired: [Option<Box<Model>>; RETIRED_SLOTS],
    settings: Settings,
    sample_rate: f64,
    value_rng: Xoshiro256PlusPlus,
    pitch_rng: Xoshiro256PlusPlus,
    /// Sampling weights, reused every step.
    weights: Box<[f32; MAX_FAST_VOCAB]>,
    builtins: Vec<Progression>,
    custom: Option<Progression>,
    /// Last value index, fed back as the next input (None = the zero input).
    prev_input: Option<usize>,
    /// Last pitch played, for the `<UP,DOWN>` range.
    prev_note: Option<u8>,
    sounding: Option<Sounding>,
    /// Next grid tick to generate a value at.
    next_tick: i64,
    /// Whether the clock ran in the previous block.
    running: bool,
    /// Position (beats) the next block starts at if nothing jumps.
    expected_position: f64,
    free_clock: Option<FreeClock>,
    /// Bit set of held input notes (128 bits).
    held: [u64; 2],
    /// Notes pressed since the last release: the chord the player is
    /// reaching for.
    recent: [u64; 2],
    last_was_release: bool,
    /// Samples processed so far, and when the last input note was pressed,
    /// to tell one chord's notes from the next chord's.
    input_clock: u64,
    last_press_at: u64,
    midi_chord: Option<Chord>,
    /// The host's bars, from the last block's transport.
    meter: Meter,
}

/// The host's bar grid: bar length and, when known, a bar's start and number.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Meter {
    quarters_per_bar: f64,
    bar: Option<(f64, i64)>,
}

impl Meter {
    const FOUR_FOUR: Meter = Meter {
        quarters_per_bar: 4.0,
        bar: None,
    };

    /// The transport's meter; time signatures no musician writes fall back to 4/4.
    fn of(t: &Transport) -> Meter {
        let (num, den) = t.time_sig;
        let sane = (1..=64).contains(&num) && den.is_power_of_two() && den <= 64;
        let quarters_per_bar = if sane {
            f64::from(num) * 4.0 / f64::from(den)
        } else {
            4.0
        };
        let bar = t
            .bar
            .filter(|(start, n)| start.is_finite() && start.abs() < 1e12 && n.abs() < 1 << 40);
        Meter {
            quarters_per_bar,
            bar,
        }
    }

    /// The position in a chart with bars of `chart_bar` quarter notes that
    /// host position `beat` falls on: bar for bar, the same fraction of the bar.
    fn chart_position(&self, beat: f64, chart_bar: f64) -> f64 {
        let l = self.quarters_per_bar;
        match self.bar {
            // The bars line up with the chart's: the position as it is.
            None if l == chart_bar => beat,
            Some((start, n)) if l == chart_bar && start == n as f64 * l => beat,
            None => beat / l * chart_bar,
            Some((start, n)) => (n as f64 + (beat - start) / l) * chart_bar,
        }
    }
}

impl Engine {
    /// Allocates (parses the built-in progressions); call off the audio thread.
    pub fn new(model: Box<Model>, settings: Settings, sample_rate: f64) -> Engine {
        let builtins = (0..changes::BUILTIN.len())
            .filter_map(changes::builtin)
            .collect();
        let mut engine = Engine {
            guard: CycleGuard::default(),
            recent_notes: RecentNotes::default(),
            model,
            pending: None,
            retired: Default::default(),
            settings,
            sample_rate: sanitize_sample_rate(sample_rate),
            value_rng: Xoshiro256PlusPlus::seed_from_u64(settings.seed),
            pitch_rng: Xoshiro256PlusPlus::seed_from_u64(settings.seed ^ PITCH_SEED_SALT),
            weights: Box::new([0.0; MAX_FAST_VOCAB]),
            builtins,
            custom: None,
            prev_input: None,
            prev_note: None,
            sounding: None,
            next_tick: 0,
            running: false,
            expected_position: 0.0,
            free_clock: None,
            held: [0; 2],
            recent: [0; 2],
            last_was_release: false,
            input_clock: 0,
            last_press_at: 0,
            midi_chord: None,
            meter: Meter::FOUR_FOUR,
        };
        engine.reset();
        engine
    }

    /// Sample rate in Hz (from the host's initialize/activate).
    pub fn set_sample_rate(&mut self, sample_rate: f64) {
        self.sample_rate = sanitize_sample_rate(sample_rate);
    }

    /// Every block; cheap, never allocates. A new seed takes effect at the next reset.
    pub fn set_settings(&mut self, settings: &Settings) {
        self.settings = *settings;
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A custom progression (the standalone's `--chords`), or None to go back
    /// to the built-in one chosen by `Settings::progression`. Not for the
    /// audio thread (the old progression is dropped here).
    pub fn set_progression(&mut self, progression: Option<Progression>) {
        self.custom = progression;
    }

    /// The progression the chords currently come from (before transposition).
    pub fn progression(&self) -> &Progression {
        match &self.custom {
            Some(p) => p,
            None => {
                let i = self.settings.progression.min(self.builtins.len() - 1);
                &self.builtins[i]
            }
        }
    }

    /// Queue a new model; it is swapped in at the next beat boundary (at
    /// once when the clock is stopped), with zero state and the zero input.
    /// The old one is returned through [`Engine::take_retired`] so the caller
    /// drops it off the audio thread. Never allocates.
    pub fn queue_model(&mut self, model: Box<Model>) {
        if let Some(older) = self.pending.replace(model) {
            self.retire(older);
        }
    }

    /// A model replaced by [`Engine::queue_model`], to drop off the audio thread.
    pub fn take_retired(&mut self) -> Option<Box<Model>> {
        self.retired.iter_mut().find_map(Option::take)
    }

    /// End whatever sounds at `sample` (deactivate, bypass, reset). The
    /// clock and the model state carry on.
    pub fn all_notes_off(&mut self, sample: u32, out: &mut Output) {
        if let Some(s) = self.sounding {
            // With `out` full the note keeps sounding and is ended by the
            // next call that has room, rather than being forgotten.
            if out.free_notes() > 0 {
                out.notes.push(NoteEvent::Off {
                    sample,
                    channel: s.channel,
                    note: s.note,
                });
                self.sounding = None;
            }
        }
    }

    /// LSTM state to zero, the next input to the zero input, both RNGs to
    /// the seed. A sounding note keeps its scheduled end.
    pub fn reset(&mut self) {
        self.model.reset();
        self.prev_input = None;
        self.prev_note = None;
        self.guard.clear();
        self.recent_notes.clear();
        self.value_rng = Xoshiro256PlusPlus::seed_from_u64(self.settings.seed);
        self.pitch_rng = Xoshiro256PlusPlus::seed_from_u64(self.settings.seed ^ PITCH_SEED_SALT);
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The MIDI note sounding now, if any.
    pub fn sounding_note(&self) -> Option<u8> {
        self.sounding.map(|s| s.note)
    }

    /// The chord recognised from MIDI input, if one was played.
    pub fn midi_chord(&self) -> Option<Chord> {
        self.midi_chord
    }

    /// The chord a value generated at host position `beat` (quarter notes)
    /// would be decoded against, the progression's bars laid over the host's
    /// bars (see [`Transport::time_sig`]) as of the last block processed.
    pub fn chord_at(&self, beat: f64) -> Chord {
        match (self.settings.chord_source, self.midi_chord) {
            (ChordSource::MidiInput, Some(chord)) => chord,
            _ => {
                let progression = self.progression();
                let chart_bar = f64::from(progression.beats_per_bar());
                transpose(
                    progression.chord_at(self.meter.chart_position(beat, chart_bar)),
                    self.settings.transpose as i32,
                )
            }
        }
    }

    /// Runs one block of `n_samples` samples: appends its note events (in
    /// sample order) and generated values to `out`. Never allocates, locks
    /// or blocks.
    pub fn process(
        &mut self,
        transport: &Transport,
        n_samples: u32,
        midi_in: &[MidiIn],
        out: &mut Output,
    ) {
        let mut midi = midi_in.iter().peekable();
        self.meter = Meter::of(transport);
        if transport.position_beats.is_none() {
            // The engine's own clock counts bars from its start.
            self.meter.bar = None;
        }
        let clock = self.clock_position(transport);
        let Some((p, spb)) = clock.filter(|_| n_samples > 0) else {
            if clock.is_none() {
                self.stop(out);
            }
            for m in midi {
                self.apply_midi(m);
            }
            self.input_clock += n_samples as u64;
            return;
        };

        if !self.running {
            if self.settings.reset_on_start {
                self.reset();
            }
            self.anchor(p, spb);
        } else if ((p - self.expected_position) * spb).abs() > JUMP_TOLERANCE_SAMPLES {
            // Loop or jump: what sounds ends here, the grid restarts at the
            // next beat of the new position. State and RNGs carry on.
            self.all_notes_off(0, out);
            self.anchor(p, spb);
        }
        self.running = true;
        self.expected_position = p + n_samples as f64 / spb;

        let offset = |tick: i64| -> i64 {
            let beats = tick as f64 / TICKS_PER_BEAT as f64;
            ((beats - p) * spb + 0.5).floor() as i64
        };
        if offset(self.next_tick) < -(JUMP_TOLERANCE_SAMPLES as i64) - 1 {
            // Only a settings change could leave the schedule in the past;
            // never burst the missed values out.
            self.anchor(p, spb);
        }
        let n = n_samples as i64;
        let first_beat_tick = ((p - 0.5 / spb).ceil() as i64).saturating_mul(TICKS_PER_BEAT);

        loop {
            let off_tick = self.sounding.map(|s| s.off_tick);
            let swap_tick = self.pending.as_ref().map(|_| first_beat_tick);
            let mut gen_tick = self.next_tick;
            if self.settings.rhythm == Rhythm::Beat {
                gen_tick = ceil_to_beat(gen_tick);
            }
            let tick = [off_tick, swap_tick, Some(gen_tick)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(gen_tick);
            let at = offset(tick);
            if at >= n {
                break;
            }
            let sample = at.clamp(0, n - 1) as u32;
            while let Some(m) = midi.next_if(|m| m.sample() <= sample) {
                self.apply_midi(m);
            }
            if off_tick == Some(tick) {
                if out.free_notes() < 1 {
                    break;
                }
                self.all_notes_off(sample, out);
            } else if swap_tick == Some(tick) {
                if out.free_notes() < 1 {
                    break;
                }
                self.swap_model(sample, tick, out);
            } else {
                if out.free_notes() < 2 {
                    break;
                }
                self.generate(tick, sample, out);
            }
        }
        for m in midi {
            self.apply_midi(m);
        }
        if let Some(clock) = &mut self.free_clock {
            clock.samples += n_samples as u64;
        }
        self.input_clock += n_samples as u64;
    }

    /// The clock's position (beats) at this block's first sample and the
    /// samples per beat, or None when the engine should be silent.
    fn clock_position(&mut self, t: &Transport) -> Option<(f64, f64)> {
        let tempo = t.tempo_bpm;
        if !(tempo.is_finite() && tempo > 0.0) {
            self.free_clock = None;
            return None;
        }
        let spb = samples_per_beat(
            self.sample_rate,
            tempo.clamp(TEMPO_RANGE_BPM.0, TEMPO_RANGE_BPM.1),
        );
        // Positions beyond a trillion beats (centuries at any tempo) are
        // host garbage; treating them as "no position" keeps tick arithmetic
        // far from overflow.
        match t.position_beats.filter(|p| p.is_finite() && p.abs() < 1e12) {
            Some(p) => {
                self.free_clock = None;
                t.playing.then_some((p, spb))
            }
            None if self.settings.free_run => {
                let clock = self.free_clock.get_or_insert(FreeClock {
                    anchor_beats: 0.0,
                    samples: 0,
                    samples_per_beat: spb,
                });
                if clock.samples_per_beat != spb {
                    *clock = FreeClock {
                        anchor_beats: clock.position(),
                        samples: 0,
                        samples_per_beat: spb,
                    };
                }
                Some((clock.position(), spb))
            }
            None => {
                self.free_clock = None;
                None
            }
        }
    }

    fn stop(&mut self, out: &mut Output) {
        self.all_notes_off(0, out);
        self.running = false;
        if let Some(model) = self.pending.take() {
            // Nothing sounds, so any moment is a beat boundary.
            self.install(model);
        }
    }

    /// Restart the grid at the first beat at or after position `p`.
    fn anchor(&mut self, p: f64, spb: f64) {
        self.next_tick = ((p - 0.5 / spb).ceil() as i64).saturating_mul(TICKS_PER_BEAT);
    }

    fn install(&mut self, model: Box<Model>) {
        let old = std::mem::replace(&mut self.model, model);
        self.retire(old);
        self.model.reset();
        self.prev_input = None;
        // The old model's value indices mean nothing to the new one.
        self.guard.clear();
    }

    fn retire(&mut self, model: Box<Model>) {
        if let Some(slot) = self.retired.iter_mut().find(|s| s.is_none()) {
            *slot = Some(model);
        }
        // All slots full: the caller never collects, and the model is
        // dropped here, on the audio thread, as a last resort.
    }

    fn swap_model(&mut self, sample: u32, tick: i64, out: &mut Output) {
        if let Some(model) = self.pending.take() {
            self.all_notes_off(sample, out);
            self.install(model);
            // The new model's phrase starts on this beat.
            self.next_tick = tick;
        }
    }

    fn generate(&mut self, tick: i64, sample: u32, out: &mut Output) {
        self.all_notes_off(sample, out);
        let learned = self.settings.contour == Contour::Learned;
        let mut avoid = [usize::MAX; 3];
        if learned {
            self.guard.avoid(&mut avoid);
        }
        let probs = self.model.step(self.prev_input);
        let index = lstm::sample_avoiding(
            probs,
            self.settings.temperature,
            &mut self.value_rng,
            &mut self.weights[..],
            &avoid,
        );
        self.prev_input = Some(index);
        self.guard.push(index);
        let beat = tick.div_euclid(TICKS_PER_BEAT);
        let chord = self.chord_at(tick as f64 / TICKS_PER_BEAT as f64);
        let (note, length) = match self.model.vocab().get(index) {
            Some(value) => {
                let s = &self.settings;
                let profile = self.model.provenance().intervals.as_ref();
                let note = match profile.filter(|_| learned) {
                    Some(profile) => decode_learned(
                        value,
                        &chord,
                        self.prev_note,
                        (s.low, s.high),
                        profile,
                        &self.recent_notes,
                        &mut self.pitch_rng,
                    ),
                    None => decode_pitch(
                        value,
                        &chord,
                        self.prev_note,
                        s.low,
                        s.high,
                        &mut self.pitch_rng,
                    ),
                };
                (note, duration_ticks(value.duration))
            }
            None => (None, TICKS_PER_BEAT),
        };
        if let Some(note) = note {
            let channel = self.settings.channel.min(15);
            out.notes.push(NoteEvent::On {
                sample,
                channel,
                note,
                velocity: self.settings.velocity.clamp(1, 127),
            });
            self.sounding = Some(Sounding {
                note,
                channel,
                off_tick: tick + length,
            });
            self.prev_note = Some(note);
            self.recent_notes.push(note);
        }
        if out.generated.len() < out.generated.capacity() {
            out.generated.push(Generated {
                sample,
                beat,
                value_index: index,
                note,
                chord,
            });
        }
        self.next_tick = match self.settings.rhythm {
            Rhythm::Beat => (beat + 1) * TICKS_PER_BEAT,
            Rhythm::Phrase => tick + length,
        };
    }

    fn apply_midi(&mut self, m: &MidiIn) {
        let (note, on) = match *m {
            MidiIn::NoteOn { note, velocity, .. } => (note, velocity > 0),
            MidiIn::NoteOff { note, .. } => (note, false),
        };
        if note > 127 {
            return;
        }
        let (word, bit) = ((note / 64) as usize, note % 64);
        if on {
            let at = self.input_clock + m.sample() as u64;
            let window = (CHORD_GROUP_SECONDS * self.sample_rate) as u64;
            if self.last_was_release || at.saturating_sub(self.last_press_at) > window {
                self.recent = [0; 2];
            }
            self.last_press_at = at;
            self.held[word] |= 1 << bit;
            self.recent[word] |= 1 << bit;
        } else {
            self.held[word] &= !(1 << bit);
        }
        self.last_was_release = !on;
        // A chord is three or more pitch classes. A press sets the chord to
        // what is held. A release changes it only while every note of the
        // latest chord pressed (notes pressed together, with no release in
        // between) is still held: that is a legato change letting go of the
        // old chord, whereas letting go of the chord just played (one finger
        // after the other) keeps it.
        let recent_held = (0..2).all(|w| self.recent[w] & !self.held[w] == 0);
        if !on && !recent_held {
            return;
        }
        let mut notes = [0u8; 128];
        let mut count = 0;
        let mut pcs = 0u16;
        for n in 0..128u8 {
            if self.held[(n / 64) as usize] & (1 << (n % 64)) != 0 {
                notes[count] = n;
                count += 1;
                pcs |= 1 << (n % 12);
            }
        }
        if pcs.count_ones() >= 3 {
            self.midi_chord = Some(Chord::from_midi(&notes[..count]));
        }
    }
}

/// Runs `model` from zero state for `steps` values, feeding each drawn value
/// back as the next input (the first input is the zero vector), drawing with
/// `temperature` from the same RNG stream the engine uses for values. The
/// engine plays exactly this value sequence for the same seed (after a reset).
/// This is what `jazz-synth sample` prints.
pub fn sample_sequence(model: &mut Model, steps: usize, temperature: f32, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut weights = vec![0.0; MAX_FAST_VOCAB];
    model.reset();
    let mut input = None;
    let mut values = Vec::with_capacity(steps);
    for _ in 0..steps {
        let probs = model.step(input);
        let index = lstm::sample_with(probs, temperature, &mut rng, &mut weights);
        values.push(index);
        input = Some(index);
    }
    values
}

/// Samples per quarter-note beat at `sample_rate` Hz and `tempo_bpm`.
pub fn samples_per_beat(sample_rate: f64, tempo_bpm: f64) -> f64 {
    sample_rate * 60.0 / tempo_bpm
}

/// The first sample at or after `beats` (quarter notes) that does not hold
/// beat `beats` itself: `floor`, with a tolerance so an exact integer
/// computed as 23999.999999 still counts as 24000.
pub fn end_sample(beats: f64, samples_per_beat: f64) -> u64 {
    (beats * samples_per_beat + 1e-6).floor().max(0.0) as u64
}

/// `chord` moved up by `semitones` (any sign).
pub fn transpose(chord: Chord, semitones: i32) -> Chord {
    if semitones == 0 || chord.is_empty() {
        return chord;
    }
    Chord {
        pcs: chord.pcs.transpose(semitones),
        root: (chord.root as i32 + semitones).rem_euclid(12) as u8,
        quality: chord.quality,
    }
}

/// A value's duration (quarter notes) on the grid: at least one tick, at
/// most [`MAX_VALUE_BEATS`].
fn duration_ticks(duration: f64) -> i64 {
    let d = if duration.is_finite() { duration } else { 1.0 };
    let ticks = (d.clamp(0.0, MAX_VALUE_BEATS) * TICKS_PER_BEAT as f64).round() as i64;
    ticks.max(1)
}

fn ceil_to_beat(tick: i64) -> i64 {
    tick.div_euclid(TICKS_PER_BEAT) * TICKS_PER_BEAT
        + if tick.rem_euclid(TICKS_PER_BEAT) == 0 {
            0
        } else {
            TICKS_PER_BEAT
        }
}

fn sanitize_sample_rate(sr: f64) -> f64 {
    if sr.is_finite() && sr >= 1000.0 {
        sr
    } else {
        44_100.0
    }
}
