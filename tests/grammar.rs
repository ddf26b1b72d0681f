//! Grammar values: exact printing and parsing, error messages, and decoding
//! a value back to a pitch the way deepjazz's `unparse_grammar` does.

use assert_no_alloc::assert_no_alloc;
use jazz_synth::music::grammar::{
    decode_pitch, fits_role, interval_range, role_of, GrammarErrorKind, Role, Value,
};
use jazz_synth::music::theory::{pitch_class, Chord, Interval, PcSet};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

// Aborts the test binary if anything allocates inside `assert_no_alloc`.
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

mod common;

fn value(text: &str) -> Value {
    Value::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

const C_MAJOR: [u8; 3] = [60, 64, 67];

// ---------------------------------------------------------------------------
// Parsing and printing
// ---------------------------------------------------------------------------

#[test]
fn the_originals_strings_round_trip() {
    for text in [
        "C,0.250",
        "R,0.500",
        "S,0.500,<m3,P-4>",
        "A,1.333,<M-3,d-12>",
        "X,0.083,<AA4,dd-5>",
        "C,4.000,<P1,m-3>",
        "S,0.667,<d1,A1>",
    ] {
        assert_eq!(value(text).to_string(), text);
    }
    let v = value("S,0.500,<m3,P-4>");
    assert_eq!(v.role, Role::Scale);
    assert_eq!(v.duration, 0.5);
    assert_eq!(
        v.range,
        Some((
            Interval::parse("m3").unwrap(),
            Interval::parse("P-4").unwrap()
        ))
    );
}

#[test]
fn every_three_decimal_duration_round_trips() {
    // Strings built with integer arithmetic, independent of the printer.
    for thousandths in 1..=16_000u32 {
        let text = format!("C,{}.{:03}", thousandths / 1000, thousandths % 1000);
        assert_eq!(value(&text).to_string(), text);
    }
}

#[test]
fn every_music21_range_in_the_fixture_round_trips() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture("intervals.json")).unwrap())
            .unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert!(rows.len() > 1000);
    for (i, row) in rows.iter().enumerate() {
        let role = ['C', 'S', 'A', 'X'][i % 4];
        let text = format!(
            "{role},0.250,<{},{}>",
            row[3].as_str().unwrap(),
            row[4].as_str().unwrap()
        );
        assert_eq!(value(&text).to_string(), text);
        // And the corpus side builds exactly that range from the notes.
        let (start, end) = (
            row[0].as_u64().unwrap() as u8,
            row[1].as_u64().unwrap() as u8,
        );
        let (up, down) = interval_range(start, end);
        assert_eq!(format!("<{up},{down}>"), text[8..]);
    }
}

#[test]
fn durations_print_like_pythons_percent_point_three_f() {
    let print = |duration| {
        Value {
            role: Role::Chord,
            duration,
            range: None,
        }
        .to_string()
    };
    // Expected strings are Python's "C,%.3f" % duration.
    assert_eq!(print(1.0 / 3.0), "C,0.333");
    assert_eq!(print(2.0 / 3.0), "C,0.667");
    assert_eq!(print(0.0625), "C,0.062");
    assert_eq!(print(0.1875), "C,0.188");
    assert_eq!(print(4.0), "C,4.000");
}

#[test]
fn malformed_values_say_what_is_wrong() {
    use GrammarErrorKind as K;
    type Case = (&'static str, fn(&K) -> bool, &'static str);
    let cases: [Case; 20] = [
        ("", |k| *k == K::Empty, "empty grammar value"),
        (
            "Q,0.250",
            |k| matches!(k, K::UnknownRole(r) if r == "Q"),
            "unknown role 'Q' in \"Q,0.250\" (expected R, C, S, A or X)",
        ),
        (
            "c,0.250",
            |k| matches!(k, K::UnknownRole(_)),
            "unknown role 'c'",
        ),
        (
            "CC,0.250",
            |k| matches!(k, K::UnknownRole(_)),
            "unknown role 'CC'",
        ),
        (
            ",0.250",
            |k| matches!(k, K::UnknownRole(_)),
            "unknown role ''",
        ),
        (
            "C",
            |k| *k == K::MissingDuration,
            "missing duration in \"C\"",
        ),
        ("C,", |k| matches!(k, K::BadDuration(_)), "bad duration ''"),
        (
            "C,0.25",
            |k| matches!(k, K::BadDuration(_)),
            "three decimals",
        ),
        (
            "C,abc",
            |k| matches!(k, K::BadDuration(_)),
            "bad duration 'abc'",
        ),
        (
            "C, 0.250",
            |k| matches!(k, K::BadDuration(_)),
            "bad duration ' 0.250'",
        ),
        (
            "C,NaN",
            |k| matches!(k, K::BadDuration(_)),
            "bad duration 'NaN'",
        ),
        (
            "C,inf",
            |k| matches!(k, K::BadDuration(_)),
            "bad duration 'inf'",
        ),
        (
            "C,-0.250",
            |k| matches!(k, K::NonPositiveDuration(_)),
            "must be positive",
        ),
        (
            "C,0.000",
            |k| matches!(k, K::NonPositiveDuration(_)),
            "must be positive",
        ),
        (
            "C,99999.000",
            |k| matches!(k, K::DurationTooLong(_)),
            "longer than 1000",
        ),
        (
            "S,0.500,<m3,P-4",
            |k| matches!(k, K::BadRange(_, _)),
            "missing '>'",
        ),
        (
            "S,0.500,m3,P-4>",
            |k| matches!(k, K::BadRange(_, _)),
            "missing '<'",
        ),
        (
            "S,0.500,<m3>",
            |k| matches!(k, K::BadRange(_, _)),
            "two intervals",
        ),
        (
            "S,0.500,<X3,P-4>",
            |k| matches!(k, K::BadInterval(i, _) if i == "X3"),
            "bad interval 'X3' in \"S,0.500,<X3,P-4>\": unknown interval quality",
        ),
        (
            "R,0.250,<m3,P-4>",
            |k| *k == K::RestWithRange,
            "a rest has no interval range",
        ),
    ];
    for (text, is_kind, says) in cases {
        let err = Value::parse(text).expect_err(text);
        assert!(is_kind(err.kind()), "{text:?}: {:?}", err.kind());
        assert!(err.to_string().contains(says), "{text:?}: {err}");
        assert_eq!(err.input(), text);
    }
    // More junk after a good value.
    for text in [
        "S,0.500,<m3,P-4,P5>",
        "S,0.500,<m3,P-4> ",
        "S,0.500,<m3,P-4>,x",
    ] {
        assert!(Value::parse(text).is_err(), "{text}");
    }
    // It is a std error with a source-free message.
    let err: Box<dyn std::error::Error> = Box::new(Value::parse("Q,0.250").unwrap_err());
    assert!(err.to_string().starts_with("unknown role"));
}

#[test]
fn notes_get_the_originals_roles() {
    let c = Chord::from_midi(&C_MAJOR);
    // C major's derived scale is G major (C D E F# G A B).
    assert_eq!(role_of(76, &c), Role::Chord); // E
    assert_eq!(role_of(62, &c), Role::Scale); // D
    assert_eq!(role_of(66, &c), Role::Scale); // F#
    assert_eq!(role_of(63, &c), Role::Approach); // E-: a semitone under E
    assert_eq!(role_of(65, &c), Role::Approach); // F: not in G major
    assert_eq!(role_of(70, &c), Role::Other); // B-
                                              // E major → B major scale; D# is E- on a MIDI note, so not S by name.
    let e = Chord::from_midi(&[52, 56, 59]);
    assert_eq!(role_of(63, &e), Role::Approach);
    assert_eq!(role_of(61, &e), Role::Scale);
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

#[test]
fn rests_decode_to_silence() {
    let c = Chord::from_midi(&C_MAJOR);
    assert_eq!(
        decode_pitch(&value("R,0.250"), &c, Some(60), 0, 127, &mut rng(1)),
        None
    );
}

/// A melody line: every value decoded after the previous pitch.
fn solo(seed: u64, values: &[Value], chord: &Chord, low: u8, high: u8) -> Vec<Option<u8>> {
    let mut rng = rng(seed);
    let mut prev = None;
    values
        .iter()
        .map(|v| {
            let p = decode_pitch(v, chord, prev, low, high, &mut rng);
            prev = p.or(prev);
            p
        })
        .collect()
}

#[test]
fn same_seed_same_solo() {
    let values: Vec<Value> = [
        "C,0.500",
        "S,0.250,<m3,P-4>",
        "A,0.250,<M2,m-3>",
        "R,0.250",
        "X,0.500,<P4,m-2>",
        "C,0.250,<m7,M3>",
        "S,1.000,<M-2,d-5>",
    ]
    .iter()
    .map(|t| value(t))
    .cycle()
    .take(200)
    .collect();
    let chord = Chord::from_midi(&[62, 65, 69, 72]);
    let a = solo(7, &values, &chord, 48, 84);
    assert_eq!(a, solo(7, &values, &chord, 48, 84));
    assert_ne!(a, solo(8, &values, &chord, 48, 84));
}

#[test]
fn a_first_note_is_a_tone_of_its_role_in_octave_4() {
    let chord = Chord::from_midi(&[62, 65, 69, 72]);
    let mut rng = rng(3);
    let mut seen = PcSet::EMPTY;
    for _ in 0..500 {
        for (text, fits) in [
            ("C,0.250", chord.pcs),
            ("S,0.250", chord.scale()),
            // A scale tone moved a semitone (the original's approach note).
            (
                "A,0.250",
                chord
                    .scale()
                    .transpose(1)
                    .union(chord.scale().transpose(-1)),
            ),
            (
                "X,0.250",
                chord
                    .scale()
                    .transpose(1)
                    .union(chord.scale().transpose(-1)),
            ),
        ] {
            let p = decode_pitch(&value(text), &chord, None, 0, 127, &mut rng).unwrap();
            assert!((60..=72).contains(&p), "{text}: {p}");
            assert!(fits.contains(pitch_class(p)), "{text}: {p}");
            if text.starts_with('C') {
                seen.insert(p);
            }
        }
    }
    assert_eq!(seen, chord.pcs, "every chord tone gets chosen");
    // A range without a previous note is still a first note.
    let p = decode_pitch(&value("C,0.250,<m3,P-4>"), &chord, None, 0, 127, &mut rng).unwrap();
    assert!(chord.is_chord_tone(pitch_class(p)) && (60..72).contains(&p));
}

#[test]
fn next_notes_stay_between_up_and_down_and_leave_prev() {
    let chord = Chord::from_midi(&C_MAJOR);
    // After E4, from a major third down to a minor third up: C4 E4 G4 fit,
    // and E4 itself is left out.
    let v = value("C,0.250,<m3,M-3>");
    let mut seen = Vec::new();
    let mut rng = rng(11);
    for _ in 0..200 {
        let p = decode_pitch(&v, &chord, Some(64), 0, 127, &mut rng).unwrap();
        assert!(p == 60 || p == 67, "{p}");
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen.sort();
    assert_eq!(seen, [60, 67]);
}

#[test]
fn a_single_candidate_is_taken_even_if_it_repeats_prev() {
    let chord = Chord::from_midi(&C_MAJOR);
    let v = value("C,0.250,<P1,P1>");
    assert_eq!(
        decode_pitch(&v, &chord, Some(64), 0, 127, &mut rng(0)),
        Some(64)
    );
}

#[test]
fn no_candidate_moves_prev_a_whole_tone() {
    let chord = Chord::from_midi(&C_MAJOR);
    let v = value("C,0.250,<P1,P1>");
    let mut seen = Vec::new();
    let mut rng = rng(5);
    for _ in 0..100 {
        let p = decode_pitch(&v, &chord, Some(61), 0, 127, &mut rng).unwrap();
        assert!(p == 59 || p == 63, "{p}");
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    assert_eq!(seen.len(), 2, "both directions happen");
}

#[test]
fn next_notes_never_go_below_octave_3() {
    let chord = Chord::from_midi(&C_MAJOR);
    // E2 is the only candidate; the original lifts it to E3.
    let v = value("C,0.250,<P1,P1>");
    assert_eq!(
        decode_pitch(&v, &chord, Some(40), 0, 127, &mut rng(0)),
        Some(52)
    );
}

#[test]
fn pitches_move_into_the_playable_range_by_octaves() {
    let chord = Chord::from_midi(&C_MAJOR);
    let mut rng = rng(9);
    for _ in 0..200 {
        // A first chord tone is in octave 4; the range is an octave below.
        let p = decode_pitch(&value("C,0.250"), &chord, None, 36, 47, &mut rng).unwrap();
        assert!(
            (36..=47).contains(&p) && chord.is_chord_tone(pitch_class(p)),
            "{p}"
        );
        // Too low for a range above: up by octaves.
        let p = decode_pitch(
            &value("S,0.250,<m3,P-4>"),
            &chord,
            Some(50),
            84,
            100,
            &mut rng,
        )
        .unwrap();
        assert!(
            (84..=100).contains(&p) && chord.is_scale_tone(pitch_class(p)),
            "{p}"
        );
    }
    // A window narrower than an octave: the nearest chord tone inside it.
    let p = decode_pitch(
        &value("C,0.250,<P1,P1>"),
        &chord,
        Some(72),
        62,
        65,
        &mut rng,
    );
    assert_eq!(p, Some(64));
    // Reversed bounds are taken as the same range.
    let p = decode_pitch(&value("C,0.250"), &chord, None, 47, 36, &mut rng).unwrap();
    assert!((36..=47).contains(&p));
}

/// A random chord of 2 to 5 distinct notes around middle C.
fn random_chord(rng: &mut Xoshiro256PlusPlus) -> Chord {
    let mut notes = [0u8; 5];
    let n = rng.random_range(2..=5usize);
    for note in notes.iter_mut().take(n) {
        *note = rng.random_range(48..72u8);
    }
    Chord::from_midi(&notes[..n])
}

#[test]
fn decoded_pitches_respect_range_role_and_step_whenever_they_can() {
    let mut rng = rng(2024);
    let roles = [Role::Chord, Role::Scale, Role::Approach, Role::Other];
    let (mut checked_role, mut checked_step) = (0, 0);
    for _ in 0..20_000 {
        let chord = random_chord(&mut rng);
        let role = roles[rng.random_range(0..4usize)];
        let prev: u8 = rng.random_range(40..90);
        let step: i8 = rng.random_range(-12..=12);
        let (up, down) = interval_range(prev, (prev as i16 + step as i16) as u8);
        let v = Value {
            role,
            duration: 0.25,
            range: Some((up, down)),
        };
        let (low, high) = if rng.random_bool(0.5) {
            (rng.random_range(0..40u8), rng.random_range(90..=127u8))
        } else {
            let low = rng.random_range(20..100u8);
            (low, low + rng.random_range(0..20u8))
        };
        let p = decode_pitch(&v, &chord, Some(prev), low, high, &mut rng).unwrap();
        assert!((low..=high).contains(&p), "{p} outside {low}..={high}");

        let (lo, hi) = (down.transpose(prev as i32), up.transpose(prev as i32));
        let candidates: Vec<i32> = (lo..=hi)
            .filter(|&q| fits_role(role, &chord, pitch_class(q)))
            .collect();
        let window_fits = (low..=high).any(|q| fits_role(role, &chord, pitch_class(q)));
        if !candidates.is_empty() && window_fits {
            checked_role += 1;
            assert!(
                fits_role(role, &chord, pitch_class(p)),
                "{v} over {chord:?}: {p}"
            );
        }
        let inside = lo >= 48 && lo >= low as i32 && hi <= high as i32;
        if !candidates.is_empty() && inside {
            checked_step += 1;
            assert!((lo..=hi).contains(&(p as i32)), "{v} after {prev}: {p}");
            if candidates.len() > 1 {
                assert_ne!(p, prev, "{v} after {prev}");
            }
        }
    }
    // The conditions above held often enough to mean something.
    assert!(checked_role > 10_000, "{checked_role}");
    assert!(checked_step > 3_000, "{checked_step}");
}

#[test]
// The assertion is constant per build on purpose: a release build of this
// test would watch nothing, so it fails instead of passing vacuously.
#[allow(clippy::assertions_on_constants)]
fn decoding_never_allocates() {
    assert!(
        cfg!(debug_assertions),
        "assert_no_alloc only watches builds with debug assertions"
    );
    let values: Vec<Value> = [
        "C,0.250",
        "S,0.500,<m3,P-4>",
        "A,0.250,<M9,A4>",
        "X,1.000",
        "R,0.250",
    ]
    .iter()
    .map(|t| value(t))
    .collect();
    let chords = [
        Chord::from_midi(&C_MAJOR),
        Chord::from_midi(&[62, 65, 69, 72]),
        Chord::EMPTY,
    ];
    let mut rng = rng(42);
    let notes = assert_no_alloc(|| {
        let mut prev = None;
        let mut notes = 0u32;
        for i in 0..10_000 {
            let chord = Chord::from_midi(&[60 + (i % 12) as u8, 64, 67, 71]);
            let chord = if i % 7 == 0 { chords[i % 3] } else { chord };
            let v = &values[i % values.len()];
            if let Some(p) = decode_pitch(v, &chord, prev, 40, 90, &mut rng) {
                prev = Some(p);
                notes += 1;
            }
        }
        notes
    });
    assert_eq!(notes, 8_000);
}
