//! `jazz-synth render`: the same engine on a simulated transport, written as a
//! format-1 MIDI file (and WAV) that reads back with the engine's notes.

use std::fs;
use std::process::Command;

use jazz_synth::engine::end_sample;
use jazz_synth::engine::{NoteEvent, Output, Transport};
use jazz_synth::standalone::render::{render_timeline, write_midi, TICKS_PER_QUARTER};
use jazz_synth::standalone::session::{MusicOptions, Setup};
use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};

const BIN: &str = env!("CARGO_BIN_EXE_jazz-synth");

mod common;
use common::temp_dir;

use common::beat_setup as setup;

/// (onset tick, end tick, key, channel) of every note in a track.
fn notes_of(track: &[midly::TrackEvent]) -> Vec<(u64, u64, u8, u8)> {
    let mut tick = 0u64;
    let mut open: Vec<(u64, u8, u8)> = Vec::new();
    let mut notes = Vec::new();
    for e in track {
        tick += u64::from(e.delta.as_int());
        if let TrackEventKind::Midi { channel, message } = e.kind {
            match message {
                MidiMessage::NoteOn { key, vel } if vel > 0 => {
                    open.push((tick, key.as_int(), channel.as_int()))
                }
                MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                    let i = open
                        .iter()
                        .position(|o| o.1 == key.as_int())
                        .expect("note-off without note-on");
                    let (start, k, ch) = open.remove(i);
                    notes.push((start, tick, k, ch));
                }
                _ => {}
            }
        }
    }
    assert!(open.is_empty(), "notes never ended: {open:?}");
    notes.sort();
    notes
}

/// The engine run directly, in one go with blocks of 1000 samples: the
/// note events it produces as (onset sample, note).
fn engine_note_ons(s: &Setup, beats: u32, sample_rate: f64) -> Vec<(u64, u8)> {
    let mut engine = s.engine(sample_rate);
    let spb = sample_rate * 60.0 / s.tempo_bpm;
    let total = end_sample(f64::from(beats), spb);
    let mut out = Output::with_capacity(256);
    let mut ons = Vec::new();
    let mut pos = 0u64;
    while pos < total {
        let n = 1000.min(total - pos) as u32;
        let t = Transport {
            playing: true,
            tempo_bpm: s.tempo_bpm,
            position_beats: Some(pos as f64 / spb),
            time_sig: (4, 4),
            bar: None,
        };
        out.clear();
        engine.process(&t, n, &[], &mut out);
        for ev in &out.notes {
            if let NoteEvent::On { sample, note, .. } = *ev {
                ons.push((pos + u64::from(sample), note));
            }
        }
        pos += u64::from(n);
    }
    ons
}

#[test]
fn the_midi_file_reads_back_with_the_engines_notes_on_the_beat_grid() {
    let s = setup(3, 132.0);
    let bars = 8;
    let (timeline, _) = render_timeline(&s, bars, 48_000.0, 512);
    let dir = temp_dir("grid");
    let path = dir.join("solo.mid");
    write_midi(&timeline, &path).unwrap();

    let bytes = fs::read(&path).unwrap();
    let smf = Smf::parse(&bytes).expect("midly reads the file");
    assert_eq!(smf.header.format, midly::Format::Parallel);
    assert_eq!(
        smf.header.timing,
        midly::Timing::Metrical(TICKS_PER_QUARTER.into())
    );
    assert_eq!(smf.tracks.len(), 3, "tempo, chords, solo");
    let tempo = smf.tracks[0].iter().find_map(|e| match e.kind {
        TrackEventKind::Meta(MetaMessage::Tempo(t)) => Some(t.as_int()),
        _ => None,
    });
    assert_eq!(tempo, Some((60_000_000.0f64 / 132.0).round() as u32));

    let solo = notes_of(&smf.tracks[2]);
    let engine = engine_note_ons(&s, bars * 4, 48_000.0);
    assert!(!engine.is_empty());
    let spb = 48_000.0 * 60.0 / 132.0;
    let tpq = u64::from(TICKS_PER_QUARTER);
    let from_file: Vec<(u64, u8)> = solo.iter().map(|&(on, _, k, _)| (on, k)).collect();
    let from_engine: Vec<(u64, u8)> = engine
        .iter()
        .map(|&(sample, note)| ((sample as f64 / spb * tpq as f64).round() as u64, note))
        .collect();
    assert_eq!(from_file, from_engine, "the file holds the engine's notes");
    for &(on, off, _, ch) in &solo {
        assert_eq!(
            on % tpq,
            0,
            "one value per beat: onset tick {on} is on the grid"
        );
        assert!(
            off > on && off <= u64::from(bars) * 4 * tpq,
            "note {on}..{off}"
        );
        assert_eq!(ch, s.settings.channel);
    }
    // Monophonic: a note ends before the next begins.
    for w in solo.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlap: {w:?}");
    }

    // Chords: a text event per chord and the chord's notes on their own channel.
    let texts: Vec<String> = smf.tracks[1]
        .iter()
        .filter_map(|e| match e.kind {
            TrackEventKind::Meta(MetaMessage::Text(t)) => {
                Some(String::from_utf8_lossy(t).into_owned())
            }
            _ => None,
        })
        .collect();
    let expected: Vec<String> = timeline.chords.iter().map(|c| c.symbol.clone()).collect();
    assert_eq!(texts, expected);
    assert_eq!(
        texts.first().map(String::as_str),
        Some(s.progression.symbol_at(0.0).to_string().as_str())
    );
    assert!(notes_of(&smf.tracks[1])
        .iter()
        .all(|n| n.3 != s.settings.channel));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_seed_renders_the_same_solo_for_any_block_size() {
    let s = setup(11, 97.0);
    let (a, _) = render_timeline(&s, 4, 44_100.0, 1);
    let (b, _) = render_timeline(&s, 4, 44_100.0, 4096);
    let (c, _) = render_timeline(&s, 4, 44_100.0, 333);
    assert_eq!(a.solo, b.solo);
    assert_eq!(a.solo, c.solo);
}

#[test]
fn render_command_writes_midi_and_wav_and_no_temporary_files() {
    let dir = temp_dir("cmd");
    let mid = dir.join("solo.mid");
    let wav = dir.join("solo.wav");
    let out = Command::new(BIN)
        .args([
            "render", "--bars", "4", "--seed", "5", "--rhythm", "beat", "--quiet", "--out",
        ])
        .arg(&mid)
        .arg("--wav")
        .arg(&wav)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "--quiet prints no note lines");
    assert!(err.contains("wrote"), "{err}");

    let (timeline, _) = render_timeline(&setup(5, 120.0), 4, 48_000.0, 512);
    let smf_bytes = fs::read(&mid).unwrap();
    let smf = Smf::parse(&smf_bytes).unwrap();
    let keys: Vec<u8> = notes_of(&smf.tracks[2]).iter().map(|n| n.2).collect();
    let want: Vec<u8> = timeline.solo.iter().map(|n| n.note).collect();
    assert_eq!(keys, want, "the binary renders what the library renders");

    let reader = hound::WavReader::open(&wav).expect("a valid WAV file");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 48_000, 16)
    );
    let seconds = f64::from(reader.duration()) / 48_000.0;
    // 4 bars at 120 BPM are 8 s, plus the release tail.
    assert!((8.0..9.0).contains(&seconds), "{seconds} s");
    let peak = reader
        .into_samples::<i16>()
        .map(|s| s.unwrap().unsigned_abs())
        .max()
        .unwrap();
    assert!(peak > 1000, "the WAV is not silent");

    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["solo.mid", "solo.wav"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn render_prints_a_line_per_value_unless_quiet() {
    let dir = temp_dir("lines");
    let out = Command::new(BIN)
        .args(["render", "--bars", "2", "--rhythm", "beat", "--out"])
        .arg(dir.join("a.mid"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "one value per beat for 2 bars:\n{text}");
    assert!(lines[0].trim_start().starts_with("1:1"), "{text}");
    assert!(lines[7].trim_start().starts_with("2:4"), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_output_names_the_file_and_writes_nothing() {
    let out = Command::new(BIN)
        .args([
            "render",
            "--bars",
            "1",
            "--quiet",
            "--out",
            "/nonexistent-jazz-synth-dir/solo.mid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write /nonexistent-jazz-synth-dir/solo.mid"),
        "{err}"
    );
}

#[test]
fn a_bad_chord_symbol_is_pointed_at() {
    let out = Command::new(BIN)
        .args([
            "render",
            "--bars",
            "1",
            "--quiet",
            "--chords",
            "Dm7 G7 | Hmaj7 | C",
            "--out",
            "/tmp/never-written.mid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Hmaj7"), "{err}");
    // The caret sits under the bad symbol.
    let lines: Vec<&str> = err.lines().collect();
    let text_line = lines
        .iter()
        .position(|l| l.contains("Dm7 G7 | Hmaj7 | C"))
        .expect("the chords are repeated");
    let caret = lines[text_line + 1].find('^').expect("a caret line");
    assert_eq!(&lines[text_line][caret..caret + 5], "Hmaj7", "{err}");
}

#[test]
fn phrase_rhythm_notes_land_on_sixteenths_and_triplets() {
    let s = Setup::from_options(&MusicOptions {
        seed: Some(2),
        rhythm: Some(jazz_synth::engine::Rhythm::Phrase),
        weights: Some("metheny".into()),
        swing: Some(jazz_synth::engine::Swing::STRAIGHT),
        ..Default::default()
    })
    .unwrap();
    let (timeline, generated) = render_timeline(&s, 4, 48_000.0, 333);
    let dir = temp_dir("phrase");
    let path = dir.join("phrase.mid");
    write_midi(&timeline, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let smf = Smf::parse(&bytes).unwrap();
    let solo = notes_of(&smf.tracks[2]);
    assert_eq!(solo.len(), timeline.solo.len());
    // The engine's grid is 12 per beat: 40 of the file's 480 ticks.
    for &(on, off, _, _) in &solo {
        assert_eq!(on % 40, 0, "onset tick {on} is off the grid");
        assert!(off > on);
    }
    // Values come faster than one per beat when the model picks short ones.
    assert!(
        generated.len() > 16,
        "{} values in 16 beats",
        generated.len()
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_meter_sets_the_bars_the_file_and_the_chord_changes() {
    let dir = temp_dir("meter");
    let render = |args: &[&str], name: &str| {
        let path = dir.join(name);
        let out = Command::new(BIN)
            .args(["render", "--bars", "4", "--rhythm", "beat", "--out"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        (out, path)
    };
    let (out, waltz) = render(
        &["--meter", "3/4", "--chords", "Am | E7 | Am | E7"],
        "waltz.mid",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(lines.lines().count(), 12, "4 bars of 3 beats:\n{lines}");
    assert!(
        lines
            .lines()
            .nth(3)
            .unwrap()
            .trim_start()
            .starts_with("2:1"),
        "{lines}"
    );
    assert!(lines.lines().nth(3).unwrap().contains("E7"), "{lines}");
    let bytes = fs::read(&waltz).unwrap();
    let smf = Smf::parse(&bytes).unwrap();
    let sig = smf.tracks[0].iter().find_map(|e| match e.kind {
        TrackEventKind::Meta(MetaMessage::TimeSignature(n, d, ..)) => Some((n, d)),
        _ => None,
    });
    assert_eq!(
        sig,
        Some((3, 2)),
        "3/4 in the file (denominator as a power of two)"
    );

    // The same meter at the head of the chord text plays the same solo.
    let (out, head) = render(&["--chords", "3/4 Am | E7 | Am | E7"], "head.mid");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(&head).unwrap(), bytes);

    // 6/8 is three quarter notes a bar; 7/8 and nonsense are refused with a reason.
    let (out, _) = render(&["--meter", "6/8"], "six.mid");
    assert!(out.status.success());
    for (meter, want) in [
        ("7/8", "whole number of quarter notes"),
        ("3-4", "not a meter"),
    ] {
        let (out, _) = render(&["--meter", meter], "bad.mid");
        assert_eq!(out.status.code(), Some(2), "{meter}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{meter}: {err}");
    }
    let (out, _) = render(&["--meter", "4/4", "--chords", "3/4 Am | E7"], "clash.mid");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disagree"));
}

/// `render --call`: a recorded phrase of 6 bars, traded in twos. The file gets the call on a
/// track of its own (cut into the player's turns: bars 1-2, 5-6, 9-10) and the answers on the
/// solo track, each answer inside jazz-synth's turn after its call.
#[test]
fn render_call_answers_a_recorded_phrase_on_separate_tracks() {
    use common::midi_file::{format1, notes};
    let dir = temp_dir("call");
    let call = dir.join("call.mid");
    // A line of eighths over 6 bars (480 ticks per quarter), up and down a C major scale.
    let scale = [60u8, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62];
    let line: Vec<(f64, f64, u8)> = (0..48)
        .map(|i| (i as f64 * 0.5, 0.45, scale[i % scale.len()]))
        .collect();
    fs::write(&call, format1(480, &[("Sax", notes(480, &line))])).unwrap();
    let mid = dir.join("answer.mid");
    let out = Command::new(BIN)
        // The seed model: its answers start on the turn's first beat (the default model may
        // open an answer with a rest).
        .args([
            "render", "--model", "metheny", "--trade", "2", "--seed", "3", "--quiet",
        ])
        .arg("--call")
        .arg(&call)
        .arg("--out")
        .arg(&mid)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("12 bars") && err.contains("call: 48 notes"),
        "{err}"
    );

    let bytes = fs::read(&mid).unwrap();
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(smf.tracks.len(), 4, "tempo, chords, solo, call");
    let name = |t: &[midly::TrackEvent]| {
        t.iter().find_map(|e| match e.kind {
            TrackEventKind::Meta(MetaMessage::TrackName(n)) => Some(n.to_vec()),
            _ => None,
        })
    };
    assert_eq!(name(&smf.tracks[2]).as_deref(), Some(&b"Solo"[..]));
    assert_eq!(name(&smf.tracks[3]).as_deref(), Some(&b"Call"[..]));
    let q = u64::from(TICKS_PER_QUARTER);
    let turn = 8 * q;
    let call_notes = notes_of(&smf.tracks[3]);
    let solo = notes_of(&smf.tracks[2]);
    assert_eq!(call_notes.len(), 48);
    for &(on, off, _, ch) in &call_notes {
        assert_eq!(
            (on / turn) % 2,
            0,
            "call note at {on} outside the player's turns"
        );
        assert!(off <= (on / turn + 1) * turn);
        assert!(
            solo.iter().all(|s| s.3 != ch),
            "the call has a channel of its own"
        );
    }
    // The first call's notes, moved: phrase 2 (bars 3-4 of the file) is played in bars 5-6.
    assert_eq!(call_notes[16].0, 2 * turn);
    for answer in 0..3u64 {
        let first = solo
            .iter()
            .find(|s| s.0 / turn == 2 * answer + 1)
            .unwrap_or_else(|| panic!("answer {answer} is missing: {solo:?}"));
        assert_eq!(
            first.0,
            (2 * answer + 1) * turn,
            "answer {answer} starts its turn"
        );
    }
    for &(on, off, _, _) in &solo {
        assert_eq!(
            (on / turn) % 2,
            1,
            "a solo note at {on} in the player's turn"
        );
        assert!(
            off <= (on / turn + 1) * turn,
            "{on}..{off} runs into the next call"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn trading_options_are_checked() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&[
        "render",
        "--trade",
        "3",
        "--quiet",
        "--out",
        "/nonexistent/x.mid",
    ]);
    assert!(
        !ok && err.contains("--trade 3") && err.contains("2, 4 or 8"),
        "{err}"
    );
    let (ok, err) = run(&["--trade", "4", "--midi-out", "0"]);
    assert!(!ok && err.contains("--call-in"), "{err}");
    let missing = temp_dir("call-missing").join("nothing.mid");
    let (ok, err) = run(&["render", "--call", missing.to_str().unwrap(), "--quiet"]);
    assert!(!ok && err.contains("nothing.mid"), "{err}");
}
