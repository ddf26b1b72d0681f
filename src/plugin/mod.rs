//! The CLAP/VST3 plugin: thin glue between nice-plug and the engine ([`crate::engine`]).
//!
//! Per block, `process()` maps the parameters into `engine::Settings`, the host transport into
//! `engine::Transport` and incoming notes into `engine::MidiIn`, runs the engine, and sends its
//! note events to the host at their sample offsets (and to the preview voice on the audio
//! output). Everything it touches is allocated in `activate()`.
//!
//! Weights: the engine starts with the embedded model. A weights loader thread watches the
//! session's weights path (and `JAZZ_SYNTH_WEIGHTS`), loads and validates files off the audio
//! thread and hands finished models over a bounded channel; `process()` picks one up with
//! `try_recv`, the engine swaps it in at a beat boundary, and the retired model goes back over a
//! second channel so it is dropped on the loader thread. A file that cannot be loaded (vanished,
//! broken) is logged and the embedded default model plays instead.
//!
//! Saved state: [`crate::plugin::state`] sanitizes every state a host loads (`filter_state`).

pub mod editor;
mod loader;
pub mod params;
pub mod state;
pub mod view;

pub use loader::{parse_typed_changes, WeightsSource};
use loader::{LoaderEnds, WeightsLoader};
use view::{LiveView, Panels};

use std::num::NonZeroU32;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use crate::engine::preview::PreviewVoice;
use crate::engine::{self, Engine, MidiIn, Output};
use crate::model::lstm::Model;
use crate::model::weights;
use crate::music::changes::Progression;
use crate::plugin::params::JazzSynthParams;

/// Environment variable naming a weights file, used when the session names none.
pub const WEIGHTS_ENV: &str = "JAZZ_SYNTH_WEIGHTS";

/// Room for note events of one block. A block holds at most a few onsets (one per generated
/// value) plus their note-offs; this leaves a wide margin for 16th-note phrases at fast tempos
/// in large blocks.
const OUTPUT_CAPACITY: usize = 1024;

/// Tempo assumed when a host gives none, in BPM.
const FALLBACK_TEMPO_BPM: f64 = 120.0;

/// The jazz-synth plugin instance.
pub struct JazzSynth {
    params: Arc<JazzSynthParams>,
    /// Created on the first `activate()`; `None` only before that.
    engine: Option<Engine>,
    /// The engine's output for the current block (capacity reserved in `activate()`).
    output: Output,
    /// Note-offs owed to the host from `reset()`/`deactivate()`, sent at sample 0 of the next block.
    owed_offs: Output,
    /// Incoming notes of the current block (capacity reserved in `activate()`).
    midi_in: Vec<MidiIn>,
    preview: PreviewVoice,
    bypassed: bool,
    /// Audio-thread ends of the model channels and the loader thread, started in `activate()`.
    link: Option<ModelLink>,
    loader: Option<WeightsLoader>,
    /// A model has been queued in the engine and not yet swapped in; no second one is queued
    /// meanwhile, so no model is ever dropped on the audio thread.
    swap_pending: bool,
    /// A retired model the return channel had no room for yet; sent on a later block.
    retired: Option<Box<Model>>,
    /// How many models have been swapped in and retired since creation.
    swaps: u64,
    /// Replaced changes the return channel had no room for yet.
    old_changes: Option<Option<Progression>>,
    /// What the editor shows: published here (live view) and by the loader (panels).
    live: Arc<LiveView>,
    panels: Arc<Panels>,
}

impl Default for JazzSynth {
    fn default() -> Self {
        Self {
            params: Arc::new(JazzSynthParams::default()),
            engine: None,
            output: Output::with_capacity(0),
            owed_offs: Output::with_capacity(0),
            midi_in: Vec::new(),
            preview: PreviewVoice::new(48_000.0),
            bypassed: false,
            link: None,
            loader: None,
            swap_pending: false,
            retired: None,
            swaps: 0,
            old_changes: None,
            live: Arc::new(LiveView::default()),
            panels: Arc::new(Panels::default()),
        }
    }
}

impl JazzSynth {
    /// The parameters (shared with the host wrapper).
    pub fn params_handle(&self) -> Arc<JazzSynthParams> {
        self.params.clone()
    }

    /// How many loaded models have replaced the playing one so far (diagnostics, tests).
    pub fn model_swaps(&self) -> u64 {
        self.swaps
    }

    /// The engine (diagnostics, tests): its model state, settings and sounding note. `None`
    /// before the first `activate()`.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// What the engine produced in the last processed block: its note events (sorted by
    /// sample) and every value generated, rests included (diagnostics, tests).
    pub fn last_output(&self) -> &Output {
        &self.output
    }

    /// What the editor's live panel reads.
    pub fn live_view(&self) -> Arc<LiveView> {
        self.live.clone()
    }

    /// What the editor's model and changes panels read.
    pub fn panels(&self) -> Arc<Panels> {
        self.panels.clone()
    }

    /// Takes typed changes from the loader (the engine starts them at the next bar) and hands
    /// the changes they replace back to the loader, to be dropped there.
    fn exchange_changes(&mut self) {
        let (Some(link), Some(engine)) = (&self.link, &mut self.engine) else {
            return;
        };
        if let Ok(changes) = link.changes.try_recv() {
            engine.queue_progression(changes);
        }
        if self.old_changes.is_none() {
            self.old_changes = engine.take_retired_changes();
        }
        if let Some(old) = self.old_changes.take() {
            if let Err(TrySendError::Full(old)) | Err(TrySendError::Disconnected(old)) =
                link.old_changes.try_send(old)
            {
                self.old_changes = Some(old);
            }
        }
    }

    /// Publishes the block's position, chord and values for the editor (atomics only).
    fn publish(&self, transport: &engine::Transport) {
        let Some(engine) = &self.engine else {
            return;
        };
        let position = transport.position_beats.unwrap_or(0.0);
        let (bar, beat) = engine.bar_and_beat(position);
        self.live.set_position(transport.playing, bar, beat);
        match self.output.generated.last() {
            Some(g) => self.live.set_chord(&g.chord),
            None if transport.playing => self.live.set_chord(&engine.chord_at(position)),
            None => {}
        }
        for g in &self.output.generated {
            self.live.push(g, engine.model());
        }
    }

    /// Takes a freshly loaded model, if the loader has one and no swap is pending.
    fn receive_model(&mut self) {
        let (Some(link), Some(engine)) = (&self.link, &mut self.engine) else {
            return;
        };
        if self.swap_pending {
            return;
        }
        if let Ok(model) = link.fresh.try_recv() {
            engine.queue_model(model);
            self.swap_pending = true;
        }
    }

    /// Hands the engine's retired model (if any) back to the loader thread to be dropped there.
    fn return_retired(&mut self) {
        if let Some(old) = self.engine.as_mut().and_then(Engine::take_retired) {
            self.swap_pending = false;
            self.swaps += 1;
            match self.retired.take() {
                None => self.retired = Some(old),
                // Only one swap is ever in flight, so this is one retired model too many: rather
                // than free it here, leak it. Unreachable unless the engine retires on its own.
                Some(older) => {
                    self.retired = Some(older);
                    std::mem::forget(old);
                }
            }
        }
        if let (Some(model), Some(link)) = (self.retired.take(), &self.link) {
            match link.retired.try_send(model) {
                Ok(()) => {}
                Err(TrySendError::Full(model)) | Err(TrySendError::Disconnected(model)) => {
                    self.retired = Some(model)
                }
            }
        }
    }

    /// Ends whatever sounds; the note-offs go to the host at the start of the next block.
    fn owe_all_notes_off(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.all_notes_off(0, &mut self.owed_offs);
        }
        self.preview.reset();
    }
}

/// Audio-thread ends of the model and changes channels.
struct ModelLink {
    /// Validated models from the loader.
    fresh: Receiver<Box<Model>>,
    /// Retired models back to the loader, to be dropped off the audio thread.
    retired: Sender<Box<Model>>,
    /// Parsed typed changes from the loader (None: the built-in progression).
    changes: Receiver<Option<Progression>>,
    /// Replaced changes back to the loader.
    old_changes: Sender<Option<Progression>>,
}

/// Converts nice-plug's transport into the engine's.
fn engine_transport(t: &Transport) -> engine::Transport {
    engine::Transport {
        playing: t.playing,
        tempo_bpm: t
            .tempo
            .filter(|bpm| bpm.is_finite() && *bpm > 0.0)
            .unwrap_or(FALLBACK_TEMPO_BPM),
        position_beats: t.pos_beats().filter(|beats| beats.is_finite()),
        time_sig: (
            t.time_sig_numerator.filter(|n| *n > 0).unwrap_or(4) as u32,
            t.time_sig_denominator.filter(|d| *d > 0).unwrap_or(4) as u32,
        ),
        // nice-plug derives these from the position and time signature when the host gives
        // only those; the engine checks them.
        bar: t
            .bar_start_pos_beats()
            .zip(t.bar_number())
            .map(|(start, n)| (start, i64::from(n))),
    }
}

/// Converts a host note event into the engine's input; anything but a note is ignored. A
/// note-on at velocity 0 (or a velocity that is not a number) is a note-off, as in MIDI: hosts
/// pass such events through as note-ons, and treating them as presses would leave the key held
/// in the chord the engine reads from the MIDI input. A velocity above 0 is at least 1.
fn engine_midi_in(event: &PluginNoteEvent<JazzSynth>) -> Option<MidiIn> {
    match *event {
        NoteEvent::NoteOn {
            timing,
            channel,
            key: Key::Number(note),
            velocity,
            ..
        } if velocity > 0.0 => Some(MidiIn::NoteOn {
            sample: timing,
            channel: channel.number().unwrap_or(0) & 0x0F,
            note,
            velocity: (velocity * 127.0).round().clamp(1.0, 127.0) as u8,
        }),
        NoteEvent::NoteOn {
            timing,
            channel,
            key: Key::Number(note),
            ..
        }
        | NoteEvent::NoteOff {
            timing,
            channel,
            key: Key::Number(note),
            ..
        } => Some(MidiIn::NoteOff {
            sample: timing,
            channel: channel.number().unwrap_or(0) & 0x0F,
            note,
        }),
        _ => None,
    }
}

/// Stable in-place sort by sample offset (insertion sort: no allocation, and a note-off keeps
/// its place before a note-on at the same sample).
fn sort_by_sample(events: &mut [engine::NoteEvent]) {
    for i in 1..events.len() {
        let mut j = i;
        while j > 0 && events[j - 1].sample() > events[j].sample() {
            events.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sends engine note events to the host, their timing clamped into the block.
fn send_to_host(
    events: &[engine::NoteEvent],
    n_samples: u32,
    context: &mut impl ProcessContext<JazzSynth>,
) {
    let last = n_samples.saturating_sub(1);
    for event in events {
        let host_event = match *event {
            engine::NoteEvent::On {
                sample,
                channel,
                note,
                velocity,
            } => NoteEvent::NoteOn {
                timing: sample.min(last),
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(channel.min(15)),
                key: Key::Number(note.min(127)),
                velocity: velocity.min(127) as f32 / 127.0,
            },
            engine::NoteEvent::Off {
                sample,
                channel,
                note,
            } => NoteEvent::NoteOff {
                timing: sample.min(last),
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(channel.min(15)),
                key: Key::Number(note.min(127)),
                velocity: 0.0,
            },
        };
        // A full host queue cannot be helped from here, and logging would allocate.
        let _ = context.try_send_event(host_event);
    }
}

/// Feeds one engine note event to the preview voice.
fn play_preview(preview: &mut PreviewVoice, event: &engine::NoteEvent) {
    match *event {
        engine::NoteEvent::On { note, velocity, .. } => preview.note_on(note, velocity),
        engine::NoteEvent::Off { note, .. } => preview.note_off(note),
    }
}

impl Plugin for JazzSynth {
    const NAME: &'static str = "jazz-synth";
    const VENDOR: &'static str = "jazz-synth";
    const URL: &'static str = "https://github.com/jazz-synth/jazz-synth";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: None,
        main_output_channels: NonZeroU32::new(2),
        aux_input_ports: &[],
        aux_output_ports: &[],
        names: PortNames {
            layout: Some("Stereo preview"),
            main_input: None,
            main_output: Some("Preview"),
            aux_inputs: &[],
            aux_outputs: &[],
        },
    }];

    const MIDI_INPUT: MidiConfig = MidiConfig::Basic;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = editor::Editor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.live.clone(), self.panels.clone())
    }

    /// Called by nice-plug (on the main thread) with every parsed state before it is applied:
    /// see [`crate::plugin::state`]. Whatever was changed is logged, then the state loads.
    fn filter_state(state: &mut PluginState) {
        for warning in crate::plugin::state::sanitize(state) {
            nice_warn!("jazz-synth: {warning}");
        }
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let sample_rate = buffer_config.sample_rate;
        match &mut self.engine {
            Some(engine) => engine.set_sample_rate(sample_rate as f64),
            None => {
                let model = Box::new(weights::default_model());
                self.engine = Some(Engine::new(
                    model,
                    self.params.engine_settings(),
                    sample_rate as f64,
                ));
                self.output = Output::with_capacity(OUTPUT_CAPACITY);
                self.owed_offs = Output::with_capacity(OUTPUT_CAPACITY);
                self.midi_in = Vec::with_capacity(Self::INPUT_EVENT_CAPACITY);
            }
        }
        self.preview.set_sample_rate(sample_rate);

        if self.loader.is_none() {
            // One model in flight at a time; a few retired ones may wait for the next poll.
            let (fresh_tx, fresh_rx) = crossbeam_channel::bounded(1);
            let (retired_tx, retired_rx) = crossbeam_channel::bounded(4);
            let (changes_tx, changes_rx) = crossbeam_channel::bounded(1);
            let (old_changes_tx, old_changes_rx) = crossbeam_channel::bounded(4);
            let ends = LoaderEnds {
                fresh: fresh_tx,
                retired: retired_rx,
                changes: changes_tx,
                old_changes: old_changes_rx,
            };
            match WeightsLoader::spawn(self.params.clone(), ends, self.panels.clone()) {
                Ok(loader) => {
                    self.loader = Some(loader);
                    self.link = Some(ModelLink {
                        fresh: fresh_rx,
                        retired: retired_tx,
                        changes: changes_rx,
                        old_changes: old_changes_tx,
                    });
                }
                // Without a loader the embedded model still plays.
                Err(err) => nice_error!("jazz-synth: could not start the weights loader: {err}"),
            }
        }
        true
    }

    fn reset(&mut self) {
        self.owe_all_notes_off();
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
    }

    fn stop_processing(&mut self) {
        self.owe_all_notes_off();
    }

    fn deactivate(&mut self) {
        self.owe_all_notes_off();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let n = buffer.samples();
        if n == 0 {
            return ProcessStatus::KeepAlive;
        }
        let n_samples = n as u32;

        self.receive_model();
        self.exchange_changes();

        self.midi_in.clear();
        while let Some(event) = context.next_event() {
            if self.midi_in.len() == self.midi_in.capacity() {
                // Never grow on the audio thread; a chord needs only a handful of notes.
                continue;
            }
            if let Some(event) = engine_midi_in(&event) {
                self.midi_in.push(event);
            }
        }

        // Notes owed from reset/deactivate end first, at sample 0.
        send_to_host(&self.owed_offs.notes, n_samples, context);
        for event in &self.owed_offs.notes {
            play_preview(&mut self.preview, event);
        }
        self.owed_offs.clear();

        self.output.clear();
        let mut played = None;
        if let Some(engine) = &mut self.engine {
            engine.set_settings(&self.params.engine_settings());
            if self.params.bypass.value() {
                if !self.bypassed {
                    engine.all_notes_off(0, &mut self.output);
                    self.preview.release();
                }
                self.bypassed = true;
            } else {
                self.bypassed = false;
                let transport = engine_transport(context.transport());
                engine.process(&transport, n_samples, &self.midi_in, &mut self.output);
                played = Some(transport);
            }
        }
        if let Some(transport) = played {
            self.publish(&transport);
        }
        self.return_retired();

        sort_by_sample(&mut self.output.notes);
        send_to_host(&self.output.notes, n_samples, context);

        // The preview voice, sample-accurate with the events just sent.
        let preview_on = self.params.preview_on.value() && !self.bypassed;
        if !preview_on {
            self.preview.release();
        }
        let channels = buffer.as_slice();
        let Some((first, rest)) = channels.split_first_mut() else {
            return ProcessStatus::KeepAlive;
        };
        let mut next = 0;
        let events = &self.output.notes;
        for (i, out) in first.iter_mut().enumerate() {
            while next < events.len() && events[next].sample() as usize <= i {
                if preview_on || matches!(events[next], engine::NoteEvent::Off { .. }) {
                    play_preview(&mut self.preview, &events[next]);
                }
                next += 1;
            }
            let gain = self.params.preview_volume.smoothed.next();
            *out = self.preview.next_sample() * gain;
        }
        for event in &events[next..] {
            if preview_on || matches!(event, engine::NoteEvent::Off { .. }) {
                play_preview(&mut self.preview, event);
            }
        }
        for channel in rest.iter_mut() {
            channel.copy_from_slice(first);
        }

        // The solo keeps coming without any input: never let the host put us to sleep.
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for JazzSynth {
    const CLAP_ID: &'static str = "io.github.jazz-synth.jazz-synth";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("An LSTM that improvises a jazz solo over chord changes, one value per beat");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::NoteEffect,
        ClapFeature::Instrument,
        ClapFeature::Synthesizer,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for JazzSynth {
    const VST3_CLASS_ID: [u8; 16] = *b"JazzSynthLSTM-01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Generator];
}

nice_export_clap!(JazzSynth);
nice_export_vst3!(JazzSynth);

#[cfg(test)]
mod tests {
    use super::*;

    fn on(sample: u32, note: u8) -> engine::NoteEvent {
        engine::NoteEvent::On {
            sample,
            channel: 0,
            note,
            velocity: 100,
        }
    }

    fn off(sample: u32, note: u8) -> engine::NoteEvent {
        engine::NoteEvent::Off {
            sample,
            channel: 0,
            note,
        }
    }

    #[test]
    fn events_are_sorted_by_sample_keeping_offs_before_ons() {
        let mut events = [on(300, 64), off(10, 60), off(300, 62), on(10, 62)];
        sort_by_sample(&mut events);
        assert_eq!(events, [off(10, 60), on(10, 62), on(300, 64), off(300, 62)]);
    }

    #[test]
    fn a_note_on_at_velocity_zero_is_a_note_off() {
        let note_on = |velocity: f32| NoteEvent::NoteOn {
            timing: 7,
            voice_id: VoiceID::Wildcard,
            channel: Channel::Number(3),
            key: Key::Number(60),
            velocity,
        };
        let off = Some(MidiIn::NoteOff {
            sample: 7,
            channel: 3,
            note: 60,
        });
        assert_eq!(engine_midi_in(&note_on(0.0)), off);
        assert_eq!(engine_midi_in(&note_on(f32::NAN)), off);
        let pressed = |velocity| {
            Some(MidiIn::NoteOn {
                sample: 7,
                channel: 3,
                note: 60,
                velocity,
            })
        };
        // The softest press that is not zero still presses.
        assert_eq!(engine_midi_in(&note_on(0.001)), pressed(1));
        assert_eq!(engine_midi_in(&note_on(1.0)), pressed(127));
        assert_eq!(
            engine_midi_in(&NoteEvent::NoteOff {
                timing: 7,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(3),
                key: Key::Number(60),
                velocity: 0.5,
            }),
            off
        );
        assert_eq!(
            engine_midi_in(&NoteEvent::Choke {
                timing: 7,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(0),
                key: Key::Number(60),
            }),
            None
        );
    }

    #[test]
    fn the_session_path_wins_over_the_environment() {
        assert_eq!(
            WeightsSource::resolve("/a.safetensors", Some("/b.safetensors".into())),
            (WeightsSource::File("/a.safetensors".into()), false)
        );
        assert_eq!(
            WeightsSource::resolve("", Some("/b.safetensors".into())),
            (WeightsSource::File("/b.safetensors".into()), true)
        );
        assert_eq!(
            WeightsSource::resolve("  ", Some("".into())),
            (WeightsSource::Embedded, false)
        );
        assert_eq!(
            WeightsSource::resolve("", None),
            (WeightsSource::Embedded, false)
        );
    }

    #[test]
    fn a_missing_weights_file_is_an_error_naming_it() {
        let err = WeightsSource::File("/nonexistent/solo.safetensors".into())
            .load()
            .unwrap_err();
        assert!(err.contains("/nonexistent/solo.safetensors"), "{err}");
    }

    #[test]
    fn vst3_hosts_file_it_under_instrument_and_generator() {
        let info = nice_plug::wrapper::vst3::PluginInfo::for_plugin::<JazzSynth>();
        assert_eq!(info.subcategories, "Instrument|Generator");
        assert_eq!(info.name, "jazz-synth");
    }

    #[test]
    fn host_transport_without_tempo_or_position_is_safe() {
        let t = Transport::new(48_000.0);
        let e = engine_transport(&t);
        assert_eq!(e.tempo_bpm, FALLBACK_TEMPO_BPM);
        assert_eq!(e.position_beats, None);
        assert_eq!(e.time_sig, (4, 4));
        assert_eq!(e.bar, None);
        assert!(!e.playing);
    }
}
