//! Trading fours: the player's call heard as the corpus reader reads it, the answer in
//! jazz-synth's own bars, and an answer that depends on the call.

use jazz_synth::engine::{
    CallInput, Engine, MidiIn, Mode, NoteEvent, Output, Rhythm, Settings, Swing, Transport,
};
use jazz_synth::model::weights::{default_model, metheny_model};
use jazz_synth::music::changes::{parse_changes, Progression};
use jazz_synth::music::grammar::Value;
use jazz_synth::music::listen::{nearest_value, quantize_position, Bar, Heard, Listener};
use jazz_synth::music::theory::Chord;
use jazz_synth::train::corpus::{load_auto, AutoOptions};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;
use common::midi_file::{format1, Ev};
use common::summary;

const TPQ: u32 = 480;
const CHANGES: &str = "Dm7 | G7 | Cmaj7 | A7";
const SAMPLE_RATE: f64 = 48_000.0;
const TEMPO: f64 = 120.0;
/// Samples per quarter note at 120 BPM and 48 kHz: 50 per MIDI tick at 480 ticks per quarter.
const SPB: f64 = 24_000.0;

/// A played note: start and length in MIDI ticks, key.
#[derive(Clone, Copy, Debug)]
struct Played {
    start: u32,
    length: u32,
    key: u8,
}

/// A random phrase within `bars` 4/4 bars: onsets near the 1/12 grid with a player's slop,
/// some legato overlaps, some chords of two notes on one onset, no key struck while it sounds.
fn random_phrase(rng: &mut Xoshiro256PlusPlus, bars: u32) -> Vec<Played> {
    let end = bars * 4 * TPQ;
    let mut notes: Vec<Played> = Vec::new();
    let mut at = rng.random_range(0..TPQ * 2);
    while notes.len() < 24 {
        let grid = [TPQ / 4, TPQ / 3, TPQ / 2, TPQ][rng.random_range(0..4)];
        let slop = rng.random_range(0..40) as i64 - 20;
        let start = ((at as i64 + slop).max(0)) as u32;
        if start >= end - TPQ / 4 {
            break;
        }
        let length = match rng.random_range(0..10) {
            0 => rng.random_range(10..40),                 // a staccato stab
            1 => grid + rng.random_range(0..TPQ / 2),      // legato into the next
            2..=3 => grid / 2,                             // then a rest
            _ => grid - rng.random_range(0..grid / 4 + 1), // articulated
        };
        let length = length.max(5).min(end - start);
        let key = loop {
            let key = rng.random_range(55..84u8);
            let busy = notes
                .iter()
                .any(|n| n.key == key && n.start + n.length > start);
            if !busy {
                break key;
            }
        };
        notes.push(Played { start, length, key });
        if rng.random_bool(0.1) {
            let below = key.saturating_sub(rng.random_range(3..8));
            if !notes
                .iter()
                .any(|n| n.key == below && n.start + n.length > start)
            {
                notes.push(Played {
                    start,
                    length,
                    key: below,
                });
            }
        }
        at += grid * rng.random_range(1..4);
        if rng.random_bool(0.15) {
            at += TPQ * rng.random_range(1..5);
        }
    }
    notes
}

fn progression() -> Progression {
    parse_changes(CHANGES).expect("the test's changes parse")
}

/// The chord voicing of each bar (the progression's own), as MIDI notes.
fn bar_voicings(bars: u32) -> Vec<Vec<u8>> {
    let p = progression();
    (0..bars)
        .map(|bar| {
            let symbol = p.symbol_at(f64::from(bar * 4));
            let mut notes = [0u8; 13];
            let n = symbol.voicing(&mut notes);
            let mut v = notes[..n].to_vec();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect()
}

/// The phrase with its chords as a MIDI file: track 0 the melody, track 1 the chords.
fn phrase_file(notes: &[Played], bars: u32) -> Vec<u8> {
    let mut melody: Vec<Ev> = Vec::new();
    for n in notes {
        melody.push((n.start, 0, n.key, 90));
        melody.push((n.start + n.length, 0, n.key, 0));
    }
    // Note-offs before note-ons at one tick, as players' files have them.
    melody.sort_by_key(|e| (e.0, e.3 > 0));
    let mut chords: Vec<Ev> = Vec::new();
    for (bar, voicing) in bar_voicings(bars).iter().enumerate() {
        let start = bar as u32 * 4 * TPQ;
        for &key in voicing {
            chords.push((start, 1, key, 70));
            chords.push((start + 4 * TPQ - 10, 1, key, 0));
        }
    }
    format1(TPQ as u16, &[("Melody", melody), ("Chords", chords)])
}

/// The values the trainer's corpus reader takes from the phrase.
fn corpus_values(notes: &[Played], bars: u32, tag: &str) -> Vec<Value> {
    let path = common::temp_dir("trade").join(format!("{tag}.mid"));
    std::fs::write(&path, phrase_file(notes, bars)).unwrap();
    let options = AutoOptions {
        melody_track: Some(0),
        chord_track: Some(1),
    };
    load_auto(&path, &options)
        .unwrap_or_else(|e| panic!("the corpus reader reads the phrase: {e}"))
        .values
}

/// Key events of the phrase in time order (releases first at one tick): (tick, key, on).
fn key_events(notes: &[Played]) -> Vec<(u32, u8, bool)> {
    let mut events: Vec<(u32, u8, bool)> = notes
        .iter()
        .flat_map(|n| [(n.start, n.key, true), (n.start + n.length, n.key, false)])
        .collect();
    events.sort_by_key(|e| (e.0, e.2));
    events
}

fn four_four(tick: i64) -> Bar {
    let index = tick.div_euclid(48);
    Bar {
        index,
        start: index * 48,
        end: index * 48 + 48,
    }
}

#[test]
fn the_listener_reads_a_phrase_as_the_corpus_reader_does() {
    let voicings = bar_voicings(8);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let mut total = 0;
    for case in 0..60 {
        let phrase = random_phrase(&mut rng, 8);
        let expected = corpus_values(&phrase, 8, &format!("listen-{case}"));
        let mut listener = Listener::default();
        let mut heard: Vec<Heard> = Vec::new();
        for (tick, key, on) in key_events(&phrase) {
            let live = i64::from(tick) * 2; // 960 listener ticks per quarter
            if on {
                let bar = quantize_position(live).div_euclid(48) as usize;
                let chord = Chord::from_midi(&voicings[bar]);
                listener.press(live, key, chord, four_four, &mut |h| heard.push(h));
            } else {
                listener.release(live, key);
            }
        }
        listener.finish(i64::MAX / 8, &mut |h| heard.push(h));
        let got: Vec<String> = heard.iter().map(|h| h.value.to_string()).collect();
        let want: Vec<String> = expected.iter().map(|v| v.to_string()).collect();
        assert_eq!(got, want, "case {case}: {phrase:?}");
        total += got.len();
    }
    summary::note(&format!(
        "trade: the live listener gave the corpus reader's {total} values for 60 random phrases"
    ));
}

fn trade_settings(seed: u64) -> Settings {
    Settings {
        seed,
        mode: Mode::Trade,
        trade_bars: 4,
        rhythm: Rhythm::Phrase,
        // The calls here are played straight, as the corpus reader reads them (tests/swing.rs
        // hears swung ones).
        swing: Swing::STRAIGHT,
        ..Settings::default()
    }
}

/// The engine with the seed model (these tests follow its LSTM state step by step).
fn engine(settings: Settings) -> Engine {
    engine_with(settings, metheny_model())
}

fn engine_with(settings: Settings, model: jazz_synth::model::lstm::Model) -> Engine {
    let mut engine = Engine::new(Box::new(model), settings, SAMPLE_RATE);
    engine.set_progression(Some(progression()));
    engine
}

/// Runs `engine` from position 0 for `samples` samples in blocks sized by `block`, playing
/// `events` (tick, key, on) on MIDI channel `channel`. Returns the note events with absolute
/// sample positions.
fn run(
    engine: &mut Engine,
    samples: u64,
    events: &[(u32, u8, bool)],
    channel: u8,
    mut block: impl FnMut() -> u32,
) -> Vec<(u64, NoteEvent)> {
    let mut out = Output::with_capacity(256);
    let mut notes = Vec::new();
    let mut at = 0u64;
    let mut next_event = 0;
    while at < samples {
        let n = u64::from(block()).min(samples - at);
        let mut midi = Vec::new();
        while next_event < events.len() {
            let (tick, key, on) = events[next_event];
            let sample = (f64::from(tick) * SPB / f64::from(TPQ)).round() as u64;
            if sample >= at + n {
                break;
            }
            let offset = (sample - at) as u32;
            midi.push(if on {
                MidiIn::NoteOn {
                    sample: offset,
                    channel,
                    note: key,
                    velocity: 90,
                }
            } else {
                MidiIn::NoteOff {
                    sample: offset,
                    channel,
                    note: key,
                }
            });
            next_event += 1;
        }
        out.clear();
        let t = Transport::playing_at(at as f64 / SPB, TEMPO);
        engine.process(&t, n as u32, &midi, &mut out);
        notes.extend(out.notes.iter().map(|e| (at + u64::from(e.sample()), *e)));
        at += n;
    }
    notes
}

#[test]
fn a_call_leaves_the_lstm_where_the_corpus_values_would() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    for case in 0..20 {
        let phrase = random_phrase(&mut rng, 4);
        let values = corpus_values(&phrase, 4, &format!("state-{case}"));
        let mut reference = metheny_model();
        reference.reset();
        for v in &values {
            let index = nearest_value(reference.vocab(), v).unwrap();
            reference.step(Some(index));
        }

        let mut e = engine(trade_settings(case));
        let sizes = [1u32, 64, 500, 4096];
        let size = sizes[case as usize % sizes.len()];
        // Up to and including the first sample of jazz-synth's turn (beat 16): its first value
        // is drawn there, after the rest of the call is heard.
        let notes = run(&mut e, 16 * SPB as u64 + 1, &key_events(&phrase), 0, || {
            size
        });
        assert_eq!(e.heard_values(), values.len() as u64, "case {case}");
        assert_eq!(e.model().hidden(), reference.hidden(), "case {case}");
        assert_eq!(e.model().cell(), reference.cell(), "case {case}");
        // Silent while the player played, the answer starts on the turn's first sample.
        assert!(
            !notes.is_empty(),
            "case {case}: an answer starts at beat 16"
        );
        assert!(
            notes.iter().all(|(s, _)| *s == 16 * SPB as u64),
            "{notes:?}"
        );
    }
}

/// Note-on and note-off pairs of channel 0: (on sample, off sample, key).
fn closed_notes(events: &[(u64, NoteEvent)]) -> Vec<(u64, u64, u8)> {
    let mut open: Option<(u64, u8)> = None;
    let mut notes = Vec::new();
    for (at, e) in events {
        match *e {
            NoteEvent::On { note, .. } => {
                assert!(open.is_none(), "a second note-on while {open:?} sounds");
                open = Some((*at, note));
            }
            NoteEvent::Off { note, .. } => {
                let (start, key) = open.take().expect("a note-off for a note that sounds");
                assert_eq!(key, note);
                notes.push((start, *at, key));
            }
        }
    }
    assert!(open.is_none(), "a note was left sounding: {open:?}");
    notes
}

#[test]
fn answers_start_on_their_turn_and_end_before_the_players_next_bar() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
    for (case, bars) in [(0u64, 2u8), (1, 4), (2, 8), (3, 4)] {
        let turn = u64::from(bars) * 4;
        // The player calls in every turn of theirs, and holds the last note of each call
        // across the boundary into jazz-synth's turn.
        let mut events = Vec::new();
        for call in 0..2u32 {
            let start = call * 2 * u32::from(bars) * 4 * TPQ;
            let mut phrase = random_phrase(&mut rng, u32::from(bars));
            for n in &mut phrase {
                n.start += start;
            }
            let last = phrase.iter().map(|n| n.start).max().unwrap();
            phrase.push(Played {
                start: last + 1,
                length: u32::from(bars) * 4 * TPQ,
                key: 90,
            });
            events.extend(key_events(&phrase));
        }
        events.sort_by_key(|e| (e.0, e.2));
        let mut e = engine(Settings {
            trade_bars: bars,
            ..trade_settings(case)
        });
        let total = 4 * turn * SPB as u64;
        let sizes = [37u32, 256, 1024, 4000];
        let mut i = 0;
        let notes = run(&mut e, total + 1, &events, 0, || {
            i += 1;
            sizes[i % 4]
        });
        let closed = closed_notes(&notes);
        let turn_samples = turn * SPB as u64;
        for &(on, off, _) in &closed {
            let t = on / turn_samples;
            assert_eq!(
                t % 2,
                1,
                "case {case}: a note at sample {on} in the player's turn"
            );
            assert!(
                off <= (t + 1) * turn_samples,
                "case {case}: note {on}..{off} runs on"
            );
        }
        for answer in [1, 3] {
            let first = closed
                .iter()
                .find(|n| n.0 / turn_samples == answer)
                .unwrap();
            assert_eq!(
                first.0,
                answer * turn_samples,
                "case {case}: answer {answer}"
            );
        }
        assert!(e.heard_values() > 0);
    }
}

#[test]
fn the_transport_stopping_mid_call_forgets_the_call() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(14);
    let phrase = random_phrase(&mut rng, 4);
    let events = key_events(&phrase);
    let half: Vec<_> = events.iter().copied().filter(|e| e.0 < 8 * TPQ).collect();

    // Half a call, the transport stops with a key held, then a whole call from the top.
    let mut interrupted = engine(trade_settings(3));
    run(&mut interrupted, 8 * SPB as u64, &half, 0, || 512);
    let mut out = Output::with_capacity(64);
    interrupted.process(&Transport::stopped(TEMPO), 512, &[], &mut out);
    let again = run(&mut interrupted, 24 * SPB as u64, &events, 0, || 512);

    let mut fresh = engine(trade_settings(3));
    let expected = run(&mut fresh, 24 * SPB as u64, &events, 0, || 512);
    assert_eq!(again, expected);
    assert_eq!(interrupted.model().hidden(), fresh.model().hidden());
}

#[test]
fn call_input_takes_a_channel_or_the_notes_above_a_split() {
    let call = CallInput {
        channel: Some(2),
        split: 60,
    };
    assert!(call.takes(2, 60) && call.takes(2, 90));
    assert!(!call.takes(2, 59) && !call.takes(0, 72));
    assert!(CallInput::ANY.takes(9, 0) && !CallInput::ANY.separates());

    // Chords below the split on the same channel are chords, the melody above is the call.
    let mut settings = trade_settings(0);
    settings.call_input = CallInput {
        channel: None,
        split: 60,
    };
    settings.chord_source = jazz_synth::engine::ChordSource::MidiInput;
    let mut e = engine(settings);
    let events = [
        (0, 48, true),
        (0, 52, true),
        (0, 55, true),
        (0, 72, true),
        (TPQ, 72, false),
        (TPQ, 74, true),
        (2 * TPQ, 74, false),
    ];
    run(&mut e, 17 * SPB as u64, &events, 0, || 256);
    assert_eq!(e.heard_values(), 2, "the two notes above the split");
    let chord = e
        .midi_chord()
        .expect("the notes below the split made a chord");
    assert_eq!(chord.pcs, Chord::from_midi(&[48, 52, 55]).pcs);
}

/// How much an answer's first bar has of its call: the share of its notes whose pitch class
/// the call's last bar played, the share of its steps that move the way the call's last bar
/// moved (first to last note), and whether the bar as a whole moves that way.
fn kinship(call: &[u8], answer: &[u8]) -> (f64, f64, bool) {
    let pcs: Vec<u8> = call.iter().map(|k| k % 12).collect();
    let shared = answer.iter().filter(|k| pcs.contains(&(*k % 12))).count();
    let share = shared as f64 / answer.len().max(1) as f64;
    let direction = |line: &[u8]| match line {
        [first, .., last] => (i16::from(*last) - i16::from(*first)).signum(),
        _ => 0,
    };
    let way = direction(call);
    let steps = answer.windows(2).filter(|w| w[0] != w[1]);
    let (moves, with) = steps.fold((0, 0), |(m, s), w| {
        let same = (i16::from(w[1]) - i16::from(w[0])).signum() == way;
        (m + 1, s + usize::from(same))
    });
    let step_share = with as f64 / f64::from(moves.max(1));
    (share, step_share, way != 0 && direction(answer) == way)
}

/// A random call as a player plays one: a line moving mostly by steps in runs of one direction,
/// eighths, triplets and sixteenths with a rest now and then, in 4 bars.
fn random_line(rng: &mut Xoshiro256PlusPlus) -> Vec<Played> {
    let mut notes = Vec::new();
    let mut key: i32 = rng.random_range(60..76);
    let mut direction = if rng.random_bool(0.5) { 1 } else { -1 };
    let mut at = 0u32;
    while at < 16 * TPQ - TPQ / 2 {
        let length = [TPQ / 2, TPQ / 2, TPQ / 3, TPQ / 4, TPQ][rng.random_range(0..5)];
        if rng.random_bool(0.1) {
            at += length;
            continue;
        }
        notes.push(Played {
            start: at,
            length: length - 10,
            key: key as u8,
        });
        at += length;
        if rng.random_bool(0.2) {
            direction = -direction;
        }
        key += direction * [1, 2, 2, 3, 4][rng.random_range(0..5)];
        if !(55..=84).contains(&key) {
            direction = -direction;
            key = key.clamp(55, 84);
        }
    }
    notes
}

type Kinship = (f64, f64, usize);

/// Over 50 random calls: the answer's first bar against the call's last bar, primed by the call
/// and unprimed, summed (pitch-class share, steps the call's way, whole bars the call's way),
/// and the calls used.
/// The figures go into the test summary under `label`.
fn call_dependence(
    label: &str,
    model: fn() -> jazz_synth::model::lstm::Model,
) -> (Kinship, Kinship, u32) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(15);
    let (mut primed, mut unprimed) = ((0.0, 0.0, 0), (0.0, 0.0, 0));
    let mut used = 0;
    for case in 0..50 {
        let phrase = random_line(&mut rng);
        let events = key_events(&phrase);
        let last_bar: Vec<u8> = {
            let mut ns: Vec<&Played> = phrase.iter().filter(|n| n.start >= 12 * TPQ).collect();
            ns.sort_by_key(|n| (n.start, std::cmp::Reverse(n.key)));
            ns.dedup_by_key(|n| n.start);
            ns.iter().map(|n| n.key).collect()
        };
        if last_bar.len() < 2 || last_bar.first() == last_bar.last() {
            continue;
        }
        used += 1;
        let first_answer_bar = |events: &[(u32, u8, bool)]| -> Vec<u8> {
            let mut e = engine_with(trade_settings(case), model());
            run(&mut e, 20 * SPB as u64, events, 0, || 512)
                .iter()
                .filter_map(|(at, n)| match n {
                    NoteEvent::On { note, .. } if *at >= 16 * SPB as u64 => Some(*note),
                    _ => None,
                })
                .collect()
        };
        for (sum, answer) in [
            (&mut primed, first_answer_bar(&events)),
            (&mut unprimed, first_answer_bar(&[])),
        ] {
            let (share, steps, whole) = kinship(&last_bar, &answer);
            sum.0 += share;
            sum.1 += steps;
            sum.2 += usize::from(whole);
        }
    }
    let n = f64::from(used);
    summary::note(&format!(
        "trade ({label}): {used} random calls: the answer's first bar shares {:.2} of its pitch \
         classes with the call's last bar, {:.2} of its steps go the call's way, the bar as a \
         whole {}/{used} times; answering from the unprimed state {:.2}, {:.2}, {}/{used}",
        primed.0 / n,
        primed.1 / n,
        primed.2,
        unprimed.0 / n,
        unprimed.1 / n,
        unprimed.2
    ));
    (primed, unprimed, used)
}

#[test]
fn the_answer_depends_on_the_call() {
    let (primed, unprimed, used) = call_dependence("seed model", metheny_model);
    let n = f64::from(used);
    assert!(used >= 40, "only {used} calls had a direction");
    assert!(
        primed.0 > unprimed.0 + 0.05 * n,
        "pitch classes: {primed:?} vs {unprimed:?}"
    );
    assert!(
        primed.1 > unprimed.1 + 0.05 * n,
        "contour: {primed:?} vs {unprimed:?}"
    );
}

/// The plugin, loaded by a CLAP host, hears a call on its note input and answers in its turn
/// exactly as the engine does when it hears the same notes (the plugin adds no timing of its
/// own between the host's events and the listener), and leaves no note hanging.
#[test]
fn the_plugin_trades_through_a_clap_host() {
    use common::clap_harness::{settle, state_json, transport, Host};
    use serde_json::json;

    let params = vec![
        ("mode", json!({"string": "trade"})),
        ("trade-bars", json!({"string": "2"})),
        ("seed", json!({"i32": 77})),
        ("reset-on-start", json!({"bool": true})),
    ];
    let mut host = Host::with_state(SAMPLE_RATE, Some(&state_json(&params, None)));
    settle(&mut host, TEMPO);

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    let mut calls = random_line(&mut rng);
    calls.retain(|n| n.start + n.length < 8 * TPQ);
    // A second call in the player's next turn (bars 5 and 6), its last note held into
    // jazz-synth's turn.
    let mut second: Vec<Played> = random_line(&mut rng)
        .into_iter()
        .filter(|n| n.start < 8 * TPQ)
        .map(|n| Played {
            start: n.start + 16 * TPQ,
            ..n
        })
        .collect();
    if let Some(last) = second.last_mut() {
        last.length = 24 * TPQ - last.start + TPQ;
    }
    calls.extend(second);
    let events = key_events(&calls);
    let sample_of = |tick: u32| (f64::from(tick) * SPB / f64::from(TPQ)).round() as u64;

    let settings = Settings {
        seed: 77,
        mode: Mode::Trade,
        trade_bars: 2,
        ..Settings::default()
    };
    // The plugin plays the default model; so does the reference.
    let mut reference = Engine::new(Box::new(default_model()), settings, SAMPLE_RATE);
    let mut out = Output::with_capacity(256);
    let total = 32 * SPB as u64;
    let (mut at, mut next) = (0u64, 0usize);
    let (mut heard_plugin, mut heard_engine) = (Vec::new(), Vec::new());
    let sizes = [512usize, 100, 2048, 777];
    let origin = host.sample;
    let mut i = 0;
    while at < total {
        let n = (sizes[i % 4] as u64).min(total - at);
        i += 1;
        let mut input = Vec::new();
        let mut midi = Vec::new();
        while next < events.len() && sample_of(events[next].0) < at + n {
            let (tick, key, on) = events[next];
            let offset = (sample_of(tick) - at) as u32;
            input.push((offset, key, on));
            midi.push(if on {
                MidiIn::NoteOn {
                    sample: offset,
                    channel: 0,
                    note: key,
                    velocity: 102,
                }
            } else {
                MidiIn::NoteOff {
                    sample: offset,
                    channel: 0,
                    note: key,
                }
            });
            next += 1;
        }
        // The position as CLAP carries it (31 fractional bits), for both.
        let beats = ((at as f64 / SPB) * f64::from(1u32 << 31)).round() / f64::from(1u32 << 31);
        let t = transport(TEMPO, beats, true);
        for note in host.block(n as usize, Some(&t), &input) {
            heard_plugin.push((note.sample - origin, note.on, note.key as u8));
        }
        out.clear();
        reference.process(
            &Transport::playing_at(beats, TEMPO),
            n as u32,
            &midi,
            &mut out,
        );
        for e in &out.notes {
            let on = matches!(e, NoteEvent::On { .. });
            let key = match *e {
                NoteEvent::On { note, .. } | NoteEvent::Off { note, .. } => note,
            };
            heard_engine.push((at + u64::from(e.sample()), on, key));
        }
        at += n;
    }
    assert!(reference.heard_values() > 10);
    assert_eq!(heard_plugin, heard_engine);
    assert!(!heard_plugin.is_empty());
}

/// Listening while soloing: the player's notes are heard (the solo changes after the first one
/// is known) and nothing is heard when listening is off.
#[test]
fn listening_while_soloing_steers_the_line() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let mut line = random_line(&mut rng);
    for n in &mut line {
        n.start += 8 * TPQ; // from bar 3
    }
    let events = key_events(&line);
    let solo = |listen: bool, events: &[(u32, u8, bool)]| {
        let mut e = engine(Settings {
            listen,
            ..Settings::default()
        });
        let notes = run(&mut e, 32 * SPB as u64, events, 0, || 300);
        (notes, e.heard_values())
    };
    let (deaf, none) = solo(false, &events);
    let (alone, _) = solo(true, &[]);
    let (steered, heard) = solo(true, &events);
    assert_eq!(none, 0);
    assert_eq!(deaf, alone, "with listening off the input changes nothing");
    assert!(heard >= line.len() as u64 - 1, "{heard} values heard");
    // The same solo until the first value is heard (when the second note is pressed), another
    // one after it.
    let second = line[1].start;
    let until = (f64::from(second) * SPB / f64::from(TPQ)) as u64;
    let before = |n: &Vec<(u64, NoteEvent)>| -> Vec<(u64, NoteEvent)> {
        n.iter().copied().filter(|e| e.0 < until).collect()
    };
    assert_eq!(before(&steered), before(&alone));
    assert_ne!(steered, alone);
}

#[test]
fn the_default_model_answers_the_call_too() {
    let (primed, unprimed, used) = call_dependence("default WJD model", default_model);
    let n = f64::from(used);
    assert!(used >= 40, "only {used} calls had a direction");
    // The chord-aware model follows the changes more than the call: its answers lean the call's
    // way in contour clearly, in pitch classes only a little (reported, not required to be 0.05).
    assert!(
        primed.0 > unprimed.0,
        "pitch classes: {primed:?} vs {unprimed:?}"
    );
    assert!(
        primed.1 > unprimed.1 + 0.05 * n,
        "contour: {primed:?} vs {unprimed:?}"
    );
}
