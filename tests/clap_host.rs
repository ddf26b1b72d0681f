//! jazz-synth as a DAW sees it: the plugin binary loaded through CLAP (clack-host), driven by a
//! real CLAP transport, its notes read back from the host's output event list.

mod common;

use std::path::PathBuf;

use common::clap_harness::*;
use serde_json::json;

const SR: f64 = 48_000.0;
const TEMPO: f64 = 120.0;
const BEATS: f64 = 16.0;

/// A fixed musical setup, so the tests do not depend on tuned defaults.
fn solo_params() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("rhythm", json!({"string": "beat"})),
        ("chord-source", json!({"string": "progression"})),
        ("progression", json!({"string": "ii-v-i-c"})),
        ("temperature", json!({"f32": 0.8})),
        ("seed", json!({"i32": 1234})),
        ("reset-on-start", json!({"bool": true})),
        ("free-run", json!({"bool": false})),
        ("low-note", json!({"i32": 48})),
        ("high-note", json!({"i32": 84})),
    ]
}

fn solo_host(weights: Option<&str>) -> Host {
    let mut host = Host::with_state(SR, Some(&state_json(&solo_params(), weights)));
    settle(&mut host, TEMPO);
    host
}

fn note_ons(notes: &[Note]) -> Vec<Note> {
    notes.iter().filter(|n| n.on).copied().collect()
}

/// A weights file with a model other than the embedded one, unique to `tag`.
fn alternative_weights(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "jazz-synth-{}-{tag}.safetensors",
        std::process::id()
    ));
    write_alternative_weights(&path);
    path
}

fn assert_on_beats(notes: &[Note], sample_rate: f64, tempo: f64, beats: f64) {
    let spb = samples_per_beat(sample_rate, tempo);
    let ons = note_ons(notes);
    assert!(
        ons.len() >= 4,
        "only {} note-ons in {beats} beats: {notes:?}",
        ons.len()
    );
    for on in &ons {
        let beat = (on.sample as f64 / spb).round();
        assert!(beat < beats, "{on:?} after the last beat");
        assert_eq!(
            on.sample,
            (beat * spb).round() as u64,
            "{on:?} is not on the sample of beat {beat} ({} samples per beat)",
            spb
        );
    }
}

#[test]
fn the_plugin_announces_itself_as_note_effect_and_instrument() {
    let (name, features) = descriptor_features();
    assert_eq!(name, "jazz-synth");
    for wanted in ["note-effect", "instrument", "stereo"] {
        assert!(
            features.iter().any(|f| f == wanted),
            "{wanted} in {features:?}"
        );
    }
}

#[test]
fn notes_fall_on_the_host_beat() {
    let mut host = solo_host(None);
    let notes = play(&mut host, TEMPO, BEATS, |_| 64);
    assert_on_beats(&notes, SR, TEMPO, BEATS);
    assert!(notes.iter().all(|n| n.channel == 0), "MIDI channel 1");
}

#[test]
fn notes_fall_on_the_host_beat_between_block_boundaries() {
    // 137.5 BPM at 44.1 kHz: 19243.6 samples per beat, so beats land mid-block.
    let mut host = Host::with_state(44_100.0, Some(&state_json(&solo_params(), None)));
    settle(&mut host, TEMPO);
    let notes = play(&mut host, 137.5, BEATS, |_| 441);
    assert_on_beats(&notes, 44_100.0, 137.5, BEATS);
    let spb = samples_per_beat(44_100.0, 137.5);
    assert!(
        note_ons(&notes)
            .iter()
            .any(|n| n.sample % 441 != 0 && (n.sample as f64 / spb).round() > 0.0),
        "the test must exercise offsets inside a block"
    );
}

#[test]
fn same_notes_at_block_sizes_64_and_1000() {
    let mut small = solo_host(None);
    let mut large = solo_host(None);
    let mut odd = solo_host(None);
    let a = play(&mut small, TEMPO, BEATS, |_| 64);
    let b = play(&mut large, TEMPO, BEATS, |_| 1000);
    // A host that varies its block size from call to call.
    let c = play(&mut odd, TEMPO, BEATS, |i| {
        [1, 7, 333, 4096, 64, 1000][i % 6]
    });
    assert_on_beats(&a, SR, TEMPO, BEATS);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn silence_after_the_transport_stops() {
    let mut host = solo_host(None);
    let mut notes = play(&mut host, TEMPO, BEATS, |_| 512);
    let stop_sample = host.sample;
    notes.extend(stopped(&mut host, TEMPO, BEATS, SR as usize * 2, 512));
    assert_monophonic_and_closed(&notes);
    assert!(
        notes.iter().all(|n| !n.on || n.sample < stop_sample),
        "no note starts after the stop"
    );
    assert!(
        notes.iter().all(|n| n.sample <= stop_sample),
        "the last note ends at the stop sample"
    );
    // The preview voice has died away too.
    let tail = &host.audio_out[host.audio_out.len() - SR as usize..];
    assert!(
        tail.iter().all(|s| s.abs() < 1.0e-4),
        "preview still sounds"
    );
    assert!(
        host.audio_out.iter().any(|s| s.abs() > 0.01),
        "the preview voice played while the solo did"
    );
}

#[test]
fn every_note_ends_and_only_one_sounds_at_a_time() {
    let mut host = solo_host(None);
    let mut notes = play(&mut host, TEMPO, BEATS, |_| 256);
    notes.extend(stopped(&mut host, TEMPO, BEATS, 4096, 256));
    assert_monophonic_and_closed(&notes);
    assert!(notes.iter().all(|n| (48..=84).contains(&n.key)));
}

#[test]
fn saved_state_round_trip_gives_the_same_solo() {
    let weights = alternative_weights("round-trip");
    let weights_str = weights.to_str().unwrap();

    let mut original = solo_host(Some(weights_str));
    let first = play(&mut original, TEMPO, BEATS, |_| 512);
    let saved = original.save_state();

    let text = state_text(&saved);
    assert!(
        text.contains(weights_str),
        "the weights path is saved: {text}"
    );
    assert!(text.contains("\"seed\":{\"i32\":1234}"), "{text}");

    let mut restored = Host::with_state(SR, Some(&saved));
    settle(&mut restored, TEMPO);
    let second = play(&mut restored, TEMPO, BEATS, |_| 1000);
    assert_eq!(first, second, "the restored session plays the same solo");

    // And the saved things mattered: other weights or another seed play another solo.
    let mut embedded = solo_host(None);
    let with_embedded = play(&mut embedded, TEMPO, BEATS, |_| 512);
    assert_ne!(first, with_embedded, "the weights file changes the solo");

    let mut other_seed_params = solo_params();
    other_seed_params.retain(|(id, _)| *id != "seed");
    other_seed_params.push(("seed", json!({"i32": 99})));
    let mut other = Host::with_state(SR, Some(&state_json(&other_seed_params, Some(weights_str))));
    settle(&mut other, TEMPO);
    assert_ne!(
        first,
        play(&mut other, TEMPO, BEATS, |_| 512),
        "the seed changes the solo"
    );
    let _ = std::fs::remove_file(weights);
}

#[test]
fn a_bad_weights_file_keeps_the_current_model_playing() {
    let bad =
        std::env::temp_dir().join(format!("jazz-synth-{}-bad.safetensors", std::process::id()));
    std::fs::write(&bad, b"these are not weights").unwrap();

    let mut reference = solo_host(None);
    let expected = play(&mut reference, TEMPO, BEATS, |_| 512);

    for path in [
        bad.to_str().unwrap(),
        "/nonexistent/jazz-synth/solo.safetensors",
    ] {
        let mut host = solo_host(Some(path));
        assert_eq!(play(&mut host, TEMPO, BEATS, |_| 512), expected, "{path}");
    }
    let _ = std::fs::remove_file(bad);
}

#[test]
fn bypass_ends_the_sounding_note_and_stops_the_solo() {
    let mut host = solo_host(None);
    let mut notes = play(&mut host, TEMPO, 4.0, |_| 512);
    let spb = samples_per_beat(SR, TEMPO);
    // Bypass on, mid-song, while the transport keeps running.
    let at = host.sample;
    let t = transport(TEMPO, at as f64 / spb, true);
    notes.extend(host.block_with_params(512, Some(&t), &[], &[("bypass", 1.0)]));
    for _ in 0..200 {
        let t = transport(TEMPO, host.sample as f64 / spb, true);
        notes.extend(host.block(512, Some(&t), &[]));
    }
    assert_monophonic_and_closed(&notes);
    assert!(notes.iter().all(|n| !n.on || n.sample < at));
    let tail = &host.audio_out[host.audio_out.len() - 24_000..];
    assert!(tail.iter().all(|s| s.abs() < 1.0e-4));
}

#[test]
fn the_preview_voice_can_be_switched_off() {
    let mut params = solo_params();
    params.push(("preview-on", json!({"bool": false})));
    let mut host = Host::with_state(SR, Some(&state_json(&params, None)));
    settle(&mut host, TEMPO);
    let notes = play(&mut host, TEMPO, BEATS, |_| 512);
    assert!(!note_ons(&notes).is_empty(), "MIDI out works either way");
    assert!(host.audio_out.iter().all(|&s| s == 0.0));
}

#[test]
fn chords_held_on_the_midi_input_change_the_pitches() {
    let mut params = solo_params();
    params.retain(|(id, _)| *id != "chord-source");
    params.push(("chord-source", json!({"string": "midi-input"})));
    params.push(("temperature", json!({"f32": 0.0})));

    let pitches_over = |chord: &[u8]| {
        let mut host = Host::with_state(SR, Some(&state_json(&params, None)));
        settle(&mut host, TEMPO);
        let spb = samples_per_beat(SR, TEMPO);
        let press: Vec<(u32, u8, bool)> = chord.iter().map(|&k| (0, k, true)).collect();
        let mut notes = Vec::new();
        for i in 0..((BEATS * spb) as usize / 500) {
            let t = transport(TEMPO, (i * 500) as f64 / spb, true);
            notes.extend(host.block(500, Some(&t), if i == 0 { &press } else { &[] }));
        }
        let mut pcs: Vec<i16> = note_ons(&notes).iter().map(|n| n.key % 12).collect();
        pcs.sort();
        pcs.dedup();
        (notes, pcs)
    };
    let (c_notes, c_major) = pitches_over(&[60, 64, 67]);
    let (fs_notes, fs_major) = pitches_over(&[66, 70, 73]);
    assert!(!note_ons(&c_notes).is_empty() && !note_ons(&fs_notes).is_empty());
    assert_ne!(
        c_major, fs_major,
        "C major and F# major give other pitch classes"
    );
}

#[test]
fn without_a_song_position_it_stays_silent_unless_free_run() {
    let run = |free_run: bool| {
        let mut params = solo_params();
        params.retain(|(id, _)| *id != "free-run");
        params.push(("free-run", json!({"bool": free_run})));
        let mut host = Host::with_state(SR, Some(&state_json(&params, None)));
        settle(&mut host, TEMPO);
        let t = transport_without_position(TEMPO, true);
        let mut notes = Vec::new();
        for _ in 0..(8 * 24_000 / 512) {
            notes.extend(host.block(512, Some(&t), &[]));
        }
        notes.extend(stopped(&mut host, TEMPO, 0.0, 4096, 512));
        notes
    };
    assert!(run(false).is_empty(), "no position, no free run: silence");
    let free = run(true);
    assert!(
        !note_ons(&free).is_empty(),
        "free run plays on its own clock"
    );
    assert_monophonic_and_closed(&free);
}

#[test]
fn a_looping_host_gets_no_stuck_or_doubled_notes() {
    let mut host = solo_host(None);
    let spb = samples_per_beat(SR, TEMPO);
    let loop_samples = (4.0 * spb) as u64;
    let mut notes = Vec::new();
    // Three passes over a one-bar loop, the host wrapping its position mid-block.
    let start = host.sample;
    while host.sample - start < 3 * loop_samples {
        let played = host.sample - start;
        let in_loop = played % loop_samples;
        let frames = 1000.min((loop_samples - in_loop) as usize);
        let t = transport(TEMPO, in_loop as f64 / spb, true);
        notes.extend(host.block(frames, Some(&t), &[]));
    }
    notes.extend(stopped(&mut host, TEMPO, 4.0, 4096, 512));
    assert_monophonic_and_closed(&notes);
    let ons = note_ons(&notes);
    assert!(ons.len() >= 3, "{notes:?}");
    for on in ons {
        let in_loop = (on.sample - start) % loop_samples;
        let beat = (in_loop as f64 / spb).round();
        assert_eq!(in_loop, (beat * spb).round() as u64, "{on:?} off the beat");
    }
}

#[test]
fn the_style_knob_and_its_strength_switch_mid_solo_with_no_stuck_note() {
    // The built-in `wjd-styles` model learned the WJD's styles; switch from any to its third
    // (bebop) after 8 beats.
    let mut params = solo_params();
    params.retain(|(id, _)| *id != "rhythm");
    params.push(("rhythm", json!({"string": "phrase"})));
    let run = |switch: &[(&str, f64)]| {
        let mut host = Host::with_state(SR, Some(&state_json(&params, Some("wjd-styles"))));
        settle(&mut host, TEMPO);
        let mut notes = play(&mut host, TEMPO, 8.0, |_| 512);
        let spb = samples_per_beat(SR, TEMPO);
        let origin = host.sample - (8.0 * spb).round() as u64;
        let at = host.sample - origin;
        if !switch.is_empty() {
            let t = transport(TEMPO, at as f64 / spb, true);
            notes.extend(
                host.block_with_params(512, Some(&t), &[], switch)
                    .into_iter()
                    .map(|mut n| {
                        n.sample -= origin;
                        n
                    }),
            );
        }
        while host.sample - origin < (24.0 * spb) as u64 {
            let t = transport(TEMPO, (host.sample - origin) as f64 / spb, true);
            notes.extend(host.block(512, Some(&t), &[]).into_iter().map(|mut n| {
                n.sample -= origin;
                n
            }));
        }
        let t = transport(TEMPO, (host.sample - origin) as f64 / spb, false);
        notes.extend(host.block(512, Some(&t), &[]).into_iter().map(|mut n| {
            n.sample -= origin;
            n
        }));
        (notes, at)
    };
    let (steady, at) = run(&[]);
    let (switched, _) = run(&[("style", 3.0)]);
    // The style strength too (from its default to 1, the style as the model learned it).
    let (plain, _) = run(&[("style", 3.0), ("style-strength", 1.0)]);
    assert_monophonic_and_closed(&steady);
    assert_monophonic_and_closed(&switched);
    assert_monophonic_and_closed(&plain);
    let before =
        |n: &[Note]| -> Vec<Note> { n.iter().filter(|n| n.sample < at).copied().collect() };
    assert_eq!(
        before(&steady),
        before(&switched),
        "the same solo up to the switch"
    );
    assert_ne!(
        note_ons(&steady),
        note_ons(&switched),
        "the style changes the notes after the switch"
    );
    assert_eq!(
        before(&plain),
        before(&switched),
        "the same up to the switch"
    );
    assert_ne!(
        note_ons(&plain),
        note_ons(&switched),
        "the strength changes the notes after the switch"
    );
}
