//! Trading bars and listening: whose turn a bar is, and the player's notes heard through the
//! LSTM (see [`crate::music::listen`] for how notes become values).
//!
//! In [`Mode::Trade`] the host's bars are grouped into turns of [`Settings::trade_bars`] bars,
//! counted from the song's first bar: even turns are the player's, odd turns jazz-synth's. During
//! the player's turn nothing is generated and the call's values are fed through the LSTM as they
//! become known; the rest of the call is heard on the first beat of jazz-synth's turn, where the
//! answer starts. A note of the answer is cut where the player's next turn begins.
//!
//! Hearing a value is what training does with it: the LSTM consumes it as an input. The value
//! the engine drew last (not consumed yet) goes in first, so generated and heard values form one
//! sequence; the next value drawn follows the last one heard. The last note heard also becomes
//! the previous note of the pitch decoder, so the answer starts in the call's register.

use super::*;
use crate::music::contour::Echo;
use crate::music::listen::{live_ticks, nearest_value, quantize_position, Bar, Heard};
use crate::music::swing::straighten_position;

/// Bars of solo that lean towards what the player just played, when listening while soloing.
const SOLO_ECHO_BARS: i64 = 2;

/// The notes of the last bar heard: what an answer echoes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CallBar {
    bar: i64,
    pitch_classes: u16,
    first: Option<u8>,
    last: Option<u8>,
}

impl CallBar {
    fn add(&mut self, bar: i64, key: u8) {
        if self.first.is_none() || bar != self.bar {
            *self = CallBar {
                bar,
                pitch_classes: 0,
                first: Some(key),
                last: None,
            };
        }
        self.pitch_classes |= 1 << (key % 12);
        self.last = Some(key);
    }

    fn echo(&self) -> Echo {
        let direction = match (self.first, self.last) {
            (Some(a), Some(b)) => (i16::from(b) - i16::from(a)).signum() as i8,
            _ => 0,
        };
        Echo {
            pitch_classes: self.pitch_classes,
            direction,
        }
    }
}

/// A turn of trading: whose, and where it starts and ends (grid ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    pub player: bool,
    pub start: i64,
    pub end: i64,
}

impl Engine {
    /// Whether the player's notes are heard now.
    pub(super) fn listening(&self) -> bool {
        self.settings.mode == Mode::Trade || self.settings.listen
    }

    /// Values heard from the player since the engine was created.
    pub fn heard_values(&self) -> u64 {
        self.heard_total
    }

    /// The bar holding grid tick `tick`, on the host's bars as of the last block.
    pub(super) fn bar_of(&self, tick: i64) -> Bar {
        bar_of(&self.meter, tick)
    }

    /// Bar (0 = the song's first) and beat within it (quarter notes from the bar line) of host
    /// position `beat`, on the host's bars as of the last block: what a display shows.
    pub fn bar_and_beat(&self, beat: f64) -> (i64, f64) {
        let tick = (beat * TICKS_PER_BEAT as f64).floor() as i64;
        let bar = self.bar_of(tick);
        (bar.index, beat - bar.start as f64 / TICKS_PER_BEAT as f64)
    }

    /// The trading turn holding grid tick `tick`; None in Solo mode.
    pub fn turn_at(&self, tick: i64) -> Option<Turn> {
        if self.settings.mode != Mode::Trade {
            return None;
        }
        let bars = i64::from(self.settings.trade_bars.clamp(1, 16));
        let bar = self.bar_of(tick);
        let length = bar.end - bar.start;
        let turn = bar.index.div_euclid(bars);
        let start = bar.start - (bar.index - turn * bars) * length;
        Some(Turn {
            player: turn.rem_euclid(2) == 0,
            start,
            end: start + bars * length,
        })
    }

    /// A call note pressed (`on`) or released at host position `position` (quarter notes).
    pub(super) fn hear_note(&mut self, position: f64, note: u8, on: bool) {
        // A swung off-beat is heard as the straight eighth it means, as the answer is played.
        let position = straighten_position(position, self.swing_fraction());
        let ticks = live_ticks(position);
        if !on {
            self.listener.release(ticks, note);
            return;
        }
        let onset = quantize_position(ticks);
        if self.turn_at(onset).is_some_and(|t| !t.player) {
            // The player plays into jazz-synth's turn: not part of a call.
            return;
        }
        let chord = self.chord_at(onset as f64 / TICKS_PER_BEAT as f64);
        let meter = self.meter;
        let mut heard = HeardBuffer::default();
        let mut listener = self.listener;
        listener.press(ticks, note, chord, |t| bar_of(&meter, t), &mut |h| {
            heard.push(h)
        });
        self.listener = listener;
        self.hear_all(&heard);
    }

    /// The call ends at grid tick `tick` (jazz-synth is about to play there): a note still
    /// waiting is heard, cut at `tick` if the player still holds it. Only when trading; while
    /// soloing a heard note waits for the player's next note.
    pub(super) fn end_call(&mut self, tick: i64) {
        if self.settings.mode != Mode::Trade || !self.listener.is_pending() {
            return;
        }
        let mut heard = HeardBuffer::default();
        let mut listener = self.listener;
        listener.finish(tick, &mut |h| heard.push(h));
        self.listener = listener;
        self.hear_all(&heard);
        // The answer's first bar echoes the call's last bar.
        self.recent_notes.set_echo(self.call_bar.echo());
        let bar = self.bar_of(tick);
        self.echo_until = tick + (bar.end - bar.start);
        self.call_bar = CallBar::default();
    }

    fn hear_all(&mut self, heard: &HeardBuffer) {
        for h in heard.items.iter().take(heard.len).flatten() {
            self.hear(h);
        }
    }

    /// Feeds one heard value through the LSTM.
    fn hear(&mut self, heard: &Heard) {
        let Some(index) = nearest_value(self.model.vocab(), &heard.value) else {
            return;
        };
        if let Some(pending) = self.prev_input {
            if self.model.cond_size() > 0 {
                // A chord-aware model hears the heard note's place as it would its own.
                let chord = self.chord_at(heard.onset as f64 / TICKS_PER_BEAT as f64);
                let bar = self.bar_of(heard.onset);
                let next = self.next_change(heard.onset, &chord);
                crate::music::conditioning::Context::at(
                    chord,
                    next,
                    self.prev_note,
                    heard.onset,
                    bar.start,
                )
                .with_tempo(self.tempo_bpm)
                .write(&mut self.cond[..]);
                self.write_style();
            }
            // With style strength the unguided pass hears the value too, so both states
            // follow the same sequence.
            match self.guidance() {
                Some(strength) => {
                    self.model.step_guided(
                        Some(pending),
                        &self.cond[..],
                        &self.cond_plain[..],
                        strength,
                    );
                }
                None => {
                    self.model.step_with(Some(pending), &self.cond[..]);
                }
            }
        }
        self.prev_input = Some(index);
        if let Some(key) = heard.key {
            self.prev_note = Some(key);
            let bar = self.bar_of(heard.onset);
            self.call_bar.add(bar.index, key);
            if self.settings.mode == Mode::Solo {
                self.recent_notes.set_echo(self.call_bar.echo());
                self.echo_until = heard.onset + SOLO_ECHO_BARS * (bar.end - bar.start);
            }
        }
        self.heard_total += 1;
    }
}

/// The bar holding grid tick `tick` on `meter`'s bars.
pub(super) fn bar_of_meter(meter: &Meter, tick: i64) -> Bar {
    bar_of(meter, tick)
}

fn bar_of(meter: &Meter, tick: i64) -> Bar {
    let length = ((meter.quarters_per_bar * TICKS_PER_BEAT as f64).round() as i64).max(1);
    let (anchor, number) = meter.bar.map_or((0, 0), |(start, n)| {
        ((start * TICKS_PER_BEAT as f64).round() as i64, n)
    });
    let index = number + (tick - anchor).div_euclid(length);
    let start = anchor + (index - number) * length;
    Bar {
        index,
        start,
        end: start + length,
    }
}

/// The values one press or one phrase end can give: a note and at most two rests (one in the
/// note's bar, one in the next note's), and room to spare.
#[derive(Default)]
struct HeardBuffer {
    items: [Option<Heard>; 8],
    len: usize,
}

impl HeardBuffer {
    fn push(&mut self, heard: Heard) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(heard);
            self.len += 1;
        }
    }
}
