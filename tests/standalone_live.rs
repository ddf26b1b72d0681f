//! The live player's loop (what `--midi-out` runs), driven in-process into a
//! recording MIDI sink: the notes are the engine's, sent at their beat
//! times, and every way of stopping leaves nothing sounding.

mod common;
use common::summary;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jazz_synth::standalone::live::{
    run_live, wait_until, ClockSource, LiveOptions, LiveReport, RecordingSink, StopReason,
    LIVE_SAMPLE_RATE,
};
use jazz_synth::standalone::ports::TimedMessage;
use jazz_synth::standalone::render::render_timeline;
use jazz_synth::standalone::session::Setup;

use common::beat_setup as setup;

fn note_ons(sent: &[(Instant, Vec<u8>)]) -> Vec<(Instant, u8)> {
    sent.iter()
        .filter(|(_, m)| m.len() == 3 && m[0] & 0xF0 == 0x90 && m[2] > 0)
        .map(|(t, m)| (*t, m[1]))
        .collect()
}

/// Every note-on is followed by its note-off, and the run ends with All
/// Notes Off (CC 123) and MIDI Stop.
fn assert_nothing_left_sounding(sent: &[(Instant, Vec<u8>)]) {
    let mut sounding: Vec<u8> = Vec::new();
    for (_, m) in sent {
        match m.as_slice() {
            [s, n, v] if s & 0xF0 == 0x90 && *v > 0 => sounding.push(*n),
            [s, n, _] if s & 0xF0 == 0x80 || s & 0xF0 == 0x90 => sounding.retain(|x| x != n),
            _ => {}
        }
    }
    assert!(sounding.is_empty(), "left sounding: {sounding:?}");
    let n = sent.len();
    assert!(n >= 2);
    assert_eq!(sent[n - 2].1[1..], [123, 0], "All Notes Off");
    assert_eq!(sent[n - 1].1, [0xFC], "MIDI Stop");
}

/// `run_live` on its own clock with no chord input.
fn play_internal(
    setup: &Setup,
    sink: &mut RecordingSink,
    opts: &LiveOptions,
    stop: &AtomicBool,
    log: &mut Vec<u8>,
) -> Result<LiveReport, String> {
    run_live(setup, sink, ClockSource::Internal, None, opts, stop, log)
}

#[test]
fn the_live_loop_sends_the_engines_notes_at_their_beat_times() {
    let s = setup(4, 240.0);
    let mut sink = RecordingSink::default();
    let mut log = Vec::new();
    let opts = LiveOptions {
        bars: Some(2),
        clock_out: true,
        ..LiveOptions::default()
    };
    let report = play_internal(&s, &mut sink, &opts, &AtomicBool::new(false), &mut log).unwrap();
    assert_eq!(report.reason, StopReason::Finished);
    assert_eq!(report.values, 8);
    assert_eq!(
        String::from_utf8(log).unwrap().lines().count(),
        8,
        "a line per value"
    );

    let (expected, _) = render_timeline(&s, 2, LIVE_SAMPLE_RATE, 512);
    let start = sink
        .sent
        .iter()
        .find(|(_, m)| m == &[0xFA])
        .expect("MIDI Start")
        .0;
    assert!(start >= report.origin, "Start is not sent before beat 0");
    let ons = note_ons(&sink.sent);
    let pitches: Vec<u8> = ons.iter().map(|o| o.1).collect();
    let want: Vec<u8> = expected.solo.iter().map(|n| n.note).collect();
    assert_eq!(pitches, want, "the live notes are the render's notes");
    assert_eq!(report.notes, ons.len());
    for ((t, note), n) in ons.iter().zip(&expected.solo) {
        let ideal = n.start as f64 / LIVE_SAMPLE_RATE;
        let at = t.duration_since(report.origin).as_secs_f64();
        // Never early (1 µs for nanosecond rounding of the deadline), and not
        // grossly late even on a loaded machine.
        assert!(
            at >= ideal - 1e-6,
            "note {note} sent {:.3} ms early",
            (ideal - at) * 1e3
        );
        assert!(
            at <= ideal + 0.050,
            "note {note} sent {:.3} ms late",
            (at - ideal) * 1e3
        );
    }
    let ticks = sink.sent.iter().filter(|(_, m)| m == &[0xF8]).count();
    assert_eq!(ticks, 2 * 4 * 24, "24 clock ticks per beat");
    assert_nothing_left_sounding(&sink.sent);
    let j = report.jitter.expect("jitter measured");
    summary::note(&format!(
        "live note-on jitter (in-process sink, 240 BPM): {j}"
    ));
}

#[test]
fn jitter_over_eight_bars_is_measured_against_the_ideal_beats() {
    // As the binary does; refused without privileges, which is fine.
    let realtime = jazz_synth::standalone::live::try_realtime_priority();
    let s = setup(9, 200.0);
    let mut sink = RecordingSink::default();
    let opts = LiveOptions {
        bars: Some(8),
        print_notes: false,
        ..LiveOptions::default()
    };
    let report = play_internal(
        &s,
        &mut sink,
        &opts,
        &AtomicBool::new(false),
        &mut Vec::new(),
    )
    .unwrap();
    let j = report.jitter.expect("notes were played");
    assert_eq!(j.count, report.notes);
    // Loose bounds that catch scheduling bugs (a block late, a beat late)
    // without failing on a busy CI machine; the numbers go to the summary.
    assert!(j.median_us < 5_000.0, "{j}");
    assert!(j.max_us < 100_000.0, "{j}");
    summary::note(&format!("live note-on jitter (in-process sink, 8 bars at 200 BPM, real-time priority {realtime}): {j}"));
}

#[test]
fn interrupting_the_live_loop_ends_the_note_and_sends_stop() {
    let s = setup(1, 300.0);
    static STOP: AtomicBool = AtomicBool::new(false);
    let stopper = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(900));
        STOP.store(true, Ordering::SeqCst);
    });
    let mut sink = RecordingSink::default();
    let opts = LiveOptions {
        print_notes: false,
        ..LiveOptions::default()
    };
    let began = Instant::now();
    let report = play_internal(&s, &mut sink, &opts, &STOP, &mut Vec::new()).unwrap();
    stopper.join().unwrap();
    assert_eq!(report.reason, StopReason::Interrupted);
    assert!(began.elapsed() < Duration::from_secs(3), "stopped promptly");
    assert!(report.values >= 3, "{report:?}");
    assert_nothing_left_sounding(&sink.sent);
}

#[test]
fn a_lost_port_ends_the_run_with_an_error() {
    let s = setup(2, 300.0);
    let mut sink = RecordingSink {
        fail_after: Some(3),
        ..RecordingSink::default()
    };
    let opts = LiveOptions {
        print_notes: false,
        clock_out: true,
        ..LiveOptions::default()
    };
    let err = play_internal(
        &s,
        &mut sink,
        &opts,
        &AtomicBool::new(false),
        &mut Vec::new(),
    )
    .expect_err("sending failed");
    assert!(err.contains("went away"), "{err}");
    assert_eq!(sink.sent.len(), 3);
}

#[test]
fn an_unplugged_port_is_noticed_and_silenced_before_the_error() {
    // ALSA keeps accepting messages for a port that has gone; only the
    // sink's check notices. The player still tries to silence it.
    let s = setup(6, 300.0);
    let mut sink = RecordingSink {
        gone_after: Some(4),
        ..RecordingSink::default()
    };
    let opts = LiveOptions {
        print_notes: false,
        ..LiveOptions::default()
    };
    let began = Instant::now();
    let err = play_internal(
        &s,
        &mut sink,
        &opts,
        &AtomicBool::new(false),
        &mut Vec::new(),
    )
    .expect_err("the port went away");
    assert!(err.contains("went away"), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "noticed within the check interval"
    );
    assert_nothing_left_sounding(&sink.sent);
}

#[test]
fn an_external_clock_sets_the_tempo_and_the_start() {
    // A drum machine at 100 BPM: Start, then 24 ticks per beat.
    let (tx, rx) = crossbeam_channel::unbounded();
    let feeder = std::thread::spawn(move || {
        let tick = Duration::from_secs_f64(60.0 / 100.0 / 24.0);
        let t0 = Instant::now() + Duration::from_millis(200);
        wait_until(t0);
        let _ = tx.send(TimedMessage::new(Instant::now(), &[0xFA]));
        for k in 0..(24 * 6) {
            wait_until(t0 + tick * k);
            if tx.send(TimedMessage::new(Instant::now(), &[0xF8])).is_err() {
                return;
            }
        }
    });
    // The internal tempo is deliberately wrong: the clock must win. The seed model, which does
    // not hear the tempo, so the live solo is the render's whatever tempo the follower bends to
    // (the default model hears the tempo band, checked in tests/jazz_model.rs).
    let mut s = setup(5, 180.0);
    s.model = jazz_synth::model::weights::metheny_model();
    let mut sink = RecordingSink::default();
    let mut log = Vec::new();
    let opts = LiveOptions {
        bars: Some(1),
        ..LiveOptions::default()
    };
    let report = run_live(
        &s,
        &mut sink,
        ClockSource::External(rx),
        None,
        &opts,
        &AtomicBool::new(false),
        &mut log,
    )
    .unwrap();
    feeder.join().unwrap();
    assert_eq!(report.reason, StopReason::Finished);
    assert_eq!(report.values, 4, "{}", String::from_utf8_lossy(&log));
    // Onsets of the values (notes) sit on the clock's beats: 0.6 s apart.
    let (expected, _) = render_timeline(&s, 1, LIVE_SAMPLE_RATE, 512);
    let ons = note_ons(&sink.sent);
    assert_eq!(
        ons.iter().map(|o| o.1).collect::<Vec<_>>(),
        expected.solo.iter().map(|n| n.note).collect::<Vec<_>>()
    );
    let beats: Vec<f64> = expected
        .solo
        .iter()
        .map(|n| n.start as f64 / (LIVE_SAMPLE_RATE * 60.0 / 180.0))
        .collect();
    for i in 1..ons.len() {
        let dt = ons[i].0.duration_since(ons[0].0).as_secs_f64();
        let want = (beats[i] - beats[0]) * 0.6;
        assert!(
            (dt - want).abs() < 0.03,
            "onset {i}: {dt:.3} s after the first, want {want:.3} s"
        );
    }
    assert_nothing_left_sounding(&sink.sent);
}

/// `--trade 2 --call-in PORT` on the live loop: a player calls in bars 1-2 (messages arriving
/// on the call port as a midir input delivers them); nothing is sent in the player's bars, the
/// answer comes in bars 3-4, and it is not the answer to silence.
#[test]
fn trading_live_answers_the_call_in_its_own_bars() {
    use jazz_synth::standalone::session::MusicOptions;
    let s = Setup::from_options(&MusicOptions {
        tempo_bpm: Some(300.0),
        trade: Some(2),
        seed: Some(9),
        ..Default::default()
    })
    .unwrap();
    let beat = 60.0 / 300.0;
    let play = |call: bool| {
        let (tx, rx) = crossbeam_channel::unbounded();
        let origin = Instant::now();
        let player = std::thread::spawn(move || {
            if !call {
                return;
            }
            // Eighth notes up a scale for the player's two bars (8 beats), from beat 0.
            let scale = [60u8, 62, 64, 65, 67, 69, 71, 72];
            for i in 0..15u32 {
                let at = origin + Duration::from_secs_f64(0.03 + f64::from(i) * beat / 2.0);
                wait_until(at);
                let key = scale[i as usize % scale.len()];
                let _ = tx.send(TimedMessage::new(Instant::now(), &[0x90, key, 90]));
                wait_until(at + Duration::from_secs_f64(beat / 2.0 * 0.8));
                let _ = tx.send(TimedMessage::new(Instant::now(), &[0x80, key, 0]));
            }
        });
        let mut sink = RecordingSink::default();
        let opts = LiveOptions {
            bars: Some(4),
            call_in: Some(rx),
            ..LiveOptions::default()
        };
        let report = run_live(
            &s,
            &mut sink,
            ClockSource::Internal,
            None,
            &opts,
            &AtomicBool::new(false),
            &mut Vec::new(),
        )
        .unwrap();
        player.join().unwrap();
        assert_nothing_left_sounding(&sink.sent);
        let ons: Vec<(f64, u8)> = note_ons(&sink.sent)
            .iter()
            .map(|(t, n)| {
                let at = t.duration_since(report.origin).as_secs_f64();
                (at / beat, *n)
            })
            .collect();
        ons
    };
    let answered = play(true);
    let unprimed = play(false);
    assert!(!answered.is_empty());
    assert!(
        answered.iter().all(|(b, _)| *b >= 8.0 - 0.01),
        "a note in the player's bars: {answered:?}"
    );
    assert!((answered[0].0 - 8.0).abs() < 0.05, "{answered:?}");
    let keys = |ons: &[(f64, u8)]| ons.iter().map(|o| o.1).collect::<Vec<u8>>();
    assert_ne!(
        keys(&answered),
        keys(&unprimed),
        "the call changed the answer"
    );
}
