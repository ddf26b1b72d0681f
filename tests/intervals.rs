//! Every row of the music21 interval fixture: default spelling, directed
//! names, and the `<UP,DOWN>` widening by a minor third.

use jazz_synth::music::theory::{name_with_octave, Interval};
use serde_json::Value as Json;

mod common;

struct Row {
    start: i32,
    end: i32,
    interval: String,
    up: String,
    down: String,
}

fn fixture() -> (Json, Vec<Row>) {
    let text = std::fs::read_to_string(common::fixture("intervals.json"))
        .expect("interval fixture is readable");
    let json: Json = serde_json::from_str(&text).expect("interval fixture is JSON");
    let rows = json["rows"]
        .as_array()
        .expect("fixture has rows")
        .iter()
        .map(|row| {
            let text = |i: usize| row[i].as_str().expect("name column").to_owned();
            Row {
                start: row[0].as_i64().expect("start_midi") as i32,
                end: row[1].as_i64().expect("end_midi") as i32,
                interval: text(2),
                up: text(3),
                down: text(4),
            }
        })
        .collect();
    (json, rows)
}

#[test]
fn fixture_is_the_expected_one() {
    let (json, rows) = fixture();
    assert_eq!(
        json["columns"],
        serde_json::json!(["start_midi", "end_midi", "interval", "up", "down"])
    );
    assert!(rows.len() > 1000, "only {} rows", rows.len());
}

#[test]
fn pitch_classes_are_spelled_as_the_fixture_says() {
    let (json, _) = fixture();
    for pc in 0..12 {
        let expected = json["spelling"][pc.to_string()].as_str().unwrap();
        assert_eq!(name_with_octave(60 + pc), format!("{expected}4"));
    }
}

#[test]
fn every_note_pair_gets_music21s_directed_name() {
    let (_, rows) = fixture();
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let got = Interval::between(r.start, r.end).directed_name();
            (got != r.interval).then(|| {
                format!(
                    "{} -> {}: got {got}, music21 {}",
                    name_with_octave(r.start),
                    name_with_octave(r.end),
                    r.interval
                )
            })
        })
        .collect();
    assert_none_wrong(&wrong);
}

#[test]
fn every_range_is_the_interval_plus_and_minus_a_minor_third() {
    let (_, rows) = fixture();
    let m3 = Interval::parse("m3").unwrap();
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let it = Interval::between(r.start, r.end);
            let up = it.add(m3).directed_name();
            let down = it.subtract(m3).directed_name();
            (up != r.up || down != r.down).then(|| {
                format!(
                    "{}: got <{up},{down}>, music21 <{},{}>",
                    r.interval, r.up, r.down
                )
            })
        })
        .collect();
    assert_none_wrong(&wrong);
}

#[test]
fn every_fixture_name_parses_back_to_itself() {
    let (_, rows) = fixture();
    for r in &rows {
        for name in [&r.interval, &r.up, &r.down] {
            let parsed = Interval::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&parsed.directed_name(), name);
        }
        assert_eq!(
            Interval::parse(&r.interval).unwrap(),
            Interval::between(r.start, r.end)
        );
        // The range's size in semitones is what decoding moves the pitch by.
        let span = r.end - r.start;
        assert_eq!(Interval::parse(&r.up).unwrap().semitones, span + 3);
        assert_eq!(Interval::parse(&r.down).unwrap().semitones, span - 3);
    }
}

/// Fails listing every disagreement with music21.
fn assert_none_wrong(wrong: &[String]) {
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
