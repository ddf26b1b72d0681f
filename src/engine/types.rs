//! What goes in and out of the engine: transport, MIDI input, note events, generated values,
//! settings and the preallocated output.

use super::*;

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
        /// 0-based MIDI channel; [`CALL_PORT_CHANNEL`] for an input that carries only the call.
        channel: u8,
        note: u8,
        velocity: u8,
    },
    NoteOff {
        sample: u32,
        channel: u8,
        note: u8,
    },
}

/// The channel front ends give notes from an input port that carries only the player's call
/// (the standalone's `--call-in`): a channel of its own, beyond MIDI's sixteen.
pub const CALL_PORT_CHANNEL: u8 = 16;

impl MidiIn {
    /// Offset of the message in its block, in samples.
    pub fn sample(&self) -> u32 {
        match *self {
            MidiIn::NoteOn { sample, .. } | MidiIn::NoteOff { sample, .. } => sample,
        }
    }

    /// The message's channel (0-based, or [`CALL_PORT_CHANNEL`]).
    pub fn channel(&self) -> u8 {
        match *self {
            MidiIn::NoteOn { channel, .. } | MidiIn::NoteOff { channel, .. } => channel,
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
    /// The grid position it was generated on, in [`TICKS_PER_BEAT`] ticks from host beat 0:
    /// its place on the straight grid, before swing moves it.
    pub tick: i64,
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

/// Whether jazz-synth solos all the time or trades bars with the player.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// It plays every bar (listening to the player only when [`Settings::listen`] is on).
    #[default]
    Solo,
    /// Turns of [`Settings::trade_bars`] bars alternate, the player's first: during the
    /// player's turn jazz-synth is silent and hears the call; then it answers.
    Trade,
}

/// Which input notes are the player's call (the rest are chords, when chords come from MIDI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallInput {
    /// Only notes on this channel (0-based, or [`CALL_PORT_CHANNEL`]); None = any channel.
    pub channel: Option<u8>,
    /// Only notes at or above this MIDI note (the split point); 0 = the whole keyboard.
    pub split: u8,
}

impl CallInput {
    /// Every note of every channel.
    pub const ANY: CallInput = CallInput {
        channel: None,
        split: 0,
    };

    /// Whether a note on `channel` at `note` is part of the call.
    pub fn takes(&self, channel: u8, note: u8) -> bool {
        self.channel.is_none_or(|c| c == channel) && note >= self.split
    }

    /// Whether the call is told apart from chords at all (a channel or a split point).
    pub fn separates(&self) -> bool {
        self.channel.is_some() || self.split > 0
    }
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
    pub mode: Mode,
    /// Bars in a turn when trading (2, 4 or 8; other numbers are clamped to 1..=16).
    pub trade_bars: u8,
    /// In Solo mode, whether notes the player plays are heard (fed through the LSTM).
    pub listen: bool,
    /// Which input notes are the call.
    pub call_input: CallInput,
    /// Where the off-beat eighths fall (notes on and off inside a beat; beats never move).
    pub swing: Swing,
    /// Style knob of a model that learned styles: 0 = "any", `k` = the model's `k`-th style
    /// ([`crate::model::lstm::Model::styles`]); past its list counts as "any". Heard from the
    /// next generated value on; models without styles ignore it.
    pub style: u8,
    /// Style strength (a factor, [`STYLE_STRENGTH_RANGE`]): how far the solo leans from the
    /// average of the model's styles towards the chosen style. 1 plays the styled model as it
    /// is; above 1 exaggerates what sets the style apart from the others, below 1 tempers it,
    /// 0 plays the average of the styles (the same whichever is chosen). Anything but 1 runs
    /// the network twice a value, with the style and with the average of the styles
    /// (classifier-free guidance, [`crate::model::lstm::Model::step_guided`]);
    /// values outside the range are clamped, a value that is not a number counts as 1.
    /// Ignored with the style on "any" and by models without styles.
    pub style_strength: f32,
}

/// The style strengths the front ends accept (factors).
pub const STYLE_STRENGTH_RANGE: (f32, f32) = (0.0, 4.0);

/// The style strength the front ends start at: on the WJD the smallest of 1, 1.5, 2, 2.5 and 3
/// at which the styles differ as the corpus's do while each stays near its own figures (see
/// docs/model.md, Styles).
pub const DEFAULT_STYLE_STRENGTH: f32 = 2.5;

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
            mode: Mode::Solo,
            trade_bars: 4,
            listen: false,
            call_input: CallInput::ANY,
            swing: Swing::Auto,
            style: 0,
            style_strength: DEFAULT_STYLE_STRENGTH,
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

    pub(super) fn free_notes(&self) -> usize {
        self.notes.capacity() - self.notes.len()
    }
}
