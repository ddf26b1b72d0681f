//! The beat clock's arithmetic: samples per beat, the host's meter, the free-running clock
//! and the tick grid.

use super::*;
use crate::music::swing;

/// Samples per quarter-note beat at `sample_rate` Hz and `tempo_bpm`.
pub fn samples_per_beat(sample_rate: f64, tempo_bpm: f64) -> f64 {
    sample_rate * 60.0 / tempo_bpm
}

/// The first sample at or after `beats` (quarter notes) that does not hold
/// beat `beats` itself: `floor`, with a tolerance so an exact integer
/// computed as 23999.999999 still counts as 24000.
pub fn end_sample(beats: f64, samples_per_beat: f64) -> u64 {
    (beats * samples_per_beat + 1e-6).floor().max(0.0) as u64
}

/// Where grid tick `tick` sounds, in quarter-note beats, with the first eighth of each beat
/// lasting `swing` of it (0.5 = straight; see [`crate::music::swing`]). Beats never move.
pub fn tick_beats(tick: i64, swing: f64) -> f64 {
    let within = tick.rem_euclid(TICKS_PER_BEAT);
    if swing == swing::STRAIGHT || within == 0 {
        // Straight timing keeps the exact arithmetic it always had.
        tick as f64 / TICKS_PER_BEAT as f64
    } else {
        tick.div_euclid(TICKS_PER_BEAT) as f64
            + swing::swung(within as f64 / TICKS_PER_BEAT as f64, swing)
    }
}

/// The offset (samples, from the first sample of a block that starts at position `p` beats, at
/// `spb` samples per beat) of the sample grid tick `tick` rounds to, swung by `swing`; negative
/// before the block, `n` or more after an `n`-sample block (see the module documentation of
/// [`crate::engine`] for the rule).
pub fn tick_offset(tick: i64, p: f64, spb: f64, swing: f64) -> i64 {
    ((tick_beats(tick, swing) - p) * spb + 0.5).floor() as i64
}

/// A value's duration (quarter notes) on the grid: at least one tick, at
/// most [`MAX_VALUE_BEATS`].
pub(super) fn duration_ticks(duration: f64) -> i64 {
    let d = if duration.is_finite() { duration } else { 1.0 };
    let ticks = (d.clamp(0.0, MAX_VALUE_BEATS) * TICKS_PER_BEAT as f64).round() as i64;
    ticks.max(1)
}

pub(super) fn ceil_to_beat(tick: i64) -> i64 {
    tick.div_euclid(TICKS_PER_BEAT) * TICKS_PER_BEAT
        + if tick.rem_euclid(TICKS_PER_BEAT) == 0 {
            0
        } else {
            TICKS_PER_BEAT
        }
}

pub(super) fn sanitize_sample_rate(sr: f64) -> f64 {
    if sr.is_finite() && sr >= 1000.0 {
        sr
    } else {
        44_100.0
    }
}

/// The internal clock for free run: an anchor and whole samples since it, so
/// the position does not depend on how the samples were split into blocks.
#[derive(Clone, Copy, Debug)]
pub(super) struct FreeClock {
    pub(super) anchor_beats: f64,
    pub(super) samples: u64,
    pub(super) samples_per_beat: f64,
}

impl FreeClock {
    pub(super) fn position(&self) -> f64 {
        self.anchor_beats + self.samples as f64 / self.samples_per_beat
    }
}

/// The host's bar grid: bar length and, when known, a bar's start and number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Meter {
    pub(super) quarters_per_bar: f64,
    pub(super) bar: Option<(f64, i64)>,
}

impl Meter {
    pub(super) const FOUR_FOUR: Meter = Meter {
        quarters_per_bar: 4.0,
        bar: None,
    };

    /// The transport's meter; time signatures no musician writes fall back to 4/4.
    pub(super) fn of(t: &Transport) -> Meter {
        let (num, den) = t.time_sig;
        let sane = (1..=64).contains(&num) && den.is_power_of_two() && den <= 64;
        let quarters_per_bar = if sane {
            f64::from(num) * 4.0 / f64::from(den)
        } else {
            4.0
        };
        let bar = t
            .bar
            .filter(|(start, n)| start.is_finite() && start.abs() < 1e12 && n.abs() < 1 << 40);
        Meter {
            quarters_per_bar,
            bar,
        }
    }

    /// The position in a chart with bars of `chart_bar` quarter notes that
    /// host position `beat` falls on: bar for bar, the same fraction of the bar.
    pub(super) fn chart_position(&self, beat: f64, chart_bar: f64) -> f64 {
        let l = self.quarters_per_bar;
        match self.bar {
            // The bars line up with the chart's: the position as it is.
            None if l == chart_bar => beat,
            Some((start, n)) if l == chart_bar && start == n as f64 * l => beat,
            None => beat / l * chart_bar,
            Some((start, n)) => (n as f64 + (beat - start) / l) * chart_bar,
        }
    }
}
