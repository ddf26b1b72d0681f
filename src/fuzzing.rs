//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the regression test
//! that replays their saved inputs (`tests/fuzz_regressions.rs`). Each takes raw bytes, runs one
//! reader of outside input, and asserts what must hold for any input: no panic (the fuzzer's
//! job), and a result that is either a clear error or valid. A failed assertion here is a bug.

use std::path::Path;

use crate::changes::{parse_changes_in, parse_symbol};
use crate::corpus::{self, AutoOptions, Preset};
use crate::grammar::Value;
use crate::lstm::argmax;
use crate::params::JazzSynthParams;
use crate::state;
use crate::weights;

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

/// The chord-symbol parser, on the whole text and on each word: a progression has chords of
/// positive length with pitches; an error points inside the text.
pub fn chord_text(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let beats_per_bar = u32::from(first % 16);
    match parse_changes_in(&text, beats_per_bar) {
        Ok(progression) => {
            assert!(progression.len_beats() > 0.0);
            assert!(progression.bars() > 0);
            for (start, length, symbol) in progression.chords() {
                assert!(
                    start >= 0.0 && length > 0.0,
                    "chord at {start} for {length}"
                );
                assert_ne!(symbol.pitch_classes(), 0);
            }
        }
        Err(err) => {
            assert!(err.bar >= 1 && err.column >= 1, "{err:?}");
            assert!(!err.reason.is_empty());
        }
    }
    for word in text.split_whitespace() {
        if let Err((column, reason)) = parse_symbol(word) {
            assert!(column <= word.chars().count() + 1, "{column} in {word:?}");
            assert!(!reason.is_empty());
        }
    }
}

/// The saved plugin state loader: unreadable bytes are an error; anything parsed sanitizes to a
/// loadable state that sanitizes again without change and applies to valid settings.
pub fn saved_state(data: &[u8]) {
    let Ok((clean, _warnings)) = state::load(data) else {
        return;
    };
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
