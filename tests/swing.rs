//! Swing: the off-beat eighths of a rendered solo fall where the setting says (a fixed
//! percentage, or the soloists' swing at the tempo), the notes themselves stay the same, any
//! block size gives the same solo, and a swung call is heard as the eighths it means.

use std::fs;

use jazz_synth::engine::{Rhythm, Swing, TICKS_PER_BEAT};
use jazz_synth::music::swing::auto_percent;
use jazz_synth::standalone::render::{
    render_answering, render_timeline, write_midi, CallNote, GeneratedAt, TICKS_PER_QUARTER,
};
use jazz_synth::standalone::session::{MusicOptions, Setup};
use midly::{MidiMessage, Smf, TrackEventKind};

mod common;
use common::temp_dir;

fn setup(swing: Swing, tempo: f64, seed: u64) -> Setup {
    Setup::from_options(&MusicOptions {
        seed: Some(seed),
        tempo_bpm: Some(tempo),
        rhythm: Some(Rhythm::Phrase),
        swing: Some(swing),
        ..Default::default()
    })
    .expect("a setup")
}

/// Onset ticks (480 per quarter note) of the solo track of a written file.
fn solo_onsets(setup: &Setup, bars: u32, name: &str) -> (Vec<u64>, Vec<GeneratedAt>) {
    let (timeline, generated) = render_timeline(setup, bars, 48_000.0, 512);
    let path = temp_dir(name).join("solo.mid");
    write_midi(&timeline, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let smf = Smf::parse(&bytes).unwrap();
    let mut tick = 0u64;
    let mut onsets = Vec::new();
    for e in &smf.tracks[2] {
        tick += u64::from(e.delta.as_int());
        if let TrackEventKind::Midi {
            message: MidiMessage::NoteOn { vel, .. },
            ..
        } = e.kind
        {
            if vel > 0 {
                onsets.push(tick);
            }
        }
    }
    (onsets, generated)
}

/// The file's onset of every note the engine generated on an off-beat eighth, with its beat.
fn off_beat_eighths(setup: &Setup, bars: u32, name: &str) -> Vec<(i64, u64)> {
    let (onsets, generated) = solo_onsets(setup, bars, name);
    let notes: Vec<&GeneratedAt> = generated
        .iter()
        .filter(|g| g.generated.note.is_some())
        .collect();
    assert_eq!(
        notes.len(),
        onsets.len(),
        "one file note per note generated"
    );
    let found: Vec<(i64, u64)> = notes
        .iter()
        .zip(&onsets)
        .filter(|(g, _)| g.generated.tick.rem_euclid(TICKS_PER_BEAT) == TICKS_PER_BEAT / 2)
        .map(|(g, &on)| (g.generated.tick.div_euclid(TICKS_PER_BEAT), on))
        .collect();
    assert!(
        found.len() >= 10,
        "only {} off-beat eighths to measure",
        found.len()
    );
    found
}

#[test]
fn at_60_percent_the_off_beat_eighths_sit_at_six_tenths_of_the_beat() {
    let tpq = i64::from(TICKS_PER_QUARTER);
    for seed in [1, 2] {
        let s = setup(Swing::Percent(60.0), 120.0, seed);
        for (beat, on) in off_beat_eighths(&s, 16, "swing60") {
            let expected = beat * tpq + tpq * 6 / 10;
            assert!(
                (on as i64 - expected).abs() <= 1,
                "beat {beat}: the off-beat eighth at tick {on}, 60 % swing puts it at {expected}"
            );
        }
    }
}

#[test]
fn auto_swing_places_the_eighths_as_the_soloists_did_at_130_and_260_bpm() {
    let tpq = f64::from(TICKS_PER_QUARTER);
    // The Weimar Jazz Database's soloists: 58.6 % at 120-160 BPM, 54.4 % from 240 up.
    for (tempo, table) in [(130.0, 58.6), (260.0, 54.4)] {
        assert!((auto_percent(tempo) - table).abs() < 1e-9);
        let s = setup(Swing::Auto, tempo, 4);
        let measured = off_beat_eighths(&s, 24, &format!("auto{tempo}"));
        for (beat, on) in measured {
            let within = (on as f64 - beat as f64 * tpq) / tpq * 100.0;
            assert!(
                (within - table).abs() <= 1.0,
                "{tempo} BPM, beat {beat}: the off-beat eighth at {within:.2} % of the beat, \
                 the table says {table} %"
            );
        }
    }
}

#[test]
fn swing_moves_the_notes_in_time_and_changes_nothing_else() {
    let straight = render_timeline(&setup(Swing::STRAIGHT, 140.0, 7), 8, 48_000.0, 512);
    let swung = render_timeline(&setup(Swing::Percent(66.0), 140.0, 7), 8, 48_000.0, 512);
    let what = |g: &[GeneratedAt]| -> Vec<(i64, usize, Option<u8>)> {
        g.iter()
            .map(|g| (g.generated.tick, g.generated.value_index, g.generated.note))
            .collect()
    };
    assert_eq!(
        what(&straight.1),
        what(&swung.1),
        "same values, notes, grid"
    );
    let ticks: Vec<i64> = straight
        .1
        .iter()
        .filter(|g| g.generated.note.is_some())
        .map(|g| g.generated.tick)
        .collect();
    assert_eq!(ticks.len(), straight.0.solo.len());
    let mut moved = 0;
    for ((a, b), tick) in straight.0.solo.iter().zip(&swung.0.solo).zip(&ticks) {
        assert_eq!(a.note, b.note);
        if tick % TICKS_PER_BEAT == 0 {
            assert_eq!(a.start, b.start, "beats never move");
        } else {
            assert!(b.start > a.start, "a note inside a beat moves later");
            moved += 1;
        }
    }
    assert!(moved > 0, "some notes sit between beats");
}

#[test]
fn a_swung_solo_is_the_same_for_any_block_size() {
    let s = setup(Swing::Percent(63.0), 187.0, 11);
    let (reference, _) = render_timeline(&s, 8, 48_000.0, 512);
    for block in [1, 37, 128, 4096] {
        let (t, _) = render_timeline(&s, 8, 48_000.0, block);
        assert_eq!(t.solo, reference.solo, "block {block}");
    }
}

#[test]
fn a_swung_call_is_heard_as_the_eighths_it_means() {
    // A call of eighth notes on and off the beat, played straight and played swung.
    let phrase = |fraction: f64| -> Vec<CallNote> {
        (0..14)
            .map(|i| {
                let beat = f64::from(i / 2);
                let start = beat + if i % 2 == 0 { 0.0 } else { fraction };
                let end = beat + if i % 2 == 0 { fraction } else { 1.0 };
                CallNote {
                    start_beat: start,
                    end_beat: end - 0.01,
                    key: [62, 65, 69, 72, 71, 67, 64][i as usize % 7],
                    velocity: 90,
                }
            })
            .collect()
    };
    let trading = |swing: Swing| {
        Setup::from_options(&MusicOptions {
            seed: Some(3),
            rhythm: Some(Rhythm::Phrase),
            trade: Some(2),
            swing: Some(swing),
            ..Default::default()
        })
        .unwrap()
    };
    let answer = |setup: &Setup, call: &[CallNote]| -> Vec<(i64, usize, Option<u8>)> {
        let (_, generated) = render_answering(setup, 4, 48_000.0, 256, call);
        generated
            .iter()
            .map(|g| (g.generated.tick, g.generated.value_index, g.generated.note))
            .collect()
    };
    let straight = answer(&trading(Swing::STRAIGHT), &phrase(0.5));
    assert!(!straight.is_empty(), "it answers");
    let swung = answer(&trading(Swing::Percent(62.0)), &phrase(0.62));
    assert_eq!(
        swung, straight,
        "the call swung at 62 % is heard as the straight eighths it means"
    );
}
