//! MIDI beat clock: where the 24-per-quarter-note ticks fall in a block
//! (`--clock-out`), and a follower that turns an incoming clock into a smooth
//! transport (`--clock-in`).
//!
//! Both sides speak the engine's language (beats and samples), so the live
//! player and the JACK client share them.

/// Timing clock, sent 24 times per quarter note.
pub const CLOCK: u8 = 0xF8;
/// Start from the beginning of the song.
pub const START: u8 = 0xFA;
/// Continue from the current position.
pub const CONTINUE: u8 = 0xFB;
/// Stop.
pub const STOP: u8 = 0xFC;
/// Song position pointer: two data bytes, 14 bits of sixteenth notes.
pub const SONG_POSITION: u8 = 0xF2;
/// Ticks per quarter note of the MIDI beat clock.
pub const PPQN: f64 = 24.0;

/// Tolerance in beats for deciding which block a tick at a block boundary
/// belongs to. Positions computed as `sample / samples_per_beat` and as
/// `previous + n / samples_per_beat` differ by a few ulps; a tick that sits
/// within this band of a boundary goes to the later block on both sides, so
/// no tick is sent twice or lost.
const EDGE_EPS_BEATS: f64 = 1e-9;

/// The clock ticks inside one block: `(tick index, sample offset in the block)`.
///
/// `position_beats` is the block's first sample in quarter notes,
/// `n_samples` its length and `samples_per_beat` the tempo. Tick `k` is at
/// `k / 24` beats, i.e. at the sample it rounds to; a tick rounding to the
/// sample just past the block belongs to the next block. Offsets are clamped
/// to `[0, n_samples)`. The result does not depend on the block size.
pub fn ticks_in_block(
    position_beats: f64,
    n_samples: u32,
    samples_per_beat: f64,
) -> impl Iterator<Item = (i64, u32)> {
    // A tick belongs to the block holding the sample it rounds to, so the
    // window is shifted back by half a sample; otherwise a block of one sample
    // would place a tick a sample later than a block of 4096 does.
    let half_sample = 0.5 / samples_per_beat;
    let start = position_beats - half_sample - EDGE_EPS_BEATS;
    let end =
        position_beats + f64::from(n_samples) / samples_per_beat - half_sample - EDGE_EPS_BEATS;
    let first = (start * PPQN).ceil() as i64;
    let last_excl = (end * PPQN).ceil() as i64;
    let last_offset = n_samples.saturating_sub(1);
    (first..last_excl.max(first)).map(move |k| {
        let offset = ((k as f64 / PPQN - position_beats) * samples_per_beat).round();
        let offset = offset.clamp(0.0, f64::from(last_offset)) as u32;
        (k, offset)
    })
}

/// What an incoming message did to the followed clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockChange {
    /// Nothing the clock cares about (notes, other system messages).
    None,
    Started,
    Continued,
    Stopped,
    Tick,
    /// Song position pointer, in beats.
    Located(f64),
}

/// Follows an external MIDI clock (`--clock-in`).
///
/// Incoming ticks are jittery (USB, other software), and the engine wants a
/// position that advances smoothly from block to block: a backwards step
/// would look like a loop and cut the sounding note. So the follower runs
/// its own position and bends its tempo toward the clock each block, a
/// simple phase-locked loop; only a large error (a song position jump)
/// moves the position directly.
///
/// Times are seconds from any fixed origin, positions in quarter notes.
#[derive(Clone, Debug)]
pub struct ClockFollower {
    running: bool,
    /// Waiting for the first tick after Start/Continue: per the MIDI spec that
    /// tick is the downbeat, so the transport starts playing then.
    armed: bool,
    /// Position of the last received tick in beats.
    tick_pos: f64,
    last_tick_time: Option<f64>,
    /// Smoothed seconds between ticks.
    interval: f64,
    /// The position reported to the engine at the start of the next block.
    pos: f64,
    tempo_bpm: f64,
    ticks_seen: u64,
}

/// The transport the follower hands to the engine for one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowedTransport {
    pub playing: bool,
    /// Tempo in BPM that carries the position to where the clock will be at
    /// the block's end.
    pub tempo_bpm: f64,
    /// Quarter notes at the block's first sample.
    pub position_beats: f64,
}

impl ClockFollower {
    /// `initial_tempo_bpm` is used until the first two ticks have arrived.
    pub fn new(initial_tempo_bpm: f64) -> Self {
        let tempo = sanitize_tempo(initial_tempo_bpm);
        ClockFollower {
            running: false,
            armed: false,
            tick_pos: 0.0,
            last_tick_time: None,
            interval: 60.0 / tempo / PPQN,
            pos: 0.0,
            tempo_bpm: tempo,
            ticks_seen: 0,
        }
    }

    /// Whether the external clock is running (after Start/Continue, before Stop).
    pub fn running(&self) -> bool {
        self.running && !self.armed
    }

    /// The tempo measured from the incoming ticks, in BPM.
    pub fn measured_tempo_bpm(&self) -> f64 {
        60.0 / (self.interval * PPQN)
    }

    /// Feed one incoming MIDI message received at `time` seconds.
    pub fn on_message(&mut self, time: f64, bytes: &[u8]) -> ClockChange {
        match bytes.first().copied() {
            Some(START) => {
                self.running = true;
                self.armed = true;
                self.tick_pos = 0.0;
                self.pos = 0.0;
                self.last_tick_time = None;
                ClockChange::Started
            }
            Some(CONTINUE) => {
                self.running = true;
                self.armed = true;
                self.last_tick_time = None;
                ClockChange::Continued
            }
            Some(STOP) => {
                self.running = false;
                self.armed = false;
                ClockChange::Stopped
            }
            Some(SONG_POSITION) if bytes.len() >= 3 => {
                let sixteenths = u16::from(bytes[1] & 0x7F) | (u16::from(bytes[2] & 0x7F) << 7);
                let beats = f64::from(sixteenths) / 4.0;
                self.tick_pos = beats;
                self.pos = beats;
                self.last_tick_time = None;
                ClockChange::Located(beats)
            }
            Some(CLOCK) => {
                self.ticks_seen += 1;
                if self.armed {
                    // The downbeat: the position we were told, now.
                    self.armed = false;
                    self.pos = self.tick_pos;
                } else if self.running {
                    self.tick_pos += 1.0 / PPQN;
                }
                if let Some(prev) = self.last_tick_time {
                    let dt = time - prev;
                    // Ignore absurd gaps (a paused sender) when measuring the tempo.
                    if dt > 0.0 && dt < 0.25 {
                        self.interval += 0.2 * (dt - self.interval);
                    }
                }
                self.last_tick_time = Some(time);
                ClockChange::Tick
            }
            _ => ClockChange::None,
        }
    }

    /// Where the clock is at `time`: the last tick's position, extrapolated
    /// by at most one tick so a late tick never lets us run ahead.
    fn target_at(&self, time: f64) -> f64 {
        match self.last_tick_time {
            Some(t) => {
                let frac = ((time - t) / self.interval).clamp(0.0, 1.0);
                self.tick_pos + frac / PPQN
            }
            None => self.tick_pos,
        }
    }

    /// The transport for a block that starts at `time` seconds and lasts
    /// `duration` seconds. Advances the follower's position to the block's end.
    pub fn transport_for_block(&mut self, time: f64, duration: f64) -> FollowedTransport {
        let measured = self.measured_tempo_bpm();
        if !self.running() || duration <= 0.0 {
            return FollowedTransport {
                playing: false,
                tempo_bpm: measured,
                position_beats: self.pos,
            };
        }
        if (self.target_at(time) - self.pos).abs() > 1.0 {
            // Too far off to bend: a relocation (song position). Jump there.
            self.pos = self.target_at(time);
        }
        let position = self.pos;
        let wanted = (self.target_at(time + duration) - position) / duration * 60.0;
        // Bend at most by half the measured tempo either way; never stand still
        // or go backwards while the clock runs.
        let tempo = sanitize_tempo(wanted.clamp(measured * 0.5, measured * 1.5));
        self.tempo_bpm = tempo;
        self.pos = position + duration * tempo / 60.0;
        FollowedTransport {
            playing: true,
            tempo_bpm: tempo,
            position_beats: position,
        }
    }

    /// Number of clock ticks received so far.
    pub fn ticks_seen(&self) -> u64 {
        self.ticks_seen
    }
}

fn sanitize_tempo(bpm: f64) -> f64 {
    if bpm.is_finite() {
        bpm.clamp(10.0, 999.0)
    } else {
        120.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks_over(total_samples: u64, block: u32, spb: f64) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let mut s = 0u64;
        while s < total_samples {
            let n = block.min((total_samples - s) as u32);
            let p = s as f64 / spb;
            for (k, off) in ticks_in_block(p, n, spb) {
                out.push((k, s + u64::from(off)));
            }
            s += u64::from(n);
        }
        out
    }

    #[test]
    fn every_tick_once_for_any_block_size() {
        // 137.5 BPM at 44.1 kHz: ticks fall between samples.
        let spb = crate::engine::samples_per_beat(44_100.0, 137.5);
        let total = (spb * 8.0) as u64;
        let reference = ticks_over(total, 1, spb);
        assert_eq!(reference.len(), 8 * 24);
        for (i, (k, _)) in reference.iter().enumerate() {
            assert_eq!(*k, i as i64);
        }
        for block in [7, 64, 256, 512, 4096] {
            assert_eq!(ticks_over(total, block, spb), reference, "block {block}");
        }
    }

    #[test]
    fn ticks_land_on_their_sample_at_120_bpm_48k() {
        // 24000 samples per beat, 1000 per tick: exact.
        let ticks = ticks_over(48_000, 256, 24_000.0);
        assert_eq!(ticks.len(), 48);
        for (k, sample) in ticks {
            assert_eq!(sample, k as u64 * 1000);
        }
    }

    #[test]
    fn a_tick_at_the_block_end_belongs_to_the_next_block() {
        let spb = 24_000.0;
        assert_eq!(ticks_in_block(0.0, 1000, spb).count(), 1);
        let next: Vec<_> = ticks_in_block(1000.0 / spb, 1000, spb).collect();
        assert_eq!(next, vec![(1, 0)]);
    }

    fn feed_clock(f: &mut ClockFollower, start: f64, bpm: f64, ticks: usize) -> f64 {
        let dt = 60.0 / bpm / PPQN;
        for i in 0..ticks {
            f.on_message(start + i as f64 * dt, &[CLOCK]);
        }
        start + (ticks - 1) as f64 * dt
    }

    #[test]
    fn follower_waits_for_start_then_the_first_tick() {
        let mut f = ClockFollower::new(120.0);
        assert!(!f.transport_for_block(0.0, 0.005).playing);
        f.on_message(0.0, &[START]);
        assert!(
            !f.transport_for_block(0.001, 0.005).playing,
            "not before the downbeat tick"
        );
        f.on_message(0.01, &[CLOCK]);
        let t = f.transport_for_block(0.01, 0.005);
        assert!(t.playing);
        assert_eq!(t.position_beats, 0.0);
        f.on_message(0.02, &[STOP]);
        assert!(!f.transport_for_block(0.02, 0.005).playing);
    }

    #[test]
    fn follower_locks_to_a_steady_clock_and_stays_monotonic() {
        let bpm = 100.0;
        let mut f = ClockFollower::new(140.0);
        f.on_message(0.0, &[START]);
        let tick = 60.0 / bpm / PPQN;
        let block = 256.0 / 48_000.0;
        let mut t = 0.0;
        let mut next_tick = 0usize;
        let mut last_pos = -1.0;
        let mut last_end = 0.0;
        while t < 8.0 {
            while (next_tick as f64) * tick <= t {
                f.on_message(next_tick as f64 * tick, &[CLOCK]);
                next_tick += 1;
            }
            let tr = f.transport_for_block(t, block);
            assert!(tr.playing);
            assert!(
                tr.position_beats >= last_pos,
                "position went backwards at {t}"
            );
            if last_pos >= 0.0 {
                // Contiguous: this block starts where the last one ended.
                assert!((tr.position_beats - last_end).abs() < 1e-9);
            }
            last_pos = tr.position_beats;
            last_end = tr.position_beats + block * tr.tempo_bpm / 60.0;
            t += block;
        }
        let ideal = t * bpm / 60.0;
        assert!(
            (last_end - ideal).abs() < 2.0 / PPQN,
            "{last_end} vs {ideal}"
        );
        assert!((f.measured_tempo_bpm() - bpm).abs() < 0.5);
    }

    #[test]
    fn song_position_pointer_relocates() {
        let mut f = ClockFollower::new(120.0);
        // 16 sixteenths = 4 beats.
        f.on_message(0.0, &[SONG_POSITION, 16, 0]);
        f.on_message(0.0, &[CONTINUE]);
        let end = feed_clock(&mut f, 0.01, 120.0, 1);
        let t = f.transport_for_block(end, 0.001);
        assert!(t.playing);
        assert_eq!(t.position_beats, 4.0);
    }

    #[test]
    fn other_messages_are_ignored() {
        let mut f = ClockFollower::new(120.0);
        assert_eq!(f.on_message(0.0, &[0x90, 60, 100]), ClockChange::None);
        assert_eq!(f.on_message(0.0, &[]), ClockChange::None);
        assert_eq!(f.on_message(0.0, &[SONG_POSITION, 1]), ClockChange::None);
    }
}
