//! Styles (`jazz-synth/cond-2`): on a corpus this test writes, where one "style" moves by
//! arpeggio (chord tones only) and the other by step along the scale, the style input lowers
//! the held-out loss and the renders in each style move as it did; the style knob switches
//! mid-solo at the next value without allocating; the weights record the styles; the CSV
//! reader, `jazz-train --style-from`, `evaluate --style-from` and `--style` end to end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use jazz_synth::engine::{Engine, MidiIn, NoteEvent, Output, Settings, Transport};
use jazz_synth::model::lstm::{Conditioning, Model};
use jazz_synth::model::weights;
use jazz_synth::music::conditioning::{write_style, COND_SIZE, LAYOUT_STYLED, MAX_COND};
use jazz_synth::music::grammar::{role_by_pitch_class, Role};
use jazz_synth::standalone::render::render_timeline;
use jazz_synth::standalone::session::{MusicOptions, Setup};
use jazz_synth::train::corpus::Solo;
use jazz_synth::train::jazz::{self, Encoded, JazzVocab};
use jazz_synth::train::TrainConfig;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;
use common::corpus::{
    fails, read_solos, solo_over_chords, succeeds, train_quietly, write_collection, Collection,
    SYNTH, TRAIN,
};
use common::temp_dir;

#[global_allocator]
static A: AllocDisabler = AllocDisabler;

/// Dm7, G7, Cmaj7, A7 as MIDI voicings (the chords every solo here is played over).
const CHORDS: [[u8; 4]; 4] = [
    [50, 53, 57, 60],
    [43, 47, 50, 53],
    [48, 52, 55, 59],
    [45, 49, 52, 55],
];

/// C major with C# (A7's third): the scale the stepping style walks.
const SCALE: [u8; 8] = [0, 1, 2, 4, 5, 7, 9, 11];

/// A solo of `bars` bars of eighths over random chords (two beats each). `arpeggio`: every
/// note a tone of the chord, 3 to 7 semitones from the last; otherwise the next scale note up
/// or down (1 or 2 semitones), turning at the edges of G4–C6 and now and then at random.
fn solo(seed: u64, bars: usize, arpeggio: bool) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut melody, mut chords) = (Vec::new(), Vec::new());
    let mut prev: u8 = 67;
    let mut up = true;
    for half in 0..bars * 2 {
        let chord = CHORDS[rng.random_range(0..CHORDS.len())];
        let t = half as f64 * 2.0;
        for &k in &chord {
            chords.push((t, 2.0, k));
        }
        for e in 0..4 {
            let pitch = if arpeggio {
                let tones: Vec<u8> = (55u8..=84)
                    .filter(|p| chord.iter().any(|c| c % 12 == p % 12))
                    .filter(|&p| (3..=7).contains(&(i32::from(p) - i32::from(prev)).abs()))
                    .collect();
                tones[rng.random_range(0..tones.len())]
            } else {
                if prev >= 82 || prev <= 56 || rng.random_bool(0.15) {
                    up = prev < 70;
                }
                let mut p = prev;
                loop {
                    p = if up { p + 1 } else { p - 1 };
                    if SCALE.contains(&(p % 12)) {
                        break p;
                    }
                }
            };
            melody.push((t + 0.5 * f64::from(e), 0.5, pitch));
            prev = pitch;
        }
    }
    solo_over_chords(&melody, &chords)
}

/// `jazz-train evaluate --json` of `weights` over `files`, their styles read from `table`.
fn evaluate_json(weights: &Path, table: &Path, files: &[PathBuf]) -> serde_json::Value {
    let text = succeeds(
        Command::new(TRAIN)
            .args(["evaluate", "--json", "--weights"])
            .arg(weights)
            .arg("--style-from")
            .arg(table)
            .args(files),
    );
    serde_json::from_str(text.trim()).unwrap()
}

/// The corpus: `count` solos alternating between the two styles, with the style table (in
/// the collection's scratch folder).
fn write_corpus(tag: &str, count: usize, bars: usize) -> (Collection, PathBuf) {
    let mut csv = String::from("file,performer,style\n");
    let collection = write_collection(tag, count, |k| {
        let arpeggio = k % 2 == 0;
        let name = format!("solo{k:02}.mid");
        csv.push_str(&format!(
            "{name},Player {k},{}\n",
            if arpeggio { "ARPEGGIOS" } else { "Steps" }
        ));
        (name, solo(k as u64, bars, arpeggio))
    });
    let table = collection.dir.join("styles.csv");
    fs::write(&table, csv).unwrap();
    (collection, table)
}

/// Style of solo `k` among ["arpeggios", "steps"] (knob positions 1 and 2).
fn knob(k: usize) -> usize {
    if k.is_multiple_of(2) {
        1
    } else {
        2
    }
}

struct Trained {
    model: Model,
    weights: PathBuf,
    held_out: Vec<Solo>,
    vocab: JazzVocab,
}

/// One small styled model for the tests of this file (trained once).
fn trained() -> &'static Trained {
    static MODEL: OnceLock<Trained> = OnceLock::new();
    MODEL.get_or_init(|| {
        let (collection, _) = write_corpus("style-model", 32, 2);
        let all = read_solos(&collection.files);
        let styles = vec!["arpeggios".to_string(), "steps".to_string()];
        let (train, held): (Vec<&Solo>, Vec<&Solo>) =
            (all[..24].iter().collect(), all[24..].iter().collect());
        let vocab = JazzVocab::build(&train, 1);
        let train_styles: Vec<usize> = (0..24).map(knob).collect();
        let held_styles: Vec<usize> = (24..32).map(knob).collect();
        let tr = Encoded::of_styled(&train, &vocab, &styles, &train_styles);
        let va = Encoded::of_styled(&held, &vocab, &styles, &held_styles);
        assert_eq!(tr.width, COND_SIZE + 2);
        let config = TrainConfig {
            every_window: true,
            stride: 4,
            tx: 16,
            hidden: 24,
            lr: 0.02,
            decay: 0.0,
            epochs: 30,
            batch: 16,
            threads: 1,
            style_dropout: 0.3,
            ..TrainConfig::default()
        };
        let mut model = train_quietly(&tr, &va, &vocab, &config, true);
        let mut provenance = model.provenance().clone();
        provenance.pitch_model = Some(jazz::learn_pitch_model(&train, &vocab));
        provenance
            .hyperparameters
            .insert("play_temperature".into(), 1.0.into());
        model.set_provenance(provenance);
        let weights_path = collection.dir.join("styled.safetensors");
        weights::save_atomic(&model, &weights_path).unwrap();
        Trained {
            model,
            weights: weights_path,
            held_out: all[24..].to_vec(),
            vocab,
        }
    })
}

#[test]
fn the_style_input_lowers_the_held_out_loss() {
    let t = trained();
    assert_eq!(t.model.styles(), ["arpeggios", "steps"]);
    let held: Vec<&Solo> = t.held_out.iter().collect();
    let styles = t.model.styles().to_vec();
    let nll = |of: &dyn Fn(usize) -> usize| {
        let style_of: Vec<usize> = (24..32).map(of).collect();
        let enc = Encoded::of_styled(&held, &t.vocab, &styles, &style_of);
        jazz::value_nll(&mut t.model.clone(), &enc).0
    };
    let true_style = nll(&knob);
    let any = nll(&|_| 0);
    let wrong = nll(&|k| 3 - knob(k));
    // "any" cannot know the first notes' style; the wrong style misleads the whole solo.
    assert!(
        true_style < any - 0.01,
        "held-out NLL per value: true style {true_style:.3}, any {any:.3}"
    );
    assert!(
        wrong > any + 0.2,
        "held-out NLL per value: wrong style {wrong:.3}, any {any:.3}"
    );
    // The whole system's per-note score agrees.
    let (styled, plain) = (
        jazz::score_styled(
            &mut t.model.clone(),
            &held,
            &(24..32).map(knob).collect::<Vec<_>>(),
            &[],
        )
        .unwrap(),
        jazz::score(&mut t.model.clone(), &held, &[]).unwrap(),
    );
    assert!(
        styled.nll_note < plain.nll_note,
        "per note: true style {:.3}, any {:.3}",
        styled.nll_note,
        plain.nll_note
    );
}

/// Chord-tone share and step share (|interval| ≤ 2) of a 16-bar render in `style`.
fn render_figures(style: &str, seed: u64) -> (f64, f64) {
    render_figures_at(style, None, seed)
}

/// [`render_figures`] at style strength `strength` (None: the default).
fn render_figures_at(style: &str, strength: Option<f32>, seed: u64) -> (f64, f64) {
    let t = trained();
    let setup = Setup::from_options(&MusicOptions {
        weights: Some(t.weights.clone()),
        seed: Some(seed),
        style: Some(style.into()),
        style_strength: strength,
        ..Default::default()
    })
    .unwrap();
    let (_, generated) = render_timeline(&setup, 16, 48_000.0, 512);
    let notes: Vec<(u8, jazz_synth::music::theory::Chord)> = generated
        .iter()
        .filter_map(|g| g.generated.note.map(|n| (n, g.generated.chord)))
        .collect();
    assert!(notes.len() > 40, "{style}: {} notes", notes.len());
    let chord_tones = notes
        .iter()
        .filter(|(n, c)| role_by_pitch_class(*n, c) == Role::Chord)
        .count();
    let steps = notes
        .windows(2)
        .filter(|w| (i32::from(w[1].0) - i32::from(w[0].0)).abs() <= 2)
        .count();
    (
        chord_tones as f64 / notes.len() as f64,
        steps as f64 / (notes.len() - 1) as f64,
    )
}

#[test]
fn renders_in_each_style_move_as_the_style_did() {
    let mut figures = Vec::new();
    for style in ["arpeggios", "steps", "any"] {
        let (mut ct, mut st) = (0.0, 0.0);
        for seed in 0..3 {
            let (c, s) = render_figures(style, seed);
            ct += c / 3.0;
            st += s / 3.0;
        }
        figures.push((style, ct, st));
    }
    let [(_, arp_ct, arp_st), (_, step_ct, step_st), (_, any_ct, any_st)] = figures[..] else {
        unreachable!()
    };
    let text = format!("{figures:.3?}");
    assert!(arp_ct > step_ct + 0.15, "chord tones: {text}");
    assert!(step_st > arp_st + 0.25, "steps: {text}");
    assert!(
        arp_st < any_st && any_st < step_st,
        "any lies between the two styles: {text}"
    );
    let _ = any_ct;
}

/// The player's setup for `options`, which must be refused, and the message it gives.
fn refused(options: &MusicOptions) -> String {
    Setup::from_options(options)
        .err()
        .unwrap_or_else(|| panic!("{options:?} was accepted"))
}

#[test]
fn an_unknown_style_names_the_models_styles() {
    let t = trained();
    for (weights, says) in [
        (
            t.weights.clone(),
            &["--style `bebop`", "any, arpeggios, steps"][..],
        ),
        ("metheny".into(), &["learned no styles"][..]),
    ] {
        let e = refused(&MusicOptions {
            weights: Some(weights),
            style: Some("bebop".into()),
            ..Default::default()
        });
        for said in says {
            assert!(e.contains(said), "{e}");
        }
    }
    // "any" is always there.
    Setup::from_options(&MusicOptions {
        weights: Some("metheny".into()),
        style: Some("any".into()),
        ..Default::default()
    })
    .unwrap();
}

/// Plays `blocks` blocks of 512 samples at 120 BPM; `switch` (block, style) changes the style
/// knob before that block. Returns the generated values and checks one voice throughout.
fn play(model: &Model, style: u8, switch: Option<(usize, u8)>, blocks: usize) -> Vec<(i64, usize)> {
    let settings = Settings {
        seed: 7,
        style,
        ..Settings::default()
    };
    let switch = switch.map(|(at, to)| {
        (
            at,
            Settings {
                style: to,
                ..settings
            },
        )
    });
    play_with(model, settings, switch, blocks, 512).values
}

/// (grid tick, value index) of generated values.
type Values = Vec<(i64, usize)>;
/// (absolute sample, MIDI note, on) of note events.
type Notes = Vec<(u64, u8, bool)>;

/// What [`play_with`] heard from the engine.
struct Played {
    values: Values,
    notes: Notes,
    /// The bits of the model's probabilities after the last value.
    last_probabilities: Vec<u32>,
}

/// Plays `blocks` blocks of `block` samples at 120 BPM with `settings`; `switch` (block,
/// settings) changes them before that block. Checks one voice and no allocation throughout.
fn play_with(
    model: &Model,
    mut settings: Settings,
    switch: Option<(usize, Settings)>,
    blocks: usize,
    block: u32,
) -> Played {
    let mut engine = Engine::new(Box::new(model.clone()), settings, 48_000.0);
    let mut out = Output::with_capacity(64);
    let midi: Vec<MidiIn> = Vec::new();
    let mut values = Vec::new();
    let mut notes = Vec::new();
    let mut sounding: Option<u8> = None;
    let mut start = 0u64;
    for b in 0..blocks {
        if let Some((at, to)) = switch {
            if b == at {
                settings = to;
            }
        }
        out.clear();
        let position = start as f64 * 120.0 / (60.0 * 48_000.0);
        let transport = Transport::playing_at(position, 120.0);
        assert_no_alloc(|| {
            engine.set_settings(&settings);
            engine.process(&transport, block, &midi, &mut out);
        });
        for n in &out.notes {
            match *n {
                NoteEvent::On { note, sample, .. } => {
                    assert_eq!(sounding, None, "one voice: {note} over {sounding:?}");
                    sounding = Some(note);
                    notes.push((start + u64::from(sample), note, true));
                }
                NoteEvent::Off { note, sample, .. } => {
                    assert_eq!(sounding, Some(note), "an off for the note sounding");
                    sounding = None;
                    notes.push((start + u64::from(sample), note, false));
                }
            }
        }
        values.extend(out.generated.iter().map(|g| (g.tick, g.value_index)));
        start += u64::from(block);
    }
    out.clear();
    engine.all_notes_off(0, &mut out);
    if let Some(NoteEvent::Off { note, .. }) = out.notes.first() {
        assert_eq!(sounding, Some(*note));
        sounding = None;
    }
    assert_eq!(sounding, None, "nothing left sounding");
    Played {
        values,
        notes,
        last_probabilities: engine
            .model()
            .probabilities()
            .iter()
            .map(|p| p.to_bits())
            .collect(),
    }
}

#[test]
fn the_knob_switches_style_at_the_next_value_without_allocating() {
    let t = trained();
    // 8 bars at 120 BPM = 16 s = 1,500 blocks of 512 samples; switch halfway.
    let (blocks, at) = (1500, 750);
    let steady = play(&t.model, 1, None, blocks);
    let switched = play(&t.model, 1, Some((at, 2)), blocks);
    let cut = at as f64 * 512.0 * 2.0 / 48_000.0;
    let tick_of = |beats: f64| (beats * jazz_synth::engine::TICKS_PER_BEAT as f64) as i64;
    let before = |v: &[(i64, usize)]| -> Vec<(i64, usize)> {
        v.iter()
            .copied()
            .filter(|(t, _)| *t < tick_of(cut))
            .collect()
    };
    assert_eq!(
        before(&steady),
        before(&switched),
        "the same solo up to the switch"
    );
    assert_ne!(steady, switched, "the style changes what follows");
    // The first value generated after the switch already hears the new style: the two runs
    // part there or soon after (a value may agree by chance, not many in a row).
    let first_after = steady
        .iter()
        .zip(&switched)
        .position(|(a, b)| a != b)
        .expect("they part");
    let after_switch = before(&steady).len();
    assert!(
        first_after >= after_switch && first_after < after_switch + 6,
        "parted at value {first_after}; the switch came before value {after_switch}"
    );
}

#[test]
fn styled_weights_round_trip_and_damaged_style_lists_are_refused() {
    let t = trained();
    let bytes = weights::to_bytes(&t.model);
    let back = weights::load(&bytes).unwrap();
    assert_eq!(back.styles(), t.model.styles());
    assert_eq!(weights::to_bytes(&back), bytes, "byte for byte");
    let c = back.conditioning().unwrap();
    assert_eq!(c.layout, LAYOUT_STYLED);
    assert_eq!(c.size, COND_SIZE + 2);
    // A cond-1 model (the seed of this test's kind, the earlier default) has no styles and
    // writes its conditioning metadata as before, without a style list.
    let cond1 = weights::load(&cond1_bytes()).unwrap();
    assert!(cond1.styles().is_empty());
    let text = String::from_utf8_lossy(&weights::to_bytes(&cond1)).into_owned();
    assert!(
        text.contains(r#""conditioning":"{\"layout\":\"jazz-synth/cond-1\",\"size\":79}""#),
        "cond-1 metadata unchanged"
    );
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let header = r#"\"styles\":[\"arpeggios\",\"steps\"]"#;
    assert!(text.contains(header), "the metadata lists the styles");
    for (bad, why) in [
        (
            r#"\"styles\":[\"arpeggios\",\"Steps\"]"#,
            "not a style name",
        ),
        (
            r#"\"styles\":[\"arpeggios\",\"arpeggios\"]"#,
            "listed twice",
        ),
        (
            r#"\"styles\":[\"arpeggios\",\"steps\",\"x\"]"#,
            "not one this version plays",
        ),
    ] {
        // Same length or not, the header is rewritten whole, so rebuild the file around it.
        let damaged = replace_in_header(&bytes, header, bad);
        let e = weights::load(&damaged).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

/// `model`'s conditioning made into a `cond-1` one: its style inputs' rows and its style list
/// dropped (its dense style rows too, unless `keep_style_dense`).
fn without_styles(model: &Model, keep_style_dense: bool) -> Conditioning {
    let mut c = model.conditioning().unwrap().clone();
    let width = c.kernel.len() / c.size;
    c.kernel.truncate(COND_SIZE * width);
    c.size = COND_SIZE;
    c.styles.clear();
    if !keep_style_dense {
        c.style_dense.clear();
    }
    c.layout = jazz_synth::music::conditioning::LAYOUT.into();
    c
}

/// `model` rebuilt with `conditioning`.
fn rebuilt(model: &Model, conditioning: Conditioning) -> Result<Model, String> {
    Model::new(
        model.params().clone(),
        model.vocab().to_vec(),
        Default::default(),
    )
    .and_then(|m| m.with_conditioning(conditioning))
    .map_err(|e| e.to_string())
}

/// The test model's file made into a `cond-1` one: its style rows dropped, no style list.
fn cond1_bytes() -> Vec<u8> {
    let t = trained();
    weights::to_bytes(&rebuilt(&t.model, without_styles(&t.model, false)).unwrap())
}

/// `bytes` (a safetensors file) with `from` replaced by `to` in its JSON header.
fn replace_in_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let mut header = header.replace(from, to).trim_end().to_string();
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn jazz_train_learns_styles_from_a_csv_and_evaluate_scores_each() {
    let (collection, table) = write_corpus("style-cli", 24, 2);
    let (dir, paths) = (&collection.dir, &collection.files);
    let out = dir.join("styled.safetensors");
    let stdout = succeeds(
        Command::new(TRAIN)
            .args(paths)
            .args([
                "--preset", "jazz", "--epochs", "2", "--hidden", "8", "--tx", "16",
            ])
            .args([
                "--threads",
                "1",
                "--quiet",
                "--min-count",
                "1",
                "--style-from",
            ])
            .arg(&table)
            .arg("--out")
            .arg(&out),
    );
    assert!(stdout.contains("style arpeggios:"), "{stdout}");
    assert!(stdout.contains("25 % of the training windows"), "{stdout}");
    let model = weights::load_file(&out).unwrap();
    assert_eq!(model.styles(), ["arpeggios", "steps"]);
    assert_eq!(model.cond_size(), COND_SIZE + 2);
    let corpus = model.provenance().corpus.clone().unwrap();
    assert!(corpus["styles"]["steps"]["train"].as_u64().unwrap() > 0);
    assert_eq!(model.provenance().hyperparameters["style_dropout"], 0.25);

    let v = evaluate_json(&out, &table, paths);
    let styles = v["styles"].as_object().expect("an object keyed by style");
    let mut files = 0;
    for (name, s) in styles {
        assert!(["arpeggios", "steps"].contains(&name.as_str()), "{v}");
        for key in [
            "nll_note_style",
            "nll_note_any",
            "nll_value_style",
            "nll_value_any",
        ] {
            assert!(
                s[key].as_f64().is_some_and(|x| x > 0.0),
                "{key} of {name}: {v}"
            );
        }
        files += s["files"].as_u64().unwrap();
    }
    assert_eq!(
        files,
        v["files"].as_u64().unwrap(),
        "every scored solo has a style"
    );

    // A table without the columns, and --style-from where it does not apply.
    let bad = dir.join("bad.csv");
    fs::write(&bad, "name,genre\nsolo00.mid,cool\n").unwrap();
    let e = fails(
        Command::new(TRAIN)
            .args(paths)
            .args(["--preset", "jazz", "--style-from"])
            .arg(&bad)
            .arg("--out")
            .arg(dir.join("never.safetensors")),
    );
    assert!(
        e.contains("`file` and `style`") && e.contains("bad.csv"),
        "{e}"
    );
    assert!(!dir.join("never.safetensors").exists());
    let e = fails(
        Command::new(TRAIN)
            .args(paths)
            .args(["--style-from"])
            .arg(&table)
            .arg("--out")
            .arg(dir.join("never.safetensors")),
    );
    assert!(e.contains("only applies to --preset jazz"), "{e}");

    // The player: --style with the weights, and an unknown style.
    succeeds(
        Command::new(SYNTH)
            .args([
                "render",
                "--bars",
                "2",
                "--quiet",
                "--style",
                "steps",
                "--weights",
            ])
            .arg(&out)
            .arg("--out")
            .arg(dir.join("steps.mid")),
    );
    let e = fails(
        Command::new(SYNTH)
            .args(["render", "--bars", "2", "--style", "bebop", "--weights"])
            .arg(&out)
            .arg("--out")
            .arg(dir.join("never.mid")),
    );
    assert!(e.contains("any, arpeggios, steps"), "{e}");
}

#[test]
fn the_built_in_styles_model_plays_the_wjd_styles() {
    let model = weights::builtin_model("wjd-styles").expect("built in");
    let mut want: Vec<String> = jazz_synth::music::style::NAMED
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.push("fusion".into());
    assert_eq!(model.styles(), want);
    assert_eq!(model.cond_size(), COND_SIZE + want.len());
    assert!(
        weights::default_model().styles().is_empty(),
        "the default stays cond-1"
    );
    // Its styles were learned on the default (`--style-base`): the network is the default's.
    let default = weights::default_model();
    assert_eq!(model.params(), default.params());
    assert_eq!(model.vocab(), default.vocab());
    let (dc, sc) = (
        default.conditioning().unwrap(),
        model.conditioning().unwrap(),
    );
    assert_eq!(bits(&sc.kernel[..dc.kernel.len()]), bits(&dc.kernel));
    assert_eq!(sc.style_dense.len(), want.len() * model.n_values());
    let notes_in = |style: &str| {
        let setup = Setup::from_options(&MusicOptions {
            weights: Some("wjd-styles".into()),
            seed: Some(3),
            progression: Some("blues".into()),
            style: Some(style.into()),
            ..Default::default()
        })
        .unwrap();
        let (_, generated) = render_timeline(&setup, 8, 48_000.0, 512);
        generated
            .iter()
            .map(|g| g.generated.value_index)
            .collect::<Vec<_>>()
    };
    assert_ne!(notes_in("bebop"), notes_in("traditional"));
    assert_eq!(notes_in("HARDBOP"), notes_in("hard bop"));
}

/// Over Autumn Leaves' half-diminished chord no pitch is an "other" tone (every tone outside
/// its scale is a semitone from a chord tone): the engine does not draw such a value, so every
/// note keeps its value's role, in every style.
#[test]
fn notes_keep_their_role_in_every_style() {
    for (style, seed) in [
        ("any", 2u64),
        ("traditional", 5),
        ("post-bop", 7),
        ("fusion", 2),
    ] {
        let setup = Setup::from_options(&MusicOptions {
            weights: Some("wjd-styles".into()),
            seed: Some(seed),
            progression: Some("autumn".into()),
            style: Some(style.into()),
            ..Default::default()
        })
        .unwrap();
        let (_, generated) = render_timeline(&setup, 16, 48_000.0, 512);
        let vocab = setup.model.vocab().to_vec();
        let mut notes = 0;
        for g in &generated {
            let value = vocab[g.generated.value_index];
            if let Some(note) = g.generated.note {
                notes += 1;
                assert_eq!(
                    role_by_pitch_class(note, &g.generated.chord),
                    value.role,
                    "{style}: {value} sounded as MIDI {note}"
                );
            }
        }
        assert!(notes > 16, "{style}: {notes} notes");
    }
}

/// A conditioning vector for the model of this file: some chord inputs set, style `style`.
fn cond_for(step: usize, style: usize) -> Vec<f32> {
    let mut cond = vec![0.0; MAX_COND];
    for (k, x) in cond.iter_mut().take(COND_SIZE).enumerate() {
        if (k * 7 + step * 3).is_multiple_of(5) {
            *x = 1.0;
        }
    }
    write_style(&mut cond, 2, style);
    cond
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn guided_steps_leave_the_styled_state_as_it_was_and_strength_one_is_the_styled_pass() {
    let t = trained();
    let n = t.model.n_values();
    let (mut plain, mut guided, mut at_one) = (t.model.clone(), t.model.clone(), t.model.clone());
    let mut input = None;
    for step in 0..40 {
        let (cond, any) = (cond_for(step, 1), cond_for(step, 0));
        let want = plain.step_with(input, &cond).to_vec();
        let want_h = plain.hidden().to_vec();
        // Guided for a stretch in the middle, unguided around it.
        if (10..30).contains(&step) {
            guided.step_guided(input, &cond, &any, 2.0);
        } else {
            assert_eq!(
                bits(guided.step_with(input, &cond)),
                bits(&want),
                "step {step}: the styled pass is untouched by the guided ones"
            );
        }
        assert_eq!(
            bits(guided.hidden()),
            bits(&want_h),
            "step {step}: hidden state"
        );
        let one = at_one.step_guided(input, &cond, &any, 1.0);
        let worst = one
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "step {step}: strength 1 is the styled pass ({worst})"
        );
        input = Some((step * 13 + 5) % n);
    }
}

#[test]
fn strength_zero_plays_the_average_of_the_styles_whichever_is_chosen() {
    let t = trained();
    let blocks = 1000;
    let at = |style: u8, strength: f32| {
        play_with(
            &t.model,
            Settings {
                seed: 11,
                style,
                style_strength: strength,
                ..Settings::default()
            },
            None,
            blocks,
            512,
        )
    };
    let (zero1, zero2) = (at(1, 0.0), at(2, 0.0));
    assert!(zero1.values.len() > 30, "{} values", zero1.values.len());
    assert_eq!(zero1.values, zero2.values, "both styles at strength 0");
    assert_eq!(zero1.notes, zero2.notes);
    assert_eq!(zero1.last_probabilities, zero2.last_probabilities);
    // The average of the styles is neither style, nor "any" (the styled model's rows moved it).
    for style in [1, 2] {
        assert_ne!(at(style, 1.0).values, zero1.values, "style {style}");
    }
    assert_ne!(at(0, 1.0).values, zero1.values, "any");
}

#[test]
fn a_guided_solo_is_the_same_whatever_the_block_size() {
    let t = trained();
    let settings = Settings {
        seed: 5,
        style: 2,
        style_strength: 3.0,
        ..Settings::default()
    };
    // 32 beats at 120 BPM (24,000 samples a beat).
    let total = 768_000u64;
    let runs: Vec<Played> = [64u32, 512, 1000, 4096]
        .iter()
        .map(|&b| {
            play_with(
                &t.model,
                settings,
                None,
                total.div_ceil(u64::from(b)) as usize,
                b,
            )
        })
        .collect();
    let upto = |p: &Played| -> (Values, Notes) {
        // What every run has played in full: up to its last block.
        let last = ((total - 4096) / 24_000 * 12) as i64;
        (
            p.values.iter().copied().filter(|v| v.0 < last).collect(),
            p.notes
                .iter()
                .copied()
                .filter(|n| n.0 < total - 4096)
                .collect(),
        )
    };
    let first = upto(&runs[0]);
    assert!(first.0.len() > 30, "{} values", first.0.len());
    for run in &runs[1..] {
        assert_eq!(upto(run), first);
    }
    let unguided = play_with(
        &t.model,
        Settings {
            style_strength: 1.0,
            ..settings
        },
        None,
        (total / 512) as usize,
        512,
    );
    assert_ne!(upto(&unguided).0, first.0, "strength 3 is not strength 1");
}

#[test]
fn a_stronger_style_moves_its_figures_further_from_any() {
    let mean = |style: &str, strength: Option<f32>| {
        let (mut ct, mut st) = (0.0, 0.0);
        for seed in 0..4 {
            let (c, s) = render_figures_at(style, strength, seed);
            ct += c / 4.0;
            st += s / 4.0;
        }
        (ct, st)
    };
    let (any_ct, any_st) = mean("any", None);
    let (arp1_ct, _) = mean("arpeggios", Some(1.0));
    let (arp3_ct, _) = mean("arpeggios", Some(3.0));
    let (_, steps1_st) = mean("steps", Some(1.0));
    let (_, steps3_st) = mean("steps", Some(3.0));
    let text = format!(
        "chord tones: any {any_ct:.3}, arpeggios at 1 {arp1_ct:.3}, at 3 {arp3_ct:.3}; steps: \
         any {any_st:.3}, steps at 1 {steps1_st:.3}, at 3 {steps3_st:.3}"
    );
    assert!(
        arp3_ct - any_ct > arp1_ct - any_ct + 0.01 && arp1_ct > any_ct,
        "{text}"
    );
    assert!(
        steps3_st - any_st > steps1_st - any_st + 0.01 && steps1_st > any_st,
        "{text}"
    );
}

#[test]
fn the_strength_changes_mid_solo_at_the_next_value_without_allocating() {
    let t = trained();
    let (blocks, at) = (1500, 750);
    let settings = Settings {
        seed: 7,
        style: 2,
        style_strength: 1.0,
        ..Settings::default()
    };
    let steady = play_with(&t.model, settings, None, blocks, 512);
    let stronger = Settings {
        style_strength: 4.0,
        ..settings
    };
    let switched = play_with(&t.model, settings, Some((at, stronger)), blocks, 512);
    let cut_tick = (at as f64 * 512.0 * 2.0 / 48_000.0 * 12.0) as i64;
    let before = |v: &[(i64, usize)]| -> Vec<(i64, usize)> {
        v.iter().copied().filter(|(t, _)| *t < cut_tick).collect()
    };
    assert_eq!(before(&steady.values), before(&switched.values));
    assert_ne!(
        steady.values, switched.values,
        "the strength changes what follows"
    );
    // And back: from strength 4 to 1.
    let strong = play_with(&t.model, stronger, None, blocks, 512);
    let back = play_with(&t.model, stronger, Some((at, settings)), blocks, 512);
    assert_eq!(before(&strong.values), before(&back.values));
    assert_ne!(
        strong.values, back.values,
        "back to strength 1 changes what follows"
    );
}

#[test]
fn the_style_strength_option_is_checked() {
    let t = trained();
    for bad in [-0.5f32, 4.5, f32::NAN, f32::INFINITY] {
        let e = refused(&MusicOptions {
            weights: Some(t.weights.clone()),
            style: Some("steps".into()),
            style_strength: Some(bad),
            ..Default::default()
        });
        assert!(
            e.contains("--style-strength") && e.contains("from 0"),
            "{e}"
        );
    }
    let setup = Setup::from_options(&MusicOptions {
        weights: Some(t.weights.clone()),
        style: Some("steps".into()),
        style_strength: Some(1.5),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(setup.settings.style_strength, 1.5);
    let dir = temp_dir("style-strength-cli");
    let render = |strength: &str, out: &str| {
        let mut command = Command::new(SYNTH);
        command
            .args(["render", "--bars", "1", "--quiet", "--style", "steps"])
            .args(["--style-strength", strength, "--weights"])
            .arg(&t.weights)
            .arg("--out")
            .arg(dir.join(out));
        command
    };
    for (text, want) in [("strong", "--style-strength"), ("9", "from 0")] {
        let e = fails(&mut render(text, "never.mid"));
        assert!(e.contains(want), "{text}: {e}");
        assert!(!dir.join("never.mid").exists());
    }
    succeeds(&mut render("2", "strong.mid"));
    assert!(dir.join("strong.mid").exists());
}

#[test]
fn the_dense_style_rows_play_what_the_trainer_computed_and_round_trip() {
    use jazz_synth::model::lstm::Provenance;
    use jazz_synth::train::{forward_backward, Batch, Network, NumpyRandomState};
    let (n, h, tx) = (9, 12, 14);
    let styles = ["bebop".to_string(), "cool".to_string()];
    let c = COND_SIZE + styles.len();
    let mut rng = NumpyRandomState::seed(5);
    let mut net = Network::<f64>::keras_init_layers(n, h, c, 1, &mut rng);
    net.style_dense = ndarray::Array2::zeros((styles.len(), n));
    for buf in net.buffers_mut() {
        for x in buf.iter_mut() {
            *x = 1.3 * *x + 0.2 * rng.standard_normal();
        }
    }
    // A walk over the values, a few chord inputs set, and the second style throughout.
    let mut walk = Xoshiro256PlusPlus::seed_from_u64(9);
    let corpus: Vec<usize> = (0..40).map(|_| walk.random_range(0..n)).collect();
    let mut cond = vec![0.0f32; corpus.len() * c];
    for (k, row) in cond.chunks_exact_mut(c).enumerate() {
        row[k % 12] = 1.0;
        row[24 + (k * 7) % 12] = 1.0;
        write_style(row, styles.len(), 2);
    }
    let window = &corpus[5..5 + tx];
    let batch = Batch::from_windows_with(&[window], &[5], c, |k| &cond[k * c..(k + 1) * c]);
    let trainer_nll = forward_backward(&net, &batch, &mut net.zeros_like()).loss;
    let vocab: Vec<_> = (0..n)
        .map(|k| jazz_synth::music::grammar::Value::parse(&format!("C,{}.000", k + 1)).unwrap())
        .collect();
    let build = |style_dense: Vec<f32>| {
        Model::new(net.to_params(), vocab.clone(), Provenance::default())
            .and_then(|m| {
                m.with_conditioning(Conditioning {
                    layout: LAYOUT_STYLED.into(),
                    size: c,
                    kernel: net.cond_params(),
                    styles: styles.to_vec(),
                    style_dense,
                })
            })
            .expect("a valid styled model")
    };
    let nll_of = |model: &mut Model| {
        model.reset();
        let mut nll = 0.0;
        for t in 0..tx {
            let probs = model.step_with(batch.inputs[t][0], &batch.cond[t][..c]);
            if let Some(y) = batch.targets[t][0] {
                nll -= f64::from(probs[y]).ln();
            }
        }
        nll
    };
    let mut model = build(net.style_dense_params());
    for portable in [false, true] {
        model.set_portable(portable);
        let nll = nll_of(&mut model);
        assert!(
            (nll - trainer_nll).abs() < 1e-4 * trainer_nll,
            "portable {portable}: model {nll}, trainer {trainer_nll}"
        );
    }
    // The rows are heard: without them the same steps score otherwise.
    let without = nll_of(&mut build(Vec::new()));
    assert!(
        (without - trainer_nll).abs() > 1e-3,
        "{without} vs {trainer_nll}"
    );
    // The weights file keeps them byte for byte; a damaged shape is refused by name.
    let bytes = weights::to_bytes(&model);
    let back = weights::load(&bytes).unwrap();
    assert_eq!(
        back.conditioning().unwrap().style_dense,
        net.style_dense_params()
    );
    assert_eq!(weights::to_bytes(&back), bytes);
    let shape = format!(r#""shape":[2,{n}]"#);
    assert_eq!(String::from_utf8_lossy(&bytes).matches(&shape).count(), 1);
    let damaged = replace_in_header(&bytes, &shape, &format!(r#""shape":[{n},2]"#));
    match weights::load(&damaged) {
        Ok(_) => panic!("a style-row tensor of the wrong shape was accepted"),
        Err(e) => assert!(e.to_string().contains("dense.style_kernel"), "{e}"),
    }
    // A model without styles has no business with style rows.
    assert!(rebuilt(&model, without_styles(&model, true)).is_err());
}

#[test]
fn style_base_learns_only_the_styles_and_any_plays_as_the_base() {
    let (collection, table) = write_corpus("style-base", 24, 2);
    let (dir, paths) = (&collection.dir, &collection.files);
    let small = [
        "--preset",
        "jazz",
        "--hidden",
        "8",
        "--tx",
        "16",
        "--threads",
        "1",
        "--quiet",
        "--min-count",
        "1",
    ];
    let base = dir.join("base.safetensors");
    succeeds(
        Command::new(TRAIN)
            .args(paths)
            .args(small)
            .args(["--epochs", "3", "--out"])
            .arg(&base),
    );
    let styled = dir.join("styled.safetensors");
    let stdout = succeeds(
        Command::new(TRAIN)
            .args(paths)
            .args(small)
            .args(["--epochs", "6", "--patience", "6", "--style-from"])
            .arg(&table)
            .arg("--style-base")
            .arg(&base)
            .arg("--out")
            .arg(&styled),
    );
    assert!(stdout.contains("learning styles on"), "{stdout}");
    assert!(
        stdout.contains("only the style weights learn") && !stdout.contains("hear no style"),
        "{stdout}"
    );
    let (b, s) = (
        weights::load_file(&base).unwrap(),
        weights::load_file(&styled).unwrap(),
    );
    assert_eq!(s.styles(), ["arpeggios", "steps"]);
    assert_eq!(
        s.provenance().hyperparameters.get("style_only"),
        Some(&serde_json::Value::Bool(true))
    );
    // Every weight of the base is as it was, bit for bit; only the style weights moved.
    assert_eq!(s.params(), b.params());
    assert_eq!(s.vocab(), b.vocab());
    let (bc, sc) = (b.conditioning().unwrap(), s.conditioning().unwrap());
    assert_eq!(bits(&sc.kernel[..bc.kernel.len()]), bits(&bc.kernel));
    assert!(sc.kernel[bc.kernel.len()..].iter().any(|&x| x != 0.0));
    assert!(sc.style_dense.iter().any(|&x| x != 0.0));
    // So "any" plays exactly as the base does.
    let (mut b, mut s) = (b, s);
    let mut input = None;
    for step in 0..40 {
        let cond = cond_for(step, 0);
        let want = b.step_with(input, &cond[..COND_SIZE]).to_vec();
        let got = s.step_with(input, &cond).to_vec();
        assert_eq!(bits(&want), bits(&got), "step {step}");
        input = Some(step % want.len());
    }
    // And each style's held-out solos score better in their own style than as "any".
    let v = evaluate_json(&styled, &table, paths);
    for (name, st) in v["styles"].as_object().unwrap() {
        let (own, any) = (
            st["nll_note_style"].as_f64().unwrap(),
            st["nll_note_any"].as_f64().unwrap(),
        );
        assert!(own < any, "{name}: own style {own:.3}, any {any:.3}");
    }

    // What it refuses, each with the reason, writing nothing.
    let never = dir.join("never.safetensors");
    let (table, base_s, styled_s) = (
        table.to_str().unwrap(),
        base.to_str().unwrap(),
        styled.to_str().unwrap(),
    );
    for (extra, why) in [
        (vec!["--style-base", base_s], "--style-from"),
        (
            vec!["--style-from", table, "--style-base", styled_s],
            "already has styles",
        ),
        (
            vec![
                "--style-from",
                table,
                "--style-base",
                base_s,
                "--test",
                "0.3",
            ],
            "--test 0.2",
        ),
        (
            vec![
                "--style-from",
                table,
                "--style-base",
                base_s,
                "--resume",
                base_s,
            ],
            "cannot be used with",
        ),
    ] {
        let e = fails(
            Command::new(TRAIN)
                .args(paths)
                .args(small)
                .args(&extra)
                .arg("--out")
                .arg(&never),
        );
        assert!(e.contains(why), "{extra:?}: {e}");
        assert!(!never.exists());
    }
}
