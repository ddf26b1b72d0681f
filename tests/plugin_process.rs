//! The plugin's `process()` driven directly (no host wrapper) under `assert_no_alloc`: any
//! allocation or deallocation on the audio thread aborts the test. This runs in every plain
//! `cargo test`; `clap_host_alloc` proves the same through nice-plug's wrapper with the
//! `assert_process_allocs` feature (that feature installs its own global allocator, which is why
//! this file is compiled out when it is on).
#![cfg(not(feature = "assert_process_allocs"))]

use std::time::Duration;

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use jazz_synth::params::JazzSynthParams;
use jazz_synth::plugin::JazzSynth;
use nice_plug::context::process::SendEventError;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const SR: f32 = 48_000.0;
const MAX_BLOCK: usize = 4096;

/// The host side of one `process()` call: transport, incoming notes, and a preallocated list
/// for the plugin's outgoing notes.
struct Context {
    transport: Transport,
    input: Vec<PluginNoteEvent<JazzSynth>>,
    next_input: usize,
    sent: Vec<PluginNoteEvent<JazzSynth>>,
}

impl Context {
    fn new() -> Self {
        Self {
            transport: Transport::new(SR),
            input: Vec::with_capacity(64),
            next_input: 0,
            sent: Vec::with_capacity(1024),
        }
    }
}

impl ProcessContext<JazzSynth> for Context {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<JazzSynth>> {
        let event = self.input.get(self.next_input).copied();
        self.next_input += 1;
        event
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<JazzSynth>,
    ) -> Result<(), (PluginNoteEvent<JazzSynth>, SendEventError)> {
        if self.sent.len() == self.sent.capacity() {
            return Err((event, SendEventError::HostBufferFull));
        }
        self.sent.push(event);
        Ok(())
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

struct Activation;

impl ActivateContext<JazzSynth> for Activation {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

fn activated() -> JazzSynth {
    let mut plugin = JazzSynth::default();
    let layout = JazzSynth::AUDIO_IO_LAYOUTS[0];
    let config = BufferConfig {
        sample_rate: SR,
        min_buffer_size: Some(1),
        max_buffer_size: MAX_BLOCK as u32,
        process_mode: ProcessMode::Realtime,
    };
    assert!(plugin.activate(&layout, &config, &mut Activation));
    plugin.reset();
    plugin
}

/// Sets a parameter to a plain value, as a host would through automation.
fn set_param(params: &JazzSynthParams, id: &str, plain: f32) {
    let map = params.param_map();
    let (_, ptr, _) = map.iter().find(|(i, ..)| i == id).expect("parameter id");
    unsafe {
        let normalized = ptr.preview_normalized(plain);
        ptr._internal_set_normalized_value(normalized);
    }
}

/// Runs one block of `frames` samples; only `process()` itself is inside `assert_no_alloc`.
fn block(
    plugin: &mut JazzSynth,
    audio: &mut [Vec<f32>; 2],
    context: &mut Context,
    frames: usize,
) -> ProcessStatus {
    let [left, right] = audio;
    let mut buffer = Buffer::default();
    unsafe {
        buffer.set_slices(frames, |slices| {
            slices.clear();
            slices.push(&mut left[..frames]);
            slices.push(&mut right[..frames]);
        });
    }
    let mut aux = AuxiliaryBuffers {
        inputs: &mut [],
        outputs: &mut [],
    };
    assert_no_alloc(|| plugin.process(&mut buffer, &mut aux, context))
}

/// A deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

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
                let key = Key::Number(root + step);
                let (timing, channel, voice_id) = (
                    k as u32 % frames as u32,
                    Channel::Number(0),
                    VoiceID::Wildcard,
                );
                context.input.push(if on {
                    NoteEvent::NoteOn {
                        timing,
                        voice_id,
                        channel,
                        key,
                        velocity: 0.7,
                    }
                } else {
                    NoteEvent::NoteOff {
                        timing,
                        voice_id,
                        channel,
                        key,
                        velocity: 0.0,
                    }
                });
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
            let layout = JazzSynth::AUDIO_IO_LAYOUTS[0];
            let config = BufferConfig {
                sample_rate: SR,
                min_buffer_size: Some(1),
                max_buffer_size: MAX_BLOCK as u32,
                process_mode: ProcessMode::Realtime,
            };
            assert!(plugin.activate(&layout, &config, &mut Activation));
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

/// Writes a valid weights file whose model differs from the embedded one: the embedded
/// vocabulary under a small random network.
fn write_alternative_weights(path: &std::path::Path) {
    use jazz_synth::lstm::{LstmParams, Model, Provenance};
    let vocab = jazz_synth::weights::default_model().vocab().to_vec();
    let (n, h) = (vocab.len(), 16);
    let mut params = LstmParams::zeros(n, h);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut fill = |v: &mut Vec<f32>, scale: f32| {
        for x in v.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *x = ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
        }
    };
    fill(&mut params.kernel, 1.0);
    fill(&mut params.recurrent_kernel, 0.5);
    fill(&mut params.bias, 0.2);
    fill(&mut params.dense_kernel, 2.0);
    fill(&mut params.dense_bias, 0.5);
    let model = Model::new(params, vocab, Provenance::default()).expect("a valid model");
    jazz_synth::weights::save_atomic(&model, path).expect("weights written");
}
