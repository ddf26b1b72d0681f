//! The block driver both live front ends share (the ALSA player on its own or an external
//! clock, and the JACK client): per block it builds the transport, knows where `--bars` end,
//! runs the engine, turns its notes and the MIDI clock into timed messages, and reports each
//! generated value with its position. The front ends only decide when a block runs and how its
//! messages leave.

use crate::engine::{
    end_sample, samples_per_beat, BandPlayer, Engine, Generated, MidiIn, NoteEvent, Output,
    Transport, CALL_PORT_CHANNEL, TICKS_PER_BEAT,
};
use crate::standalone::midiclock;
use crate::standalone::session::Setup;

/// The engine and what a live block needs around it. Allocates only in [`BlockDriver::new`]
/// (the JACK client runs it on its real-time thread).
pub(crate) struct BlockDriver {
    engine: Engine,
    out: Output,
    sample_rate: f64,
    /// The own clock's tempo.
    tempo_bpm: f64,
    time_sig: (u32, u32),
    channel: u8,
    clock_out: bool,
    /// `--bars` as beats.
    bars_beats: Option<f64>,
    /// Where `--bars` end, in beats, once the transport has first played.
    end_beats: Option<f64>,
    /// The rhythm section (`--band`) and its output for a block.
    band: Option<BandPlayer>,
    band_out: Output,
}

impl BlockDriver {
    /// The setup's engine at `sample_rate`; `bars` (`--bars`) and `clock_out` (`--clock-out`)
    /// as given.
    pub fn new(setup: &Setup, sample_rate: f64, bars: Option<u32>, clock_out: bool) -> Self {
        BlockDriver {
            engine: setup.engine(sample_rate),
            out: Output::with_capacity(256),
            sample_rate,
            tempo_bpm: setup.tempo_bpm,
            time_sig: setup.time_sig,
            channel: setup.settings.channel,
            clock_out,
            bars_beats: bars.map(|b| f64::from(b) * f64::from(setup.beats_per_bar())),
            end_beats: None,
            band: setup.band_player(sample_rate),
            band_out: Output::with_capacity(256),
        }
    }

    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The own clock's tempo (`--tempo`).
    pub fn tempo_bpm(&self) -> f64 {
        self.tempo_bpm
    }

    /// The own clock at sample `from` since the start: playing at the setup's tempo.
    pub fn own_transport(&self, from: u64) -> Transport {
        self.transport(
            true,
            Some(from as f64 / samples_per_beat(self.sample_rate, self.tempo_bpm)),
            self.tempo_bpm,
        )
    }

    /// A transport the player follows (JACK transport, an external MIDI clock); no position
    /// when it is stopped and nothing is known.
    pub fn transport(
        &self,
        playing: bool,
        position_beats: Option<f64>,
        tempo_bpm: f64,
    ) -> Transport {
        Transport {
            playing,
            tempo_bpm,
            position_beats,
            time_sig: self.time_sig,
            bar: None,
        }
    }

    /// Of the `n` samples starting at `transport`, how many to play before `--bars` end, and
    /// whether the end falls inside them. `--bars` count from where the transport first plays:
    /// on the own clock (`own_from`: the block's sample since the start) from 0, in samples,
    /// so the end lands on the same sample as in a render; on a followed clock (`None`) from
    /// its position then, in beats.
    pub fn until_end(
        &mut self,
        transport: &Transport,
        own_from: Option<u64>,
        n: u32,
    ) -> (u32, bool) {
        let Some(p) = transport.position_beats.filter(|_| transport.playing) else {
            return (n, false);
        };
        if self.end_beats.is_none() {
            let start = if own_from.is_some() { 0.0 } else { p };
            self.end_beats = self.bars_beats.map(|b| start + b);
        }
        let Some(end) = self.end_beats else {
            return (n, false);
        };
        let spb = samples_per_beat(self.sample_rate, transport.tempo_bpm);
        let remaining = match own_from {
            Some(from) => end_sample(end, spb) as f64 - from as f64,
            None => ((end - p) * spb + 1e-6).floor(),
        };
        if remaining < f64::from(n) {
            (remaining.max(0.0) as u32, true)
        } else {
            (n, false)
        }
    }

    /// Runs the engine over `n` samples of `transport` with `input`; appends its notes and,
    /// with `--clock-out`, the clock ticks to `scheduled` (while it holds fewer than `max`), and
    /// hands each generated value to `value` with its position in beats.
    pub fn play(
        &mut self,
        transport: &Transport,
        n: u32,
        input: &[MidiIn],
        scheduled: &mut Vec<Scheduled>,
        max: usize,
        mut value: impl FnMut(&Generated, f64),
    ) {
        if n == 0 {
            return;
        }
        self.out.clear();
        self.engine.process(transport, n, input, &mut self.out);
        for ev in &self.out.notes {
            if scheduled.len() < max {
                scheduled.push(note_message(ev));
            }
        }
        let spb = samples_per_beat(self.sample_rate, transport.tempo_bpm);
        if self.clock_out && transport.playing {
            if let Some(p) = transport.position_beats {
                for (_, offset) in midiclock::ticks_in_block(p, n, spb) {
                    if scheduled.len() < max {
                        scheduled.push(Scheduled::realtime(offset, midiclock::CLOCK));
                    }
                }
            }
        }
        for g in &self.out.generated {
            // Its place on the grid: a swung off-beat still prints as the eighth it is.
            value(g, g.tick as f64 / TICKS_PER_BEAT as f64);
        }
        if let Some(band) = &mut self.band {
            self.band_out.clear();
            band.process(transport, n, &mut self.band_out);
            for ev in &self.band_out.notes {
                if scheduled.len() < max {
                    scheduled.push(note_message(ev));
                }
            }
        }
    }

    /// The messages that silence the solo channel (and the band's) on any synth, at offset
    /// `at`: the engine's own note-offs for what sounds, then All Notes Off (CC 123), then Stop.
    pub fn finish(&mut self, at: u32, scheduled: &mut Vec<Scheduled>) {
        self.out.clear();
        self.engine.all_notes_off(at, &mut self.out);
        scheduled.extend(self.out.notes.iter().map(note_message));
        scheduled.push(Scheduled::all_notes_off(at, self.channel));
        if let Some(band) = &mut self.band {
            self.band_out.clear();
            band.all_notes_off(at, &mut self.band_out);
            scheduled.extend(self.band_out.notes.iter().map(note_message));
            let c = band.band().channels();
            for channel in [c.bass, c.comping, c.drums] {
                scheduled.push(Scheduled::all_notes_off(at, channel));
            }
        }
        scheduled.push(Scheduled::realtime(at, midiclock::STOP));
    }
}

/// A message a player sends in one block, with its place in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scheduled {
    /// Sample offset in the block.
    pub offset: u32,
    /// Order among messages at the same sample, see [`Scheduled::order_of`].
    pub order: u8,
    pub len: u8,
    pub bytes: [u8; 3],
    pub note_on: bool,
}

impl Scheduled {
    pub fn message(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Order at one sample: a note ends before the next starts (same pitch
    /// again must not be cut by its own off); song position, then Start or
    /// Continue, then the clock tick, because the first tick after Start is
    /// the downbeat; All Notes Off and Stop last.
    fn order_of(status: u8, note_on: bool) -> u8 {
        match status {
            s if s & 0xF0 == 0x80 => 0,
            midiclock::SONG_POSITION => 1,
            midiclock::START | midiclock::CONTINUE => 2,
            midiclock::CLOCK => 3,
            _ if note_on => 4,
            s if s & 0xF0 == 0xB0 => 5,
            midiclock::STOP => 6,
            _ => 4,
        }
    }

    fn new(offset: u32, message: &[u8], note_on: bool) -> Self {
        let mut bytes = [0u8; 3];
        let len = message.len().min(3);
        bytes[..len].copy_from_slice(&message[..len]);
        Scheduled {
            offset,
            order: Self::order_of(bytes[0], note_on),
            len: len as u8,
            bytes,
            note_on,
        }
    }

    /// A one-byte system real-time message (clock, Start, Continue, Stop).
    pub fn realtime(offset: u32, status: u8) -> Self {
        Self::new(offset, &[status], false)
    }

    /// Song position pointer, in beats (sent as sixteenths).
    pub fn song_position(offset: u32, beats: f64) -> Self {
        let sixteenths = (beats * 4.0).round().clamp(0.0, 16383.0) as u16;
        Self::new(
            offset,
            &[
                midiclock::SONG_POSITION,
                (sixteenths & 0x7F) as u8,
                (sixteenths >> 7) as u8,
            ],
            false,
        )
    }

    /// All Notes Off (CC 123) on `channel` (0–15).
    pub fn all_notes_off(offset: u32, channel: u8) -> Self {
        Self::new(offset, &[0xB0 | (channel & 0x0F), 123, 0], false)
    }
}

pub(crate) fn note_message(ev: &NoteEvent) -> Scheduled {
    match *ev {
        NoteEvent::On {
            sample,
            channel,
            note,
            velocity,
        } => Scheduled::new(
            sample,
            &[0x90 | (channel & 0x0F), note & 0x7F, velocity.clamp(1, 127)],
            true,
        ),
        NoteEvent::Off {
            sample,
            channel,
            note,
        } => Scheduled::new(sample, &[0x80 | (channel & 0x0F), note & 0x7F, 0], false),
    }
}

/// Turns MIDI input (`--chords-in`) into the engine's input events at
/// `sample` in the block; anything but notes is ignored.
pub(crate) fn chord_input(msg: &[u8], sample: u32) -> Option<MidiIn> {
    let channel = msg.first().map_or(0, |status| status & 0x0F);
    midi_input(msg, sample, channel)
}

/// Turns MIDI input from the call port (`--call-in`) into the engine's input events, all on
/// [`CALL_PORT_CHANNEL`] so the engine takes them as the call and never as chords.
pub(crate) fn call_input(msg: &[u8], sample: u32) -> Option<MidiIn> {
    midi_input(msg, sample, CALL_PORT_CHANNEL)
}

fn midi_input(msg: &[u8], sample: u32, channel: u8) -> Option<MidiIn> {
    match *msg {
        [status, note, velocity, ..] if status & 0xF0 == 0x90 && velocity > 0 => {
            Some(MidiIn::NoteOn {
                sample,
                channel,
                note: note & 0x7F,
                velocity,
            })
        }
        [status, note, ..] if status & 0xF0 == 0x90 || status & 0xF0 == 0x80 => {
            Some(MidiIn::NoteOff {
                sample,
                channel,
                note: note & 0x7F,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standalone::session::MusicOptions;

    /// Note-ons not yet ended per (channel, key).
    fn sounding(sent: &[Scheduled]) -> std::collections::BTreeMap<(u8, u8), i32> {
        let mut open = std::collections::BTreeMap::new();
        for m in sent {
            let [status, key, _] = m.bytes;
            match status & 0xF0 {
                0x90 if m.note_on => *open.entry((status & 0x0F, key)).or_insert(0) += 1,
                0x80 => *open.entry((status & 0x0F, key)).or_insert(0) -= 1,
                _ => {}
            }
        }
        open.retain(|_, n| *n != 0);
        open
    }

    #[test]
    fn a_followed_transport_that_stops_leaves_no_band_note_sounding() {
        let setup = Setup::from_options(&MusicOptions {
            progression: Some("blues".into()),
            band: true,
            seed: Some(6),
            ..Default::default()
        })
        .unwrap();
        let mut driver = BlockDriver::new(&setup, 48_000.0, None, false);
        let spb = samples_per_beat(48_000.0, 130.0);
        let mut sent = Vec::new();
        let mut scheduled = Vec::new();
        let mut position = 0.0;
        for round in 0..3 {
            // Play about 5.3 bars (to stop in the middle of notes), then stop for a while.
            for _ in 0..(5.3 * 4.0 * spb / 256.0) as usize {
                let t = driver.transport(true, Some(position), 130.0);
                scheduled.clear();
                driver.play(&t, 256, &[], &mut scheduled, usize::MAX, |_, _| {});
                sent.extend_from_slice(&scheduled);
                position += 256.0 / spb;
            }
            let band_channels = [3u8, 4, 9];
            assert!(
                sent.iter()
                    .any(|m| m.note_on && band_channels.contains(&(m.bytes[0] & 0x0F))),
                "round {round}: the band played"
            );
            assert!(!sounding(&sent).is_empty(), "notes sound when it stops");
            for _ in 0..10 {
                let t = driver.transport(false, None, 130.0);
                scheduled.clear();
                driver.play(&t, 256, &[], &mut scheduled, usize::MAX, |_, _| {});
                sent.extend_from_slice(&scheduled);
            }
            assert_eq!(
                sounding(&sent),
                Default::default(),
                "round {round}: all ended"
            );
        }
        // And at the end of a run.
        let t = driver.transport(true, Some(position), 130.0);
        driver.play(&t, 4096, &[], &mut sent, usize::MAX, |_, _| {});
        driver.finish(0, &mut sent);
        assert_eq!(sounding(&sent), Default::default());
    }
}
