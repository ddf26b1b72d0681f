//! The rhythm section on the host's clock: the band's bars ([`crate::music::band`]) played
//! block by block, sample-accurately, swung as the solo is, without allocating.
//!
//! Timing follows the engine's rules ([`tick_offset`]): a note belongs to the block holding
//! the sample its (swung) grid position rounds to, so every note lands on the same absolute
//! sample for any block size. A cursor remembers the next grid tick to play from, so no note is
//! played twice or skipped when blocks meet; a jump or loop of the host (or the start of
//! playback) ends what sounds and restarts the cursor at the new position, and a stop ends
//! every note.

use super::*;
use crate::music::band::{Band, BarNotes};

/// Notes of the band that may sound at once (a voicing, the bass, a cymbal or two, with room).
const MAX_SOUNDING: usize = 48;

#[derive(Clone, Copy, Debug)]
struct Held {
    channel: u8,
    note: u8,
    /// Grid tick of the note-off.
    off_tick: i64,
}

/// Plays a [`Band`] on a transport. Allocates only in [`BandPlayer::new`].
pub struct BandPlayer {
    band: Band,
    swing: Swing,
    sample_rate: f64,
    /// The notes of the bar the cursor is in.
    bar: Box<BarNotes>,
    sounding: [Option<Held>; MAX_SOUNDING],
    /// Next grid tick to start notes from.
    cursor: i64,
    running: bool,
    /// Position (beats) the next block starts at if nothing jumps.
    expected_position: f64,
}

impl BandPlayer {
    /// The band at `sample_rate` Hz, swung by `swing` (the solo's setting, so both swing alike).
    pub fn new(band: Band, swing: Swing, sample_rate: f64) -> BandPlayer {
        BandPlayer {
            band,
            swing,
            sample_rate: clock::sanitize_sample_rate(sample_rate),
            bar: Box::default(),
            sounding: [None; MAX_SOUNDING],
            cursor: 0,
            running: false,
            expected_position: 0.0,
        }
    }

    /// The band it plays.
    pub fn band(&self) -> &Band {
        &self.band
    }

    /// Whether any note of the band sounds.
    pub fn is_sounding(&self) -> bool {
        self.sounding.iter().any(Option::is_some)
    }

    /// Ends every note that sounds at `sample` (as many as `out` has room for; the rest at the
    /// next call).
    pub fn all_notes_off(&mut self, sample: u32, out: &mut Output) {
        for slot in self.sounding.iter_mut() {
            if let Some(h) = *slot {
                if out.free_notes() == 0 {
                    return;
                }
                out.notes.push(NoteEvent::Off {
                    sample,
                    channel: h.channel,
                    note: h.note,
                });
                *slot = None;
            }
        }
    }

    /// Runs one block of `n_samples` samples: appends the band's note events, in sample order
    /// (note-offs before note-ons at one sample). A stopped transport, or one without a
    /// position, ends every note. Never allocates, locks or blocks.
    pub fn process(&mut self, transport: &Transport, n_samples: u32, out: &mut Output) {
        let tempo = transport.tempo_bpm;
        let position = transport
            .position_beats
            .filter(|p| p.is_finite() && p.abs() < 1e12);
        let (Some(p), true, true) = (
            position,
            transport.playing && tempo.is_finite() && tempo > 0.0,
            n_samples > 0,
        ) else {
            if !(transport.playing && position.is_some()) {
                self.running = false;
                self.all_notes_off(0, out);
            }
            return;
        };
        let tempo = tempo.clamp(TEMPO_RANGE_BPM.0, TEMPO_RANGE_BPM.1);
        let spb = samples_per_beat(self.sample_rate, tempo);
        let swing = self.swing.fraction(tempo);
        let offset = |tick: i64| tick_offset(tick, p, spb, swing);
        let n = i64::from(n_samples);
        if !self.running || ((p - self.expected_position) * spb).abs() > JUMP_TOLERANCE_SAMPLES {
            // Start or jump: what sounds ends here; play from the first tick of the block.
            self.all_notes_off(0, out);
            self.cursor = first_tick_at_or_after(p, spb, swing);
        }
        self.running = true;
        self.expected_position = p + n_samples as f64 / spb;

        // Bars passed over in this block, bounded so a block never loops without end.
        let mut bars_passed = 0;
        loop {
            let off = self
                .sounding
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.map(|h| (offset(h.off_tick), i)))
                .min();
            let on_tick = self.next_onset();
            let on = on_tick.map(offset);
            match (off, on) {
                (Some((at, i)), on) if at < n && on.is_none_or(|o| at <= o) => {
                    if out.free_notes() == 0 {
                        return;
                    }
                    let h = self.sounding[i]
                        .take()
                        .expect("chosen from the sounding notes");
                    out.notes.push(NoteEvent::Off {
                        sample: at.clamp(0, n - 1) as u32,
                        channel: h.channel,
                        note: h.note,
                    });
                }
                (_, Some(at)) if at < n => {
                    let tick = on_tick.expect("an onset's offset");
                    if at < -(JUMP_TOLERANCE_SAMPLES as i64) - 1 {
                        // Left behind by a tempo change: never burst missed notes out.
                        self.cursor = tick + 1;
                        continue;
                    }
                    if !self.start_notes(tick, at.clamp(0, n - 1) as u32, out) {
                        return;
                    }
                    self.cursor = tick + 1;
                }
                (_, None) if bars_passed < 64 => {
                    bars_passed += 1;
                    let bar = self.band.bar_of(self.cursor);
                    self.cursor = (bar + 1).saturating_mul(self.band.bar_ticks());
                }
                _ => return,
            }
        }
    }

    /// The first onset at or after the cursor in the cursor's bar (None: the bar has no more).
    fn next_onset(&mut self) -> Option<i64> {
        let bar = self.band.bar_of(self.cursor);
        if self.bar.bar != bar {
            self.band.bar(bar, &mut self.bar);
        }
        self.bar
            .notes()
            .iter()
            .map(|n| n.start)
            .find(|&s| s >= self.cursor)
    }

    /// Starts every note of the cursor's bar with onset `tick` at `sample`; false when `out` has
    /// no room for them (they wait for the next block).
    fn start_notes(&mut self, tick: i64, sample: u32, out: &mut Output) -> bool {
        let count = self.bar.notes().iter().filter(|n| n.start == tick).count();
        if out.free_notes() < 2 * count {
            return false;
        }
        for i in 0..self.bar.notes().len() {
            let n = self.bar.notes()[i];
            if n.start != tick {
                continue;
            }
            // The same key again on its channel: end it first.
            if let Some(slot) = self
                .sounding
                .iter_mut()
                .find(|h| h.is_some_and(|h| h.channel == n.channel && h.note == n.note))
            {
                *slot = None;
                out.notes.push(NoteEvent::Off {
                    sample,
                    channel: n.channel,
                    note: n.note,
                });
            }
            let free = match self.sounding.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    // Full: the note ending first makes room.
                    let (i, h) = self
                        .sounding
                        .iter()
                        .enumerate()
                        .filter_map(|(i, h)| h.map(|h| (i, h)))
                        .min_by_key(|(_, h)| h.off_tick)
                        .expect("full means some note sounds");
                    out.notes.push(NoteEvent::Off {
                        sample,
                        channel: h.channel,
                        note: h.note,
                    });
                    i
                }
            };
            out.notes.push(NoteEvent::On {
                sample,
                channel: n.channel,
                note: n.note,
                velocity: n.velocity.clamp(1, 127),
            });
            self.sounding[free] = Some(Held {
                channel: n.channel,
                note: n.note,
                off_tick: n.end,
            });
        }
        true
    }
}

/// The first grid tick whose swung position rounds to a sample at or after position `p`.
fn first_tick_at_or_after(p: f64, spb: f64, swing: f64) -> i64 {
    let mut t = ((p - 0.5 / spb) * TICKS_PER_BEAT as f64).floor() as i64;
    while tick_offset(t, p, spb, swing) < 0 {
        t += 1;
    }
    while tick_offset(t - 1, p, spb, swing) >= 0 {
        t -= 1;
    }
    t
}
