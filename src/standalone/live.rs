//! The live player: the block driver run by a monotonic clock (or an external MIDI clock), its
//! messages sent to a MIDI port at their times. Also what both live front ends share around the
//! driver: Ctrl-C handling and jitter statistics.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::engine::MidiIn;
use crate::standalone::driver::BlockDriver;
pub(crate) use crate::standalone::driver::{call_input, chord_input, Scheduled};
use crate::standalone::midiclock::{self, ClockFollower};
use crate::standalone::ports::{MidiSink, TimedMessage};
use crate::standalone::session::Setup;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    // A second Ctrl-C while the first is being handled means "now": the
    // clean shutdown is taking too long for the user.
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Installs handlers for SIGINT (Ctrl-C), SIGTERM and SIGHUP that only set a
/// flag, so the player can end every note and send MIDI stop before it
/// exits. Returns the flag.
pub fn install_interrupt_handler() -> Result<&'static AtomicBool, String> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only touches an
        // atomic (async-signal-safe) and an empty mask is valid.
        let ok = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
        };
        if !ok {
            return Err(format!(
                "cannot install the handler for signal {sig}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(&INTERRUPTED)
}

/// The interrupt flag without installing handlers (set by the handlers of
/// [`install_interrupt_handler`]).
pub fn interrupted() -> &'static AtomicBool {
    &INTERRUPTED
}

/// Note-on timing error against the ideal beat times, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterStats {
    pub count: usize,
    pub median_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl JitterStats {
    /// Statistics of `|actual − ideal|` in microseconds; `None` without samples.
    pub fn from_errors_us(errors_us: &[f64]) -> Option<JitterStats> {
        if errors_us.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = errors_us.iter().map(|e| e.abs()).collect();
        v.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least p% of samples at or below it.
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(JitterStats {
            count: v.len(),
            median_us: rank(0.5),
            p99_us: rank(0.99),
            max_us: v[v.len() - 1],
        })
    }
}

impl fmt::Display for JitterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "note-on jitter over {} notes: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.count,
            self.median_us / 1000.0,
            self.p99_us / 1000.0,
            self.max_us / 1000.0
        )
    }
}

/// Where the live player's beat comes from.
pub enum ClockSource {
    /// Its own tempo, from the monotonic clock.
    Internal,
    /// An external MIDI clock (`--clock-in`): messages with arrival times.
    External(Receiver<TimedMessage>),
}

/// Options of one live run.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Stop after this many bars; `None` = until interrupted.
    pub bars: Option<u32>,
    /// Send MIDI clock (24 per quarter note) with start and stop.
    pub clock_out: bool,
    /// Print a line per generated value.
    pub print_notes: bool,
    /// Engine block length in samples of the 48 kHz timeline.
    pub block_samples: u32,
    /// The player's call (`--call-in`): heard when trading or listening, never taken as chords.
    pub call_in: Option<Receiver<TimedMessage>>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            bars: None,
            clock_out: false,
            print_notes: true,
            block_samples: 48,
            call_in: None,
        }
    }
}

/// Why a live run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `--bars` were played.
    Finished,
    /// Ctrl-C (or SIGTERM/SIGHUP).
    Interrupted,
}

/// What a live run did.
#[derive(Clone, Debug)]
pub struct LiveReport {
    pub reason: StopReason,
    /// Note-ons sent.
    pub notes: usize,
    /// Values generated (notes and rests).
    pub values: usize,
    /// Note-on send time against the ideal time of its beat.
    pub jitter: Option<JitterStats>,
    /// The instant of sample 0 of the timeline (beat 0 on the internal
    /// clock): event at sample `s` is due at `origin + s / LIVE_SAMPLE_RATE`.
    pub origin: Instant,
}

/// The live player's simulated timeline runs at this rate: it only sets the
/// resolution of event times (≈21 µs), not any audio.
pub const LIVE_SAMPLE_RATE: f64 = 48_000.0;
/// Each block is computed this long before it starts, so an event at the
/// block's first sample is never late because of the engine's own work.
const LOOKAHEAD: Duration = Duration::from_millis(2);
/// The last stretch before an event is waited by spinning: sleeping
/// overshoots by tens of microseconds or more.
const SPIN: Duration = Duration::from_micros(400);

/// How often the player asks the sink whether its port still exists: a
/// quarter second of the timeline.
const CHECK_EVERY_SAMPLES: u64 = (LIVE_SAMPLE_RATE as u64) / 4;

/// Waits until `deadline`: sleeps, then spins the last `SPIN` (a fraction of a millisecond).
pub fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Asks for real-time scheduling for the calling thread; fine if refused
/// (no privileges): the spin-wait keeps timing tight on an idle machine.
pub fn try_realtime_priority() -> bool {
    // SAFETY: plain libc call on the current thread with a valid param struct.
    unsafe {
        let param = libc::sched_param { sched_priority: 20 };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
    }
}

/// Plays live: drives the engine from the monotonic clock (or an external
/// MIDI clock) in small blocks and sends each event at its time.
///
/// Ends after `opts.bars`, when `stop` is set (Ctrl-C), or on the first
/// failed send; in every case the sounding note is ended, All Notes Off and
/// MIDI Stop are sent (best effort after a failure) before returning.
/// Lines per generated value go to `log` when `opts.print_notes`.
pub fn run_live(
    setup: &Setup,
    sink: &mut dyn MidiSink,
    clock: ClockSource,
    chords_in: Option<Receiver<TimedMessage>>,
    opts: &LiveOptions,
    stop: &AtomicBool,
    log: &mut dyn Write,
) -> Result<LiveReport, String> {
    let sr = LIVE_SAMPLE_RATE;
    let block = opts.block_samples.clamp(1, 4800);
    let mut driver = BlockDriver::new(setup, sr, opts.bars, opts.clock_out);
    let mut midi_in: Vec<MidiIn> = Vec::with_capacity(256);
    let mut scheduled: Vec<Scheduled> = Vec::with_capacity(512);
    let mut jitter_us: Vec<f64> = Vec::new();
    let (mut notes, mut values) = (0usize, 0usize);

    let external = match clock {
        ClockSource::External(rx) => Some(rx),
        ClockSource::Internal => None,
    };
    let mut follower = ClockFollower::new(setup.tempo_bpm);
    let origin = Instant::now();
    let secs = |t: Instant| t.saturating_duration_since(origin).as_secs_f64();

    // A short lead so the first beat is not late because of start-up work.
    let t0 = origin + Duration::from_millis(30);
    let at = |sample: u64| t0 + Duration::from_secs_f64(sample as f64 / sr);
    let mut s: u64 = 0;
    let mut next_check: u64 = CHECK_EVERY_SAMPLES;

    let run = (|| -> Result<StopReason, String> {
        if opts.clock_out && external.is_none() {
            wait_until(t0);
            sink.send(&[midiclock::START])?;
        }
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(StopReason::Interrupted);
            }
            let block_start = at(s);
            wait_until(block_start.checked_sub(LOOKAHEAD).unwrap_or(block_start));

            midi_in.clear();
            if let Some(rx) = &chords_in {
                drain(rx, |m| {
                    if midi_in.len() < midi_in.capacity() {
                        if let Some(ev) = chord_input(m.message(), 0) {
                            midi_in.push(ev);
                        }
                    }
                });
            }
            if let Some(rx) = &opts.call_in {
                drain(rx, |m| {
                    if midi_in.len() < midi_in.capacity() {
                        if let Some(ev) = call_input(m.message(), 0) {
                            midi_in.push(ev);
                        }
                    }
                });
            }

            // `last`: `--bars` end inside this block; play up to it, then stop.
            let (transport, own_from) = match &external {
                None => (driver.own_transport(s), Some(s)),
                Some(rx) => {
                    drain(rx, |m| {
                        follower.on_message(secs(m.time), m.message());
                    });
                    let ft = follower.transport_for_block(secs(block_start), f64::from(block) / sr);
                    let t = driver.transport(ft.playing, Some(ft.position_beats), ft.tempo_bpm);
                    (t, None)
                }
            };
            let (n, last) = driver.until_end(&transport, own_from, block);

            scheduled.clear();
            driver.play(
                &transport,
                n,
                &midi_in,
                &mut scheduled,
                usize::MAX,
                |g, beats| {
                    values += 1;
                    if opts.print_notes {
                        // A closed terminal must not stop the music.
                        let _ = writeln!(log, "{}", setup.note_line(g, beats));
                    }
                },
            );
            scheduled.sort_by_key(|m| (m.offset, m.order));
            for m in &scheduled {
                let deadline = at(s + u64::from(m.offset));
                wait_until(deadline);
                sink.send(m.message())?;
                if m.note_on {
                    notes += 1;
                    jitter_us.push(
                        Instant::now()
                            .saturating_duration_since(deadline)
                            .as_secs_f64()
                            * 1e6,
                    );
                }
            }
            s += u64::from(n);
            if s >= next_check {
                next_check = s + CHECK_EVERY_SAMPLES;
                sink.check()?;
            }
            if last {
                // The end of the last bar is when the final note stops.
                wait_until(at(s));
                return Ok(StopReason::Finished);
            }
        }
    })();

    // Whatever happened, leave nothing sounding. After a failed send the
    // port is probably gone; try anyway and report the first error.
    let mut shutdown_error = None;
    scheduled.clear();
    driver.finish(0, &mut scheduled);
    for m in &scheduled {
        if let Err(e) = sink.send(m.message()) {
            shutdown_error.get_or_insert(e);
        }
    }
    let _ = log.flush();
    let reason = run?;
    if let Some(e) = shutdown_error {
        return Err(e);
    }
    Ok(LiveReport {
        reason,
        notes,
        values,
        jitter: JitterStats::from_errors_us(&jitter_us),
        origin: t0,
    })
}

fn drain(rx: &Receiver<TimedMessage>, mut f: impl FnMut(&TimedMessage)) {
    loop {
        match rx.try_recv() {
            Ok(m) => f(&m),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
        }
    }
}

/// Records what a live run sends, with send times (for tests).
#[derive(Default)]
pub struct RecordingSink {
    pub sent: Vec<(Instant, Vec<u8>)>,
    /// Fail every send after this many messages (a port that errors).
    pub fail_after: Option<usize>,
    /// Report the port gone at the first check after this many messages
    /// (an unplugged device that still accepts sends).
    pub gone_after: Option<usize>,
}

impl MidiSink for RecordingSink {
    fn send(&mut self, message: &[u8]) -> Result<(), String> {
        if self.fail_after.is_some_and(|n| self.sent.len() >= n) {
            return Err("the MIDI port went away".into());
        }
        self.sent.push((Instant::now(), message.to_vec()));
        Ok(())
    }

    fn check(&mut self) -> Result<(), String> {
        match self.gone_after {
            Some(n) if self.sent.len() >= n => Err("the MIDI output \"test\" went away".into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NoteEvent;
    use crate::standalone::driver::note_message;

    #[test]
    fn at_one_sample_start_precedes_the_downbeat_tick_and_stop_comes_last() {
        let mut msgs = [
            Scheduled::realtime(0, midiclock::STOP),
            Scheduled::all_notes_off(0, 0),
            note_message(&NoteEvent::On {
                sample: 0,
                channel: 0,
                note: 60,
                velocity: 90,
            }),
            Scheduled::realtime(0, midiclock::CLOCK),
            Scheduled::realtime(0, midiclock::START),
            note_message(&NoteEvent::Off {
                sample: 0,
                channel: 0,
                note: 60,
            }),
            Scheduled::song_position(0, 4.0),
        ];
        msgs.sort_unstable_by_key(|m| (m.offset, m.order));
        let firsts: Vec<u8> = msgs.iter().map(|m| m.bytes[0]).collect();
        assert_eq!(firsts, [0x80, 0xF2, 0xFA, 0xF8, 0x90, 0xB0, 0xFC]);
        assert_eq!(msgs[1].message(), [0xF2, 16, 0], "4 beats = 16 sixteenths");
    }

    #[test]
    fn jitter_percentiles_use_nearest_rank() {
        let errors: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = JitterStats::from_errors_us(&errors).unwrap();
        assert_eq!(
            (s.count, s.median_us, s.p99_us, s.max_us),
            (100, 50.0, 99.0, 100.0)
        );
        let s = JitterStats::from_errors_us(&[-300.0]).unwrap();
        assert_eq!((s.median_us, s.p99_us), (300.0, 300.0));
        assert!(JitterStats::from_errors_us(&[]).is_none());
    }
}
