//! The JACK front end: a client with a MIDI output port whose events carry
//! the engine's exact frame offsets (sample-accurate), optionally following
//! JACK transport, sending MIDI clock, and reading chords from a MIDI input.
//!
//! The process callback owns the engine and only reads and writes
//! preallocated state; the main thread prints the log lines it is handed
//! through a bounded lock-free channel.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::engine::{samples_per_beat, Generated, MidiIn, Rhythm, Transport};
use crate::standalone::driver::{BlockDriver, Scheduled};
use crate::standalone::live::{self, StopReason};
use crate::standalone::midiclock;
use crate::standalone::ports::{self, choose_port, PortError};
use crate::standalone::session::Setup;

/// Options of one JACK run.
#[derive(Clone, Debug)]
pub struct JackOptions {
    /// The JACK client name (JACK appends a number if it is taken).
    pub client_name: String,
    /// A JACK MIDI input port to connect the output to (`--midi-out`), by
    /// full name, part of a name or index.
    pub connect_out: Option<String>,
    /// A JACK MIDI output port to read chords from (`--chords-in`).
    pub chords_from: Option<String>,
    /// A JACK MIDI output port to hear the player's call from (`--call-in`).
    pub call_from: Option<String>,
    /// Follow JACK transport (rolling/stopped, position, tempo) instead of
    /// running from the first cycle at the setup's tempo.
    pub follow_transport: bool,
    /// Send MIDI clock (24 per quarter note) with start and stop.
    pub clock_out: bool,
    /// Stop after this many bars; `None` = until interrupted.
    pub bars: Option<u32>,
    /// Print a line per generated value.
    pub print_notes: bool,
}

impl Default for JackOptions {
    fn default() -> Self {
        JackOptions {
            client_name: "jazz-synth".into(),
            connect_out: None,
            chords_from: None,
            call_from: None,
            follow_transport: false,
            clock_out: false,
            bars: None,
            print_notes: true,
        }
    }
}

/// What a JACK run did.
#[derive(Clone, Debug)]
pub struct JackReport {
    pub reason: StopReason,
    /// The client's name as JACK registered it.
    pub client_name: String,
    pub sample_rate: u32,
    pub buffer_size: u32,
    /// Note-ons written.
    pub notes: usize,
    /// Values generated (notes and rests).
    pub values: usize,
    /// For one value per beat on the own clock: the largest distance of a
    /// note-on from its beat's frame (0 = sample-accurate).
    pub max_beat_error_frames: Option<u64>,
    /// Events JACK refused (port buffer full).
    pub lost_events: usize,
    /// Longest process callback, microseconds (the budget is one period).
    pub max_cycle_us: f64,
    /// Cycles the server skipped us (overload); notes due in them are lost.
    pub skipped_cycles: usize,
}

/// Why the JACK player could not run.
#[derive(Debug)]
pub enum JackError {
    /// A port named on the command line does not exist (exit code 2).
    Port(PortError),
    /// No JACK server, or the server went away.
    Server(String),
}

impl fmt::Display for JackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JackError::Port(e) => e.fmt(f),
            JackError::Server(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for JackError {}

fn no_server(e: &jack::Error) -> String {
    format!(
        "cannot connect to a JACK server ({e}). Start one first, e.g. `jackd -d alsa` (or \
         `jackd -d dummy -r 48000 -p 256` without sound hardware), or play through ALSA with \
         --midi-out/--virtual instead of --jack."
    )
}

/// The JACK MIDI ports of a running server: (inputs, outputs). `None` when
/// no server answers. Never starts a server.
pub fn midi_ports() -> Option<(Vec<String>, Vec<String>)> {
    let (client, _) =
        jack::Client::new("jazz-synth-ls", jack::ClientOptions::NO_START_SERVER).ok()?;
    let inputs = client.ports(None, Some("midi"), jack::PortFlags::IS_INPUT);
    let outputs = client.ports(None, Some("midi"), jack::PortFlags::IS_OUTPUT);
    Some((inputs, outputs))
}

/// A generated value and its frame counted from the first played frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogEvent {
    pub frame: u64,
    /// Quarter notes on the transport the engine played.
    pub position_beats: f64,
    pub generated: Generated,
}

/// State shared between the process callback and the main thread; atomics only.
#[derive(Default)]
struct Shared {
    /// Set by the main thread once the ports are connected: play from the next cycle.
    start: AtomicBool,
    /// Ctrl-C: end what sounds at the next cycle's first frame.
    stop_request: AtomicBool,
    /// The process callback has sent its last messages.
    finished: AtomicBool,
    /// Why it finished: 1 = bars played, 2 = stop request.
    finish_reason: AtomicUsize,
    notes: AtomicUsize,
    lost: AtomicUsize,
    /// The JACK server shut the client down.
    server_gone: AtomicBool,
    /// Frame time (JACK's clock) of the first played frame.
    start_frame: AtomicU64,
    /// Longest process callback so far, nanoseconds.
    max_cycle_ns: AtomicU64,
    /// Cycles JACK did not run us for (frame time advanced by more than a period).
    skipped_cycles: AtomicUsize,
}

struct Notifications {
    shared: Arc<Shared>,
}

impl jack::NotificationHandler for Notifications {
    unsafe fn shutdown(&mut self, _status: jack::ClientStatus, _reason: &str) {
        self.shared.server_gone.store(true, Ordering::SeqCst);
    }
}

/// A gap of up to this many periods is caught up (played late); a longer
/// one is treated as a jump.
const MAX_CATCH_UP_PERIODS: u64 = 8;

/// The most messages one cycle can carry; more than any tempo and buffer
/// size produce (24 clock ticks per beat plus a few notes).
const MAX_MESSAGES: usize = 1024;

/// What the JACK client does each cycle, apart from the JACK API: tests
/// drive it with made-up frame times (skipped cycles, stops) and read the
/// messages it schedules.
struct Core {
    driver: BlockDriver,
    midi_in: Vec<MidiIn>,
    /// The messages of the current cycle, in the order to write them.
    scheduled: Vec<Scheduled>,
    log: Sender<LogEvent>,
    /// Frames since the first played cycle, from JACK's frame time.
    played: u64,
    /// JACK frame time of the last cycle's first frame.
    last_frame: u32,
    /// Length of the last cycle, frames.
    last_n: u32,
    /// The transport rolled in the last cycle (for Start/Stop with `--clock-out`).
    was_rolling: bool,
    started: bool,
    follow: bool,
    clock_out: bool,
    /// Cycles JACK did not run us for.
    skipped: usize,
}

/// JACK transport as the player follows it: rolling, quarter-note position
/// at the cycle's first frame, tempo in BPM.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Followed {
    rolling: bool,
    position_beats: f64,
    tempo_bpm: f64,
}

impl Core {
    fn new(setup: &Setup, opts: &JackOptions, sample_rate: f64, log: Sender<LogEvent>) -> Core {
        Core {
            driver: BlockDriver::new(setup, sample_rate, opts.bars, opts.clock_out),
            midi_in: Vec::with_capacity(256),
            scheduled: Vec::with_capacity(MAX_MESSAGES + 8),
            log,
            played: 0,
            last_frame: 0,
            last_n: 0,
            was_rolling: false,
            started: false,
            follow: opts.follow_transport,
            clock_out: opts.clock_out,
            skipped: 0,
        }
    }

    /// Starts collecting this cycle's MIDI input. Chords pressed before the
    /// first played cycle are kept (at sample 0) so a chord held before
    /// playing starts is not lost.
    fn begin_input(&mut self) {
        if self.started {
            self.midi_in.clear();
        }
    }

    /// One incoming MIDI message at `time` frames into the cycle, from the chord port or (when
    /// `call`) the call port.
    fn input(&mut self, time: u32, bytes: &[u8], call: bool) {
        if self.midi_in.len() < self.midi_in.capacity() {
            let at = if self.started { time } else { 0 };
            let event = if call {
                live::call_input(bytes, at)
            } else {
                live::chord_input(bytes, at)
            };
            if let Some(ev) = event {
                self.midi_in.push(ev);
            }
        }
    }

    /// Keeps this cycle's input in time order (chord and call ports are read one after the
    /// other); a stable insertion sort, no allocation.
    fn sort_input(&mut self) {
        let events = &mut self.midi_in;
        for i in 1..events.len() {
            let mut j = i;
            while j > 0 && events[j - 1].sample() > events[j].sample() {
                events.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// The transport for a span of `n` frames starting `back` frames before
    /// this cycle (0 for the cycle itself; own clock: at frame `from` since
    /// the start), and how many of its frames to play before `--bars` end
    /// (`ends` when the end falls inside).
    fn transport(
        &mut self,
        followed: Followed,
        from: u64,
        back: u32,
        n: u32,
    ) -> (Transport, u32, bool) {
        let (transport, own_from) = if self.follow {
            let spb = samples_per_beat(self.driver.sample_rate(), followed.tempo_bpm);
            let position = followed.position_beats - f64::from(back) / spb;
            let t = self
                .driver
                .transport(followed.rolling, Some(position), followed.tempo_bpm);
            (t, None)
        } else {
            (self.driver.own_transport(from), Some(from))
        };
        let (n_play, ends) = self.driver.until_end(&transport, own_from, n);
        (transport, n_play, ends)
    }

    /// Runs the engine over `n` frames and schedules its notes (and clock
    /// ticks) at their offsets; `first_frame` is the span's frame since the start.
    fn play_span(&mut self, transport: &Transport, n: u32, first_frame: u64, with_input: bool) {
        let input: &[MidiIn] = if with_input { &self.midi_in } else { &[] };
        let log = &self.log;
        self.driver.play(
            transport,
            n,
            input,
            &mut self.scheduled,
            MAX_MESSAGES,
            |g, position_beats| {
                // A full log queue only loses a printed line, never a note.
                let _ = log.try_send(LogEvent {
                    frame: first_frame + u64::from(g.sample),
                    position_beats,
                    generated: *g,
                });
            },
        );
    }

    /// JACK did not run us for `missed` frames (an overloaded or
    /// non-real-time server): play them now, every event at this cycle's
    /// first frame and in its original order, so notes and clock ticks come
    /// late instead of never, and the engine's position stays continuous.
    fn catch_up(&mut self, followed: Followed, from: u64, missed: u32) {
        let (transport, n_play, _) = self.transport(followed, from, missed, missed);
        if !transport.playing {
            return;
        }
        let split = self.scheduled.len();
        self.play_span(&transport, n_play, from, false);
        self.scheduled[split..].sort_unstable_by_key(|m| (m.offset, m.order));
        for m in &mut self.scheduled[split..] {
            m.offset = 0;
        }
    }

    /// One cycle of `n` frames whose first frame is JACK frame time `now`.
    /// `stop` ends everything at the first frame. Leaves the messages to
    /// write in `scheduled`, in order; returns true when this was the last
    /// cycle (bars played or stopped).
    fn cycle(&mut self, now: u32, n: u32, followed: Followed, stop: bool) -> bool {
        self.scheduled.clear();
        if !self.started {
            self.started = true;
            self.last_frame = now;
            self.last_n = 0;
            if self.clock_out && !self.follow {
                self.scheduled
                    .push(Scheduled::realtime(0, midiclock::START));
            }
        }
        // Position from JACK's frame clock, not from counting our cycles, so
        // a cycle the server skipped does not shift the beat grid; what was
        // due in it is played now.
        let advanced = u64::from(now.wrapping_sub(self.last_frame));
        let expected = self.played + u64::from(self.last_n);
        self.played += advanced;
        self.last_frame = now;
        self.last_n = n;
        let missed = self.played.saturating_sub(expected);
        if missed > 0 {
            self.skipped += 1;
            // Beyond a few periods it is a stall, not jitter: let the engine
            // see the jump (it ends the note) rather than burst a bar at once.
            if !stop && missed <= u64::from(n) * MAX_CATCH_UP_PERIODS {
                self.catch_up(followed, expected, missed as u32);
            }
        }
        let catch_up_len = self.scheduled.len();

        let (transport, n_play, ends) = if stop {
            let t = self.driver.transport(false, None, self.driver.tempo_bpm());
            (t, 0, true)
        } else {
            self.transport(followed, self.played, 0, n)
        };

        if self.clock_out && self.follow && !stop {
            // Following JACK transport, its start and stop become MIDI's.
            if transport.playing && !self.was_rolling {
                match transport.position_beats {
                    Some(p) if p > 1e-6 => {
                        self.scheduled.push(Scheduled::song_position(0, p));
                        self.scheduled
                            .push(Scheduled::realtime(0, midiclock::CONTINUE));
                    }
                    _ => self
                        .scheduled
                        .push(Scheduled::realtime(0, midiclock::START)),
                }
            } else if !transport.playing && self.was_rolling {
                self.scheduled.push(Scheduled::realtime(0, midiclock::STOP));
            }
        }
        if !stop {
            self.was_rolling = transport.playing;
        }

        self.play_span(&transport, n_play, self.played, true);
        if ends {
            let at = n_play.min(n.saturating_sub(1));
            self.driver.finish(at, &mut self.scheduled);
        }
        // JACK wants events in time order; an in-place unstable sort does not
        // allocate. Caught-up events stay first, in their own order.
        self.scheduled[catch_up_len..].sort_unstable_by_key(|m| (m.offset, m.order));
        ends
    }
}

/// Where JACK transport is now.
fn followed(transport: &jack::Transport, sample_rate: f64, tempo_bpm: f64) -> Followed {
    let stopped = Followed {
        rolling: false,
        position_beats: 0.0,
        tempo_bpm,
    };
    let Ok(sp) = transport.query() else {
        return stopped;
    };
    let rolling = sp.state == jack::TransportState::Rolling;
    match sp.pos.bbt() {
        Some(bbt) => {
            // BBT counts beats of the time signature's denominator; the
            // engine counts quarter notes.
            let quarters_per_beat = 4.0 / f64::from(bbt.sig_denom.max(1.0));
            let beats = (bbt.bar.saturating_sub(1) as f64) * f64::from(bbt.sig_num)
                + bbt.beat.saturating_sub(1) as f64
                + bbt.tick as f64 / bbt.ticks_per_beat;
            let tempo = bbt.bpm / quarters_per_beat;
            let tempo = if tempo.is_finite() && tempo > 1.0 {
                tempo
            } else {
                tempo_bpm
            };
            // The BBT may describe a frame before this cycle's first.
            let behind =
                f64::from(sp.pos.bbt_offset().unwrap_or(0)) / samples_per_beat(sample_rate, tempo);
            Followed {
                rolling,
                position_beats: beats * quarters_per_beat + behind,
                tempo_bpm: tempo,
            }
        }
        // No timebase master: the frame counter at our tempo.
        None => Followed {
            rolling,
            position_beats: f64::from(sp.pos.frame()) / samples_per_beat(sample_rate, tempo_bpm),
            tempo_bpm,
        },
    }
}

/// The real-time half: the core plus its ports; `process` never allocates,
/// locks or blocks.
struct Player {
    core: Core,
    port_out: jack::Port<jack::MidiOut>,
    port_in: Option<jack::Port<jack::MidiIn>>,
    port_call: Option<jack::Port<jack::MidiIn>>,
    transport: jack::Transport,
    shared: Arc<Shared>,
}

impl jack::ProcessHandler for Player {
    fn process(&mut self, _client: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        // Aborts on any allocation in builds with debug assertions when the
        // binary installs `assert_no_alloc::AllocDisabler` (tests/jack.rs does).
        let began = Instant::now();
        let control = assert_no_alloc::assert_no_alloc(|| self.cycle(ps));
        let took = began.elapsed().as_nanos() as u64;
        self.shared.max_cycle_ns.fetch_max(took, Ordering::Relaxed);
        control
    }
}

impl Player {
    fn cycle(&mut self, ps: &jack::ProcessScope) -> jack::Control {
        if self.shared.finished.load(Ordering::Acquire) {
            // Taking the writer clears the port buffer: silence this cycle.
            self.port_out.writer(ps);
            return jack::Control::Continue;
        }
        self.core.begin_input();
        if let Some(port) = &self.port_in {
            for raw in port.iter(ps) {
                self.core.input(raw.time, raw.bytes, false);
            }
        }
        if let Some(port) = &self.port_call {
            for raw in port.iter(ps) {
                self.core.input(raw.time, raw.bytes, true);
            }
            self.core.sort_input();
        }
        if !self.shared.start.load(Ordering::Acquire) {
            self.port_out.writer(ps);
            return jack::Control::Continue;
        }
        let first = !self.core.started;
        let stop = self.shared.stop_request.load(Ordering::Acquire);
        let followed = if self.core.follow {
            followed(
                &self.transport,
                self.core.driver.sample_rate(),
                self.core.driver.tempo_bpm(),
            )
        } else {
            Followed {
                rolling: true,
                position_beats: 0.0,
                tempo_bpm: self.core.driver.tempo_bpm(),
            }
        };
        let ends = self
            .core
            .cycle(ps.last_frame_time(), ps.n_frames(), followed, stop);
        if first {
            self.shared
                .start_frame
                .store(u64::from(ps.last_frame_time()), Ordering::Release);
        }
        let mut writer = self.port_out.writer(ps);
        let mut notes = 0;
        for m in &self.core.scheduled {
            let raw = jack::RawMidi {
                time: m.offset,
                bytes: m.message(),
            };
            if writer.write(&raw).is_err() {
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
            } else if m.note_on {
                notes += 1;
            }
        }
        self.shared.notes.fetch_add(notes, Ordering::Relaxed);
        self.shared
            .skipped_cycles
            .store(self.core.skipped, Ordering::Relaxed);
        if ends {
            self.shared
                .finish_reason
                .store(if stop { 2 } else { 1 }, Ordering::Release);
            self.shared.finished.store(true, Ordering::Release);
        }
        jack::Control::Continue
    }
}

/// Runs a throwaway engine over the first beats, so the real-time thread's
/// first cycle does not pay for faulting in the engine's code and tables.
fn warm_up(setup: &Setup, sample_rate: f64, buffer_size: u32) {
    let mut driver = BlockDriver::new(setup, sample_rate, None, false);
    let mut scratch = Vec::with_capacity(MAX_MESSAGES);
    let n = buffer_size.max(64);
    let spb = samples_per_beat(sample_rate, setup.tempo_bpm);
    let mut s = 0u64;
    while (s as f64) < spb * 2.0 {
        let t = driver.own_transport(s);
        scratch.clear();
        driver.play(&t, n, &[], &mut scratch, MAX_MESSAGES, |_, _| {});
        s += u64::from(n);
    }
}

fn resolve(
    client: &jack::Client,
    query: &str,
    flags: jack::PortFlags,
    what: &str,
) -> Result<String, JackError> {
    let names = client.ports(None, Some("midi"), flags);
    // Never connect to ourselves.
    let own = format!("{}:", client.name());
    let names: Vec<String> = names.into_iter().filter(|n| !n.starts_with(&own)).collect();
    let i = choose_port(&names, query, what).map_err(|mut e| {
        e.note = Some("JACK port names look like `client:port`; `jack_lsp -t` lists them.".into());
        JackError::Port(e)
    })?;
    Ok(names[i].clone())
}

/// Plays through JACK until `opts.bars` are done or `stop` is set (Ctrl-C),
/// then ends the sounding note, sends All Notes Off and MIDI Stop in the
/// next cycle, and closes the client. Lines per value go to `log`.
pub fn run_jack(
    setup: &Setup,
    opts: &JackOptions,
    stop: &AtomicBool,
    log: &mut dyn Write,
) -> Result<JackReport, JackError> {
    let (client, _status) =
        jack::Client::new(&opts.client_name, jack::ClientOptions::NO_START_SERVER)
            .map_err(|e| JackError::Server(no_server(&e)))?;
    let sample_rate = client.sample_rate();
    let buffer_size = client.buffer_size();
    let client_name = client.name().to_string();
    let port_out = client
        .register_port("midi_out", jack::MidiOut::default())
        .map_err(|e| {
            JackError::Server(format!("cannot register the JACK MIDI output port: {e}"))
        })?;
    let out_name = port_out
        .name()
        .unwrap_or_else(|_| format!("{client_name}:midi_out"));
    let connect_out = match &opts.connect_out {
        Some(q) => Some(resolve(
            &client,
            q,
            jack::PortFlags::IS_INPUT,
            "JACK MIDI input",
        )?),
        None => None,
    };
    let (port_in, connect_in) = match &opts.chords_from {
        Some(q) => {
            let source = resolve(&client, q, jack::PortFlags::IS_OUTPUT, "JACK MIDI output")?;
            let port = client
                .register_port("chords_in", jack::MidiIn::default())
                .map_err(|e| {
                    JackError::Server(format!("cannot register the JACK MIDI input port: {e}"))
                })?;
            let name = port
                .name()
                .unwrap_or_else(|_| format!("{client_name}:chords_in"));
            (Some(port), Some((source, name)))
        }
        None => (None, None),
    };
    let (port_call, connect_call) = match &opts.call_from {
        Some(q) => {
            let source = resolve(&client, q, jack::PortFlags::IS_OUTPUT, "JACK MIDI output")?;
            let port = client
                .register_port("call_in", jack::MidiIn::default())
                .map_err(|e| {
                    JackError::Server(format!("cannot register the JACK MIDI input port: {e}"))
                })?;
            let name = port
                .name()
                .unwrap_or_else(|_| format!("{client_name}:call_in"));
            (Some(port), Some((source, name)))
        }
        None => (None, None),
    };

    warm_up(setup, f64::from(sample_rate), buffer_size);
    let shared = Arc::new(Shared::default());
    let (log_tx, log_rx) = crossbeam_channel::bounded(4096);
    let player = Player {
        core: Core::new(setup, opts, f64::from(sample_rate), log_tx),
        port_out,
        port_in,
        port_call,
        transport: client.transport(),
        shared: Arc::clone(&shared),
    };
    let active = client
        .activate_async(
            Notifications {
                shared: Arc::clone(&shared),
            },
            player,
        )
        .map_err(|e| JackError::Server(format!("cannot activate the JACK client: {e}")))?;
    let connected = (|| {
        if let Some(dest) = &connect_out {
            active.as_client().connect_ports_by_name(&out_name, dest)?;
        }
        for (source, ours) in connect_in.iter().chain(&connect_call) {
            active.as_client().connect_ports_by_name(source, ours)?;
        }
        Ok::<(), jack::Error>(())
    })();
    if let Err(e) = connected {
        let _ = active.deactivate();
        return Err(JackError::Server(format!(
            "cannot connect the JACK ports: {e}"
        )));
    }
    // JACK applies new connections a cycle or two later (a graph reorder);
    // start after that, so the first notes reach their destination.
    let period = Duration::from_secs_f64(f64::from(buffer_size) / f64::from(sample_rate));
    std::thread::sleep(period * 3 + Duration::from_millis(5));
    shared.start.store(true, Ordering::Release);

    let spb = samples_per_beat(f64::from(sample_rate), setup.tempo_bpm);
    let beat_grid = !opts.follow_transport && setup.settings.rhythm == Rhythm::Beat;
    let mut max_beat_error: Option<u64> = None;
    let mut values = 0usize;
    let mut handle = |e: LogEvent, log: &mut dyn Write| {
        values += 1;
        if beat_grid && e.generated.note.is_some() {
            let ideal = (e.generated.beat as f64 * spb).round() as u64;
            let err = e.frame.abs_diff(ideal);
            max_beat_error = Some(max_beat_error.map_or(err, |m| m.max(err)));
        }
        if opts.print_notes {
            let _ = writeln!(log, "{}", setup.note_line(&e.generated, e.position_beats));
        }
    };
    let mut stop_sent_at: Option<Instant> = None;
    let result = loop {
        std::thread::sleep(Duration::from_millis(5));
        drain(&log_rx, log, &mut handle);
        if shared.server_gone.load(Ordering::SeqCst) {
            break Err(JackError::Server(
                "the JACK server shut down; nothing more can be sent".into(),
            ));
        }
        if shared.finished.load(Ordering::Acquire) {
            let reason = match shared.finish_reason.load(Ordering::Acquire) {
                2 => StopReason::Interrupted,
                _ => StopReason::Finished,
            };
            break Ok(reason);
        }
        if stop.load(Ordering::SeqCst) && stop_sent_at.is_none() {
            shared.stop_request.store(true, Ordering::Release);
            stop_sent_at = Some(Instant::now());
        }
        if stop_sent_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break Err(JackError::Server(
                "the JACK server stopped calling us; could not send note-offs".into(),
            ));
        }
    };
    // The last messages are in the port buffer of the cycle that finished;
    // let a few more cycles pass so every reader has taken them.
    std::thread::sleep((period * 3).max(Duration::from_millis(20)));
    let _ = active.deactivate();
    drain(&log_rx, log, &mut handle);
    let _ = log.flush();
    let reason = result?;
    Ok(JackReport {
        reason,
        client_name,
        sample_rate,
        buffer_size,
        notes: shared.notes.load(Ordering::Acquire),
        values,
        max_beat_error_frames: max_beat_error,
        lost_events: shared.lost.load(Ordering::Acquire),
        max_cycle_us: shared.max_cycle_ns.load(Ordering::Acquire) as f64 / 1000.0,
        skipped_cycles: shared.skipped_cycles.load(Ordering::Acquire),
    })
}

fn drain(
    rx: &Receiver<LogEvent>,
    log: &mut dyn Write,
    f: &mut impl FnMut(LogEvent, &mut dyn Write),
) {
    while let Ok(e) = rx.try_recv() {
        f(e, log);
    }
}

/// The JACK MIDI ports, listed for `--list-ports`.
pub fn port_listing() -> String {
    match midi_ports() {
        Some((inputs, outputs)) => format!(
            "{}\n{}",
            ports::port_list("JACK MIDI inputs (for --jack --midi-out)", &inputs),
            ports::port_list("JACK MIDI outputs (for --jack --chords-in)", &outputs)
        ),
        None => "No JACK server is running (needed for --jack).".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standalone::session::MusicOptions;

    const N: u32 = 256;

    fn core(opts: &JackOptions, tempo: f64) -> (Core, Receiver<LogEvent>) {
        let setup = Setup::from_options(&MusicOptions {
            seed: Some(5),
            tempo_bpm: Some(tempo),
            ..Default::default()
        })
        .unwrap();
        let (tx, rx) = crossbeam_channel::bounded(4096);
        (Core::new(&setup, opts, 48_000.0, tx), rx)
    }

    fn own_clock(tempo: f64) -> Followed {
        Followed {
            rolling: true,
            position_beats: 0.0,
            tempo_bpm: tempo,
        }
    }

    /// Runs cycles at the given JACK frame times; returns every message with
    /// the absolute frame it is written at, and whether the run ended.
    fn run(
        core: &mut Core,
        frames: impl IntoIterator<Item = u32>,
        tempo: f64,
    ) -> (Vec<(u64, Vec<u8>)>, bool) {
        let mut sent = Vec::new();
        for now in frames {
            let ends = core.cycle(now, N, own_clock(tempo), false);
            for m in &core.scheduled {
                sent.push((u64::from(now) + u64::from(m.offset), m.message().to_vec()));
            }
            if ends {
                return (sent, true);
            }
        }
        (sent, false)
    }

    fn opts(bars: u32) -> JackOptions {
        JackOptions {
            clock_out: true,
            bars: Some(bars),
            ..JackOptions::default()
        }
    }

    #[test]
    fn a_skipped_cycle_is_played_late_not_lost() {
        let tempo = 137.0;
        let (mut a, _la) = core(&opts(2), tempo);
        let (regular, ended) = run(&mut a, (0..1000).map(|k| 1000 + k * N), tempo);
        assert!(ended);
        // The same run with cycles 40, 41 and 97 never called.
        let (mut b, _lb) = core(&opts(2), tempo);
        let frames = (0..1000)
            .filter(|k| ![40, 41, 97].contains(k))
            .map(|k| 1000 + k * N);
        let (skipping, ended) = run(&mut b, frames, tempo);
        assert!(ended);
        assert_eq!(b.skipped, 2, "two gaps");
        let bytes = |v: &[(u64, Vec<u8>)]| v.iter().map(|m| m.1.clone()).collect::<Vec<_>>();
        assert_eq!(
            bytes(&skipping),
            bytes(&regular),
            "the same messages in the same order"
        );
        for ((late, _), (due, m)) in skipping.iter().zip(&regular) {
            assert!(
                late >= due && late - due < u64::from(3 * N),
                "{m:?} due at {due}, sent at {late}"
            );
        }
        assert!(
            skipping.iter().zip(&regular).any(|(l, d)| l.0 > d.0),
            "something was late"
        );
    }

    #[test]
    fn a_long_stall_is_a_jump_not_a_burst() {
        let tempo = 120.0;
        let (mut c, _l) = core(&opts(4), tempo);
        let frames = (0..2000u32)
            .filter(|k| !(100..140).contains(k))
            .map(|k| k * N);
        let (sent, ended) = run(&mut c, frames, tempo);
        assert!(ended);
        // Nothing was sent for the 40 missing cycles, and nothing hangs.
        let stall_end = 140 * u64::from(N);
        let at_resume = sent.iter().filter(|m| m.0 == stall_end).count();
        assert!(
            at_resume < 10,
            "{at_resume} messages burst out after the stall"
        );
        let mut sounding = Vec::new();
        for (_, m) in &sent {
            match m.as_slice() {
                [s, n, v] if s & 0xF0 == 0x90 && *v > 0 => sounding.push(*n),
                [s, n, _] if s & 0xF0 == 0x80 => sounding.retain(|x| x != n),
                _ => {}
            }
        }
        assert!(sounding.is_empty(), "{sounding:?}");
    }

    #[test]
    fn bars_end_on_their_frame_with_all_notes_off_and_stop() {
        // 130 BPM at 48 kHz: 4 beats end at frame floor(4 · 22153.8) = 88615, inside a cycle.
        let tempo = 130.0;
        let (mut c, _l) = core(&opts(1), tempo);
        let (sent, ended) = run(&mut c, (0..1000).map(|k| k * N), tempo);
        assert!(ended);
        let end = crate::engine::end_sample(4.0, samples_per_beat(48_000.0, tempo));
        let n = sent.len();
        assert_eq!(sent[n - 1], (end, vec![midiclock::STOP]));
        assert_eq!(sent[n - 2], (end, vec![0xB0, 123, 0]));
        assert!(sent.iter().all(|m| m.0 <= end));
        let ticks = sent.iter().filter(|m| m.1 == [midiclock::CLOCK]).count();
        assert_eq!(ticks, 4 * 24);
    }

    #[test]
    fn a_stop_request_silences_at_the_cycles_first_frame() {
        let tempo = 200.0;
        let (mut c, _l) = core(
            &JackOptions {
                clock_out: true,
                ..JackOptions::default()
            },
            tempo,
        );
        let (sent, ended) = run(&mut c, (0..200).map(|k| k * N), tempo);
        assert!(!ended);
        assert!(
            c.cycle(200 * N, N, own_clock(tempo), true),
            "a stop ends the run"
        );
        let msgs: Vec<&[u8]> = c.scheduled.iter().map(|m| m.message()).collect();
        assert!(c.scheduled.iter().all(|m| m.offset == 0));
        assert_eq!(
            msgs[msgs.len() - 2..],
            [&[0xB0, 123, 0][..], &[midiclock::STOP][..]]
        );
        let sounding = sent
            .iter()
            .rev()
            .find(|m| m.1[0] & 0xF0 == 0x90 || m.1[0] & 0xF0 == 0x80);
        if let Some((_, m)) = sounding.filter(|m| m.1[0] & 0xF0 == 0x90) {
            assert_eq!(msgs[0], [0x80, m[1], 0], "the sounding note ends first");
        }
    }

    #[test]
    fn following_transport_starts_and_stops_with_it() {
        let tempo = 120.0;
        let o = JackOptions {
            clock_out: true,
            follow_transport: true,
            ..JackOptions::default()
        };
        let (mut c, _l) = core(&o, tempo);
        let spb = samples_per_beat(48_000.0, tempo);
        let stopped = Followed {
            rolling: false,
            position_beats: 0.0,
            tempo_bpm: tempo,
        };
        for k in 0..10 {
            c.cycle(k * N, N, stopped, false);
            assert!(c.scheduled.is_empty(), "silent while stopped");
        }
        let mut sent = Vec::new();
        for k in 0..400u32 {
            let rolling = Followed {
                rolling: true,
                position_beats: f64::from(k * N) / spb,
                tempo_bpm: tempo,
            };
            c.cycle((10 + k) * N, N, rolling, false);
            sent.extend(
                c.scheduled
                    .iter()
                    .map(|m| (k * N + m.offset, m.message().to_vec())),
            );
        }
        assert_eq!(
            sent[0],
            (0, vec![midiclock::START]),
            "Start when the transport rolls"
        );
        assert_eq!(
            sent[1],
            (0, vec![midiclock::CLOCK]),
            "then the downbeat tick"
        );
        let stopped_at = Followed {
            rolling: false,
            position_beats: f64::from(400 * N) / spb,
            tempo_bpm: tempo,
        };
        c.cycle(410 * N, N, stopped_at, false);
        assert!(
            c.scheduled.iter().any(|m| m.message() == [midiclock::STOP]),
            "Stop when it stops"
        );
        // Relocated and rolling again: song position, then Continue.
        let moved = Followed {
            rolling: true,
            position_beats: 16.0,
            tempo_bpm: tempo,
        };
        c.cycle(411 * N, N, moved, false);
        let first: Vec<&[u8]> = c.scheduled.iter().take(2).map(|m| m.message()).collect();
        assert_eq!(
            first,
            [
                &[midiclock::SONG_POSITION, 64, 0][..],
                &[midiclock::CONTINUE][..]
            ]
        );
    }
}
