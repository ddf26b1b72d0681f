//! Small Standard MIDI Files written in memory, for tests that feed the corpus reader.

use midly::num::{u15, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// A key event at an absolute tick: (tick, channel, key, velocity); velocity 0 is written as a
/// note-on with velocity 0 when `off_as_note_on`, else as a note-off.
pub type Ev = (u32, u8, u8, u8);

pub fn track_events(name: &str, events: &[Ev], off_as_note_on: bool) -> Vec<TrackEvent<'static>> {
    let name: &'static [u8] = Box::leak(name.as_bytes().to_vec().into_boxed_slice());
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.0);
    let mut out = vec![TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::TrackName(name)),
    }];
    let mut now = 0;
    for (tick, channel, key, vel) in sorted {
        let message = if vel > 0 || off_as_note_on {
            MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(vel),
            }
        } else {
            MidiMessage::NoteOff {
                key: u7::new(key),
                vel: u7::new(0),
            }
        };
        out.push(TrackEvent {
            delta: u28::new(tick - now),
            kind: TrackEventKind::Midi {
                channel: u4::new(channel),
                message,
            },
        });
        now = tick;
    }
    out.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    out
}

pub fn smf_bytes(header: Header, tracks: Vec<Vec<TrackEvent<'static>>>) -> Vec<u8> {
    let mut smf = Smf::new(header);
    smf.tracks = tracks;
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .expect("write a MIDI file to memory");
    bytes
}

/// Notes as (start quarter, length in quarters, key) at `tpq` ticks per quarter note.
pub fn notes(tpq: u32, list: &[(f64, f64, u8)]) -> Vec<Ev> {
    let tick = |q: f64| (q * tpq as f64).round() as u32;
    list.iter()
        .flat_map(|&(start, len, key)| [(tick(start), 0, key, 90), (tick(start + len), 0, key, 0)])
        .collect()
}

pub fn format1(tpq: u16, tracks: &[(&str, Vec<Ev>)]) -> Vec<u8> {
    smf_bytes(
        Header::new(Format::Parallel, Timing::Metrical(u15::new(tpq))),
        tracks
            .iter()
            .map(|(name, evs)| track_events(name, evs, true))
            .collect(),
    )
}
