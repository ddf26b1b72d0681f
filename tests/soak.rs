//! A soak of the plugin: hours of host time at 48 kHz through `JazzSynth::process()` with
//! everything a host and a musician throw at it: random block sizes (1 to 4096), tempo changes,
//! transport starts, stops, loops and jumps, blocks without a song position, resets, storms of
//! a thousand MIDI events in one block, weights swaps every few seconds (another model, the
//! embedded one, a file that has vanished), parameter changes every block, bypass, time
//! signatures changing between segments.
//!
//! Checked after every block: no panic; no allocation inside `process()` (`assert_no_alloc`);
//! the LSTM's hidden and cell state finite; the audio finite and within [-1, 1]; one voice
//! (never a note-on while a note sounds, every note-off ends the sounding note); every pitch
//! within the note range and on the channel in effect; and in Beat rhythm, the values generated
//! are exactly the beats the block holds (computed here independently from the transport), so
//! the output count matches the beats played. Phrase segments check a looser bound.
//!
//! `JAZZ_SYNTH_SOAK_HOURS` sets the host time (default 2); CI reports it in its summary.
#![cfg(not(feature = "assert_process_allocs"))]

mod common;

use std::collections::HashMap;
use std::time::Instant;

use assert_no_alloc::AllocDisabler;
use common::alt_weights::write_alternative_weights;
use common::plugin_host::*;
use common::summary;
use jazz_synth::engine::TICKS_PER_BEAT;
use jazz_synth::plugin::JazzSynth;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// Host seconds between weights requests.
const SWAP_EVERY_SECONDS: f64 = 4.0;
/// Events in one MIDI storm.
const STORM: usize = 1000;

/// Parameter pointers by id, looked up once (a host keeps them too).
struct HostParams(HashMap<String, ParamPtr>);

impl HostParams {
    fn of(plugin: &JazzSynth) -> HostParams {
        let params = plugin.params_handle();
        HostParams(
            params
                .param_map()
                .into_iter()
                .map(|(id, ptr, _)| (id, ptr))
                .collect(),
        )
    }

    /// Sets a plain value as host automation does.
    fn set(&self, id: &str, plain: f32) {
        let ptr = self.0[id];
        // SAFETY: the plugin (and its parameters) outlives this test's use of the pointers.
        unsafe { ptr._internal_set_normalized_value(ptr.preview_normalized(plain)) };
    }
}

/// What one voice is doing, from the note events seen so far.
#[derive(Default)]
struct Voice {
    sounding: Option<(u8, u8)>,
    note_ons: u64,
}

impl Voice {
    fn check(
        &mut self,
        events: &[PluginNoteEvent<JazzSynth>],
        low: u8,
        high: u8,
        channel: u8,
        at: &str,
    ) {
        for event in events {
            match *event {
                NoteEvent::NoteOn {
                    key, channel: ch, ..
                } => {
                    let (Some(key), Some(ch)) = (key.number(), ch.number()) else {
                        panic!("{at}: note-on without key or channel: {event:?}");
                    };
                    assert!(
                        self.sounding.is_none(),
                        "{at}: note {key} starts while {:?} still sounds",
                        self.sounding
                    );
                    assert!(
                        (low..=high).contains(&key),
                        "{at}: note {key} outside the range {low}..={high}"
                    );
                    assert_eq!(ch, channel, "{at}: note {key} on channel {ch}");
                    self.sounding = Some((key, ch));
                    self.note_ons += 1;
                }
                NoteEvent::NoteOff {
                    key, channel: ch, ..
                } => {
                    let off = (key.number().unwrap_or(255), ch.number().unwrap_or(255));
                    assert_eq!(
                        self.sounding.take(),
                        Some(off),
                        "{at}: note-off {off:?} does not end the sounding note"
                    );
                }
                _ => panic!("{at}: unexpected event {event:?}"),
            }
        }
    }
}

/// The integer beats whose sample offset `floor((b - p) * spb + 0.5)` lies in `[0, frames)`:
/// the beats a block starting at position `p` holds (the engine's beat rule, restated).
fn beats_in_block(p: f64, spb: f64, frames: usize) -> impl Iterator<Item = i64> + Clone {
    let first = (p - 0.5 / spb).ceil() as i64 - 1;
    (first..)
        .map(move |b| (b, ((b as f64 - p) * spb + 0.5).floor() as i64))
        .skip_while(|&(_, offset)| offset < 0)
        .take_while(move |&(_, offset)| offset < frames as i64)
        .map(|(b, _)| b)
}

#[test]
fn hours_of_host_abuse_keep_one_clean_voice_on_the_beat() {
    let hours: f64 = std::env::var("JAZZ_SYNTH_SOAK_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(2.0);
    let total_samples = (hours * 3600.0 * SR as f64) as u64;

    let dir = std::env::temp_dir();
    let alternative = dir.join(format!(
        "jazz-synth-{}-soak.safetensors",
        std::process::id()
    ));
    write_alternative_weights(&alternative);
    let vanished = dir.join(format!(
        "jazz-synth-{}-vanished.safetensors",
        std::process::id()
    ));
    let weights_choices = [
        alternative.to_string_lossy().into_owned(),
        String::new(),
        vanished.to_string_lossy().into_owned(),
    ];

    let mut plugin = activated();
    let handle = plugin.params_handle();
    let params = HostParams::of(&plugin);
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    let mut context = Context::new();
    context.input.reserve(STORM);
    let mut rng = Rng(0x005E_ED0F_50A4_u64);
    let mut voice = Voice::default();

    let (mut beat, mut tempo, mut playing) = (0.0f64, 120.0f64, true);
    let mut bypass = false;
    let mut phrase = false;
    // Time signature of the segment; (0, 0) is a host sending nonsense.
    let mut meter = (4, 4);
    let mut segment_left = 0u64;
    let mut next_swap = 0u64;
    let (mut swaps_requested, mut storms, mut jumps, mut stops) = (0u64, 0u64, 0u64, 0u64);
    let (mut expected_total, mut generated_total, mut blocks) = (0u64, 0u64, 0u64);
    let mut sample = 0u64;
    let started = Instant::now();

    while sample < total_samples {
        let frames = 1 + rng.below(MAX_BLOCK as u64) as usize;
        let at = format!(
            "block {blocks} at {:.1} s host time (beat {beat:.3}, {tempo:.2} BPM, {frames} frames)",
            sample as f64 / SR as f64
        );
        context.input.clear();
        context.next_input = 0;
        context.sent.clear();

        // A new segment: a rhythm for a while, entered from a stopped transport.
        let mut segment_start = false;
        if segment_left == 0 {
            segment_left = (5.0 + rng.below(55) as f64) as u64 * SR as u64;
            phrase = rng.below(5) == 0;
            meter = [(4, 4), (3, 4), (6, 8), (5, 4), (7, 8), (2, 2), (0, 0)][rng.below(7) as usize];
            params.set("rhythm", if phrase { 1.0 } else { 0.0 });
            segment_start = true;
        }
        segment_left = segment_left.saturating_sub(frames as u64);

        // The host's transport.
        if rng.below(150) == 0 {
            tempo = 40.0 + rng.below(26_000) as f64 / 100.0;
        }
        // Mostly playing: stops are short, as when a musician stops to rewind.
        if rng.below(if playing { 300 } else { 20 }) == 0 {
            playing = !playing;
            stops += 1;
        }
        if rng.below(250) == 0 {
            beat = (beat - 4.0 * (1 + rng.below(4)) as f64).max(0.0);
            jumps += 1;
        }
        if rng.below(300) == 0 {
            beat = rng.below(400) as f64 + rng.below(1000) as f64 / 1000.0;
            jumps += 1;
        }
        let positioned = rng.below(500) != 0;
        let stopped_for_segment = segment_start;
        context.transport.playing = playing && !stopped_for_segment;
        context.transport.tempo = Some(tempo);
        context.transport.pos_beats = positioned.then_some(beat);
        context.transport.time_sig_numerator = Some(meter.0);
        context.transport.time_sig_denominator = Some(meter.1);

        // Notes in: a chord now and then, a storm of a thousand events sometimes.
        if rng.below(30) == 0 {
            let root = 36 + rng.below(24) as u8;
            for (k, step) in [0u8, 4, 7, 10].into_iter().enumerate() {
                context.input.push(NoteEvent::NoteOn {
                    timing: k as u32 % frames as u32,
                    voice_id: VoiceID::Wildcard,
                    channel: Channel::Number(0),
                    key: Key::Number(root + step),
                    velocity: 0.6,
                });
            }
        }
        if rng.below(200) == 0 {
            storms += 1;
            let sorted = rng.below(4) != 0;
            for i in 0..STORM {
                let timing = if sorted {
                    (i * frames / STORM) as u32
                } else {
                    rng.below(frames as u64) as u32
                };
                let key = Key::Number(rng.below(128) as u8);
                let channel = Channel::Number(rng.below(16) as u8);
                context.input.push(if rng.below(2) == 0 {
                    NoteEvent::NoteOn {
                        timing,
                        voice_id: VoiceID::Wildcard,
                        channel,
                        key,
                        velocity: rng.below(128) as f32 / 127.0,
                    }
                } else {
                    NoteEvent::NoteOff {
                        timing,
                        voice_id: VoiceID::Wildcard,
                        channel,
                        key,
                        velocity: 0.0,
                    }
                });
            }
        }

        // Parameters: some change every block.
        for _ in 0..1 + rng.below(3) {
            match rng.below(11) {
                0 => params.set("temperature", rng.below(201) as f32 / 100.0),
                1 => params.set("seed", rng.below(65_536) as f32),
                2 => params.set("low-note", rng.below(128) as f32),
                3 => params.set("high-note", rng.below(128) as f32),
                4 => params.set("velocity", 1.0 + rng.below(127) as f32),
                5 => params.set("midi-channel", 1.0 + rng.below(16) as f32),
                6 => params.set("transpose", rng.below(25) as f32 - 12.0),
                7 => params.set("progression", rng.below(5) as f32),
                8 => params.set("chord-source", rng.below(2) as f32),
                9 => params.set("preview-volume", rng.below(1001) as f32 / 1000.0),
                _ => params.set("reset-on-start", rng.below(2) as f32),
            }
        }
        if rng.below(if bypass { 20 } else { 600 }) == 0 {
            bypass = !bypass;
            params.set("bypass", bypass as u8 as f32);
        }
        if rng.below(400) == 0 {
            params.set("free-run", rng.below(2) as f32);
        }
        if rng.below(3000) == 0 {
            plugin.reset();
        }
        if sample >= next_swap {
            next_swap = sample + (SWAP_EVERY_SECONDS * SR as f64) as u64;
            let choice = &weights_choices[rng.below(3) as usize];
            handle.weights_path.request(choice.clone());
            swaps_requested += 1;
            // Wall time for the loader thread (it polls every 20 ms) to load the file: the
            // simulation runs far faster than real time, a session's few seconds would not.
            std::thread::sleep(std::time::Duration::from_millis(25));
        }

        let settings = handle.engine_settings();
        assert_eq!(
            block(&mut plugin, &mut audio, &mut context, frames),
            ProcessStatus::KeepAlive,
            "{at}"
        );

        // The model's state and the audio.
        let engine = plugin.engine().expect("activated");
        let model = engine.model();
        assert!(
            model
                .hidden()
                .iter()
                .chain(model.cell())
                .all(|x| x.is_finite()),
            "{at}: the LSTM state is not finite"
        );
        for channel in &audio {
            assert!(
                channel[..frames]
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0),
                "{at}: audio out of [-1, 1]"
            );
        }

        // One voice, in range, on its channel.
        voice.check(
            &context.sent,
            settings.low,
            settings.high,
            settings.channel,
            &at,
        );

        // Values generated against the beats the block holds.
        let generated = &plugin.last_output().generated;
        let spb = SR as f64 * 60.0 / tempo;
        // The engine plays on the host's beats while the transport plays with a position, on
        // its own clock without a position when free run is on, else not at all.
        let on_host_beats = !bypass && positioned && context.transport.playing;
        let on_own_clock = !bypass && !positioned && settings.free_run;
        if on_host_beats && !phrase {
            let expected = beats_in_block(beat, spb, frames);
            let got = generated.iter().map(|g| g.beat);
            assert!(
                got.clone().eq(expected.clone()),
                "{at}: generated beats {:?}, the block holds {:?}",
                got.collect::<Vec<_>>(),
                expected.collect::<Vec<_>>()
            );
            expected_total += expected.count() as u64;
            generated_total += generated.len() as u64;
        } else if on_host_beats || on_own_clock {
            let bound = (frames as f64 / spb * TICKS_PER_BEAT as f64).ceil() as usize + 1;
            assert!(generated.len() <= bound, "{at}: {} values", generated.len());
        } else {
            assert!(generated.is_empty(), "{at}: values while silent");
        }

        if context.transport.playing {
            beat += frames as f64 / spb;
        }
        sample += frames as u64;
        blocks += 1;
    }

    // The end of the session: stop, and nothing may keep sounding.
    context.input.clear();
    context.next_input = 0;
    context.sent.clear();
    context.transport.playing = false;
    let settings = handle.engine_settings();
    block(&mut plugin, &mut audio, &mut context, 512);
    voice.check(
        &context.sent,
        settings.low,
        settings.high,
        settings.channel,
        "final stop",
    );
    assert_eq!(
        voice.sounding, None,
        "a note is left sounding after the stop"
    );

    let wall = started.elapsed();
    let simulated_hours = sample as f64 / SR as f64 / 3600.0;
    println!(
        "soak: {simulated_hours:.2} h host time, {blocks} blocks, {generated_total} beat values \
         ({expected_total} expected), {} notes, {storms} storms, {jumps} jumps/loops, {stops} \
         starts/stops, {swaps_requested} weights requests, {} swaps, {:.1} s wall",
        voice.note_ons,
        plugin.model_swaps(),
        wall.as_secs_f64()
    );
    assert_eq!(
        generated_total, expected_total,
        "values generated vs beats played"
    );
    // At least one note a second of host time on average, and every kind of abuse happened.
    let seconds = simulated_hours * 3600.0;
    assert!(
        voice.note_ons as f64 > seconds,
        "music was played: {} notes",
        voice.note_ons
    );
    assert!(
        generated_total as f64 > seconds,
        "{generated_total} beats checked"
    );
    let often = (seconds / 60.0) as u64;
    assert!(storms > often && jumps > often && stops > often);
    assert!(
        plugin.model_swaps() as f64 >= seconds / SWAP_EVERY_SECONDS / 4.0,
        "weights were swapped: {} of {swaps_requested} requests",
        plugin.model_swaps()
    );
    summary::report("soak-host-hours", simulated_hours);
    summary::report("soak-blocks", blocks as f64);
    summary::report("soak-beats", generated_total as f64);
    let _ = std::fs::remove_file(alternative);
}
