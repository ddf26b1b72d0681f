//! The JACK front end against a real JACK server. CI starts one with the
//! dummy driver (`jackd -d dummy -r 48000 -p 256`); locally, start it the same
//! way first. These tests never skip: without a server they fail and say so.
//!
//! A MIDI receiver (a JACK client inside the test) records what `jazz-synth
//! --jack` sends, with absolute frame times, and the notes are checked
//! against the engine's own render of the same setup.
//!
//! An overloaded or non-real-time server sometimes skips a client's cycle;
//! the player then sends what was due a period late, and the receiver may
//! miss a buffer. Exact-frame checks only mean something for a run in which
//! JACK ran every cycle, so each run reports skips on both sides and is
//! repeated (at most three times) until one is clean.

mod common;
use common::summary;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use jazz_synth::standalone::jackio::{self, JackOptions};
use jazz_synth::standalone::live::StopReason;
use jazz_synth::standalone::render::render_timeline;
use jazz_synth::standalone::session::{MusicOptions, Setup};

// Every allocation inside `assert_no_alloc` (the JACK process callback)
// aborts this test binary.
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const BIN: &str = env!("CARGO_BIN_EXE_jazz-synth");

/// One message received, with JACK's frame time and, when the transport
/// rolls, the transport frame.
#[derive(Clone, Debug)]
struct Received {
    frame: u64,
    transport_frame: Option<u64>,
    bytes: Vec<u8>,
}

impl Received {
    fn note_on(&self) -> Option<u8> {
        (self.bytes.len() == 3 && self.bytes[0] & 0xF0 == 0x90 && self.bytes[2] > 0)
            .then(|| self.bytes[1])
    }

    fn note_off(&self) -> Option<u8> {
        let off = self.bytes.len() == 3
            && (self.bytes[0] & 0xF0 == 0x80
                || (self.bytes[0] & 0xF0 == 0x90 && self.bytes[2] == 0));
        off.then(|| self.bytes[1])
    }
}

type ProcessFn = Box<dyn FnMut(&jack::Client, &jack::ProcessScope) -> jack::Control + Send>;
type ActiveReceiver = jack::AsyncClient<(), jack::contrib::ClosureProcessHandler<(), ProcessFn>>;

static RECEIVERS: AtomicUsize = AtomicUsize::new(0);

/// One JACK test at a time: they share one server (and its transport) and
/// each runs a player in real time; in parallel they only compete for CPU.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn no_server(e: jack::Error) -> ! {
    panic!(
        "no JACK server ({e}). CI starts one; locally run \
         `JACK_NO_AUDIO_RESERVATION=1 jackd -d dummy -r 48000 -p 256 &` first"
    )
}

/// A JACK client with one MIDI input port that records everything.
struct MidiReceiver {
    client: ActiveReceiver,
    rx: Receiver<Received>,
    port: String,
    sample_rate: f64,
    log: Vec<Received>,
    /// Cycles the server did not run the receiver for.
    skipped: Arc<AtomicUsize>,
}

impl MidiReceiver {
    fn new() -> MidiReceiver {
        let name = format!(
            "rx{}-{}",
            RECEIVERS.fetch_add(1, Ordering::SeqCst),
            std::process::id()
        );
        let (client, _) = jack::Client::new(&name, jack::ClientOptions::NO_START_SERVER)
            .unwrap_or_else(|e| no_server(e));
        let port = client
            .register_port("in", jack::MidiIn::default())
            .expect("register the receiver port");
        let port_name = port.name().unwrap();
        let sample_rate = f64::from(client.sample_rate());
        let (tx, rx) = crossbeam_channel::unbounded();
        let skipped = Arc::new(AtomicUsize::new(0));
        let skips = Arc::clone(&skipped);
        let mut last: Option<u32> = None;
        let process: ProcessFn = Box::new(move |client: &jack::Client, ps: &jack::ProcessScope| {
            let now = ps.last_frame_time();
            if last.is_some_and(|l| now.wrapping_sub(l) != ps.n_frames()) {
                skips.fetch_add(1, Ordering::SeqCst);
            }
            last = Some(now);
            let transport = client
                .transport()
                .query()
                .ok()
                .filter(|t| t.state == jack::TransportState::Rolling)
                .map(|t| u64::from(t.pos.frame()));
            for ev in port.iter(ps) {
                let _ = tx.send(Received {
                    frame: u64::from(now) + u64::from(ev.time),
                    transport_frame: transport.map(|f| f + u64::from(ev.time)),
                    bytes: ev.bytes.to_vec(),
                });
            }
            jack::Control::Continue
        });
        let client = client
            .activate_async((), jack::contrib::ClosureProcessHandler::new(process))
            .expect("activate the receiver");
        MidiReceiver {
            client,
            rx,
            port: port_name,
            sample_rate,
            log: Vec::new(),
            skipped,
        }
    }

    /// Everything received so far.
    fn received(&mut self) -> &[Received] {
        self.log.extend(self.rx.try_iter());
        &self.log
    }

    fn note_ons(&mut self) -> Vec<(u64, u8)> {
        self.received()
            .iter()
            .filter_map(|r| r.note_on().map(|n| (r.frame, n)))
            .collect()
    }

    fn skipped(&self) -> usize {
        self.skipped.load(Ordering::SeqCst)
    }
}

/// Runs `attempt` until JACK ran every cycle of both the player and the
/// receiver (the attempt says whether it did), at most three times.
fn clean_run<T>(mut attempt: impl FnMut() -> (T, bool)) -> T {
    for i in 1..=3 {
        let (result, clean) = attempt();
        if clean {
            if i > 1 {
                summary::note(&format!(
                    "jack: clean run on attempt {i} (JACK skipped cycles before)"
                ));
            }
            return result;
        }
        eprintln!("JACK skipped cycles in attempt {i} (overloaded or non-real-time server); running again");
    }
    panic!(
        "the JACK server skipped cycles in three runs in a row: it is overloaded or not real-time"
    )
}

/// A clean run: neither the player (its end report) nor the receiver saw a skipped cycle.
fn is_clean(rx: &MidiReceiver, player_stderr: &str) -> bool {
    rx.skipped() == 0 && !player_stderr.contains("JACK skipped")
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jazz-synth")
}

/// Waits for the child to exit (killing it after `timeout`); returns exit code and stderr.
fn finish(mut child: Child, timeout: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("jazz-synth did not finish within {timeout:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    // The last messages are a cycle or two behind the exit.
    std::thread::sleep(Duration::from_millis(50));
    (status.code(), err)
}

use common::beat_setup as setup;

/// Checks the message list leaves nothing sounding: every note-on is
/// followed by a note-off of the same pitch, and the last messages are
/// All Notes Off (CC 123) and MIDI Stop.
fn assert_nothing_left_sounding(msgs: &[Received]) {
    let mut sounding: Vec<u8> = Vec::new();
    for m in msgs {
        if let Some(n) = m.note_on() {
            sounding.push(n);
        } else if let Some(n) = m.note_off() {
            sounding.retain(|&x| x != n);
        }
    }
    assert!(sounding.is_empty(), "notes left sounding: {sounding:?}");
    let tail: Vec<&[u8]> = msgs
        .iter()
        .rev()
        .take(2)
        .map(|m| m.bytes.as_slice())
        .collect();
    assert_eq!(tail[0], [0xFC], "MIDI Stop last");
    assert_eq!(tail[1][1..], [123, 0], "All Notes Off before Stop");
}

#[test]
fn four_bars_at_120_put_every_note_on_its_beat_frame() {
    let _serial = one_at_a_time();
    let (mut rx, code, err) = clean_run(|| {
        let rx = MidiReceiver::new();
        let child = spawn(&[
            "--jack",
            "--bars",
            "4",
            "--tempo",
            "120",
            "--seed",
            "7",
            "--rhythm",
            "beat",
            "--midi-out",
            &rx.port,
        ]);
        let (code, err) = finish(child, Duration::from_secs(30));
        let clean = is_clean(&rx, &err);
        ((rx, code, err), clean)
    });
    assert_eq!(code, Some(0), "stderr:\n{err}");

    let (expected, _) = render_timeline(&setup(7, 120.0), 4, rx.sample_rate, 256);
    let spb = rx.sample_rate * 60.0 / 120.0;
    let got = rx.note_ons();
    assert!(
        !expected.solo.is_empty(),
        "the engine should play something in 16 beats"
    );
    assert_eq!(got.len(), expected.solo.len(), "note count; stderr:\n{err}");
    // The grid's origin: where the first note sits, minus its beat's offset.
    let origin = got[0].0 - expected.solo[0].start;
    for ((frame, note), want) in got.iter().zip(&expected.solo) {
        assert_eq!(*note, want.note);
        let rel = frame - origin;
        assert_eq!(
            rel, want.start,
            "note {note} at frame {rel}, the engine put it at {}",
            want.start
        );
        let beat = (rel as f64 / spb).round();
        assert_eq!(
            rel,
            (beat * spb).round() as u64,
            "note-on at frame {rel} is not on a beat"
        );
        assert!(beat < 16.0);
    }
    assert_nothing_left_sounding(rx.received());
    assert!(err.contains("every note-on on its beat's frame"), "{err}");
    if let Some(line) = err.lines().find(|l| l.contains("longest process cycle")) {
        summary::note(&format!(
            "jack --bars 4 --tempo 120: {} notes on their beat frames; {line}",
            got.len()
        ));
    }
}

#[test]
fn clock_out_starts_on_beat_zero_and_ticks_24_per_beat() {
    let _serial = one_at_a_time();
    let (mut rx, code, err) = clean_run(|| {
        let rx = MidiReceiver::new();
        let args = [
            "--jack",
            "--rhythm",
            "beat",
            "--bars",
            "2",
            "--tempo",
            "150",
            "--clock-out",
            "--quiet",
            "--midi-out",
            &rx.port,
        ];
        let (code, err) = finish(spawn(&args), Duration::from_secs(30));
        let clean = is_clean(&rx, &err);
        ((rx, code, err), clean)
    });
    assert_eq!(code, Some(0), "stderr:\n{err}");
    let msgs = rx.received().to_vec();
    let start_at = msgs
        .iter()
        .position(|m| m.bytes == [0xFA])
        .expect("MIDI Start");
    let first_tick = msgs
        .iter()
        .position(|m| m.bytes == [0xF8])
        .expect("clock ticks");
    assert!(
        start_at < first_tick,
        "Start comes before the downbeat tick"
    );
    let start = msgs[start_at].frame;
    assert_eq!(
        msgs[first_tick].frame, start,
        "the downbeat tick is at Start"
    );
    let spb = rx.sample_rate * 60.0 / 150.0;
    let ticks: Vec<u64> = msgs
        .iter()
        .filter(|m| m.bytes == [0xF8])
        .map(|m| m.frame - start)
        .collect();
    assert_eq!(ticks.len(), 2 * 4 * 24);
    for (k, t) in ticks.iter().enumerate() {
        assert_eq!(*t, (k as f64 * spb / 24.0).round() as u64, "clock tick {k}");
    }
    let (expected, _) = render_timeline(&setup(0, 150.0), 2, rx.sample_rate, 64);
    let ons: Vec<(u64, u8)> = msgs
        .iter()
        .filter_map(|m| m.note_on().map(|n| (m.frame - start, n)))
        .collect();
    let want: Vec<(u64, u8)> = expected.solo.iter().map(|n| (n.start, n.note)).collect();
    assert_eq!(ons, want, "notes relative to MIDI Start");
    assert_nothing_left_sounding(&msgs);
}

#[test]
fn an_interrupted_run_leaves_no_note_hanging() {
    let _serial = one_at_a_time();
    let (mut rx, code, err) = clean_run(|| {
        let mut rx = MidiReceiver::new();
        let child = spawn(&[
            "--jack",
            "--tempo",
            "240",
            "--quiet",
            "--midi-out",
            &rx.port,
        ]);
        let pid = child.id() as libc::pid_t;
        // Interrupt while a note sounds, after a few have played.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                Instant::now() < deadline,
                "no notes arrived from jazz-synth"
            );
            let msgs = rx.received();
            let ons = msgs.iter().filter(|m| m.note_on().is_some()).count();
            if ons >= 3 && msgs.last().is_some_and(|m| m.note_on().is_some()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // SAFETY: sending a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let (code, err) = finish(child, Duration::from_secs(10));
        let clean = is_clean(&rx, &err);
        ((rx, code, err), clean)
    });
    assert_eq!(
        code,
        Some(0),
        "Ctrl-C is a normal way to stop; stderr:\n{err}"
    );
    assert!(err.contains("stopped"), "{err}");
    assert_nothing_left_sounding(rx.received());
}

#[test]
fn a_missing_jack_port_exits_2_and_lists_the_ports() {
    let _serial = one_at_a_time();
    let rx = MidiReceiver::new();
    let (code, err) = finish(
        spawn(&["--jack", "--midi-out", "nosuchport", "--bars", "1"]),
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(2), "stderr:\n{err}");
    assert!(
        err.contains("no JACK MIDI input matches \"nosuchport\""),
        "{err}"
    );
    assert!(
        err.contains(&rx.port),
        "the receiver's port should be listed:\n{err}"
    );
    drop(rx.client);
}

#[test]
fn follow_transport_waits_for_jack_transport_and_plays_on_its_frames() {
    let _serial = one_at_a_time();
    let (mut rx, code, err) = clean_run(|| {
        let mut rx = MidiReceiver::new();
        let transport = rx.client.as_client().transport();
        transport.stop().unwrap();
        transport.locate(0).unwrap();
        let args = [
            "--jack",
            "--rhythm",
            "beat",
            "--follow-transport",
            "--clock-out",
            "--bars",
            "2",
            "--tempo",
            "120",
            "--quiet",
            "--midi-out",
            &rx.port,
        ];
        let child = spawn(&args);
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            rx.note_ons().is_empty(),
            "played while the transport was stopped"
        );
        transport.start().unwrap();
        let (code, err) = finish(child, Duration::from_secs(30));
        transport.stop().unwrap();
        let clean = is_clean(&rx, &err);
        ((rx, code, err), clean)
    });
    assert_eq!(code, Some(0), "stderr:\n{err}");

    let (expected, _) = render_timeline(&setup(0, 120.0), 2, rx.sample_rate, 256);
    let got: Vec<(u64, u8)> = rx
        .received()
        .iter()
        .filter_map(|m| {
            m.note_on()
                .map(|n| (m.transport_frame.expect("notes only while rolling"), n))
        })
        .collect();
    let want: Vec<(u64, u8)> = expected.solo.iter().map(|n| (n.start, n.note)).collect();
    assert_eq!(got, want, "note-ons at the transport frames of their beats");
    // The transport's start became MIDI Start, with the clock on its frames.
    let msgs = rx.received().to_vec();
    let start = msgs
        .iter()
        .find(|m| m.bytes == [0xFA])
        .expect("MIDI Start when the transport rolls");
    assert_eq!(start.transport_frame, Some(0));
    let ticks: Vec<u64> = msgs
        .iter()
        .filter(|m| m.bytes == [0xF8])
        .map(|m| m.transport_frame.unwrap())
        .collect();
    assert_eq!(ticks.len(), 2 * 4 * 24);
    for (k, t) in ticks.iter().enumerate() {
        assert_eq!(
            *t,
            (k as f64 * rx.sample_rate * 60.0 / 120.0 / 24.0).round() as u64
        );
    }
    assert_nothing_left_sounding(&msgs);
}

#[test]
fn the_process_callback_never_allocates_and_reads_chords_from_jack() {
    let _serial = one_at_a_time();
    // A keyboard player on JACK: holds an A minor triad.
    let (keys, _) = jack::Client::new(
        &format!("keys-{}", std::process::id()),
        jack::ClientOptions::NO_START_SERVER,
    )
    .unwrap_or_else(|e| no_server(e));
    let mut keys_port = keys.register_port("out", jack::MidiOut::default()).unwrap();
    let keys_name = keys_port.name().unwrap();
    let press = Arc::new(AtomicBool::new(false));
    let keys = keys
        .activate_async(
            (),
            jack::contrib::ClosureProcessHandler::new(
                move |_: &jack::Client, ps: &jack::ProcessScope| {
                    // Pressed once jazz-synth listens, so the chord is not lost.
                    let listening = keys_port.connected_count().unwrap_or(0) > 0;
                    let mut w = keys_port.writer(ps);
                    if listening && !press.swap(true, Ordering::SeqCst) {
                        for n in [57u8, 60, 64] {
                            let _ = w.write(&jack::RawMidi {
                                time: 0,
                                bytes: &[0x90, n, 80],
                            });
                        }
                    }
                    if !listening {
                        // A new run connects again: press again then.
                        press.store(false, Ordering::SeqCst);
                    }
                    jack::Control::Continue
                },
            ),
        )
        .unwrap();
    let mut s = Setup::from_options(&MusicOptions {
        tempo_bpm: Some(300.0),
        chords_from_midi: true,
        rhythm: Some(jazz_synth::engine::Rhythm::Beat),
        ..Default::default()
    })
    .unwrap();
    s.settings.seed = 3;
    let (mut rx, report, lines) = clean_run(|| {
        let rx = MidiReceiver::new();
        let opts = JackOptions {
            client_name: format!("js-noalloc-{}", std::process::id()),
            connect_out: Some(rx.port.clone()),
            chords_from: Some(keys_name.clone()),
            clock_out: true,
            bars: Some(2),
            print_notes: true,
            ..JackOptions::default()
        };
        static STOP: AtomicBool = AtomicBool::new(false);
        let mut log = Vec::new();
        let report = jackio::run_jack(&s, &opts, &STOP, &mut log).expect("run through JACK");
        std::thread::sleep(Duration::from_millis(50));
        let clean = rx.skipped() == 0 && report.skipped_cycles == 0;
        ((rx, report, String::from_utf8(log).unwrap()), clean)
    });
    assert_eq!(report.reason, StopReason::Finished);
    assert_eq!(report.lost_events, 0);
    assert_eq!(report.values, 8, "one value per beat for 2 bars");
    assert_eq!(report.max_beat_error_frames.unwrap_or(0), 0);
    assert_eq!(lines.lines().count(), 8, "{lines}");
    assert!(
        lines.lines().all(|l| l.contains(" Am ")),
        "the held A minor chord labels the notes:\n{lines}"
    );
    assert_eq!(rx.note_ons().len(), report.notes);
    assert_nothing_left_sounding(rx.received());
    drop(keys);
}

/// `--jack --trade 2 --call-in PORT`: a player on JACK calls in bars 1-2; jazz-synth is silent
/// there, answers from the first frame of bar 3, and what it answers depends on the call (the
/// same seed without a call plays another answer). Its process callback hears the call without
/// allocating (this test binary aborts on an allocation in the callback).
#[test]
fn trading_through_jack_answers_the_call_in_its_own_bars() {
    let _serial = one_at_a_time();
    let (player, _) = jack::Client::new(
        &format!("caller-{}", std::process::id()),
        jack::ClientOptions::NO_START_SERVER,
    )
    .unwrap_or_else(|e| no_server(e));
    let mut out = player
        .register_port("out", jack::MidiOut::default())
        .unwrap();
    let player_name = out.name().unwrap();
    let calling = Arc::new(AtomicBool::new(true));
    let call_switch = Arc::clone(&calling);
    let mut cycle = 0u64;
    let player = player
        .activate_async(
            (),
            jack::contrib::ClosureProcessHandler::new(
                move |_: &jack::Client, ps: &jack::ProcessScope| {
                    // A line up and down a scale, a note every 8 cycles, while anyone listens.
                    let listening = out.connected_count().unwrap_or(0) > 0;
                    let mut w = out.writer(ps);
                    if listening && call_switch.load(Ordering::SeqCst) {
                        cycle += 1;
                        let scale = [60u8, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62];
                        if cycle.is_multiple_of(8) {
                            let n = scale[(cycle / 8) as usize % scale.len()];
                            let prev =
                                scale[(cycle / 8 + scale.len() as u64 - 1) as usize % scale.len()];
                            let _ = w.write(&jack::RawMidi {
                                time: 0,
                                bytes: &[0x80, prev, 0],
                            });
                            let _ = w.write(&jack::RawMidi {
                                time: 1,
                                bytes: &[0x90, n, 90],
                            });
                        }
                    }
                    jack::Control::Continue
                },
            ),
        )
        .unwrap();
    let s = Setup::from_options(&MusicOptions {
        tempo_bpm: Some(300.0),
        trade: Some(2),
        seed: Some(4),
        ..Default::default()
    })
    .unwrap();
    let spb = 48_000.0 * 60.0 / 300.0;
    let run = |with_call: bool| {
        calling.store(with_call, Ordering::SeqCst);
        clean_run(|| {
            let mut rx = MidiReceiver::new();
            let opts = JackOptions {
                client_name: format!("js-trade-{}", std::process::id()),
                connect_out: Some(rx.port.clone()),
                call_from: Some(player_name.clone()),
                clock_out: true,
                bars: Some(4),
                print_notes: false,
                ..JackOptions::default()
            };
            static STOP: AtomicBool = AtomicBool::new(false);
            let report =
                jackio::run_jack(&s, &opts, &STOP, &mut Vec::new()).expect("run through JACK");
            std::thread::sleep(Duration::from_millis(50));
            let clean = rx.skipped() == 0 && report.skipped_cycles == 0;
            // MIDI clock start marks frame 0 of the transport.
            let start = rx
                .received()
                .iter()
                .find(|r| r.bytes == [0xFA])
                .map(|r| r.frame)
                .expect("MIDI start");
            let ons: Vec<(f64, u8)> = rx
                .note_ons()
                .iter()
                .map(|&(f, n)| ((f - start) as f64 / spb, n))
                .collect();
            assert_nothing_left_sounding(rx.received());
            ((ons, report), clean)
        })
    };
    let (answered, report) = run(true);
    let (unprimed, _) = run(false);
    drop(player);
    assert_eq!(report.reason, StopReason::Finished);
    assert!(!answered.is_empty());
    assert!(
        answered.iter().all(|(beat, _)| *beat >= 8.0 - 1e-6),
        "{answered:?}"
    );
    assert!(
        (answered[0].0 - 8.0).abs() < 1e-6,
        "the answer starts on bar 3: {answered:?}"
    );
    let keys = |ons: &[(f64, u8)]| ons.iter().map(|o| o.1).collect::<Vec<u8>>();
    assert_ne!(
        keys(&answered),
        keys(&unprimed),
        "the call changed the answer"
    );
}
