//! How the renders of a chord-aware model compare with real solos it never trained on.
//!
//! ```sh
//! cargo run --release --example wjd_report -- PATH/TO/wjd [--weights W] [--solos 20] [--seeds 3] [--bars 32] [--temperature T] [--style NAME | --all-styles] [--style-strength G]
//! ```
//!
//! `--style NAME` renders in one of the model's styles (default: any); `--all-styles` renders
//! the same solos' changes in "any" and in every style the model learned, one table row per
//! style (notes per beat, steps with and without repeated notes, chord tones, inside, mean
//! interval, silent beats) and one JSON line each. `stepwise_share` (steps of 1 or 2 semitones,
//! no repeats) is the count the WJD's own style figures use. As those figures are, each render's
//! figures are weighted by its notes (the table of real against rendered solos weighs every
//! solo and render once).
//! `--style-strength G` plays the styles at that strength (default: the player's default).
//!
//! Takes the first `--solos` solos (by file name) of the model's test split (by the hash the
//! trainer used; files it trained on are never taken), renders `--bars` bars over each one's
//! changes (`render --changes-from`) at its tempo with `--seeds` seeds, and prints the figures
//! of the renders beside those of the real solos (each solo's own figures, averaged over the
//! solos; the renders' averaged over all renders), then one JSON line.

use std::path::PathBuf;

use jazz_synth::engine::Rhythm;
use jazz_synth::model::weights;
use jazz_synth::music::quality::{Breath, Figures, Line, LineNote};
use jazz_synth::music::theory::Chord;
use jazz_synth::standalone::render::render_timeline;
use jazz_synth::standalone::session::{MusicOptions, Setup};
use jazz_synth::train::corpus::{self, AutoOptions};
use jazz_synth::train::jazz::{Part, Split};
use jazz_synth::train::lines::{file_line, LineTracks};

#[derive(Default, Clone, Copy)]
struct Sum {
    n: f64,
    /// Total weight of the figures (`n` when every line counts once).
    weight: f64,
    figures: [f64; 9],
    phrase_notes: f64,
    phrase_beats: f64,
    gap: f64,
    longest_repeat: f64,
}

const NAMES: [&str; 9] = [
    "notes_per_beat",
    "step_share",
    "stepwise_share",
    "chord_tone_share",
    "inside_share",
    "mean_interval",
    "leap_share",
    "silent_beat_share",
    "distinct_4grams",
];

impl Sum {
    fn add(&mut self, f: &Figures, b: &Breath) {
        self.add_weighted(f, b, 1.0);
    }

    /// Adds a line whose figures count `weight` times (its notes, for figures weighted by note
    /// as the WJD's published style figures are).
    fn add_weighted(&mut self, f: &Figures, b: &Breath, weight: f64) {
        let row = [
            b.notes_per_beat,
            f.step_share,
            f.stepwise_share().unwrap_or(f.step_share),
            f.chord_tone_share,
            f.inside_share,
            f.mean_interval,
            f.leap_share,
            b.silent_beat_share,
            f.distinct_4grams,
        ];
        for (s, x) in self.figures.iter_mut().zip(row) {
            *s += weight * x;
        }
        self.weight += weight;
        self.phrase_notes += b.phrase_notes_median;
        self.phrase_beats += b.phrase_beats_median;
        self.gap += b.gap_beats_median;
        self.longest_repeat = self.longest_repeat.max(f.longest_repeat as f64);
        self.n += 1.0;
    }

    fn mean(&self, i: usize) -> f64 {
        if self.weight > 0.0 {
            self.figures[i] / self.weight
        } else {
            0.0
        }
    }
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let (mut weights_path, mut solos, mut seeds, mut bars) = (None, 20usize, 3u64, 32u32);
    let mut temperature = None;
    let (mut style, mut all_styles, mut style_strength) = (None, false, None);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--weights" => weights_path = Some(PathBuf::from(value()?)),
            "--solos" => solos = value()?.parse().map_err(|e| format!("--solos: {e}"))?,
            "--seeds" => seeds = value()?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--bars" => bars = value()?.parse().map_err(|e| format!("--bars: {e}"))?,
            "--temperature" => {
                temperature = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--temperature: {e}"))?,
                )
            }
            "--style" => style = Some(value()?),
            "--all-styles" => all_styles = true,
            "--style-strength" => {
                style_strength = Some(
                    value()?
                        .parse::<f32>()
                        .map_err(|e| format!("--style-strength: {e}"))?,
                )
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.ok_or("give the folder of the collection (e.g. the WJD's)")?;
    let model = weights::resolve(weights_path.as_deref()).map_err(|e| e.to_string())?;
    let split = Split::recorded_in(&model)
        .ok_or("the weights record no split; train them with --preset jazz")?;
    let trained: std::collections::HashSet<String> = model
        .provenance()
        .training_files
        .iter()
        .map(|f| f.sha256.clone())
        .collect();
    let inputs = corpus::expand_inputs(&[dir]).map_err(|e| e.to_string())?;
    if all_styles {
        let base = MusicOptions {
            weights: weights_path.clone(),
            rhythm: Some(Rhythm::Phrase),
            temperature,
            style_strength,
            ..Default::default()
        };
        return per_style(&model, &inputs, &base, solos, seeds, bars);
    }
    let (mut real, mut rendered) = (Sum::default(), Sum::default());
    let mut used = Vec::new();
    for input in &inputs {
        if used.len() >= solos {
            break;
        }
        let Ok(song) = corpus::read_midi(&input.path) else {
            continue;
        };
        if split.part(&song.sha256) != Part::Test || trained.contains(&song.sha256) {
            continue;
        }
        let Ok(changes) = corpus::changes_text(&input.path, &AutoOptions::default()) else {
            continue;
        };
        let line = file_line(&input.path, LineTracks::default()).map_err(|e| e.to_string())?;
        real.add(&line.figures(), &line.breath());
        let tempo = song.tempo_bpm.unwrap_or(120.0);
        for seed in 0..seeds {
            let setup = Setup::from_options(&MusicOptions {
                weights: weights_path.clone(),
                seed: Some(seed),
                tempo_bpm: Some(tempo),
                chords: Some(changes.clone()),
                rhythm: Some(Rhythm::Phrase),
                temperature,
                style: style.clone(),
                style_strength,
                ..Default::default()
            })?;
            let (figures, breath) = render_line(&setup, bars);
            rendered.add(&figures, &breath);
        }
        used.push(
            input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    if used.is_empty() {
        return Err("no held-out solo with chords found in that folder".into());
    }
    println!(
        "{} held-out solos, {} renders of {bars} bars ({seeds} seeds each):",
        used.len(),
        rendered.n
    );
    println!("{:<20} {:>10} {:>10}", "", "real", "renders");
    let mut json = serde_json::Map::new();
    for (i, name) in NAMES.iter().enumerate() {
        println!(
            "{name:<20} {:>10.3} {:>10.3}",
            real.mean(i),
            rendered.mean(i)
        );
        json.insert(format!("real_{name}"), real.mean(i).into());
        json.insert(format!("render_{name}"), rendered.mean(i).into());
    }
    for (name, r, g) in [
        (
            "phrase_notes_median",
            real.phrase_notes / real.n,
            rendered.phrase_notes / rendered.n,
        ),
        (
            "phrase_beats_median",
            real.phrase_beats / real.n,
            rendered.phrase_beats / rendered.n,
        ),
        (
            "gap_beats_median",
            real.gap / real.n,
            rendered.gap / rendered.n,
        ),
    ] {
        println!("{name:<20} {r:>10.2} {g:>10.2}");
        json.insert(format!("real_{name}"), r.into());
        json.insert(format!("render_{name}"), g.into());
    }
    println!(
        "{:<20} {:>10} {:>10}",
        "longest repeat (max)", real.longest_repeat, rendered.longest_repeat
    );
    json.insert(
        "render_longest_repeat_max".into(),
        rendered.longest_repeat.into(),
    );
    json.insert("solos".into(), used.into());
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}

/// The figures of a render's solo line over its chords.
fn render_line(setup: &Setup, bars: u32) -> (Figures, Breath) {
    let (timeline, _) = render_timeline(setup, bars, 48_000.0, 512);
    let spb = timeline.samples_per_beat();
    let notes: Vec<LineNote> = timeline
        .solo
        .iter()
        .map(|n| LineNote {
            start: n.start as f64 / spb,
            end: n.end as f64 / spb,
            key: n.note,
        })
        .collect();
    let chords: Vec<(f64, Chord)> = timeline
        .chords
        .iter()
        .map(|c| (c.start_beat, Chord::from_midi(&c.voicing)))
        .collect();
    let line = Line::new(&notes, &chords, f64::from(setup.beats_per_bar()));
    (line.figures(), line.breath())
}

/// `--all-styles`: the changes of the first `solos` held-out solos rendered in "any" and in
/// each of the model's styles, with the options of `base` (weights, temperature, strength).
fn per_style(
    model: &jazz_synth::model::lstm::Model,
    inputs: &[corpus::Input],
    base: &MusicOptions,
    solos: usize,
    seeds: u64,
    bars: u32,
) -> Result<(), String> {
    let split = Split::recorded_in(model).ok_or("the weights record no split")?;
    let trained: std::collections::HashSet<String> = model
        .provenance()
        .training_files
        .iter()
        .map(|f| f.sha256.clone())
        .collect();
    let mut tunes = Vec::new();
    for input in inputs {
        if tunes.len() >= solos {
            break;
        }
        let Ok(song) = corpus::read_midi(&input.path) else {
            continue;
        };
        if split.part(&song.sha256) != Part::Test || trained.contains(&song.sha256) {
            continue;
        }
        let Ok(changes) = corpus::changes_text(&input.path, &AutoOptions::default()) else {
            continue;
        };
        tunes.push((changes, song.tempo_bpm.unwrap_or(120.0)));
    }
    if tunes.is_empty() {
        return Err("no held-out solo with chords found in that folder".into());
    }
    println!(
        "{} held-out solos' changes, {bars} bars, {seeds} seeds each, per style:",
        tunes.len()
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "style", "notes/bt", "steps", "1-2 st", "chord", "inside", "interval", "silent"
    );
    let names: Vec<String> = std::iter::once("any".to_string())
        .chain(model.styles().iter().cloned())
        .collect();
    for name in names {
        let mut sum = Sum::default();
        for (changes, tempo) in &tunes {
            for seed in 0..seeds {
                let setup = Setup::from_options(&MusicOptions {
                    seed: Some(seed),
                    tempo_bpm: Some(*tempo),
                    chords: Some(changes.clone()),
                    style: Some(name.clone()),
                    ..base.clone()
                })?;
                let (f, b) = render_line(&setup, bars);
                sum.add_weighted(&f, &b, f.notes as f64);
            }
        }
        println!(
            "{name:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            sum.mean(0),
            sum.mean(1),
            sum.mean(2),
            sum.mean(3),
            sum.mean(4),
            sum.mean(5),
            sum.mean(7)
        );
        let mut json = serde_json::Map::new();
        json.insert("style".into(), name.clone().into());
        for (i, key) in NAMES.iter().enumerate() {
            json.insert(format!("render_{key}"), sum.mean(i).into());
        }
        println!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}
