//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the regression test
//! that replays their saved inputs (`tests/fuzz_regressions.rs`). Each takes raw bytes, runs one
//! reader of outside input, and asserts what must hold for any input: no panic (the fuzzer's
//! job), and a result that is either a clear error or valid. A failed assertion here is a bug.
//!
//! [`seeds`] builds the seed inputs of the fuzzers' corpora (`cargo run --example fuzz_seeds`).

use std::path::Path;

use crate::model::lstm::{argmax, LstmParams, Model, Provenance};
use crate::model::weights;
use crate::music::changes::{parse_changes_in, parse_symbol, BUILTIN};
use crate::music::grammar::Value;
use crate::plugin::params::JazzSynthParams;
use crate::plugin::state;
use crate::train::corpus::{self, AutoOptions, CorpusError, Preset};

/// A fuzz target's entry point: runs one reader on the bytes and asserts its invariants.
pub type Entry = fn(&[u8]);

/// The fuzz targets: name (as in `fuzz/Cargo.toml` and `fuzz/regressions/`) and entry point.
pub const TARGETS: [(&str, Entry); 5] = [
    ("midi_corpus", midi_corpus),
    ("weights_file", weights_file),
    ("grammar_value", grammar_value),
    ("chord_text", chord_text),
    ("saved_state", saved_state),
];

/// The MIDI corpus reader, both presets: an error names the file; every value of a corpus
/// prints as a string that parses back to what prints the same.
pub fn midi_corpus(data: &[u8]) {
    let path = Path::new("fuzz.mid");
    let options = [
        AutoOptions::default(),
        AutoOptions {
            melody_track: Some(usize::from(data.first().copied().unwrap_or(0) % 4)),
            chord_track: None,
        },
    ];
    for preset in [
        Preset::Metheny,
        Preset::Auto(options[0]),
        Preset::Auto(options[1]),
    ] {
        match corpus::load_bytes(data, path, &preset) {
            Ok(corpus) => {
                assert!(!corpus.values.is_empty(), "a corpus without values");
                for value in &corpus.values {
                    let text = value.to_string();
                    let again = Value::parse(&text)
                        .unwrap_or_else(|e| panic!("corpus value {text:?} does not parse: {e}"));
                    assert_eq!(again.to_string(), text);
                }
            }
            Err(err) => {
                let message = err.to_string();
                assert!(
                    message.contains("fuzz.mid"),
                    "error without the file: {message}"
                );
            }
        }
    }
}

/// The weights loader: an error with a message, or a model that steps to probabilities summing
/// to 1 and saves to bytes that load as the same model.
pub fn weights_file(data: &[u8]) {
    match weights::load(data) {
        Ok(mut model) => {
            let mut input = None;
            for _ in 0..3 {
                let probs = model.step(input);
                assert!(probs.iter().all(|p| p.is_finite() && *p >= 0.0));
                let sum: f32 = probs.iter().sum();
                assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
                input = Some(argmax(probs));
            }
            let again = weights::load(&weights::to_bytes(&model)).expect("a saved model loads");
            assert_eq!(again.params(), model.params());
            assert_eq!(again.vocab(), model.vocab());
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// The grammar value parser: whatever parses prints back as exactly the input.
pub fn grammar_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Value::parse(text) {
        Ok(value) => assert_eq!(value.to_string(), text),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// The chord-symbol parser, on the whole text (the first byte picks the beats per bar) and on
/// each word: a progression has chords of positive length with pitches and prints as chord text
/// that parses back to the same progression; an error points inside the text.
pub fn chord_text(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let beats_per_bar = u32::from(first % 16);
    let columns = text.chars().count() + 1;
    match parse_changes_in(&text, beats_per_bar) {
        Ok(progression) => {
            assert!(progression.len_beats() > 0.0);
            assert!(progression.bars() > 0);
            for (start, length, symbol) in progression.chords() {
                assert!(
                    start >= 0.0 && length > 0.0,
                    "chord at {start} for {length}"
                );
                assert!(symbol.pitch_classes() != 0 || symbol.is_no_chord());
            }
            let printed = progression.to_string();
            match parse_changes_in(&printed, beats_per_bar) {
                Ok(again) => assert_eq!(again, progression, "{text:?} printed as {printed:?}"),
                Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
            }
        }
        Err(err) => {
            let bars = text.matches('|').count() + 1;
            assert!(
                (1..=bars).contains(&err.bar) && (1..=columns).contains(&err.column),
                "{err:?} is outside {text:?}"
            );
            assert!(!err.reason.is_empty());
        }
    }
    for word in text.split_whitespace() {
        match parse_symbol(word) {
            Ok(symbol) => {
                assert!(symbol.pitch_classes() != 0 || symbol.is_no_chord());
                let printed = symbol.to_string();
                assert_eq!(
                    parse_symbol(&printed),
                    Ok(symbol),
                    "{word:?} printed as {printed:?}"
                );
            }
            Err((column, reason)) => {
                assert!(column <= word.chars().count(), "{column} in {word:?}");
                assert!(!reason.is_empty());
            }
        }
    }
}

/// The saved plugin state loader: unreadable bytes are an error that says so; anything parsed
/// sanitizes to a loadable state that sanitizes again without change and applies to valid
/// settings.
pub fn saved_state(data: &[u8]) {
    let (clean, warnings) = match state::load(data) {
        Ok(loaded) => loaded,
        Err(err) => {
            assert!(err.to_string().contains("not readable"), "{err}");
            return;
        }
    };
    assert!(warnings.iter().all(|w| !w.is_empty()));
    if let Err(why) = state::check_loadable(&clean) {
        panic!("sanitized state not loadable: {why}");
    }
    let mut again = clean.clone();
    assert_eq!(state::sanitize(&mut again), Vec::<String>::new());
    let params = JazzSynthParams::default();
    state::apply(&params, &clean);
    let s = params.engine_settings();
    assert!(s.low <= s.high && s.high <= 127);
    assert!(s.channel < 16 && (1..=127).contains(&s.velocity));
    assert!(s.temperature.is_finite() && (0.0..=2.0).contains(&s.temperature));
    let volume = params.preview_volume.value();
    assert!(volume.is_finite() && (0.0..=1.0).contains(&volume));
}

/// One seed input of a fuzzer's corpus.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The target it feeds (a name of [`TARGETS`]).
    pub target: &'static str,
    /// A file name for it.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The seed inputs of every target, built from real data: the Metheny MIDI file (its bytes are
/// `metheny_midi`), every distinct grammar value of its corpus, the shipped weights and a tiny
/// model, the built-in progressions and the README's chord text, the default and a typical saved
/// state. Fails only when `metheny_midi` is not the Metheny file.
pub fn seeds(metheny_midi: &[u8]) -> Result<Vec<Seed>, CorpusError> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| {
        seeds.push(Seed {
            target,
            name,
            bytes,
        })
    };
    add(
        "midi_corpus",
        "original_metheny.mid".into(),
        metheny_midi.to_vec(),
    );

    let corpus = corpus::load_bytes(
        metheny_midi,
        Path::new("original_metheny.mid"),
        &Preset::Metheny,
    )?;
    let distinct = corpus.distinct();
    for (i, value) in distinct.iter().enumerate() {
        add(
            "grammar_value",
            format!("metheny-{i:03}"),
            value.to_string().into_bytes(),
        );
    }

    add(
        "weights_file",
        "metheny.safetensors".into(),
        weights::METHENY_WEIGHTS.to_vec(),
    );
    let vocab: Vec<Value> = distinct.iter().take(3).copied().collect();
    let tiny = Model::new(
        LstmParams::zeros(vocab.len(), 2),
        vocab,
        Provenance::default(),
    )
    .expect("all-zero parameters with one output per value make a model");
    add(
        "weights_file",
        "tiny.safetensors".into(),
        weights::to_bytes(&tiny),
    );

    let mut charts: Vec<String> = BUILTIN.iter().map(|(_, text)| text.to_string()).collect();
    charts.push("Dm7 G7 | Cmaj7 | %".into());
    charts.push(
        "C6/9 G7b9 | Bbmaj7/D F#m7b5 | Ebø Bdim7 | Gsus4 Am(maj7) C7alt | C{3,5,b7,9}".into(),
    );
    for (i, chart) in charts.iter().enumerate() {
        for beats in [4u8, 3] {
            let mut bytes = vec![beats];
            bytes.extend_from_slice(chart.as_bytes());
            add("chord_text", format!("chart{i}-{beats}"), bytes);
        }
    }

    let default_state =
        serde_json::to_vec(&state::default_state()).expect("a plugin state always serializes");
    add("saved_state", "default".into(), default_state);
    add(
        "saved_state",
        "session".into(),
        br#"{"version":"0.1.0","params":{"seed":{"i32":1234},"temperature":{"f32":0.8},"rhythm":{"string":"beat"},"progression":{"string":"blues-f"}},"fields":{"weights-path":"\"/x.safetensors\"","state-format":"1"}}"#
            .to_vec(),
    );
    Ok(seeds)
}
