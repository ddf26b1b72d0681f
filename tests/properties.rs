//! Property tests (proptest) of everything that reads outside bytes: MIDI files, weights files,
//! grammar values, chord text and saved plugin state. Random bytes and random mutations of real
//! files must never panic and must give either an error a musician can read or a valid result.
//!
//! Runs are deterministic (a fixed seed per property) so CI is repeatable; set
//! `JAZZ_SYNTH_PROPERTY_SCALE=10` for ten times the cases. Each property reports how many cases it
//! tried to the CI summary.

mod common;
use common::summary;

use std::sync::OnceLock;

use jazz_synth::fuzzing;
use jazz_synth::model::lstm::{LstmParams, Model, Provenance};
use jazz_synth::model::weights;
use jazz_synth::music::grammar::{Role, Value};
use jazz_synth::music::theory::Interval;
use jazz_synth::plugin::params::JazzSynthParams;
use jazz_synth::plugin::state;
use nice_plug::prelude::Params;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use common::METHENY;

/// Runs `test` on `cases` values of `strategy` with a fixed seed; panics with proptest's
/// (shrunk) failing case; reports the cases to the CI summary.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let scale: u32 = std::env::var("JAZZ_SYNTH_PROPERTY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let cases = cases * scale;
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("property {name} failed: {failure}");
    }
    summary::report("property-cases", cases as f64);
}

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flips the bits of `mask` in the byte at `at` (position as a fraction of the length).
    Flip { at: f64, mask: u8 },
    /// Overwrites the byte at `at`.
    Set { at: f64, byte: u8 },
    /// Inserts bytes at `at`.
    Insert { at: f64, bytes: Vec<u8> },
    /// Removes `len` bytes from `at`.
    Remove { at: f64, len: usize },
    /// Cuts the file at `at`.
    Truncate { at: f64 },
    /// Copies `len` bytes from `from` over `to`.
    Copy { from: f64, to: f64, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        4 => (at.clone(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        3 => (at.clone(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => (at.clone(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at.clone(), 1..64usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => at.clone().prop_map(|at| Mutation::Truncate { at }),
        1 => (at.clone(), at, 1..32usize).prop_map(|(from, to, len)| Mutation::Copy { from, to, len }),
    ]
}

/// Positions near the start matter most (headers): `at` is squared to favour them.
fn position(at: f64, len: usize) -> usize {
    ((at * at * len as f64) as usize).min(len.saturating_sub(1))
}

fn mutate(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match m {
            Mutation::Flip { at, mask } => bytes[position(*at, n)] ^= mask,
            Mutation::Set { at, byte } => bytes[position(*at, n)] = *byte,
            Mutation::Insert { at, bytes: new } => {
                let i = position(*at, n);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Remove { at, len } => {
                let i = position(*at, n);
                bytes.drain(i..(i + len).min(n));
            }
            Mutation::Truncate { at } => bytes.truncate(position(*at, n)),
            Mutation::Copy { from, to, len } => {
                let (from, to) = (position(*from, n), position(*to, n));
                let len = (*len).min(n - from).min(n - to);
                bytes.copy_within(from..from + len, to);
            }
        }
    }
    bytes
}

fn metheny_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(METHENY).expect("the Metheny MIDI file in data/"))
}

#[test]
fn random_bytes_are_never_a_midi_corpus_and_never_a_panic() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Past the magic number, so the parser itself gets the garbage.
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|tail| {
            let mut b = b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0MTrk".to_vec();
            b.extend(tail);
            b
        }),
    ];
    check("midi-random", 10000, bytes, |bytes| {
        fuzzing::midi_corpus(&bytes);
        Ok(())
    });
}

#[test]
fn mutated_metheny_files_give_a_corpus_or_an_error_never_a_panic() {
    let original = metheny_bytes();
    fuzzing::midi_corpus(original);
    check(
        "midi-mutations",
        5000,
        prop::collection::vec(mutation(), 1..6),
        |mutations| {
            fuzzing::midi_corpus(&mutate(original, &mutations));
            Ok(())
        },
    );
}

/// A small valid model with `hidden` units over the first `n` values of the embedded vocabulary.
fn small_model_bytes() -> Vec<u8> {
    let vocab = weights::default_model().vocab()[..12].to_vec();
    let mut params = LstmParams::zeros(vocab.len(), 4);
    for (i, x) in params.kernel.iter_mut().enumerate() {
        *x = ((i * 7919) % 13) as f32 / 13.0 - 0.5;
    }
    let model = Model::new(params, vocab, Provenance::default()).expect("a valid model");
    weights::to_bytes(&model)
}

fn shipped_weights() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read("weights/metheny.safetensors").expect("shipped weights"))
}

#[test]
fn random_bytes_are_never_weights_and_never_a_panic() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // A plausible header length followed by garbage.
        (0u64..300, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(n, tail)| {
            let mut b = n.to_le_bytes().to_vec();
            b.extend(tail);
            b
        }),
    ];
    check("weights-random", 15000, bytes, |bytes| {
        prop_assert!(weights::load(&bytes).is_err());
        Ok(())
    });
}

#[test]
fn mutated_weights_files_load_or_fail_cleanly() {
    let small = small_model_bytes();
    fuzzing::weights_file(&small);
    check(
        "weights-mutations-small",
        7500,
        prop::collection::vec(mutation(), 1..5),
        |mutations| {
            fuzzing::weights_file(&mutate(&small, &mutations));
            Ok(())
        },
    );
    let shipped = shipped_weights();
    check(
        "weights-mutations-shipped",
        750,
        prop::collection::vec(mutation(), 1..4),
        |mutations| {
            fuzzing::weights_file(&mutate(shipped, &mutations));
            Ok(())
        },
    );
}

fn value() -> impl Strategy<Value = Value> {
    let role = prop::sample::select(Role::ALL.to_vec());
    (role, 1..=1_000_000u32, 0..128i32, 0..128i32, any::<bool>()).prop_map(
        |(role, millis, a, b, ranged)| {
            let step = Interval::between(a, b);
            let m3 = Interval::new(3, 3).expect("a minor third");
            Value {
                role,
                duration: millis as f64 / 1000.0,
                range: (ranged && role != Role::Rest).then(|| (step.add(m3), step.subtract(m3))),
            }
        },
    )
}

#[test]
fn grammar_values_print_and_parse_back_losslessly() {
    check("grammar-round-trip", 15000, value(), |v| {
        let text = v.to_string();
        prop_assert_eq!(Value::parse(&text).ok(), Some(v), "{}", text);
        Ok(())
    });
}

#[test]
fn random_text_is_never_a_panic_for_the_grammar_parser() {
    let text = prop_oneof![
        any::<String>(),
        "[RCSAX][,<>0-9.mMPAd-]{0,24}",
        value()
            .prop_map(|v| v.to_string())
            .prop_flat_map(|s| {
                let n = s.len();
                (Just(s), 0..n, any::<char>())
            })
            .prop_map(|(s, i, c)| {
                let mut chars: Vec<char> = s.chars().collect();
                let last = chars.len() - 1;
                chars[i.min(last)] = c;
                chars.into_iter().collect()
            }),
    ];
    check("grammar-random", 15000, text, |text| {
        fuzzing::grammar_value(text.as_bytes());
        Ok(())
    });
}

/// Chord-like text: real symbols and bar lines mixed with noise.
fn chord_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => "[A-G][#b]?(m|maj7|m7|7|dim|ø|°|sus4|6|9|13|7b9|7#11|m7b5|\\+|aug|Δ)?(/[A-G][#b]?)?",
        2 => Just("|".to_string()),
        1 => Just("%".to_string()),
        1 => Just("\n".to_string()),
        1 => "[ -~]{1,4}",
        1 => any::<String>().prop_map(|s| s.chars().take(4).collect()),
    ];
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.join(" "))
}

#[test]
fn random_chord_text_is_a_progression_or_an_error_never_a_panic() {
    check(
        "chords-random",
        15000,
        (chord_text(), 0..13u32),
        |(text, beats_per_bar)| {
            // The fuzz target's input: beats per bar in the first byte, then the text.
            let mut bytes = vec![beats_per_bar as u8];
            bytes.extend_from_slice(text.as_bytes());
            fuzzing::chord_text(&bytes);
            Ok(())
        },
    );
}

/// A saved state as a host could hand it over: known and unknown ids, values of every type,
/// fields right and wrong, any format tag.
fn saved_state() -> impl Strategy<Value = serde_json::Value> {
    let ids: Vec<String> = JazzSynthParams::default()
        .param_map()
        .into_iter()
        .map(|(id, ..)| id)
        .chain(["bogus".to_string(), "".to_string()])
        .collect();
    let param_value = prop_oneof![
        any::<f32>().prop_map(|v| serde_json::json!({ "f32": v })),
        (-200.0..200.0f32).prop_map(|v| serde_json::json!({ "f32": v })),
        any::<i32>().prop_map(|v| serde_json::json!({ "i32": v })),
        (-5..200i32).prop_map(|v| serde_json::json!({ "i32": v })),
        any::<bool>().prop_map(|v| serde_json::json!({ "bool": v })),
        prop::sample::select(vec![
            "beat",
            "phrase",
            "progression",
            "midi-input",
            "blues-f",
            "metheny",
            "nope",
        ])
        .prop_map(|v| serde_json::json!({ "string": v })),
    ];
    let params = prop::collection::btree_map(prop::sample::select(ids), param_value, 0..20);
    let weights = prop_oneof![
        Just(None),
        Just(Some("\"\"".to_string())),
        Just(Some("\"/nowhere/x.safetensors\"".to_string())),
        any::<String>().prop_map(Some),
    ];
    let format = prop_oneof![
        Just(None),
        (0u32..4).prop_map(|f| Some(f.to_string())),
        any::<String>().prop_map(Some),
    ];
    (params, weights, format, any::<bool>()).prop_map(|(params, weights, format, extra)| {
        let mut fields = serde_json::Map::new();
        if let Some(w) = weights {
            fields.insert("weights-path".into(), w.into());
        }
        if let Some(f) = format {
            fields.insert("state-format".into(), f.into());
        }
        if extra {
            fields.insert("editor-size".into(), "[1,2]".into());
        }
        serde_json::json!({ "version": "0.1.0", "params": params, "fields": fields })
    })
}

#[test]
fn any_saved_state_sanitizes_to_a_loadable_one() {
    check("state-random", 10000, saved_state(), |json| {
        let bytes = serde_json::to_vec(&json).unwrap();
        prop_assert!(state::load(&bytes).is_ok(), "well-formed state JSON parses");
        fuzzing::saved_state(&bytes);
        Ok(())
    });
}

#[test]
fn random_bytes_are_never_a_saved_state_panic() {
    check(
        "state-bytes",
        10000,
        prop::collection::vec(any::<u8>(), 0..256),
        |bytes| {
            fuzzing::saved_state(&bytes);
            Ok(())
        },
    );
}
