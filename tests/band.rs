//! The rhythm section (`--band`): a walking bass on the chords, drums on channel 10, each part on
//! a track and channel of its own, the solo untouched, the same band for any block size, no
//! note left sounding at the end or when the transport stops, and no allocation while playing.

use std::sync::atomic::AtomicBool;

use assert_no_alloc::{assert_no_alloc, AllocDisabler};

use jazz_synth::engine::{NoteEvent, Output, Swing, Transport};
use jazz_synth::music::band::{Part, DRUM_CHANNEL};
use jazz_synth::standalone::live::{run_live, ClockSource, LiveOptions, RecordingSink};
use jazz_synth::standalone::render::{render_timeline, write_midi, BandTrack, Timeline};
use jazz_synth::standalone::session::{MusicOptions, Setup};
use midly::{Smf, TrackEventKind};

mod common;
use common::temp_dir;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

fn setup(band: bool, seed: u64, progression: &str, tempo: f64) -> Setup {
    Setup::from_options(&MusicOptions {
        seed: Some(seed),
        tempo_bpm: Some(tempo),
        progression: Some(progression.into()),
        band,
        ..Default::default()
    })
    .expect("a setup")
}

fn part(t: &Timeline, part: Part) -> &BandTrack {
    t.band.iter().find(|b| b.part == part).expect("the part")
}

#[test]
fn over_32_bars_of_blues_the_bass_walks_the_changes() {
    for seed in [0, 1, 2, 3] {
        let s = setup(true, seed, "blues", 160.0);
        let (t, _) = render_timeline(&s, 32, 48_000.0, 512);
        let spb = t.samples_per_beat();
        let bass = &part(&t, Part::Bass).notes;
        // A note on every beat.
        assert_eq!(bass.len(), 32 * 4, "seed {seed}");
        let (mut downbeats, mut on_chord) = (0, 0);
        for n in bass {
            let beat = (n.start as f64 / spb).round();
            assert!(
                (n.start as f64 - beat * spb).abs() < 1.0,
                "the bass walks on the beat"
            );
            let symbol = s.progression.symbol_at(beat);
            let chord = s.progression.chord_at(beat);
            let pc = n.note % 12;
            let tones = symbol.pitch_classes() | chord.scale().0;
            let near = [pc, (pc + 1) % 12, (pc + 11) % 12]
                .iter()
                .any(|&p| tones & (1 << p) != 0);
            assert!(
                near,
                "seed {seed}, beat {beat}: {} is not within a semitone of {symbol}'s tones",
                n.note
            );
            assert!((28..=55).contains(&n.note), "a bass register: {}", n.note);
            if beat as i64 % 4 == 0 {
                downbeats += 1;
                if symbol.pitch_classes() & (1 << pc) != 0 {
                    on_chord += 1;
                }
            }
        }
        assert_eq!(downbeats, 32);
        assert!(
            on_chord * 10 >= downbeats * 9,
            "seed {seed}: a chord tone on {on_chord} of {downbeats} downbeats"
        );
    }
}

#[test]
fn drums_play_only_on_channel_10_and_every_part_has_its_track_and_channel() {
    let s = setup(true, 5, "blues", 140.0);
    let (t, _) = render_timeline(&s, 12, 48_000.0, 512);
    let drums = part(&t, Part::Drums);
    assert_eq!(drums.channel, DRUM_CHANNEL);
    assert!(drums.notes.iter().all(|n| n.channel == DRUM_CHANNEL));
    let spb = t.samples_per_beat();
    // The hi-hat pedal on 2 and 4, the ride on every beat.
    for n in &drums.notes {
        if n.note == 44 {
            let beat = (n.start as f64 / spb).round() as i64;
            assert!((n.start as f64 - beat as f64 * spb).abs() < 1.0);
            assert!(
                beat % 4 == 1 || beat % 4 == 3,
                "hi-hat on beat {}",
                beat % 4 + 1
            );
        }
    }
    let ride_on_beats = drums
        .notes
        .iter()
        .filter(|n| {
            let beat = n.start as f64 / spb;
            n.note == 51 && (beat - beat.round()).abs() < 1e-4
        })
        .count();
    assert_eq!(ride_on_beats, 12 * 4);

    let mut channels: Vec<u8> = t.band.iter().map(|b| b.channel).collect();
    channels.push(s.settings.channel);
    channels.sort();
    channels.dedup();
    assert_eq!(channels.len(), 4, "solo, bass, comping and drums apart");
    for b in &t.band {
        assert!(!b.notes.is_empty(), "{:?} plays", b.part);
        if b.part != Part::Drums {
            assert!(b.notes.iter().all(|n| n.channel == b.channel));
            assert_ne!(b.channel, DRUM_CHANNEL);
        }
    }

    // The file: a track per part, named, channel 10 only on the drum track.
    let path = temp_dir("band-tracks").join("band.mid");
    write_midi(&t, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let smf = Smf::parse(&bytes).unwrap();
    assert_eq!(
        smf.tracks.len(),
        6,
        "tempo, chords, solo, bass, comping, drums"
    );
    for (i, track) in smf.tracks.iter().enumerate() {
        let name = track.iter().find_map(|e| match e.kind {
            TrackEventKind::Meta(midly::MetaMessage::TrackName(n)) => Some(n),
            _ => None,
        });
        let drum_track = name == Some(b"Drums".as_slice());
        assert_eq!(drum_track, i == 5);
        for e in track {
            if let TrackEventKind::Midi { channel, .. } = e.kind {
                assert_eq!(
                    channel.as_int() == DRUM_CHANNEL,
                    drum_track,
                    "track {i}: channel {}",
                    channel.as_int() + 1
                );
            }
        }
    }
}

#[test]
fn the_solo_is_the_same_with_or_without_the_band() {
    for seed in [1, 9] {
        let (alone, _) = render_timeline(&setup(false, seed, "autumn", 180.0), 16, 48_000.0, 512);
        let (with, _) = render_timeline(&setup(true, seed, "autumn", 180.0), 16, 48_000.0, 512);
        assert_eq!(alone.solo, with.solo, "seed {seed}");
        assert!(alone.band.is_empty() && !with.band.is_empty());
        let solo_track = |t: &Timeline| {
            let path = temp_dir("band-solo").join(format!("s{seed}.mid"));
            write_midi(t, &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let smf = Smf::parse(&bytes).unwrap();
            format!("{:?}", smf.tracks[2])
        };
        assert_eq!(solo_track(&alone), solo_track(&with), "byte for byte");
    }
}

#[test]
fn the_band_follows_its_seed_and_no_block_size() {
    let s = setup(true, 4, "rhythm", 200.0);
    let (reference, _) = render_timeline(&s, 8, 48_000.0, 512);
    for block in [1, 64, 333, 4096] {
        let (t, _) = render_timeline(&s, 8, 48_000.0, block);
        assert_eq!(t.band, reference.band, "block {block}");
    }
    let (other, _) = render_timeline(&setup(true, 5, "rhythm", 200.0), 8, 48_000.0, 512);
    assert_ne!(other.band, reference.band, "another seed, another band");
}

#[test]
fn every_band_note_ends_inside_the_render() {
    let s = setup(true, 2, "ii-V-I", 240.0);
    let (t, _) = render_timeline(&s, 6, 48_000.0, 256);
    for b in &t.band {
        for n in &b.notes {
            assert!(n.start < n.end && n.end <= t.length_samples, "{n:?}");
        }
    }
}

/// Note-ons minus note-offs per (channel, key) of a stream of MIDI messages.
fn still_sounding(messages: &[Vec<u8>]) -> Vec<(u8, u8)> {
    let mut open = std::collections::BTreeMap::<(u8, u8), i32>::new();
    for m in messages {
        match m.as_slice() {
            [s, k, v] if s & 0xF0 == 0x90 && *v > 0 => {
                *open.entry((s & 0x0F, *k)).or_default() += 1
            }
            [s, k, _] if s & 0xF0 == 0x80 || s & 0xF0 == 0x90 => {
                *open.entry((s & 0x0F, *k)).or_default() -= 1
            }
            _ => {}
        }
    }
    assert!(
        open.values().all(|&n| n >= 0),
        "a note-off without its note-on"
    );
    let left: Vec<(u8, u8)> = open
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(k, _)| k)
        .collect();
    left
}

/// Plays `s` live on the internal clock for `bars` (`None`: until `stop`), as the player does
/// without printing notes: the notes played and every MIDI message sent.
fn play_live(s: &Setup, bars: Option<u32>, stop: &AtomicBool) -> (usize, Vec<Vec<u8>>) {
    let mut sink = RecordingSink::default();
    let opts = LiveOptions {
        bars,
        print_notes: false,
        ..LiveOptions::default()
    };
    let report = run_live(
        s,
        &mut sink,
        ClockSource::Internal,
        None,
        &opts,
        stop,
        &mut Vec::new(),
    )
    .unwrap();
    let messages = sink.sent.iter().map(|(_, m)| m.clone()).collect();
    (report.notes, messages)
}

#[test]
fn the_live_player_ends_every_band_note_when_the_bars_end_and_when_stopped() {
    let s = setup(true, 3, "blues", 400.0);
    // To the end of --bars.
    let (notes, messages) = play_live(&s, Some(2), &AtomicBool::new(false));
    assert!(notes > 0);
    assert_eq!(still_sounding(&messages), vec![], "nothing left sounding");
    assert!(messages.iter().any(|m| m[0] == 0x90 | DRUM_CHANNEL));
    let c = s.band_player(48_000.0).unwrap().band().channels();
    for channel in [c.bass, c.comping, c.drums] {
        assert!(
            messages.contains(&vec![0xB0 | channel, 123, 0]),
            "All Notes Off on channel {}",
            channel + 1
        );
    }
    // Stopped in the middle of a bar (Ctrl-C).
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (_, messages) = play_live(&s, None, &stop);
    stopper.join().unwrap();
    assert!(messages.iter().filter(|m| m[0] & 0xF0 == 0x90).count() > 10);
    assert_eq!(still_sounding(&messages), vec![], "nothing left sounding");
}

#[test]
fn a_transport_that_stops_or_jumps_leaves_no_band_note_sounding_and_never_allocates() {
    let s = setup(true, 8, "blues", 150.0);
    let mut band = s.band_player(48_000.0).expect("a band");
    let mut out = Output::with_capacity(256);
    let spb = 48_000.0 * 60.0 / 150.0;
    let mut open = std::collections::BTreeMap::<(u8, u8), i32>::new();
    let count = |out: &Output, open: &mut std::collections::BTreeMap<(u8, u8), i32>| {
        for ev in &out.notes {
            match *ev {
                NoteEvent::On { channel, note, .. } => {
                    *open.entry((channel, note)).or_default() += 1
                }
                NoteEvent::Off { channel, note, .. } => {
                    *open.entry((channel, note)).or_default() -= 1
                }
            }
        }
    };
    let mut position = 0.0;
    for block in 0..2000u32 {
        let n = 97 + block % 300;
        let playing = block % 700 < 600;
        // A jump back every 250 blocks.
        if block % 250 == 249 {
            position -= 5.3;
        }
        let t = Transport {
            playing,
            tempo_bpm: 150.0,
            position_beats: playing.then_some(position),
            time_sig: (4, 4),
            bar: None,
        };
        out.clear();
        assert_no_alloc(|| band.process(&t, n, &mut out));
        assert!(out.notes.windows(2).all(|w| w[0].sample() <= w[1].sample()));
        count(&out, &mut open);
        assert!(open.values().all(|&v| v == 0 || v == 1), "{open:?}");
        if !playing {
            assert!(!band.is_sounding(), "stopped: silent");
            assert!(open.values().all(|&v| v == 0), "every note ended on stop");
        }
        if playing {
            position += f64::from(n) / spb;
        }
    }
    out.clear();
    band.all_notes_off(0, &mut out);
    count(&out, &mut open);
    assert!(open.values().all(|&v| v == 0));
    // The band swings as the solo does.
    assert_eq!(s.settings.swing, Swing::Auto);
}
