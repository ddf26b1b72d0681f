//! A small CLAP host built on clack-host: loads the jazz-synth plugin binary that cargo built
//! for this test run, drives it with a real CLAP transport and collects its note output.
//!
//! The plugin binary is, in order:
//! 1. `$JAZZ_SYNTH_CLAP` if set (e.g. CI pointing at `target/bundled/jazz-synth.clap`);
//! 2. the crate's cdylib next to this test executable (`target/<profile>/deps/`), which cargo
//!    builds together with the rlib for every `cargo test`, so a clean clone needs nothing else;
//! 3. the cdylib one level up (`target/<profile>/`).
#![allow(dead_code)] // Each test binary uses part of the harness.

use std::ffi::CStr;
use std::io::Cursor;
use std::path::PathBuf;

use clack_host::events::event_types::{
    NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::{EventFlags, EventHeader, Match};
use clack_host::extensions::prelude::*;
use clack_host::prelude::*;
use clack_host::stream::{InputStream, OutputStream};
use clack_host::utils::FixedPoint;
use clap_sys::ext::state::{clap_plugin_state, CLAP_EXT_STATE};

#[allow(unused_imports)] // for the binaries that use the harness only
pub use super::alt_weights::write_alternative_weights;

pub const PLUGIN_ID: &CStr = c"io.github.jazz-synth.jazz-synth";
/// Largest block the tests ask for, in samples.
pub const MAX_BLOCK: usize = 4096;

/// The features and name the plugin binary's CLAP descriptor announces.
pub fn descriptor_features() -> (String, Vec<String>) {
    let path = plugin_binary();
    // SAFETY: the path names the plugin binary this test suite was built with.
    let entry = unsafe { PluginEntry::load(&path) }.expect("plugin binary loads");
    let factory = entry.get_plugin_factory().expect("a plugin factory");
    let descriptor = factory
        .plugin_descriptors()
        .find(|d| d.id() == Some(PLUGIN_ID))
        .expect("jazz-synth is in the factory");
    let name = descriptor.name().unwrap().to_string_lossy().into_owned();
    let features = descriptor
        .features()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    (name, features)
}

/// Where the plugin binary under test is (see the module docs).
pub fn plugin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("JAZZ_SYNTH_CLAP") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let name = format!(
        "{}jazz_synth{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let deps = exe.parent().expect("test executable directory");
    let candidates = [deps.join(&name), deps.parent().unwrap_or(deps).join(&name)];
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "the jazz-synth plugin binary was not found at {candidates:?}; \
         cargo builds it with `cargo test` (crate-type cdylib), or set JAZZ_SYNTH_CLAP"
    );
}

pub struct TestShared;

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGuiExt>();
    }
}

/// The host side of the CLAP GUI extension (a plugin editor needs it to ask for resizes and
/// report its window closed). This host grants every resize and ignores the rest.
#[derive(Copy, Clone)]
pub struct HostGuiExt(RawExtension<HostExtensionSide, clap_sys::ext::gui::clap_host_gui>);

// SAFETY: CLAP_EXT_GUI is the identifier of `clap_host_gui`.
unsafe impl Extension for HostGuiExt {
    const IDENTIFIERS: &'static [&'static CStr] = &[clap_sys::ext::gui::CLAP_EXT_GUI];
    type ExtensionSide = HostExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        // SAFETY: the caller guarantees the pointer matches the identifier.
        Self(unsafe { raw.cast() })
    }
}

unsafe extern "C" fn gui_hints_changed(_host: *const clap_sys::host::clap_host) {}
unsafe extern "C" fn gui_request_resize(
    _host: *const clap_sys::host::clap_host,
    _width: u32,
    _height: u32,
) -> bool {
    true
}
unsafe extern "C" fn gui_request_show(_host: *const clap_sys::host::clap_host) -> bool {
    true
}
unsafe extern "C" fn gui_request_hide(_host: *const clap_sys::host::clap_host) -> bool {
    true
}
unsafe extern "C" fn gui_closed(_host: *const clap_sys::host::clap_host, _destroyed: bool) {}

static HOST_GUI: clap_sys::ext::gui::clap_host_gui = clap_sys::ext::gui::clap_host_gui {
    resize_hints_changed: Some(gui_hints_changed),
    request_resize: Some(gui_request_resize),
    request_show: Some(gui_request_show),
    request_hide: Some(gui_request_hide),
    closed: Some(gui_closed),
};

// SAFETY: HOST_GUI is a valid `clap_host_gui` for the whole program.
unsafe impl ExtensionImplementation<TestHost> for HostGuiExt {
    const IMPLEMENTATION: RawExtensionImplementation = RawExtensionImplementation::new(&HOST_GUI);
}

/// The plugin side of the CLAP state extension.
#[derive(Copy, Clone)]
pub struct PluginStateExt(RawExtension<PluginExtensionSide, clap_plugin_state>);

// SAFETY: CLAP_EXT_STATE is the identifier of `clap_plugin_state`.
unsafe impl Extension for PluginStateExt {
    const IDENTIFIERS: &'static [&'static CStr] = &[CLAP_EXT_STATE];
    type ExtensionSide = PluginExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        // SAFETY: the caller guarantees the pointer matches the identifier.
        Self(unsafe { raw.cast() })
    }
}

/// A note event the plugin sent, at an absolute sample position of the session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Note {
    pub sample: u64,
    pub on: bool,
    pub key: i16,
    pub channel: i16,
    pub velocity: f64,
}

/// One running plugin instance, activated and processing.
pub struct Host {
    instance: PluginInstance<TestHost>,
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
    _entry: PluginEntry,
    pub sample_rate: f64,
    out_events: EventBuffer,
    audio: [Vec<f32>; 2],
    ports: AudioPorts,
    /// Absolute position of the next block, in samples.
    pub sample: u64,
    /// The left channel of every block processed, in order.
    pub audio_out: Vec<f32>,
}

impl Host {
    /// Loads the plugin binary, instantiates jazz-synth and activates it at `sample_rate` Hz.
    pub fn new(sample_rate: f64) -> Host {
        Self::with_state(sample_rate, None)
    }

    /// Like [`Host::new`], restoring `state` (as a DAW opening a project) before activation.
    pub fn with_state(sample_rate: f64, state: Option<&[u8]>) -> Host {
        let path = plugin_binary();
        // SAFETY: the path names the plugin binary this test suite was built with.
        let entry = unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("loading {}: {e:?}", path.display()));
        let info = HostInfo::new("jazz-synth test host", "jazz-synth", "", "0.1.0").unwrap();
        let mut instance =
            PluginInstance::<TestHost>::new(|_| TestShared, |_| (), &entry, PLUGIN_ID, &info)
                .expect("jazz-synth instantiates");
        if let Some(state) = state {
            load_state(&mut instance, state);
        }
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: MAX_BLOCK as u32,
        };
        let stopped = instance
            .activate(|_, _| (), config)
            .expect("jazz-synth activates");
        let processor = stopped.start_processing().expect("processing starts");
        Host {
            instance,
            processor: Some(processor),
            _entry: entry,
            sample_rate,
            out_events: EventBuffer::with_capacity(256),
            audio: [vec![0.0; MAX_BLOCK], vec![0.0; MAX_BLOCK]],
            ports: AudioPorts::with_capacity(2, 1),
            sample: 0,
            audio_out: Vec::new(),
        }
    }

    /// Saves the plugin's state through the CLAP state extension.
    pub fn save_state(&mut self) -> Vec<u8> {
        let ext: PluginStateExt = self
            .instance
            .plugin_shared_handle()
            .get_extension()
            .expect("jazz-synth has the state extension");
        let handle = self.instance.plugin_handle();
        let state = handle.shared().use_extension(&ext.0);
        let mut bytes = Vec::new();
        let mut stream = OutputStream::from_writer(&mut bytes);
        // SAFETY: main thread, live instance, valid stream.
        let ok = unsafe { state.save.expect("save")(handle.as_raw(), stream.as_raw_mut()) };
        assert!(ok, "state save failed");
        bytes
    }

    /// Loads a state into the running plugin (as a DAW switching presets).
    pub fn load_state(&mut self, bytes: &[u8]) {
        load_state(&mut self.instance, bytes);
    }

    /// Like [`Host::load_state`], returning whether the plugin accepted the state.
    pub fn try_load_state(&mut self, bytes: &[u8]) -> bool {
        try_load_state(&mut self.instance, bytes)
    }

    /// Processes one block of `frames` samples with `transport` (None: the host gives none),
    /// sending `input` notes `(offset, key, on)`. Returns the plugin's note events.
    pub fn block(
        &mut self,
        frames: usize,
        transport: Option<&TransportEvent>,
        input: &[(u32, u8, bool)],
    ) -> Vec<Note> {
        self.block_with_params(frames, transport, input, &[])
    }

    /// [`Host::block`] that also automates parameters at the block's first sample:
    /// `(string id, CLAP value)` where the CLAP value of a discrete parameter is its step
    /// (e.g. 1.0 for a switched-on bool) and of a continuous one its normalized value.
    pub fn block_with_params(
        &mut self,
        frames: usize,
        transport: Option<&TransportEvent>,
        input: &[(u32, u8, bool)],
        params: &[(&str, f64)],
    ) -> Vec<Note> {
        assert!((1..=MAX_BLOCK).contains(&frames));
        let mut in_events = EventBuffer::with_capacity(input.len() + params.len());
        for &(id, value) in params {
            in_events.push(&ParamValueEvent::new(
                0,
                ClapId::new(param_id(id)),
                Pckn::match_all(),
                value,
            ));
        }
        for &(time, key, on) in input {
            let pckn = Pckn::new(0u16, 0u16, key as u16, Match::<u32>::All);
            if on {
                in_events.push(&NoteOnEvent::new(time, pckn, 0.8));
            } else {
                in_events.push(&NoteOffEvent::new(time, pckn, 0.0));
            }
        }
        self.out_events.clear();
        let [left, right] = &mut self.audio;
        let mut outputs = self.ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                [&mut left[..frames], &mut right[..frames]].into_iter(),
            ),
        }]);
        let processor = self.processor.as_mut().expect("processing");
        processor
            .process(
                &InputAudioBuffers::empty(),
                &mut outputs,
                &in_events.as_input(),
                &mut self.out_events.as_output(),
                Some(self.sample),
                transport,
            )
            .expect("process succeeds");
        self.audio_out.extend_from_slice(&self.audio[0][..frames]);

        let start = self.sample;
        self.sample += frames as u64;
        let mut notes = Vec::new();
        for event in self.out_events.iter() {
            if let Some(on) = event.as_event::<NoteOnEvent>() {
                let raw = on.as_raw();
                notes.push(Note {
                    sample: start + raw.header.time as u64,
                    on: true,
                    key: raw.key,
                    channel: raw.channel,
                    velocity: raw.velocity,
                });
            } else if let Some(off) = event.as_event::<NoteOffEvent>() {
                let raw = off.as_raw();
                notes.push(Note {
                    sample: start + raw.header.time as u64,
                    on: false,
                    key: raw.key,
                    channel: raw.channel,
                    velocity: raw.velocity,
                });
            }
        }
        let times: Vec<u32> = self.out_events.iter().map(|e| e.header().time()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "CLAP output events must be in time order: {times:?}"
        );
        assert!(times.iter().all(|&t| (t as usize) < frames));
        notes
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(processor) = self.processor.take() {
            let stopped = processor.stop_processing();
            self.instance.deactivate(stopped);
        }
    }
}

fn load_state(instance: &mut PluginInstance<TestHost>, bytes: &[u8]) {
    assert!(try_load_state(instance, bytes), "state load failed");
}

/// Loads a state through the CLAP state extension; whether the plugin accepted it.
fn try_load_state(instance: &mut PluginInstance<TestHost>, bytes: &[u8]) -> bool {
    let ext: PluginStateExt = instance
        .plugin_shared_handle()
        .get_extension()
        .expect("jazz-synth has the state extension");
    let handle = instance.plugin_handle();
    let state = handle.shared().use_extension(&ext.0);
    let mut reader = Cursor::new(bytes);
    let mut stream = InputStream::from_reader(&mut reader);
    // SAFETY: main thread, live instance, valid stream.
    unsafe { state.load.expect("load")(handle.as_raw(), stream.as_raw_mut()) }
}

/// The CLAP parameter id nice-plug gives a string parameter id: a Rabin hash with the top bit
/// cleared. Hosts store these ids in projects, so nice-plug cannot change the scheme.
pub fn param_id(id: &str) -> u32 {
    id.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        & !(1 << 31)
}

/// A CLAP transport at `position_beats` (quarter notes), `tempo` BPM, 4/4.
pub fn transport(tempo: f64, position_beats: f64, playing: bool) -> TransportEvent {
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    let bar_start = (position_beats / 4.0).floor() * 4.0;
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: FixedPoint::from_float(position_beats),
        song_pos_seconds: FixedPoint::from_float(position_beats * 60.0 / tempo),
        tempo,
        tempo_inc: 0.0,
        loop_start_beats: FixedPoint::from_int(0),
        loop_end_beats: FixedPoint::from_int(0),
        loop_start_seconds: FixedPoint::from_int(0),
        loop_end_seconds: FixedPoint::from_int(0),
        bar_start: FixedPoint::from_float(bar_start),
        bar_number: (bar_start / 4.0) as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// A CLAP transport with a tempo but no song position (neither beats nor seconds).
pub fn transport_without_position(tempo: f64, playing: bool) -> TransportEvent {
    let mut t = transport(tempo, 0.0, playing);
    t.flags
        .remove(TransportFlags::HAS_BEATS_TIMELINE | TransportFlags::HAS_SECONDS_TIMELINE);
    t
}

/// Samples per beat at `tempo` BPM.
pub fn samples_per_beat(sample_rate: f64, tempo: f64) -> f64 {
    sample_rate * 60.0 / tempo
}

/// Plays from beat 0 for `beats` beats at `tempo`, in blocks sized by `block_size(i)`; the
/// host's position at each block is computed from the block's first sample (as a DAW does).
/// Returns the notes with sample positions relative to the start of playback.
pub fn play(
    host: &mut Host,
    tempo: f64,
    beats: f64,
    mut block_size: impl FnMut(usize) -> usize,
) -> Vec<Note> {
    let spb = samples_per_beat(host.sample_rate, tempo);
    let total = (beats * spb).round() as u64;
    let origin = host.sample;
    let mut notes = Vec::new();
    let mut i = 0;
    while host.sample - origin < total {
        let played = host.sample - origin;
        let frames = block_size(i).min((total - played) as usize);
        i += 1;
        let t = transport(tempo, played as f64 / spb, true);
        notes.extend(host.block(frames, Some(&t), &[]).into_iter().map(|mut n| {
            n.sample -= origin;
            n
        }));
    }
    notes
}

/// Lets the weights loader thread do its work while the transport is stopped (at `tempo`), as a
/// DAW does between opening a project and pressing play; forgets the audio of that time.
pub fn settle(host: &mut Host, tempo: f64) {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(400);
    while std::time::Instant::now() < until {
        stopped(host, tempo, 0.0, 512, 512);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    host.audio_out.clear();
}

/// Keeps processing with the transport stopped at `at_beat` for `frames` samples.
pub fn stopped(
    host: &mut Host,
    tempo: f64,
    at_beat: f64,
    frames: usize,
    block: usize,
) -> Vec<Note> {
    let t = transport(tempo, at_beat, false);
    let mut notes = Vec::new();
    let mut done = 0;
    while done < frames {
        let n = block.min(frames - done);
        notes.extend(host.block(n, Some(&t), &[]));
        done += n;
    }
    notes
}

/// A CLAP state blob as nice-plug writes it (8-byte little-endian length, then JSON) setting the
/// given parameters (string ids, plain values as nice-plug stores them) and persisted fields.
pub fn state_json(params: &[(&str, serde_json::Value)], weights_path: Option<&str>) -> Vec<u8> {
    let params: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(id, v)| (id.to_string(), v.clone()))
        .collect();
    // A state of this version (older formats get compatibility defaults, see plugin::state).
    let mut fields = serde_json::Map::new();
    fields.insert(
        "state-format".into(),
        serde_json::Value::String(jazz_synth::plugin::params::STATE_FORMAT.to_string()),
    );
    if let Some(path) = weights_path {
        fields.insert(
            "weights-path".into(),
            serde_json::Value::String(serde_json::to_string(path).unwrap()),
        );
    }
    let json = serde_json::to_vec(&serde_json::json!({
        "version": "0.1.0",
        "params": params,
        "fields": fields,
    }))
    .unwrap();
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend(json);
    blob
}

/// A CLAP state blob (8-byte little-endian length, then the bytes) around any payload.
pub fn state_blob(payload: &[u8]) -> Vec<u8> {
    let mut blob = (payload.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(payload);
    blob
}

/// The JSON text of a state blob.
pub fn state_text(blob: &[u8]) -> String {
    let length = u64::from_le_bytes(blob[..8].try_into().unwrap()) as usize;
    String::from_utf8(blob[8..8 + length].to_vec()).expect("JSON state")
}

/// Every note-on has a later note-off of the same key, and no two notes sound at once.
pub fn assert_monophonic_and_closed(notes: &[Note]) {
    let mut sounding: Option<&Note> = None;
    for note in notes {
        if note.on {
            assert!(
                sounding.is_none(),
                "{note:?} starts while {sounding:?} still sounds"
            );
            sounding = Some(note);
        } else {
            let on = sounding
                .take()
                .unwrap_or_else(|| panic!("{note:?} ends a note that is not sounding"));
            assert_eq!(on.key, note.key, "note-off for another key");
            assert!(note.sample >= on.sample);
        }
    }
    assert!(sounding.is_none(), "{sounding:?} never ends");
}

/// The plugin side of the CLAP GUI extension.
#[derive(Copy, Clone)]
pub struct PluginGuiExt(RawExtension<PluginExtensionSide, clap_sys::ext::gui::clap_plugin_gui>);

// SAFETY: CLAP_EXT_GUI is the identifier of `clap_plugin_gui`.
unsafe impl Extension for PluginGuiExt {
    const IDENTIFIERS: &'static [&'static CStr] = &[clap_sys::ext::gui::CLAP_EXT_GUI];
    type ExtensionSide = PluginExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        // SAFETY: the caller guarantees the pointer matches the identifier.
        Self(unsafe { raw.cast() })
    }
}

/// One call of the CLAP GUI extension, as a host makes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GuiCall {
    Create,
    /// Embeds the window in this X11 window.
    SetParent(u32),
    SetScale(f64),
    SetSize(u32, u32),
    GetSize,
    CanResize,
    Show,
    Hide,
    Destroy,
}

impl Host {
    /// Makes one GUI call on the main thread (as hosts do) and returns what the plugin answered
    /// (`true` for calls that return nothing), plus the size for `GetSize`.
    pub fn gui(&mut self, call: GuiCall) -> (bool, Option<(u32, u32)>) {
        use clap_sys::ext::gui::{clap_window, clap_window_handle, CLAP_WINDOW_API_X11};
        let ext: PluginGuiExt = self
            .instance
            .plugin_shared_handle()
            .get_extension()
            .expect("jazz-synth has the GUI extension");
        let handle = self.instance.plugin_handle();
        let gui = handle.shared().use_extension(&ext.0);
        let plugin = handle.as_raw();
        // SAFETY: main thread, live instance, arguments valid for each call.
        unsafe {
            match call {
                GuiCall::Create => (
                    gui.create.expect("create")(plugin, CLAP_WINDOW_API_X11.as_ptr(), false),
                    None,
                ),
                GuiCall::SetParent(window) => {
                    let w = clap_window {
                        api: CLAP_WINDOW_API_X11.as_ptr(),
                        specific: clap_window_handle {
                            x11: window as std::ffi::c_ulong,
                        },
                    };
                    (gui.set_parent.expect("set_parent")(plugin, &w), None)
                }
                GuiCall::SetScale(scale) => {
                    (gui.set_scale.expect("set_scale")(plugin, scale), None)
                }
                GuiCall::SetSize(w, h) => (gui.set_size.expect("set_size")(plugin, w, h), None),
                GuiCall::GetSize => {
                    let (mut w, mut h) = (0u32, 0u32);
                    let ok = gui.get_size.expect("get_size")(plugin, &mut w, &mut h);
                    (ok, ok.then_some((w, h)))
                }
                GuiCall::CanResize => (gui.can_resize.expect("can_resize")(plugin), None),
                GuiCall::Show => (gui.show.expect("show")(plugin), None),
                GuiCall::Hide => (gui.hide.expect("hide")(plugin), None),
                GuiCall::Destroy => {
                    gui.destroy.expect("destroy")(plugin);
                    (true, None)
                }
            }
        }
    }
}
