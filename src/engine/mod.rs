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
//! Swing lives in that mapping alone ([`tick_beats`]): the grid and the model
//! stay straight, and a tick inside a beat sounds where [`Settings::swing`] at
//! the block's tempo puts it (the off-beat eighth at 0.6 of the beat at 60 %).
//! Beats never move, so the rules below hold for swung positions unchanged;
//! a player's call is brought back to the straight grid before it is heard.
//!
//! A grid position `t` (in beats, swung) falls in the block whose first sample is at
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

mod band;
mod chords;
mod clock;
mod model_slot;
pub mod preview;
mod trade;
use trade::bar_of_meter;
mod types;

pub use band::BandPlayer;
pub use chords::transpose;
use clock::{ceil_to_beat, duration_ticks, sanitize_sample_rate, FreeClock, Meter};
pub use clock::{end_sample, samples_per_beat, tick_beats, tick_offset};
use model_slot::RETIRED_SLOTS;
pub use types::*;

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::model::guard::CycleGuard;
use crate::model::lstm::{self, Model};
use crate::music::changes::{self, Progression};
use crate::music::conditioning::{write_style, write_style_average, Context, MAX_COND};
pub use crate::music::contour::Contour;
use crate::music::contour::{decode_learned, encoded_interval, lean_weights, RecentNotes};
use crate::music::grammar::decode_pitch;
use crate::music::listen::Listener;
pub use crate::music::swing::Swing;
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

/// Vocabularies up to this size keep their tempered weights in the engine's
/// scratch buffer; larger ones (none exist) compute them twice.
pub const MAX_FAST_VOCAB: usize = 2048;

/// Weight factor, while answering a call, for values whose interval goes the call's way.
const ECHO_LEAN: f32 = 2.0;

/// Salt for the pitch RNG's seed, so it is a different stream from the value RNG.
const PITCH_SEED_SALT: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Copy, Debug)]
struct Sounding {
    note: u8,
    channel: u8,
    /// Grid tick at which the note's duration ends.
    off_tick: i64,
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
    /// The player's notes, turned into values as the corpus reader would.
    listener: Listener,
    /// Values heard from the player since the engine was created (for displays and tests).
    heard_total: u64,
    /// The last bar of the call heard so far, and the tick until which the answer echoes it.
    call_bar: trade::CallBar,
    echo_until: i64,
    /// Changes waiting for their bar (see [`Engine::queue_progression`]), and the tick of it.
    queued_changes: Option<(Option<Progression>, Option<i64>)>,
    /// Changes replaced, waiting to be taken off the audio thread.
    retired_changes: Option<Option<Progression>>,
    /// The conditioning vector of a chord-aware model (with room for the most styles a model
    /// can have), rewritten every step.
    cond: Box<[f32; MAX_COND]>,
    /// `cond` with the style withheld, for the unconditioned pass of style strength.
    cond_plain: Box<[f32; MAX_COND]>,
    /// Pitch weights of the learned pitch model, rewritten every note.
    pitch_weights: Box<[f32; 128]>,
    /// The tempo of the last block the clock ran in (BPM), which a chord-aware model hears.
    tempo_bpm: f64,
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
            listener: Listener::default(),
            heard_total: 0,
            call_bar: trade::CallBar::default(),
            echo_until: i64::MIN,
            queued_changes: None,
            retired_changes: None,
            cond: Box::new([0.0; MAX_COND]),
            cond_plain: Box::new([0.0; MAX_COND]),
            pitch_weights: Box::new([0.0; 128]),
            tempo_bpm: 120.0,
        };
        engine.reset();
        engine
    }

    /// The style block of the conditioning vector, from the style knob (see
    /// [`Settings::style`]). Never allocates.
    fn write_style(&mut self) {
        let styles = self.model.styles().len();
        write_style(&mut self.cond[..], styles, usize::from(self.settings.style));
    }

    /// The style strength to guide the next step with, or None when the model plays unguided:
    /// strength 1, the style knob on "any" (or past the model's list), a model without styles.
    /// When guided, also writes `cond` with the average of the styles in place of the chosen
    /// one into `cond_plain`: the reference the strength leans away from. Not "any": a model
    /// whose styles were learned on a fixed network (`jazz-train --style-base`) has every style
    /// share a shift from "any" (what the base got wrong for all of them), which leaning away
    /// from "any" would exaggerate too. Never allocates.
    fn guidance(&mut self) -> Option<f32> {
        let styles = self.model.styles().len();
        let style = usize::from(self.settings.style);
        let strength = self.settings.style_strength;
        if styles == 0 || style == 0 || style > styles || strength.is_nan() || strength == 1.0 {
            return None;
        }
        self.cond_plain.copy_from_slice(&self.cond[..]);
        write_style_average(&mut self.cond_plain[..], styles);
        Some(strength.clamp(STYLE_STRENGTH_RANGE.0, STYLE_STRENGTH_RANGE.1))
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
        self.listener.clear();
        self.call_bar = trade::CallBar::default();
        self.echo_until = i64::MIN;
        self.value_rng = Xoshiro256PlusPlus::seed_from_u64(self.settings.seed);
        self.pitch_rng = Xoshiro256PlusPlus::seed_from_u64(self.settings.seed ^ PITCH_SEED_SALT);
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The share of the beat the first eighth lasts now (0.5 to 0.75): the swing setting at
    /// the tempo of the last block the clock ran in.
    pub fn swing_fraction(&self) -> f64 {
        self.settings.swing.fraction(self.tempo_bpm)
    }

    /// The MIDI note sounding now, if any.
    pub fn sounding_note(&self) -> Option<u8> {
        self.sounding.map(|s| s.note)
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
                self.apply_midi(m, None);
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
            // next beat of the new position. State and RNGs carry on; a call
            // half heard is forgotten.
            self.all_notes_off(0, out);
            self.listener.clear();
            self.anchor(p, spb);
        }
        self.running = true;
        self.expected_position = p + n_samples as f64 / spb;

        let swing = self.swing_fraction();
        let offset = |tick: i64| tick_offset(tick, p, spb, swing);
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
            // Trading: nothing is generated in the player's turn; the answer
            // starts on the first beat of jazz-synth's turn.
            if let Some(turn) = self.turn_at(gen_tick).filter(|t| t.player) {
                gen_tick = turn.end;
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
                self.apply_midi(m, Some(p + m.sample() as f64 / spb));
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
            self.apply_midi(m, Some(p + m.sample() as f64 / spb));
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
        self.tempo_bpm = tempo.clamp(TEMPO_RANGE_BPM.0, TEMPO_RANGE_BPM.1);
        let spb = samples_per_beat(self.sample_rate, self.tempo_bpm);
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
        self.listener.clear();
        // Nothing plays: new changes can start now.
        self.install_changes();
        if let Some(model) = self.pending.take() {
            // Nothing sounds, so any moment is a beat boundary.
            self.install(model);
        }
    }

    /// Restart the grid at the first beat at or after position `p`.
    fn anchor(&mut self, p: f64, spb: f64) {
        self.next_tick = ((p - 0.5 / spb).ceil() as i64).saturating_mul(TICKS_PER_BEAT);
    }

    fn generate(&mut self, tick: i64, sample: u32, out: &mut Output) {
        self.all_notes_off(sample, out);
        // New changes start on the first bar line after they came.
        if let Some((_, at)) = &mut self.queued_changes {
            let start = *at.get_or_insert_with(|| {
                let bar = bar_of_meter(&self.meter, tick);
                if bar.start == tick {
                    tick
                } else {
                    bar.end
                }
            });
            if tick >= start {
                self.install_changes();
            }
        }
        // What the player played up to here is heard before the answer.
        self.end_call(tick);
        if tick >= self.echo_until {
            self.recent_notes.set_echo(Default::default());
        }
        let turn_end = self.turn_at(tick).map(|t| t.end);
        let learned = self.settings.contour == Contour::Learned;
        let mut avoid = [usize::MAX; 3];
        if learned {
            self.guard.avoid(&mut avoid);
        }
        let echo = self.recent_notes.echo();
        let chord = self.chord_at(tick as f64 / TICKS_PER_BEAT as f64);
        if self.model.cond_size() > 0 {
            let bar = bar_of_meter(&self.meter, tick);
            let next = self.next_change(tick, &chord);
            let ctx = Context::at(chord, next, self.prev_note, tick, bar.start)
                .with_tempo(self.tempo_bpm);
            ctx.write(&mut self.cond[..]);
            self.write_style();
        }
        // A chord-aware model's pitches keep their value's role, so a role no pitch has over
        // this chord (no "other" tone over a half-diminished chord: every tone outside its
        // scale is a semitone from a chord tone) is not drawn.
        let keeps_roles = learned && self.model.provenance().pitch_model.is_some();
        let missing = if keeps_roles {
            missing_roles(&chord)
        } else {
            [false; 5]
        };
        let probs = match self.guidance() {
            Some(strength) => self.model.step_guided(
                self.prev_input,
                &self.cond[..],
                &self.cond_plain[..],
                strength,
            ),
            None => self.model.step_with(self.prev_input, &self.cond[..]),
        };
        let index = if learned && (echo.direction != 0 || missing.contains(&true)) {
            // Answering a call: lean towards values that move the way it went.
            let vocab = self.model.vocab();
            let lean = |i: usize| {
                let Some(value) = vocab.get(i) else {
                    return 1.0;
                };
                if missing[role_slot(value.role)] {
                    return 0.0;
                }
                match encoded_interval(value) {
                    Some(step)
                        if echo.direction != 0 && step.signum() == i32::from(echo.direction) =>
                    {
                        ECHO_LEAN
                    }
                    _ => 1.0,
                }
            };
            lstm::sample_leaning(
                self.model.probabilities(),
                self.settings.temperature,
                &mut self.value_rng,
                &avoid,
                lean,
            )
        } else {
            lstm::sample_avoiding(
                probs,
                self.settings.temperature,
                &mut self.value_rng,
                &mut self.weights[..],
                &avoid,
            )
        };
        self.prev_input = Some(index);
        self.guard.push(index);
        let beat = tick.div_euclid(TICKS_PER_BEAT);
        let (note, length) = match self.model.vocab().get(index) {
            Some(value) => {
                let s = &self.settings;
                let profile = self.model.provenance().intervals.as_ref();
                let pitch_model = self.model.provenance().pitch_model.as_ref();
                // A chord-aware model's pitch model: a pitch of the value's role, drawn as the
                // corpus placed such notes.
                let true_to_role = pitch_model.filter(|_| learned).and_then(|pm| {
                    let total = pm.weights(
                        value,
                        &chord,
                        self.prev_note,
                        (s.low, s.high),
                        &mut self.pitch_weights,
                    );
                    let leaned = if total > 0.0 {
                        let moves = encoded_interval(value).is_some_and(|step| step != 0);
                        lean_weights(
                            &mut self.pitch_weights,
                            self.prev_note,
                            &self.recent_notes,
                            moves,
                        )
                    } else {
                        total
                    };
                    let u = rand::RngExt::random::<f32>(&mut self.pitch_rng);
                    crate::music::pitch::draw(&self.pitch_weights, leaned, u)
                });
                let note = match profile.filter(|_| learned) {
                    _ if value.is_rest() => None,
                    _ if true_to_role.is_some() => true_to_role,
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
            // An answer never sounds into the player's turn.
            let off_tick = turn_end.map_or(tick + length, |end| (tick + length).min(end));
            self.sounding = Some(Sounding {
                note,
                channel,
                off_tick,
            });
            self.prev_note = Some(note);
            self.recent_notes.push(note);
        }
        if out.generated.len() < out.generated.capacity() {
            out.generated.push(Generated {
                sample,
                beat,
                tick,
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
}

impl Engine {
    /// The next chord after `tick` that differs from `chord`, and the tick it starts on
    /// (looked for beat by beat over the next 16 beats).
    fn next_change(&self, tick: i64, chord: &Chord) -> Option<(Chord, i64)> {
        let first = tick.div_euclid(TICKS_PER_BEAT) + 1;
        (first..first + 16).find_map(|beat| {
            let c = self.chord_at(beat as f64);
            (c.pcs != chord.pcs).then_some((c, beat * TICKS_PER_BEAT))
        })
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

/// Index of a role in [`missing_roles`].
fn role_slot(role: crate::music::grammar::Role) -> usize {
    use crate::music::grammar::Role;
    match role {
        Role::Chord => 0,
        Role::Scale => 1,
        Role::Approach => 2,
        Role::Other => 3,
        Role::Rest => 4,
    }
}

/// The roles (by [`role_slot`]) no pitch class has over `chord`. Never allocates.
fn missing_roles(chord: &Chord) -> [bool; 5] {
    let mut seen = [false; 5];
    seen[4] = true;
    for pc in 0..12u8 {
        seen[role_slot(crate::music::grammar::role_by_pitch_class(60 + pc, chord))] = true;
    }
    seen.map(|s| !s)
}
