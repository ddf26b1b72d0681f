//! The plugin's parameters: one `#[derive(Params)]` struct with stable string ids.
//!
//! The ids (`#[id = "..."]`, enum variant ids and the `weights-path` persist key) are written
//! into every saved session and every automation lane: they never change. Names, ranges and
//! defaults may be tuned; ids may not.
//!
//! Defaults come from [`engine::Settings::default()`] so the plugin, the standalone player and
//! the renderer start from the same musical choices.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;

use crate::engine::{
    self, CallInput, ChordSource, Contour, Mode, Rhythm, Settings, Swing, STYLE_STRENGTH_RANGE,
};

/// Highest value of the `seed` parameter (inclusive). Seeds are small integers so a musician
/// can write one down and type it back in a host's generic UI.
pub const SEED_MAX: i32 = 65_535;

/// Lowest preview volume in decibels; the bottom of the knob.
pub const PREVIEW_MIN_DB: f32 = -60.0;
/// Default preview volume in decibels: audible next to a drum loop without clipping a mix bus.
pub const PREVIEW_DEFAULT_DB: f32 = -12.0;

/// The `swing` parameter's value for "auto" (as the soloists swing at the host's tempo): one
/// below the straight 50 %, so the knob runs Auto, 50 %, 51 % … 75 %.
pub const SWING_AUTO: i32 = 49;

/// Highest value of the `style` parameter: the most styles a model can record (0 = any).
pub const STYLE_MAX: i32 = crate::music::style::MAX_STYLES as i32;

/// The style names of the model playing, for the `style` parameter's text (host lanes and the
/// editor). Written by the loader thread when a model loads, read by GUI and host threads;
/// never touched by the audio thread.
#[derive(Clone, Debug, Default)]
pub struct StyleNames(Arc<RwLock<Vec<String>>>);

impl StyleNames {
    pub fn set(&self, styles: &[String]) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = styles.to_vec();
    }

    pub fn get(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The text of knob position `v`: "Any", a style name, or "Style N (not in this model)".
    pub fn text(&self, v: i32) -> String {
        let styles = self.0.read().unwrap_or_else(|e| e.into_inner());
        match usize::try_from(v).unwrap_or(0) {
            0 => "Any".to_string(),
            k => match styles.get(k - 1) {
                Some(name) => name.clone(),
                None => format!("Style {k} (not in this model: any)"),
            },
        }
    }

    /// The knob position of a typed name ("any", a style name, or its number).
    pub fn position(&self, text: &str) -> Option<i32> {
        let text = text.trim();
        if let Ok(k) = text.parse::<i32>() {
            return (0..=STYLE_MAX).contains(&k).then_some(k);
        }
        let styles = self.0.read().unwrap_or_else(|e| e.into_inner());
        crate::music::style::find(&styles, text)
            .ok()
            .and_then(|k| i32::try_from(k).ok())
    }
}

/// How a generated value becomes rhythm (see `engine::Rhythm`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RhythmMode {
    /// One value per beat; the note lasts the value's duration, cut at the next onset.
    #[id = "beat"]
    #[name = "Beat"]
    Beat,
    /// The value's duration decides when the next value comes (16ths, triplets), on the host grid.
    #[id = "phrase"]
    #[name = "Phrase"]
    Phrase,
}

/// How a value becomes a pitch (see `engine::Contour`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContourMode {
    /// Follows the intervals of the training melodies, varies replayed passages, and keeps the
    /// model out of short loops.
    #[id = "learned"]
    #[name = "Learned"]
    Learned,
    /// The original deepjazz decoder: any tone of the role inside the value's window.
    #[id = "original"]
    #[name = "Original"]
    Original,
}

/// Solo all the time, or trade bars with the player (see `engine::Mode`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    #[id = "solo"]
    #[name = "Solo"]
    Solo,
    /// Turns alternate, the player's first: jazz-synth listens, then answers.
    #[id = "trade"]
    #[name = "Trade"]
    Trade,
}

/// Bars in a turn when trading.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeBars {
    #[id = "2"]
    #[name = "Twos"]
    Two,
    #[id = "4"]
    #[name = "Fours"]
    Four,
    #[id = "8"]
    #[name = "Eights"]
    Eight,
}

impl TradeBars {
    pub fn bars(self) -> u8 {
        match self {
            TradeBars::Two => 2,
            TradeBars::Four => 4,
            TradeBars::Eight => 8,
        }
    }

    fn of(bars: u8) -> TradeBars {
        match bars {
            0..=2 => TradeBars::Two,
            3..=5 => TradeBars::Four,
            _ => TradeBars::Eight,
        }
    }
}

/// Where the chords the solo is improvised over come from.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChordSourceChoice {
    /// A built-in progression (the `progression` parameter), locked to the host's bars.
    #[id = "progression"]
    #[name = "Progression"]
    Progression,
    /// The notes held on the plugin's MIDI input form the chord; the last chord holds on release.
    #[id = "midi-input"]
    #[name = "MIDI input"]
    MidiInput,
}

/// The built-in progressions, in the order of `changes::BUILTIN` (a test keeps them in step).
/// Variant ids keep saved sessions valid if the list is reordered or grows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressionChoice {
    #[id = "ii-v-i-c"]
    #[name = "ii-V-I in C"]
    IiVIC,
    #[id = "blues-f"]
    #[name = "12-bar blues in F"]
    BluesF,
    #[id = "autumn-leaves"]
    #[name = "Autumn Leaves"]
    AutumnLeaves,
    #[id = "rhythm-changes-a"]
    #[name = "Rhythm changes A"]
    RhythmChangesA,
    #[id = "metheny"]
    #[name = "Metheny solo"]
    Metheny,
}

impl ProgressionChoice {
    /// Index of this progression in `changes::BUILTIN`.
    pub fn builtin_index(self) -> usize {
        self.to_index()
    }

    /// The choice for index `i` of `changes::BUILTIN` (the first one if out of range).
    pub fn from_builtin_index(i: usize) -> Self {
        Self::from_index(i)
    }
}

/// The weights file named in the saved plugin state, shared between the host's state calls
/// (main thread) and the weights loader thread. Never read on the audio thread.
///
/// An empty path means "no file in the session": the loader then uses `JAZZ_SYNTH_WEIGHTS`
/// if set, else the embedded default model. Every `set` from the host (state load) bumps a
/// generation counter that the loader polls, so a restored session reloads its weights.
#[derive(Debug, Default)]
pub struct WeightsPath {
    path: RwLock<String>,
    generation: AtomicU64,
}

impl WeightsPath {
    /// The current path ("" when none).
    pub fn get(&self) -> String {
        self.path.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Names a new weights file (or "" for none) and asks the loader to load it.
    pub fn request(&self, path: impl Into<String>) {
        *self.path.write().unwrap_or_else(|e| e.into_inner()) = path.into();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Records the file actually playing (found through `JAZZ_SYNTH_WEIGHTS`) so the session
    /// remembers it, without asking for a reload.
    pub fn record(&self, path: impl Into<String>) {
        *self.path.write().unwrap_or_else(|e| e.into_inner()) = path.into();
    }

    /// Bumped by every [`request`](Self::request); the loader compares it with the last one seen.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl<'a> PersistentField<'a, String> for WeightsPath {
    fn set(&self, new_value: String) {
        self.request(new_value);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        f(&self.path.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The custom changes typed in the editor (same syntax as `--chords`), saved with the session.
/// Like [`WeightsPath`]: the host's state load and the editor set it, the weights loader thread
/// (polling [`CustomChanges::generation`]) parses it and hands the progression to the audio
/// thread, or reports why it cannot. "" means the built-in progression.
#[derive(Debug, Default)]
pub struct CustomChanges {
    text: RwLock<String>,
    generation: AtomicU64,
}

impl CustomChanges {
    pub fn get(&self) -> String {
        self.text.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// New changes ("" for the built-in progression); the loader parses and applies them.
    pub fn request(&self, text: impl Into<String>) {
        *self.text.write().unwrap_or_else(|e| e.into_inner()) = text.into();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl<'a> PersistentField<'a, String> for CustomChanges {
    fn set(&self, new_value: String) {
        self.request(new_value);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        f(&self.text.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Default size of the editor window (logical pixels): tall enough for every parameter row.
pub const EDITOR_SIZE: (u32, u32) = (900, 720);
/// Smallest and largest editor sizes a saved session or a host may ask for.
pub const EDITOR_MIN: (u32, u32) = (640, 480);
pub const EDITOR_MAX: (u32, u32) = (2400, 1800);

/// The editor window's size, saved with the session so it reopens as it was left. The egui
/// state it belongs to is replaced when a session is loaded.
#[derive(Debug)]
pub struct EditorSize {
    state: RwLock<Arc<nice_plug_egui::EguiEditorState>>,
}

impl Default for EditorSize {
    fn default() -> Self {
        EditorSize {
            state: RwLock::new(Self::state_of(EDITOR_SIZE)),
        }
    }
}

impl EditorSize {
    fn state_of((w, h): (u32, u32)) -> Arc<nice_plug_egui::EguiEditorState> {
        let w = w.clamp(EDITOR_MIN.0, EDITOR_MAX.0);
        let h = h.clamp(EDITOR_MIN.1, EDITOR_MAX.1);
        nice_plug_egui::EguiEditorState::from_size(
            nice_plug::editor::dpi::LogicalSize::new(w as f32, h as f32),
            1.0,
        )
    }

    /// The egui state the next editor opens with (and keeps its size in).
    pub fn state(&self) -> Arc<nice_plug_egui::EguiEditorState> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The size now, logical pixels.
    pub fn size(&self) -> (u32, u32) {
        let size = self.state().logical_size();
        (size.width.round() as u32, size.height.round() as u32)
    }
}

impl<'a> PersistentField<'a, (u32, u32)> for EditorSize {
    fn set(&self, size: (u32, u32)) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Self::state_of(size);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&(u32, u32)) -> R,
    {
        f(&self.size())
    }
}

/// The layout of the saved state this version writes and reads. Raise it when a parameter
/// changes meaning; states with a higher number fall back to the defaults. Format 2 added the
/// `contour` parameter: older sessions keep the original decoder they were made with. Format 3
/// added `swing`: older sessions keep their straight eighths. Format 4 added `style-strength`:
/// older sessions keep the unguided style (strength 1).
pub const STATE_FORMAT: u32 = 4;

/// The `state-format` persisted field: saves [`STATE_FORMAT`].
/// Loading reads nothing from it here; [`crate::plugin::state::sanitize`] has judged it already.
#[derive(Debug, Default)]
pub struct StateFormat;

impl<'a> PersistentField<'a, u32> for StateFormat {
    fn set(&self, _saved: u32) {}

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&u32) -> R,
    {
        f(&STATE_FORMAT)
    }
}

/// Every parameter of the plugin. See docs/plugin.md for ranges and defaults.
#[derive(Params)]
pub struct JazzSynthParams {
    /// Sampling temperature; 0 = always the most likely value (the original exercise).
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// RNG seed: the same seed and transport give the same solo.
    #[id = "seed"]
    pub seed: IntParam,
    /// Lowest MIDI note the solo may play.
    #[id = "low-note"]
    pub low_note: IntParam,
    /// Highest MIDI note the solo may play.
    #[id = "high-note"]
    pub high_note: IntParam,
    /// MIDI velocity of every generated note (1-127).
    #[id = "velocity"]
    pub velocity: IntParam,
    /// MIDI channel of the generated notes, 1-16 as musicians count.
    #[id = "midi-channel"]
    pub midi_channel: IntParam,
    #[id = "rhythm"]
    pub rhythm: EnumParam<RhythmMode>,
    #[id = "contour"]
    pub contour: EnumParam<ContourMode>,
    #[id = "chord-source"]
    pub chord_source: EnumParam<ChordSourceChoice>,
    #[id = "progression"]
    pub progression: EnumParam<ProgressionChoice>,
    /// Transposition of the progression in semitones.
    #[id = "transpose"]
    pub transpose: IntParam,
    /// Reset the LSTM state and RNG when the transport starts.
    #[id = "reset-on-start"]
    pub reset_on_start: BoolParam,
    /// Keep improvising on an own clock when the host gives no position.
    #[id = "free-run"]
    pub free_run: BoolParam,
    /// Play the built-in preview voice on the audio output.
    #[id = "preview-on"]
    pub preview_on: BoolParam,
    /// Preview voice level (linear gain, shown in dB).
    #[id = "preview-volume"]
    pub preview_volume: FloatParam,
    /// The host's bypass switch: all notes off, silence.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Solo, or trade bars with the player.
    #[id = "mode"]
    pub mode: EnumParam<ModeChoice>,
    /// Bars in a turn when trading.
    #[id = "trade-bars"]
    pub trade_bars: EnumParam<TradeBars>,
    /// While soloing, hear the notes the player plays (they steer the line).
    #[id = "listen"]
    pub listen: BoolParam,
    /// MIDI channel of the player's call, 1-16; 0 = any channel.
    #[id = "call-channel"]
    pub call_channel: IntParam,
    /// Notes at or above this key are the call, the ones below it chords; 0 = no split.
    #[id = "split-point"]
    pub split_point: IntParam,
    /// Where the off-beat eighths fall, percent of the beat (50 straight to 75);
    /// [`SWING_AUTO`] = as jazz soloists swing at the host's tempo.
    #[id = "swing"]
    pub swing: IntParam,
    /// The style a model that learned styles plays in: 0 = any, `k` = the loaded model's
    /// `k`-th style (its list, shown by name). Heard from the next generated value on.
    #[id = "style"]
    pub style: IntParam,
    /// The loaded model's style names, for the `style` parameter's text.
    pub style_names: StyleNames,
    /// How far the solo leans towards the chosen style (a factor, 0 to 4): 1 as the model
    /// learned it, above 1 the style exaggerated, 0 the average of the styles. Not 1 costs a
    /// second pass of the network per value; ignored with the style on "any".
    #[id = "style-strength"]
    pub style_strength: FloatParam,

    /// The weights file of this session (see [`WeightsPath`]).
    #[persist = "weights-path"]
    pub weights_path: WeightsPath,
    /// Changes typed in the editor (see [`CustomChanges`]).
    #[persist = "custom-changes"]
    pub custom_changes: CustomChanges,
    /// The editor window's size.
    #[persist = "editor-size"]
    pub editor_size: EditorSize,
    /// The saved state's layout (see [`crate::plugin::state`]); always the current one when saving.
    #[persist = "state-format"]
    pub state_format: StateFormat,
}

impl Default for JazzSynthParams {
    fn default() -> Self {
        let d = Settings::default();
        let style_names = StyleNames::default();
        Self {
            temperature: FloatParam::new(
                "Temperature",
                d.temperature,
                FloatRange::Linear { min: 0.0, max: 2.0 },
            )
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            seed: IntParam::new(
                "Seed",
                d.seed.min(SEED_MAX as u64) as i32,
                IntRange::Linear {
                    min: 0,
                    max: SEED_MAX,
                },
            ),
            low_note: IntParam::new(
                "Lowest note",
                d.low as i32,
                IntRange::Linear { min: 0, max: 127 },
            )
            .with_value_to_string(formatters::v2s_i32_key_formatter())
            .with_string_to_value(formatters::s2v_i32_key_formatter()),
            high_note: IntParam::new(
                "Highest note",
                d.high as i32,
                IntRange::Linear { min: 0, max: 127 },
            )
            .with_value_to_string(formatters::v2s_i32_key_formatter())
            .with_string_to_value(formatters::s2v_i32_key_formatter()),
            velocity: IntParam::new(
                "Velocity",
                d.velocity.clamp(1, 127) as i32,
                IntRange::Linear { min: 1, max: 127 },
            ),
            midi_channel: IntParam::new(
                "MIDI channel",
                d.channel.min(15) as i32 + 1,
                IntRange::Linear { min: 1, max: 16 },
            ),
            rhythm: EnumParam::new(
                "Rhythm",
                match d.rhythm {
                    Rhythm::Beat => RhythmMode::Beat,
                    Rhythm::Phrase => RhythmMode::Phrase,
                },
            ),
            contour: EnumParam::new(
                "Contour",
                match d.contour {
                    Contour::Learned => ContourMode::Learned,
                    Contour::Original => ContourMode::Original,
                },
            ),
            chord_source: EnumParam::new(
                "Chord source",
                match d.chord_source {
                    ChordSource::Progression => ChordSourceChoice::Progression,
                    ChordSource::MidiInput => ChordSourceChoice::MidiInput,
                },
            ),
            progression: EnumParam::new(
                "Progression",
                ProgressionChoice::from_builtin_index(d.progression),
            ),
            transpose: IntParam::new(
                "Transpose",
                d.transpose.clamp(-12, 12) as i32,
                IntRange::Linear { min: -12, max: 12 },
            )
            .with_unit(" st"),
            reset_on_start: BoolParam::new("Reset on start", d.reset_on_start),
            free_run: BoolParam::new("Free run", d.free_run),
            preview_on: BoolParam::new("Preview voice", true),
            preview_volume: FloatParam::new(
                "Preview volume",
                util::db_to_gain(PREVIEW_DEFAULT_DB),
                FloatRange::Skewed {
                    min: util::db_to_gain(PREVIEW_MIN_DB),
                    max: util::db_to_gain(0.0),
                    factor: FloatRange::gain_skew_factor(PREVIEW_MIN_DB, 0.0),
                },
            )
            .with_smoother(SmoothingStyle::Logarithmic(20.0))
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            mode: EnumParam::new(
                "Mode",
                match d.mode {
                    Mode::Solo => ModeChoice::Solo,
                    Mode::Trade => ModeChoice::Trade,
                },
            ),
            trade_bars: EnumParam::new("Trade bars", TradeBars::of(d.trade_bars)),
            listen: BoolParam::new("Listen while soloing", d.listen),
            call_channel: IntParam::new(
                "Call channel",
                d.call_input.channel.map_or(0, |c| i32::from(c.min(15)) + 1),
                IntRange::Linear { min: 0, max: 16 },
            )
            .with_value_to_string(Arc::new(|c| match c {
                0 => "Any".to_string(),
                c => c.to_string(),
            }))
            .with_string_to_value(Arc::new(|s| {
                let s = s.trim();
                if s.eq_ignore_ascii_case("any") {
                    Some(0)
                } else {
                    s.parse().ok()
                }
            })),
            split_point: IntParam::new(
                "Split point",
                i32::from(d.call_input.split.min(127)),
                IntRange::Linear { min: 0, max: 127 },
            )
            .with_value_to_string({
                let key = formatters::v2s_i32_key_formatter();
                Arc::new(move |k| match k {
                    0 => "None".to_string(),
                    k => key(k),
                })
            })
            .with_string_to_value({
                let key = formatters::s2v_i32_key_formatter();
                Arc::new(move |s| {
                    let s = s.trim();
                    if s.eq_ignore_ascii_case("none") {
                        Some(0)
                    } else {
                        s.parse().ok().or_else(|| key(s))
                    }
                })
            }),
            swing: IntParam::new(
                "Swing",
                match d.swing {
                    Swing::Auto => SWING_AUTO,
                    Swing::Percent(p) => (p.round() as i32).clamp(50, 75),
                },
                IntRange::Linear {
                    min: SWING_AUTO,
                    max: 75,
                },
            )
            .with_value_to_string(Arc::new(|v| match v {
                SWING_AUTO => "Auto".to_string(),
                v => format!("{v} %"),
            }))
            .with_string_to_value(Arc::new(|s| {
                let s = s.trim();
                if s.eq_ignore_ascii_case("auto") {
                    Some(SWING_AUTO)
                } else {
                    s.trim_end_matches('%').trim().parse().ok()
                }
            })),
            style: IntParam::new(
                "Style",
                i32::from(d.style).min(STYLE_MAX),
                IntRange::Linear {
                    min: 0,
                    max: STYLE_MAX,
                },
            )
            .with_value_to_string({
                let names = style_names.clone();
                Arc::new(move |v| names.text(v))
            })
            .with_string_to_value({
                let names = style_names.clone();
                Arc::new(move |s| names.position(s))
            }),
            style_names,
            style_strength: FloatParam::new(
                "Style strength",
                d.style_strength,
                FloatRange::Linear {
                    min: STYLE_STRENGTH_RANGE.0,
                    max: STYLE_STRENGTH_RANGE.1,
                },
            )
            .with_step_size(0.05)
            .with_unit("×")
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            weights_path: WeightsPath::default(),
            custom_changes: CustomChanges::default(),
            editor_size: EditorSize::default(),
            state_format: StateFormat,
        }
    }
}

impl JazzSynthParams {
    /// The engine settings the parameters describe right now. Reads atomics only: safe and
    /// allocation-free on the audio thread.
    pub fn engine_settings(&self) -> engine::Settings {
        let a = self.low_note.value().clamp(0, 127) as u8;
        let b = self.high_note.value().clamp(0, 127) as u8;
        engine::Settings {
            temperature: self.temperature.value().max(0.0),
            seed: self.seed.value().max(0) as u64,
            // A range typed upside down is still a range.
            low: a.min(b),
            high: a.max(b),
            velocity: self.velocity.value().clamp(1, 127) as u8,
            channel: (self.midi_channel.value().clamp(1, 16) - 1) as u8,
            rhythm: match self.rhythm.value() {
                RhythmMode::Beat => Rhythm::Beat,
                RhythmMode::Phrase => Rhythm::Phrase,
            },
            contour: match self.contour.value() {
                ContourMode::Learned => Contour::Learned,
                ContourMode::Original => Contour::Original,
            },
            chord_source: match self.chord_source.value() {
                ChordSourceChoice::Progression => ChordSource::Progression,
                ChordSourceChoice::MidiInput => ChordSource::MidiInput,
            },
            progression: self.progression.value().builtin_index(),
            transpose: self.transpose.value().clamp(-12, 12) as i8,
            reset_on_start: self.reset_on_start.value(),
            free_run: self.free_run.value(),
            mode: match self.mode.value() {
                ModeChoice::Solo => Mode::Solo,
                ModeChoice::Trade => Mode::Trade,
            },
            trade_bars: self.trade_bars.value().bars(),
            listen: self.listen.value(),
            call_input: CallInput {
                channel: match self.call_channel.value() {
                    c @ 1..=16 => Some((c - 1) as u8),
                    _ => None,
                },
                split: self.split_point.value().clamp(0, 127) as u8,
            },
            swing: match self.swing.value() {
                v if v <= SWING_AUTO => Swing::Auto,
                v => Swing::Percent(v.min(75) as f32),
            },
            style: self.style.value().clamp(0, STYLE_MAX) as u8,
            style_strength: self
                .style_strength
                .value()
                .clamp(STYLE_STRENGTH_RANGE.0, STYLE_STRENGTH_RANGE.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::changes::BUILTIN;

    #[test]
    fn every_builtin_progression_is_a_parameter_choice_in_order() {
        let names = ProgressionChoice::variants();
        let builtin: Vec<&str> = BUILTIN.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, builtin.as_slice());
        for i in 0..BUILTIN.len() {
            assert_eq!(ProgressionChoice::from_builtin_index(i).builtin_index(), i);
        }
    }

    #[test]
    fn defaults_are_the_engine_defaults() {
        let params = JazzSynthParams::default();
        assert_eq!(params.engine_settings(), Settings::default());
    }

    #[test]
    fn parameter_ids_never_change() {
        let params = JazzSynthParams::default();
        let mut ids: Vec<String> = params.param_map().into_iter().map(|(id, ..)| id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "bypass",
                "call-channel",
                "chord-source",
                "contour",
                "free-run",
                "high-note",
                "listen",
                "low-note",
                "midi-channel",
                "mode",
                "preview-on",
                "preview-volume",
                "progression",
                "reset-on-start",
                "rhythm",
                "seed",
                "split-point",
                "style",
                "style-strength",
                "swing",
                "temperature",
                "trade-bars",
                "transpose",
                "velocity",
            ]
        );
        assert_eq!(
            RhythmMode::ids(),
            Some(&["beat", "phrase"][..]),
            "rhythm variant ids are saved in sessions"
        );
        assert_eq!(
            ChordSourceChoice::ids(),
            Some(&["progression", "midi-input"][..])
        );
        assert_eq!(ModeChoice::ids(), Some(&["solo", "trade"][..]));
        assert_eq!(TradeBars::ids(), Some(&["2", "4", "8"][..]));
        assert_eq!(
            ProgressionChoice::ids(),
            Some(
                &[
                    "ii-v-i-c",
                    "blues-f",
                    "autumn-leaves",
                    "rhythm-changes-a",
                    "metheny"
                ][..]
            )
        );
    }

    #[test]
    fn call_channel_and_split_point_read_as_musicians_write_them() {
        let params = JazzSynthParams::default();
        assert_eq!(params.call_channel.to_string(), "Any");
        assert_eq!(params.split_point.to_string(), "None");
        assert_eq!(
            params.call_channel.string_to_normalized_value("any"),
            Some(0.0)
        );
        let c4 = params.split_point.string_to_normalized_value("C4").unwrap();
        assert_eq!(params.split_point.preview_plain(c4), 60);
        assert_eq!(
            params.split_point.normalized_value_to_string(c4, true),
            "C4"
        );
        assert_eq!(Settings::default().call_input, CallInput::ANY);
    }

    #[test]
    fn swing_reads_auto_and_percentages() {
        let params = JazzSynthParams::default();
        assert_eq!(params.swing.to_string(), "Auto");
        assert_eq!(params.engine_settings().swing, Swing::Auto);
        let sixty = params.swing.string_to_normalized_value("60 %").unwrap();
        assert_eq!(params.swing.preview_plain(sixty), 60);
        assert_eq!(params.swing.normalized_value_to_string(sixty, true), "60 %");
        let auto = params.swing.string_to_normalized_value("auto").unwrap();
        assert_eq!(params.swing.preview_plain(auto), SWING_AUTO);
        let ptrs = params.param_map();
        let (_, ptr, _) = ptrs.iter().find(|(i, ..)| i == "swing").unwrap();
        unsafe { ptr._internal_set_normalized_value(sixty) };
        assert_eq!(params.engine_settings().swing, Swing::Percent(60.0));
    }

    #[test]
    fn upside_down_note_range_is_reordered() {
        let params = JazzSynthParams::default();
        let ptrs = params.param_map();
        let set = |id: &str, plain: i32| {
            let (_, ptr, _) = ptrs.iter().find(|(i, ..)| i == id).unwrap();
            let normalized = unsafe { ptr.preview_normalized(plain as f32) };
            unsafe { ptr._internal_set_normalized_value(normalized) };
        };
        set("low-note", 80);
        set("high-note", 50);
        let s = params.engine_settings();
        assert_eq!((s.low, s.high), (50, 80));
    }

    #[test]
    fn midi_channel_is_counted_from_one_for_musicians_and_from_zero_for_the_engine() {
        let params = JazzSynthParams::default();
        assert_eq!(params.midi_channel.value(), 1);
        assert_eq!(params.engine_settings().channel, 0);
    }

    #[test]
    fn a_restored_weights_path_asks_for_a_reload() {
        let params = JazzSynthParams::default();
        let before = params.weights_path.generation();
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "weights-path".to_string(),
            serde_json::to_string("/tmp/solo.safetensors").unwrap(),
        );
        params.deserialize_fields(&fields);
        assert_eq!(params.weights_path.get(), "/tmp/solo.safetensors");
        assert!(params.weights_path.generation() > before);
        assert_eq!(
            params.serialize_fields()["weights-path"],
            "\"/tmp/solo.safetensors\""
        );

        let generation = params.weights_path.generation();
        params.weights_path.record("/tmp/env.safetensors");
        assert_eq!(params.weights_path.generation(), generation);
        assert_eq!(params.weights_path.get(), "/tmp/env.safetensors");
    }
}
