//! The plugin's `process()` driven directly (no host wrapper) under `assert_no_alloc`: any
//! allocation or deallocation on the audio thread aborts the test. This runs in every plain
//! `cargo test`; `clap_host_alloc` proves the same through nice-plug's wrapper with the
//! `assert_process_allocs` feature (that feature installs its own global allocator, which is why
//! this file is compiled out when it is on).
#![cfg(not(feature = "assert_process_allocs"))]

mod common;

use std::time::Duration;

use assert_no_alloc::AllocDisabler;
use common::alt_weights::write_alternative_weights;
use common::plugin_host::*;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

#[test]
fn process_never_allocates_through_transport_chaos_and_weights_swaps() {
    let alternative = std::env::temp_dir().join(format!(
        "jazz-synth-{}-process.safetensors",
        std::process::id()
    ));
    write_alternative_weights(&alternative);
    let mut plugin = activated();
    let params = plugin.params_handle();
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    let mut rng = Rng(0xDEC0_DED5_01AB_CDEF);
    let (mut beat, mut tempo, mut playing) = (0.0f64, 120.0f64, true);
    let mut notes_sent = 0;

    for i in 0..20_000 {
        let frames = [1, 7, 64, 512, 1000, 4096][rng.below(6) as usize];
        let mut context = Context::new();
        if rng.below(150) == 0 {
            playing = !playing;
        }
        if rng.below(120) == 0 {
            beat = rng.below(64) as f64 + rng.below(4) as f64 * 0.25;
        }
        if rng.below(300) == 0 {
            tempo = [60.0, 120.0, 137.5, 200.0][rng.below(4) as usize];
        }
        context.transport.playing = playing;
        context.transport.tempo = Some(tempo);
        context.transport.pos_beats = (rng.below(500) != 0).then_some(beat);
        context.transport.time_sig_numerator = Some(4);
        context.transport.time_sig_denominator = Some(4);
        if rng.below(30) == 0 {
            let root = 48 + rng.below(12) as u8;
            for (k, step) in [0u8, 4, 7].into_iter().enumerate() {
                let on = rng.below(3) != 0;
                let velocity = if on { 0.7 } else { 0.0 };
                let timing = k as u32 % frames as u32;
                context
                    .input
                    .push(note_event(on, timing, 0, root + step, velocity));
            }
        }
        if rng.below(200) == 0 {
            set_param(&params, "bypass", rng.below(2) as f32);
        }
        if rng.below(100) == 0 {
            set_param(&params, "seed", rng.below(500) as f32);
        }
        if rng.below(100) == 0 {
            set_param(&params, "chord-source", rng.below(2) as f32);
        }
        if rng.below(100) == 0 {
            set_param(&params, "rhythm", rng.below(2) as f32);
        }
        if i % 4000 == 1000 {
            set_param(&params, "bypass", 0.0);
            params.weights_path.request(if i % 8000 == 1000 {
                alternative.to_string_lossy().into_owned()
            } else {
                String::new()
            });
            std::thread::sleep(Duration::from_millis(80));
        }
        if rng.below(2000) == 0 {
            plugin.reset();
        }

        assert_eq!(
            block(&mut plugin, &mut audio, &mut context, frames),
            ProcessStatus::KeepAlive
        );
        notes_sent += context.sent.len();
        if playing {
            beat += frames as f64 * tempo / 60.0 / SR as f64;
        }
    }
    assert!(notes_sent > 100, "music was played: {notes_sent} events");
    assert!(
        plugin.model_swaps() >= 2,
        "weights were swapped in and retired: {}",
        plugin.model_swaps()
    );
    let _ = std::fs::remove_file(alternative);
}

#[test]
fn reset_and_deactivate_end_the_sounding_note_at_the_next_block() {
    let mut plugin = activated();
    let params = plugin.params_handle();
    set_param(&params, "rhythm", 0.0);
    set_param(&params, "temperature", 0.0);
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];

    for deactivate in [false, true] {
        // Play until a note sounds.
        let mut sounding = None;
        let mut beat = 0.0;
        for _ in 0..200 {
            let mut context = Context::new();
            context.transport.playing = true;
            context.transport.tempo = Some(120.0);
            context.transport.pos_beats = Some(beat);
            block(&mut plugin, &mut audio, &mut context, 512);
            beat += 512.0 * 2.0 / SR as f64;
            for event in &context.sent {
                match event {
                    NoteEvent::NoteOn { key, .. } => sounding = key.number(),
                    NoteEvent::NoteOff { .. } => sounding = None,
                    _ => {}
                }
            }
            if sounding.is_some() {
                break;
            }
        }
        let key = sounding.expect("a note sounds within 200 blocks");

        if !deactivate {
            plugin.reset();
        } else {
            plugin.deactivate();
            activate(&mut plugin);
        }
        let mut context = Context::new();
        block(&mut plugin, &mut audio, &mut context, 512);
        assert!(
            context.sent.iter().any(|e| matches!(e,
                NoteEvent::NoteOff { timing: 0, key: k, .. } if k.number() == Some(key))),
            "note {key} ends at sample 0 of the next block: {:?}",
            context.sent
        );
    }
}

/// A note-on at velocity 0 is a note-off (MIDI's running-status convention; CLAP and VST3 hosts
/// pass such events through as note-ons). Released that way, a chord's keys must not stay held
/// and leak into the next chord played.
#[test]
fn a_note_on_at_velocity_zero_releases_the_key() {
    let mut plugin = activated();
    let params = plugin.params_handle();
    set_param(&params, "chord-source", 1.0);
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    let note_on = |key: u8, velocity: f32| NoteEvent::NoteOn {
        timing: 0,
        voice_id: VoiceID::Wildcard,
        channel: Channel::Number(0),
        key: Key::Number(key),
        velocity,
    };
    let c_major = [60u8, 64, 67];
    let d_minor = [62u8, 65, 69];
    // Blocks of 4096 samples are farther apart than the engine's chord window (0.1 s), so each
    // block's presses are a chord of their own.
    for (keys, velocity) in [(c_major, 0.8), (c_major, 0.0), (d_minor, 0.8)] {
        let mut context = Context::new();
        context.input.extend(keys.map(|key| note_on(key, velocity)));
        block(&mut plugin, &mut audio, &mut context, MAX_BLOCK);
    }
    let engine = plugin.engine().expect("activated");
    assert_eq!(
        engine.midi_chord(),
        Some(jazz_synth::music::theory::Chord::from_midi(&d_minor)),
        "C E G released by velocity-0 note-ons, then D F A pressed"
    );
}
