//! Drives the plugin's `process()` directly, as a host would, with only `process()` inside
//! `assert_no_alloc`. A test binary using it installs `AllocDisabler` as its global allocator,
//! so an allocation on the audio path aborts the test.
#![allow(dead_code)] // Each test binary uses part of it.

use assert_no_alloc::assert_no_alloc;
use jazz_synth::plugin::params::JazzSynthParams;
use jazz_synth::plugin::JazzSynth;
use nice_plug::context::process::SendEventError;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

pub const SR: f32 = 48_000.0;
pub const MAX_BLOCK: usize = 4096;

/// The host side of one `process()` call: transport, incoming notes, and a preallocated list
/// for the plugin's outgoing notes.
pub struct Context {
    pub transport: Transport,
    pub input: Vec<PluginNoteEvent<JazzSynth>>,
    pub next_input: usize,
    pub sent: Vec<PluginNoteEvent<JazzSynth>>,
}

impl Context {
    pub fn new() -> Self {
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

pub struct Activation;

impl ActivateContext<JazzSynth> for Activation {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// A new plugin, activated at [`SR`] for blocks up to [`MAX_BLOCK`] and reset, as a host starts it.
pub fn activated() -> JazzSynth {
    let mut plugin = JazzSynth::default();
    activate(&mut plugin);
    plugin.reset();
    plugin
}

/// Activates `plugin` at [`SR`] for blocks of 1 to [`MAX_BLOCK`] samples.
pub fn activate(plugin: &mut JazzSynth) {
    let layout = JazzSynth::AUDIO_IO_LAYOUTS[0];
    let config = BufferConfig {
        sample_rate: SR,
        min_buffer_size: Some(1),
        max_buffer_size: MAX_BLOCK as u32,
        process_mode: ProcessMode::Realtime,
    };
    assert!(plugin.activate(&layout, &config, &mut Activation));
}

/// Sets a parameter to a plain value, as a host would through automation.
pub fn set_param(params: &JazzSynthParams, id: &str, plain: f32) {
    let map = params.param_map();
    let (_, ptr, _) = map.iter().find(|(i, ..)| i == id).expect("parameter id");
    unsafe {
        let normalized = ptr.preview_normalized(plain);
        ptr._internal_set_normalized_value(normalized);
    }
}

/// Runs one block of `frames` samples; only `process()` itself is inside `assert_no_alloc`.
pub fn block(
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
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A note-on (`on`) or note-off as a host sends it, on MIDI `channel` (0-15).
pub fn note_event(on: bool, timing: u32, channel: u8, key: u8, velocity: f32) -> NoteEvent<()> {
    let (voice_id, channel, key) = (
        VoiceID::Wildcard,
        Channel::Number(channel),
        Key::Number(key),
    );
    if on {
        NoteEvent::NoteOn {
            timing,
            voice_id,
            channel,
            key,
            velocity,
        }
    } else {
        NoteEvent::NoteOff {
            timing,
            voice_id,
            channel,
            key,
            velocity,
        }
    }
}
