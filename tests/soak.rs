//! A soak of the plugin: hours of host time at 48 kHz through `JazzSynth::process()` with
//! everything a host and a musician throw at it: random block sizes (1 to 4096), tempo changes
//! (40 to 300 BPM mostly, up to 1000 BPM so that a block holds two beats, and host garbage: no
//! tempo, NaN, zero, negative, out of range), transport starts, stops, loops and jumps (pre-roll
//! included), positions given in seconds instead of beats, blocks without a position, resets,
//! chords pressed and released (by note-off or by a note-on at velocity 0), storms of a thousand
//! MIDI events in one block (out of order, beyond the block, velocity 0), weights swaps every
//! few seconds (another model, the embedded one, a broken file, a file that has vanished),
//! parameter changes every block, bypass, time signatures (3/4, 6/8, 7/8, nonsense).
//!
//! Checked after every block, each failure naming the block and its host time: no panic; no
//! allocation inside `process()` (`assert_no_alloc`); the engine runs on the settings of the
//! parameters; the LSTM's hidden and cell state finite; the audio finite and within [-1, 1];
//! the note events in time order within the block; one voice (never a note-on while a note
//! sounds, every note-off ends the sounding note, nothing left sounding after the final stop);
//! every note-on within the note range, on the channel and at the velocity in effect, and
//! exactly one per generated value that has a pitch, at its sample. In Beat rhythm, while the
//! host plays with a position and the plugin is not bypassed, the values generated are exactly
//! the beats the block holds, at their samples (computed here independently from the
//! transport), so the output count matches the beats played; Phrase segments and free run check
//! looser bounds. Weights: never more swaps than the requests call for, at least half of them,
//! both models really play, and after the last request the engine plays what it asked for.
//!
//! `JAZZ_SYNTH_SOAK_HOURS` sets the host time (default 2; CI reports it in its summary),
//! `JAZZ_SYNTH_SOAK_SEED` another session (a number; the default is the one CI plays).
#![cfg(not(feature = "assert_process_allocs"))]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use assert_no_alloc::AllocDisabler;
use common::alt_weights::write_alternative_weights;
use common::plugin_host::*;
use common::summary;
use jazz_synth::engine::{Generated, Settings, JUMP_TOLERANCE_SAMPLES, TICKS_PER_BEAT};
use jazz_synth::plugin::{JazzSynth, WEIGHTS_ENV};
use nice_plug::prelude::*;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// Host seconds between weights requests.
const SWAP_EVERY_SECONDS: f64 = 4.0;
/// Wall time given to the loader thread (it polls every 20 ms) after a request that should
/// swap the model: the simulation runs hundreds of times faster than real time, a session's
/// few seconds between requests would not.
const LOADER_WAIT: Duration = Duration::from_millis(25);
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

/// Which model plays, told apart by the hidden size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelKind {
    Embedded,
    Alternative,
}

/// What one voice is doing, from the note events seen so far.
#[derive(Default)]
struct Voice {
    sounding: Option<(u8, u8)>,
    note_ons: u64,
}

impl Voice {
    /// Checks one block's note events against the voice so far, the settings in effect and the
    /// values generated in the block.
    fn check(
        &mut self,
        events: &[PluginNoteEvent<JazzSynth>],
        frames: usize,
        settings: &Settings,
        generated: &[Generated],
        at: &str,
    ) {
        let mut pitched = generated
            .iter()
            .filter_map(|g| g.note.map(|note| (note, g.sample)));
        let mut last_timing = 0;
        for event in events {
            let timing = event.timing();
            assert!(
                timing >= last_timing && (timing as usize) < frames,
                "{at}: event at sample {timing} after one at {last_timing}: {events:?}"
            );
            last_timing = timing;
            match *event {
                NoteEvent::NoteOn {
                    key,
                    channel,
                    velocity,
                    ..
                } => {
                    let (Some(key), Some(channel)) = (key.number(), channel.number()) else {
                        panic!("{at}: note-on without key or channel: {event:?}");
                    };
                    assert!(
                        self.sounding.is_none(),
                        "{at}: note {key} starts while {:?} still sounds",
                        self.sounding
                    );
                    assert!(
                        (settings.low..=settings.high).contains(&key),
                        "{at}: note {key} outside the range {}..={}",
                        settings.low,
                        settings.high
                    );
                    assert_eq!(channel, settings.channel, "{at}: note {key} on channel");
                    assert_eq!(
                        velocity,
                        settings.velocity as f32 / 127.0,
                        "{at}: note {key} velocity"
                    );
                    assert_eq!(
                        pitched.next(),
                        Some((key, timing)),
                        "{at}: note-on {key} at sample {timing} is not the next value generated"
                    );
                    self.sounding = Some((key, channel));
                    self.note_ons += 1;
                }
                NoteEvent::NoteOff { key, channel, .. } => {
                    let off = (key.number().unwrap_or(255), channel.number().unwrap_or(255));
                    assert_eq!(
                        self.sounding.take(),
                        Some(off),
                        "{at}: note-off {off:?} does not end the sounding note"
                    );
                }
                _ => panic!("{at}: unexpected event {event:?}"),
            }
        }
        let unsent: Vec<_> = pitched.collect();
        assert!(
            unsent.is_empty(),
            "{at}: values without a note-on: {unsent:?}"
        );
    }
}

/// The test's own picture of the beat grid, from the rules in `jazz_synth::engine`'s
/// documentation: a beat `b` belongs to the block holding the sample it rounds to, at offset
/// `floor((b - p) * spb + 0.5)` from the block's start position `p`; while the host plays on
/// (its position within [`JUMP_TOLERANCE_SAMPLES`] of where the last block ended), the beats
/// come one after the other, none skipped, none twice; after a stop or a jump the grid restarts
/// at the first beat at or after the new position.
#[derive(Clone, Copy)]
struct Grid {
    /// Where the last block ended (beats).
    end: f64,
    /// The first beat not played yet.
    next_beat: i64,
}

impl Grid {
    /// The beats a block starting at `p` plays, with their samples: the next beats of the
    /// grid (a first one a few samples late, at sample 0, when a tempo change or rounding moved
    /// it just before the block's start), or after a jump the beats the block holds. Returns
    /// the grid at the block's end too.
    fn block(
        grid: Option<Grid>,
        p: f64,
        spb: f64,
        frames: usize,
    ) -> (impl Iterator<Item = (i64, u32)> + Clone, Grid) {
        let offset = move |b: i64| ((b as f64 - p) * spb + 0.5).floor() as i64;
        let anchor = (p - 0.5 / spb).ceil() as i64;
        debug_assert!(offset(anchor) >= 0 && offset(anchor - 1) < 0);
        let next = match grid {
            Some(g) if ((p - g.end) * spb).abs() <= JUMP_TOLERANCE_SAMPLES => g.next_beat,
            _ => anchor,
        };
        // A schedule more than the tolerance in the past is restarted too.
        let next = if offset(next) < -(JUMP_TOLERANCE_SAMPLES as i64) - 1 {
            anchor
        } else {
            next
        };
        let beats = (next..)
            .map(offset)
            .take_while(|&o| o < frames as i64)
            .count() as i64;
        let played = (next..next + beats).map(move |b| (b, offset(b).max(0) as u32));
        let grid = Grid {
            end: p + frames as f64 / spb,
            next_beat: next + beats,
        };
        (played, grid)
    }
}

/// The tempo the plugin plays at for the host's: 120 BPM when the host gives none (or
/// garbage), else clamped into the engine's range.
fn effective_tempo(host: Option<f64>) -> f64 {
    match host {
        Some(bpm) if bpm.is_finite() && bpm > 0.0 => bpm.clamp(1.0, 1000.0),
        _ => 120.0,
    }
}

/// A tempo as hosts send them: mostly 40 to 300 BPM, sometimes up to 1000 BPM (two beats in a
/// block of 4096 samples), now and then garbage.
fn host_tempo(rng: &mut Rng) -> Option<f64> {
    match rng.below(40) {
        0 => [
            None,
            Some(f64::NAN),
            Some(0.0),
            Some(-90.0),
            Some(0.5),
            Some(2500.0),
        ][rng.below(6) as usize],
        1..=4 => Some(300.0 + rng.below(70_000) as f64 / 100.0),
        _ => Some(40.0 + rng.below(26_000) as f64 / 100.0),
    }
}

#[test]
fn hours_of_host_abuse_keep_one_clean_voice_on_the_beat() {
    let hours: f64 = std::env::var("JAZZ_SYNTH_SOAK_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(2.0);
    let total_samples = (hours * 3600.0 * SR as f64) as u64;
    // "" must mean the embedded model here, whatever the developer's shell says (this binary
    // has a single test, and the loader thread starts below).
    std::env::remove_var(WEIGHTS_ENV);

    // The weights files: another model, a broken one, one that has vanished.
    let dir = std::env::temp_dir();
    let file = |name: &str| dir.join(format!("jazz-synth-{}-{name}", std::process::id()));
    let alternative = file("soak.safetensors");
    write_alternative_weights(&alternative);
    let bytes = std::fs::read(&alternative).expect("alternative weights");
    let broken = file("soak-broken.safetensors");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).expect("broken weights");
    assert!(jazz_synth::model::weights::load_file(&broken).is_err());
    let vanished = file("soak-vanished.safetensors");
    let hidden_of = |kind| match kind {
        ModelKind::Embedded => jazz_synth::model::weights::default_model().hidden_size(),
        ModelKind::Alternative => jazz_synth::model::weights::load_file(&alternative)
            .expect("the alternative model loads")
            .hidden_size(),
    };
    let (embedded_hidden, alternative_hidden) = (
        hidden_of(ModelKind::Embedded),
        hidden_of(ModelKind::Alternative),
    );
    assert_ne!(embedded_hidden, alternative_hidden, "models told apart");
    let kind_of = |plugin: &JazzSynth| {
        let hidden = plugin.engine().expect("activated").model().hidden_size();
        if hidden == alternative_hidden {
            ModelKind::Alternative
        } else {
            assert_eq!(hidden, embedded_hidden, "an unknown model plays");
            ModelKind::Embedded
        }
    };
    // (path, the model the engine should end up playing): a file that cannot be loaded gives
    // the embedded model.
    let requests = [
        (
            alternative.to_string_lossy().into_owned(),
            ModelKind::Alternative,
        ),
        (String::new(), ModelKind::Embedded),
        (broken.to_string_lossy().into_owned(), ModelKind::Embedded),
        (vanished.to_string_lossy().into_owned(), ModelKind::Embedded),
    ];

    let mut plugin = activated();
    let handle = plugin.params_handle();
    let params = HostParams::of(&plugin);
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    let mut context = Context::new();
    context.input.reserve(STORM + 64);
    // Another seed (JAZZ_SYNTH_SOAK_SEED) plays another session; CI plays this one.
    let seed = std::env::var("JAZZ_SYNTH_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x005E_ED0F_50A4_u64);
    let mut rng = Rng(seed.max(1));
    let mut voice = Voice::default();

    // The host.
    let (mut beat, mut tempo, mut playing) = (0.0f64, Some(120.0f64), true);
    let mut time_sig = (Some(4), Some(4));
    let mut bypass = false;
    let mut phrase = false;
    let mut segment_left = 0u64;
    let mut chord_held: Option<[u8; 4]> = None;
    // The weights.
    let mut next_request = 0u64;
    let (mut expected_model, mut expected_swaps) = (ModelKind::Embedded, 0u64);
    let mut request_counts = [0u64; 4];
    let mut blocks_on = [0u64; 2];
    // What happened.
    let (mut storms, mut jumps, mut stops, mut resets, mut garbage_tempo) = (0u64, 0, 0, 0, 0);
    let (mut resets_sounding, mut jittered_blocks) = (0u64, 0u64);
    let mut round_next = false;
    let (mut expected_total, mut generated_total, mut blocks) = (0u64, 0u64, 0u64);
    let (mut two_beat_blocks, mut phrase_values, mut free_values) = (0u64, 0u64, 0u64);
    let (mut grid, mut late_beats) = (None, 0u64);
    let mut sample = 0u64;
    let started = Instant::now();

    while sample < total_samples {
        let mut frames = 1 + rng.below(MAX_BLOCK as u64) as usize;
        context.input.clear();
        context.next_input = 0;
        context.sent.clear();

        // A new segment: a rhythm for a while, entered from a stop the engine sees.
        let segment_start = segment_left == 0;
        if segment_start {
            segment_left = (5 + rng.below(55)) * SR as u64;
            phrase = rng.below(5) == 0;
            params.set("rhythm", if phrase { 1.0 } else { 0.0 });
            bypass = false;
            params.set("bypass", 0.0);
        }

        // The host's transport.
        if rng.below(150) == 0 {
            tempo = host_tempo(&mut rng);
        }
        if tempo.is_none_or(|t| !(40.0..=1000.0).contains(&t)) {
            garbage_tempo += 1;
        }
        // Mostly playing: stops are short, as when a musician stops to rewind.
        if rng.below(if playing { 300 } else { 20 }) == 0 {
            playing = !playing;
            stops += 1;
        }
        if rng.below(250) == 0 {
            // A loop a few bars back (before the song's start: pre-roll).
            beat -= 4.0 * (1 + rng.below(4)) as f64;
            jumps += 1;
        }
        if rng.below(300) == 0 {
            beat = rng.below(408) as f64 - 8.0 + rng.below(1000) as f64 / 1000.0;
            jumps += 1;
        }
        if rng.below(100) == 0 {
            time_sig = [
                (Some(4), Some(4)),
                (Some(3), Some(4)),
                (Some(7), Some(8)),
                (Some(6), Some(8)),
                (Some(5), Some(4)),
                (Some(0), Some(0)),
                (None, None),
            ][rng.below(7) as usize];
        }
        let positioned = segment_start || rng.below(500) != 0;
        let host_playing = playing && !segment_start;
        let mut transport = Transport::new(SR);
        transport.playing = host_playing;
        transport.tempo = tempo;
        (transport.time_sig_numerator, transport.time_sig_denominator) = time_sig;
        // Where the plugin's clock is at the block's first sample, as it reads the transport.
        let mut position = positioned.then_some(beat);
        if positioned {
            match tempo.filter(|t| t.is_finite() && *t > 0.0) {
                // Some hosts give the position in seconds only.
                Some(bpm) if rng.below(50) == 0 => {
                    let seconds = beat * 60.0 / bpm;
                    transport.pos_seconds = Some(seconds);
                    position = Some(seconds / 60.0 * bpm);
                }
                // Some round it: up to 0.9 samples off the true position, so that two
                // blocks never disagree by the engine's jump tolerance (2 samples).
                _ if round_next || rng.below(20) == 0 => {
                    let spb = SR as f64 * 60.0 / effective_tempo(tempo);
                    let jittered = beat + (rng.below(1801) as f64 - 900.0) / 1000.0 / spb;
                    transport.pos_beats = Some(jittered);
                    position = Some(jittered);
                    jittered_blocks += 1;
                }
                _ => transport.pos_beats = Some(beat),
            }
        }
        context.transport = transport;
        let spb = SR as f64 * 60.0 / effective_tempo(tempo);
        // Now and then a block ends within half a sample of a beat and the next block's
        // position is rounded: the beat may round to a sample before that block's start, and
        // must still be played (late, at its sample 0), once.
        round_next = false;
        if let (true, Some(p)) = (host_playing && rng.below(40) == 0, position) {
            let to_beat = ((p.floor() + 1.0 - p) * spb).round() as usize;
            if (1..=MAX_BLOCK).contains(&to_beat) {
                frames = to_beat;
                round_next = true;
            }
        }
        segment_left = segment_left.saturating_sub(frames as u64);

        // Notes in: chords pressed and released, a storm of a thousand events sometimes.
        if rng.below(30) == 0 {
            let (timing, velocity_zero) = (rng.below(frames as u64) as u32, rng.below(2) == 0);
            match chord_held.take() {
                // Released by note-offs, or by note-ons at velocity 0.
                Some(keys) => context
                    .input
                    .extend(keys.map(|key| note_event(velocity_zero, timing, 0, key, 0.0))),
                None => {
                    let root = 36 + rng.below(24) as u8;
                    let keys = [0u8, 4, 7, 10].map(|step| root + step);
                    context
                        .input
                        .extend(keys.map(|key| note_event(true, timing, 0, key, 0.6)));
                    chord_held = Some(keys);
                }
            }
        }
        if rng.below(200) == 0 {
            storms += 1;
            let (sorted, beyond) = (rng.below(4) != 0, rng.below(10) == 0);
            for i in 0..STORM {
                let timing = if sorted {
                    (i * frames / STORM) as u32
                } else if beyond {
                    // A host bug: events past the block's end.
                    rng.below(frames as u64 + 100) as u32
                } else {
                    rng.below(frames as u64) as u32
                };
                let (on, channel, key) = (rng.below(2) == 0, rng.below(16), rng.below(128));
                let velocity = rng.below(128) as f32 / 127.0;
                context
                    .input
                    .push(note_event(on, timing, channel as u8, key as u8, velocity));
            }
        }

        // Parameters: some change every block.
        for _ in 0..1 + rng.below(3) {
            match rng.below(12) {
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
                10 => params.set("preview-on", rng.below(4).min(1) as f32),
                _ => params.set("reset-on-start", rng.below(2) as f32),
            }
        }
        if !segment_start && rng.below(if bypass { 20 } else { 600 }) == 0 {
            bypass = !bypass;
            params.set("bypass", bypass as u8 as f32);
        }
        if rng.below(400) == 0 {
            params.set("free-run", rng.below(2) as f32);
        }
        // A reset ends what sounds, at the next block's first sample.
        let reset_ends = (rng.below(3000) == 0).then(|| {
            plugin.reset();
            resets += 1;
            resets_sounding += voice.sounding.is_some() as u64;
            voice.sounding
        });
        if sample >= next_request {
            next_request = sample + (SWAP_EVERY_SECONDS * SR as f64) as u64;
            let pick = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3][rng.below(10) as usize];
            let (path, kind) = &requests[pick];
            handle.weights_path.request(path.clone());
            request_counts[pick] += 1;
            if *kind != expected_model {
                expected_model = *kind;
                expected_swaps += 1;
                std::thread::sleep(LOADER_WAIT);
            }
        }

        let at = format!(
            "block {blocks} at {:.3} s host time (position {position:?}, tempo {tempo:?}, \
             {frames} frames, playing {host_playing}, bypass {bypass}, phrase {phrase})",
            sample as f64 / SR as f64
        );
        let settings = handle.engine_settings();
        assert_eq!(
            block(&mut plugin, &mut audio, &mut context, frames),
            ProcessStatus::KeepAlive,
            "{at}"
        );

        // The engine's settings, the model's state and the audio.
        let engine = plugin.engine().expect("activated");
        assert_eq!(*engine.settings(), settings, "{at}: engine settings");
        let model = engine.model();
        assert!(
            model
                .hidden()
                .iter()
                .chain(model.cell())
                .all(|x| x.is_finite()),
            "{at}: the LSTM state is not finite"
        );
        blocks_on[kind_of(&plugin) as usize] += 1;
        for channel in &audio {
            assert!(
                channel[..frames]
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0),
                "{at}: audio out of [-1, 1]"
            );
        }

        // One voice, in range, on its channel, one note per pitched value.
        if let Some(Some((key, channel))) = reset_ends {
            assert!(
                matches!(context.sent.first(), Some(&NoteEvent::NoteOff { timing: 0, key: k, channel: c, .. })
                    if k.number() == Some(key) && c.number() == Some(channel)),
                "{at}: after a reset, note {key} does not end first: {:?}",
                context.sent
            );
        }
        let generated = &plugin.last_output().generated;
        voice.check(&context.sent, frames, &settings, generated, &at);

        // Values generated against the beats the block holds. The engine plays on the host's
        // beats while the transport plays with a position, on its own clock without a position
        // when free run is on, else not at all.
        let on_host_beats = !bypass && host_playing && position.is_some();
        let on_own_clock = !bypass && position.is_none() && settings.free_run;
        let bound = (frames as f64 / spb * TICKS_PER_BEAT as f64).ceil() as usize + 1;
        match (on_host_beats, position) {
            (true, Some(p)) if phrase => {
                // Values on the grid ticks of this block (one at most a few samples late).
                let (earliest, latest) = ((p - 4.0 / spb).floor(), (p + frames as f64 / spb));
                assert!(
                    generated.len() <= bound
                        && generated
                            .iter()
                            .all(|g| (earliest..=latest).contains(&(g.beat as f64))),
                    "{at}: phrase values {generated:?}"
                );
                phrase_values += generated.len() as u64;
                grid = None;
            }
            (true, Some(p)) => {
                let (expected, next) = Grid::block(grid, p, spb, frames);
                let got = generated.iter().map(|g| (g.beat, g.sample));
                assert!(
                    got.clone().eq(expected.clone()),
                    "{at}: generated (beat, sample) {:?}, the grid holds {:?}",
                    got.collect::<Vec<_>>(),
                    expected.collect::<Vec<_>>()
                );
                let n = expected.clone().count() as u64;
                // Beats rounding to a sample before the block: at most a sample late.
                late_beats += expected
                    .filter(|&(b, _)| (b as f64 - p) * spb + 0.5 < 0.0)
                    .count() as u64;
                expected_total += n;
                generated_total += generated.len() as u64;
                two_beat_blocks += (n >= 2) as u64;
                grid = Some(next);
            }
            _ if on_own_clock => {
                assert!(generated.len() <= bound, "{at}: {} values", generated.len());
                free_values += generated.len() as u64;
                grid = None;
            }
            _ => {
                assert!(generated.is_empty(), "{at}: values while silent");
                assert_eq!(voice.sounding, None, "{at}: a note sounds while silent");
                // A bypassed block leaves the engine's grid as it was.
                if !bypass {
                    grid = None;
                }
            }
        }

        if host_playing {
            // The host moves on at the tempo the plugin reads.
            beat += frames as f64 / spb;
        }
        sample += frames as u64;
        blocks += 1;
    }

    // The end of the session: the host stops (a plain stop, with a position), and nothing may
    // keep sounding. Then it idles until the weights requested last play.
    params.set("bypass", 0.0);
    params.set("free-run", 0.0);
    let mut idle = |plugin: &mut JazzSynth, context: &mut Context, voice: &mut Voice, at: &str| {
        context.input.clear();
        context.next_input = 0;
        context.sent.clear();
        context.transport = Transport::new(SR);
        context.transport.tempo = Some(120.0);
        context.transport.pos_beats = Some(beat);
        let settings = handle.engine_settings();
        block(plugin, &mut audio, context, 512);
        let generated = &plugin.last_output().generated;
        assert!(generated.is_empty(), "{at}: values while stopped");
        voice.check(&context.sent, 512, &settings, generated, at);
    };
    idle(&mut plugin, &mut context, &mut voice, "final stop");
    assert_eq!(
        voice.sounding, None,
        "a note is left sounding after the stop"
    );
    let (mut quiet, waited) = (0, Instant::now());
    let mut swaps = plugin.model_swaps();
    while (quiet < 15 || kind_of(&plugin) != expected_model) && waited.elapsed().as_secs() < 10 {
        std::thread::sleep(Duration::from_millis(20));
        idle(&mut plugin, &mut context, &mut voice, "idle after the stop");
        quiet = if plugin.model_swaps() == swaps {
            quiet + 1
        } else {
            0
        };
        swaps = plugin.model_swaps();
    }
    assert_eq!(voice.sounding, None, "a note sounds while stopped");
    assert_eq!(plugin.engine().and_then(|e| e.sounding_note()), None);
    assert_eq!(
        kind_of(&plugin),
        expected_model,
        "the model of the last weights request plays"
    );

    let wall = started.elapsed();
    let simulated_hours = sample as f64 / SR as f64 / 3600.0;
    println!(
        "soak: {simulated_hours:.2} h host time in {:.1} s wall, {blocks} blocks; Beat \
         rhythm: {generated_total} beat values ({expected_total} expected, {two_beat_blocks} \
         blocks with two beats or more, {late_beats} beats a sample late, {jittered_blocks} \
         blocks with a rounded position); {phrase_values} phrase values, {free_values} free-run values; {} notes; {storms} storms, {jumps} \
         jumps/loops, {stops} starts/stops, {resets} resets ({resets_sounding} with a note \
         sounding), {garbage_tempo} blocks at a garbage or extreme tempo; weights requests \
         (alternative, embedded, broken, vanished) {request_counts:?}, {} swaps of \
         {expected_swaps} called for; blocks on (embedded, alternative) {blocks_on:?}",
        wall.as_secs_f64(),
        voice.note_ons,
        plugin.model_swaps(),
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
    assert!(phrase_values > 0 && two_beat_blocks > 0 && garbage_tempo > 0);
    let often = (seconds / 60.0) as u64;
    assert!(storms > often && jumps > often && stops > often && resets > 0);
    // The loader never swaps without a change asked for; it may skip one when two requests
    // come before it polls (a loaded machine), but not half of them.
    let swaps = plugin.model_swaps();
    assert!(
        swaps <= expected_swaps && 2 * swaps >= expected_swaps && swaps > 0,
        "{swaps} weights swaps, {expected_swaps} called for"
    );
    assert!(
        blocks_on.iter().all(|&n| n > blocks / 10),
        "both models played: {blocks_on:?} blocks"
    );
    summary::report("soak-host-hours", simulated_hours);
    summary::report("soak-blocks", blocks as f64);
    summary::report("soak-beats", generated_total as f64);
    for path in [alternative, broken] {
        let _ = std::fs::remove_file(path);
    }
}
