//! Session setup shared by every standalone front end (live ALSA, JACK, render): the user's
//! musical options checked once into a [`Setup`] (model, engine settings, tempo, changes), and
//! the names printed for bars, notes and chords.

use std::path::PathBuf;

use crate::engine::{
    BandPlayer, ChordSource, Contour, Engine, Generated, Mode, Rhythm, Settings, Swing,
};
use crate::model::lstm::Model;
use crate::model::weights;
use crate::music::band::{Band, BandChannels};
use crate::music::changes::{self, Progression};
use crate::music::theory;

/// Default tempo, quarter notes per minute.
pub const DEFAULT_TEMPO_BPM: f64 = 120.0;
/// Bars are 4/4: four quarter notes.
pub const BEATS_PER_BAR: u32 = 4;

/// The musical choices every front end shares (live, JACK, render), as the
/// user gave them; `None` means the engine's default.
#[derive(Clone, Debug, Default)]
pub struct MusicOptions {
    /// A weights file instead of the embedded model.
    pub weights: Option<PathBuf>,
    pub seed: Option<u64>,
    /// 0 = always the most likely value (the original's argmax).
    pub temperature: Option<f32>,
    /// Quarter notes per minute.
    pub tempo_bpm: Option<f64>,
    /// Chord text, e.g. `"Dm7 G7 | Cmaj7"`.
    pub chords: Option<String>,
    /// Name (or unique part of a name) of a built-in progression.
    pub progression: Option<String>,
    /// Lowest and highest MIDI note the solo may use.
    pub low: Option<u8>,
    pub high: Option<u8>,
    /// MIDI channel 1–16, as synths display it.
    pub channel: Option<u8>,
    /// Note-on velocity 1–127.
    pub velocity: Option<u8>,
    pub rhythm: Option<Rhythm>,
    pub contour: Option<Contour>,
    /// Chords come from notes held on a MIDI input instead of a progression.
    pub chords_from_midi: bool,
    /// Time signature, `3/4`; a meter at the head of the chord text (`"3/4 Am | E7"`) does
    /// the same.
    pub meter: Option<String>,
    /// Trade turns of this many bars with the player (2, 4 or 8).
    pub trade: Option<u8>,
    /// While soloing, hear the player's notes.
    pub listen: bool,
    /// Where the off-beat eighths fall (`--swing`); None = auto.
    pub swing: Option<Swing>,
    /// Add the rhythm section (`--band`): walking bass, comping, drums.
    pub band: bool,
    /// The style to play in (`--style`), one of the model's (any spelling
    /// [`crate::music::style::normalise`] knows); None or `any` = no style.
    pub style: Option<String>,
    /// How far to lean towards the style (`--style-strength`, a factor in
    /// [`crate::engine::STYLE_STRENGTH_RANGE`]); None = the default.
    pub style_strength: Option<f32>,
}

/// A validated setup: the model, the engine settings and the changes.
#[derive(Clone)]
pub struct Setup {
    pub model: Model,
    pub settings: Settings,
    /// Quarter notes per minute (the internal clock's tempo).
    pub tempo_bpm: f64,
    /// Time signature (numerator, denominator) of the host bars, for transports and files.
    pub time_sig: (u32, u32),
    /// The changes played: `--chords` or the chosen built-in progression.
    pub progression: Progression,
    /// True when `--chords` replaced the built-in progression.
    pub custom_changes: bool,
    /// Whether the rhythm section plays (`--band`).
    pub band: bool,
}

impl Setup {
    /// Quarter-note beats per bar of the meter (3 for 3/4 and 6/8).
    pub fn beats_per_bar(&self) -> u32 {
        let (n, d) = self.time_sig;
        (n * 4 / d.max(1)).max(1)
    }

    /// Loads the weights, parses the chords and checks every value; the
    /// error says which option is wrong and how.
    pub fn from_options(o: &MusicOptions) -> Result<Setup, String> {
        const PLAY_TEMPERATURE: &str = "play_temperature";
        let mut settings = Settings::default();
        if let Some(t) = o.temperature {
            if !t.is_finite() || !(0.0..=10.0).contains(&t) {
                return Err(format!(
                    "--temperature {t}: use a number from 0 (always the most likely value) to 10"
                ));
            }
            settings.temperature = t;
        }
        if let Some(seed) = o.seed {
            settings.seed = seed;
        }
        let tempo_bpm = o.tempo_bpm.unwrap_or(DEFAULT_TEMPO_BPM);
        if !tempo_bpm.is_finite() || !(20.0..=400.0).contains(&tempo_bpm) {
            return Err(format!(
                "--tempo {tempo_bpm}: use 20 to 400 quarter notes per minute"
            ));
        }
        for (flag, v) in [("--low", o.low), ("--high", o.high)] {
            if let Some(n) = v {
                if n > 127 {
                    return Err(format!("{flag} {n}: MIDI notes go from 0 to 127"));
                }
            }
        }
        settings.low = o.low.unwrap_or(settings.low);
        settings.high = o.high.unwrap_or(settings.high);
        if settings.low >= settings.high {
            return Err(format!(
                "--low {} is not below --high {}: the solo needs a range of notes",
                settings.low, settings.high
            ));
        }
        if let Some(ch) = o.channel {
            if !(1..=16).contains(&ch) {
                return Err(format!("--channel {ch}: MIDI channels are 1 to 16"));
            }
            settings.channel = ch - 1;
        }
        if let Some(v) = o.velocity {
            if !(1..=127).contains(&v) {
                return Err(format!("--velocity {v}: use 1 to 127"));
            }
            settings.velocity = v;
        }
        if let Some(r) = o.rhythm {
            settings.rhythm = r;
        }
        if let Some(c) = o.contour {
            settings.contour = c;
        }
        if o.chords_from_midi {
            settings.chord_source = ChordSource::MidiInput;
        }
        if let Some(bars) = o.trade {
            if ![2, 4, 8].contains(&bars) {
                return Err(format!(
                    "--trade {bars}: trade twos, fours or eights (--trade 2, 4 or 8)"
                ));
            }
            settings.mode = Mode::Trade;
            settings.trade_bars = bars;
        }
        settings.listen = o.listen;
        if let Some(swing) = o.swing {
            settings.swing = swing;
        }
        if o.band && o.chords_from_midi {
            return Err(
                "--band needs the changes ahead of time, which chords played on \
                        --chords-in are not: give --chords or --progression"
                    .into(),
            );
        }

        // The meter: --meter, or a time signature heading the chord text.
        let (head, chord_text) = match o.chords.as_deref().map(str::trim_start) {
            Some(text) => match text.split_once(|c: char| c.is_whitespace() || c == '|') {
                Some((first, rest))
                    if first.contains('/') && first.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    (Some(first), rest.trim_start_matches([' ', '|']))
                }
                _ => (None, text),
            },
            None => (None, ""),
        };
        let meter = match (o.meter.as_deref(), head) {
            (Some(a), Some(b)) if changes::parse_meter(a) != changes::parse_meter(b) => {
                return Err(format!(
                    "--meter {a} and the chords' {b} disagree: give the meter once"
                ))
            }
            (Some(m), _) | (None, Some(m)) => {
                changes::parse_meter(m).map_err(|e| format!("--meter: {e}"))?
            }
            (None, None) => (BEATS_PER_BAR, 4, BEATS_PER_BAR),
        };
        let (numerator, denominator, beats_per_bar) = meter;

        let (progression, custom_changes) = match (&o.chords, &o.progression) {
            (Some(_), Some(_)) => {
                return Err("give either --chords or --progression, not both".into())
            }
            (Some(_), None) => (parse_chords_option(chord_text, beats_per_bar)?, true),
            (None, Some(name)) => {
                let index = changes::builtin_by_name(name).ok_or_else(|| {
                    format!(
                        "--progression \"{name}\": no such built-in progression.\n{}",
                        progression_list()
                    )
                })?;
                settings.progression = index;
                (builtin_progression(index)?, false)
            }
            (None, None) => (builtin_progression(settings.progression)?, false),
        };

        let model = weights::resolve(o.weights.as_deref())
            .map_err(|e| format!("cannot use the weights file {e}"))?;
        // A model may say at which temperature it plays like its corpus (the WJD model: 1.0).
        if o.temperature.is_none() {
            if let Some(t) = model
                .provenance()
                .hyperparameters
                .get(PLAY_TEMPERATURE)
                .and_then(serde_json::Value::as_f64)
                .filter(|t| (0.0..=10.0).contains(t))
            {
                settings.temperature = t as f32;
            }
        }
        if let Some(name) = &o.style {
            let k =
                crate::music::style::find(model.styles(), name).map_err(|e| format!("--{e}"))?;
            settings.style = u8::try_from(k).unwrap_or(0);
        }
        if let Some(g) = o.style_strength {
            let (low, high) = crate::engine::STYLE_STRENGTH_RANGE;
            if !(low..=high).contains(&g) {
                return Err(format!(
                    "--style-strength {g}: use a factor from {low} (the average of the model's \
                     styles) through 1 (the style as the model learned it) to {high} (the style \
                     exaggerated)"
                ));
            }
            settings.style_strength = g;
        }
        Ok(Setup {
            model,
            settings,
            tempo_bpm,
            time_sig: (numerator, denominator),
            progression,
            custom_changes,
            band: o.band,
        })
    }

    /// The rhythm section at `sample_rate` Hz when `--band` asked for it: over the setup's
    /// changes, with its seed and swing, on channels clear of the solo's.
    pub fn band_player(&self, sample_rate: f64) -> Option<BandPlayer> {
        self.band.then(|| {
            let (n, d) = self.time_sig;
            let band = Band::new(
                self.progression.clone(),
                f64::from(n) * 4.0 / f64::from(d.max(1)),
                self.settings.seed,
                BandChannels::around_solo(self.settings.channel),
            );
            BandPlayer::new(band, self.settings.swing, sample_rate)
        })
    }

    /// A fresh engine for this setup at `sample_rate` Hz, before its first block.
    pub fn engine(&self, sample_rate: f64) -> Engine {
        let mut e = Engine::new(Box::new(self.model.clone()), self.settings, sample_rate);
        if self.custom_changes {
            e.set_progression(Some(self.progression.clone()));
        }
        e
    }

    /// The chord under a generated value at `position_beats` (quarter
    /// notes): the symbol from the changes, or the chord recognised from MIDI input.
    pub fn chord_label(&self, g: &Generated, position_beats: f64) -> String {
        match self.settings.chord_source {
            ChordSource::Progression => self.progression.symbol_at(position_beats).to_string(),
            ChordSource::MidiInput => chord_name(&g.chord),
        }
    }

    /// The live line for a value generated at `position_beats` (quarter
    /// notes from the start): `bar:beat  chord  role  note  value`, e.g.
    /// `   3:2.5  G7  S  E5  S,0.250,<m3,M-2>`.
    pub fn note_line(&self, g: &Generated, position_beats: f64) -> String {
        let value = self
            .model
            .vocab()
            .get(g.value_index)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into());
        let role = value.chars().next().unwrap_or('?');
        let note = g.note.map(note_name).unwrap_or_else(|| "rest".into());
        let at = bar_beat(position_beats, self.beats_per_bar());
        let (bar, beat) = at.split_once(':').unwrap_or((&at, ""));
        format!(
            "{bar:>4}:{beat:<5} {:<8} {role}  {note:<5} {value}",
            self.chord_label(g, position_beats)
        )
    }
}

/// `bar:beat`, both from 1, for a position in quarter notes: `3:2`, or
/// `3:2.5` / `3:2.33` between beats (phrase rhythm).
pub fn bar_beat(position_beats: f64, beats_per_bar: u32) -> String {
    // Snap to the engine's grid (12 per beat) so 2.9999999 prints as 3.
    let ticks = (position_beats * 12.0).round() as i64;
    let per_bar = 12 * i64::from(beats_per_bar.max(1));
    let bar = ticks.div_euclid(per_bar) + 1;
    let in_bar = ticks.rem_euclid(per_bar);
    let beat = in_bar / 12 + 1;
    match in_bar % 12 {
        0 => format!("{bar}:{beat}"),
        frac => {
            let text = format!("{:.2}", frac as f64 / 12.0);
            let text = text.trim_end_matches('0');
            format!("{bar}:{beat}{}", text.trim_start_matches('0'))
        }
    }
}

fn builtin_progression(index: usize) -> Result<Progression, String> {
    changes::builtin(index).ok_or_else(|| format!("built-in progression {index} is missing"))
}

/// "Built-in progressions: ..." with their names, for errors and `--help`.
pub fn progression_list() -> String {
    let mut s = String::from("Built-in progressions:");
    for (name, _) in changes::BUILTIN {
        s.push_str(&format!("\n  {name}"));
    }
    s
}

/// Parses `--chords`; an error repeats the text with a caret under the bad symbol.
pub fn parse_chords_option(text: &str, beats_per_bar: u32) -> Result<Progression, String> {
    changes::parse_changes_in(text, beats_per_bar).map_err(|e| {
        let caret = " ".repeat(e.column.saturating_sub(1));
        format!("--chords: {e}\n  {text}\n  {caret}^")
    })
}

/// A MIDI note as music21 names it, with octave: 60 → `C4`, 70 → `B-4`.
pub fn note_name(note: u8) -> String {
    format!(
        "{}{}",
        theory::pitch_name(i32::from(note)),
        i32::from(note) / 12 - 1
    )
}

/// A chord recognised from MIDI input: `Am`, `C`, or its pitch classes when
/// it is neither major nor minor (`E- F# B-`), `N.C.` when nothing is held.
fn chord_name(c: &theory::Chord) -> String {
    if c.is_empty() {
        return "N.C.".into();
    }
    let root = theory::pitch_name(i32::from(c.root));
    match c.quality {
        theory::Quality::Major => root.to_string(),
        theory::Quality::Minor => format!("{root}m"),
        theory::Quality::Other => {
            let names: Vec<&str> = c
                .pcs
                .iter()
                .map(|pc| theory::pitch_name(i32::from(pc)))
                .collect();
            names.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_print_as_bar_and_beat() {
        assert_eq!(bar_beat(0.0, 4), "1:1");
        assert_eq!(bar_beat(5.0, 4), "2:2");
        assert_eq!(bar_beat(6.5, 4), "2:3.5");
        assert_eq!(bar_beat(7.0 + 1.0 / 3.0, 4), "2:4.33");
        assert_eq!(bar_beat(2.9999999, 4), "1:4");
        assert_eq!(bar_beat(0.25, 3), "1:1.25");
    }
}
