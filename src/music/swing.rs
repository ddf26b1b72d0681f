//! Swing: where the off-beat eighths fall inside a beat, and how far soloists swing at a
//! tempo.
//!
//! Swing is given as the share of the beat the first eighth lasts: 50 % is straight, 67 % a
//! triplet feel, 75 % a dotted eighth and a sixteenth. Positions inside a beat are stretched
//! piecewise linearly: the first half of the beat (straight) fills the first `swing` of it, the
//! second half the rest, so the off-beat eighth lands at `swing` and sixteenths stay in order
//! around it. Beats themselves never move.
//!
//! "Auto" follows the tempo as the soloists of the Weimar Jazz Database swung (the onsets of
//! 20,105 pairs of eighths in 353 of its solos, grouped by tempo): 52.6 % below 120 BPM,
//! 58.6 % at 120–160, 59.1 % at 160–200, 57.5 % at 200–240 and 54.4 % from 240 up. The curve
//! takes each group's figure at the middle of its tempo range (100, 140, 180, 220 and 260 BPM;
//! the open ranges are given the same 40 BPM width), holds it for a quarter of the way to the
//! neighbouring middles, and crosses over to the neighbour's figure in the half between with a
//! smooth S-curve (no corners, so a tempo ramp never jolts the feel). Below 100 and above
//! 260 BPM it stays at the outer figures.

/// Straight eighths, as a fraction of the beat.
pub const STRAIGHT: f64 = 0.5;
/// The hardest swing offered (a dotted eighth and a sixteenth), as a fraction of the beat.
pub const HARDEST: f64 = 0.75;

/// The soloists' swing by tempo: (tempo at the middle of the group, BPM; swing, percent).
const SOLOISTS: [(f64, f64); 5] = [
    (100.0, 52.6),
    (140.0, 58.6),
    (180.0, 59.1),
    (220.0, 57.5),
    (260.0, 54.4),
];

/// How much the eighths swing: following the tempo, or a fixed share of the beat.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Swing {
    /// As the soloists of the Weimar Jazz Database swung at the tempo ([`auto_percent`]).
    #[default]
    Auto,
    /// A fixed share of the beat for the first eighth, in percent (50 to 75; clamped).
    Percent(f32),
}

impl Swing {
    /// Straight eighths.
    pub const STRAIGHT: Swing = Swing::Percent(50.0);

    /// The first eighth's share of the beat (0.5 to 0.75) at `tempo_bpm` (quarter notes per
    /// minute).
    pub fn fraction(self, tempo_bpm: f64) -> f64 {
        let percent = match self {
            Swing::Auto => auto_percent(tempo_bpm),
            Swing::Percent(p) if p.is_finite() => f64::from(p),
            Swing::Percent(_) => 50.0,
        };
        (percent / 100.0).clamp(STRAIGHT, HARDEST)
    }

    /// Reads `auto` or a percentage (`60`, `60%`, `57.5 %`); the error says what is allowed.
    pub fn parse(text: &str) -> Result<Swing, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(Swing::Auto);
        }
        let number = t.trim_end_matches('%').trim_end();
        match number.parse::<f32>() {
            Ok(p) if p.is_finite() && (50.0..=75.0).contains(&p) => Ok(Swing::Percent(p)),
            _ => Err(format!(
                "swing \"{text}\": give a percentage from 50 (straight eighths) to 75 (a dotted \
                 eighth and a sixteenth), e.g. 60, or auto (as jazz soloists swing at the tempo)"
            )),
        }
    }
}

impl std::fmt::Display for Swing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Swing::Auto => f.write_str("auto"),
            Swing::Percent(p) => write!(f, "{p} %"),
        }
    }
}

/// The soloists' swing at `tempo_bpm`, in percent (see the module documentation). A tempo that
/// is not a finite number gives the figure of the slowest group.
pub fn auto_percent(tempo_bpm: f64) -> f64 {
    let t = if tempo_bpm.is_finite() {
        tempo_bpm
    } else {
        0.0
    };
    let (first, last) = (SOLOISTS[0], SOLOISTS[SOLOISTS.len() - 1]);
    if t <= first.0 {
        return first.1;
    }
    if t >= last.0 {
        return last.1;
    }
    for pair in SOLOISTS.windows(2) {
        let ((a, pa), (b, pb)) = (pair[0], pair[1]);
        if t <= b {
            // A quarter of the way held at each end, the middle half a smooth crossing.
            let x = ((t - a) / (b - a) * 2.0 - 0.5).clamp(0.0, 1.0);
            let s = x * x * x * (x * (x * 6.0 - 15.0) + 10.0);
            return pa + (pb - pa) * s;
        }
    }
    last.1
}

/// Where a straight position `within` a beat (0 ≤ `within` < 1, beats) sounds with the first
/// eighth lasting `fraction` of the beat. Monotonic; 0 and 0.5 go to 0 and `fraction`.
pub fn swung(within: f64, fraction: f64) -> f64 {
    if within <= 0.5 {
        within * 2.0 * fraction
    } else {
        fraction + (within - 0.5) * 2.0 * (1.0 - fraction)
    }
}

/// The straight position inside a beat that sounds at `within` (0 ≤ `within` < 1, beats): the
/// inverse of [`swung`], for hearing a player's swung eighths as the eighths they mean.
pub fn straight(within: f64, fraction: f64) -> f64 {
    if within <= fraction {
        within / (2.0 * fraction)
    } else {
        0.5 + (within - fraction) / (2.0 * (1.0 - fraction))
    }
}

/// A position in beats (quarter notes), swung: the beat stays, the place inside it moves.
pub fn swing_position(beats: f64, fraction: f64) -> f64 {
    if fraction == STRAIGHT {
        return beats;
    }
    let whole = beats.floor();
    whole + swung(beats - whole, fraction)
}

/// A played position in beats brought back to the straight grid ([`straight`] inside its beat).
pub fn straighten_position(beats: f64, fraction: f64) -> f64 {
    if fraction == STRAIGHT {
        return beats;
    }
    let whole = beats.floor();
    whole + straight(beats - whole, fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_swing_follows_the_soloists_table() {
        for (tempo, percent) in [
            (60.0, 52.6),
            (100.0, 52.6),
            (130.0, 58.6),
            (140.0, 58.6),
            (150.0, 58.6),
            (180.0, 59.1),
            (220.0, 57.5),
            (260.0, 54.4),
            (320.0, 54.4),
        ] {
            assert!(
                (auto_percent(tempo) - percent).abs() < 1e-9,
                "{tempo} BPM: {} %, the table says {percent} %",
                auto_percent(tempo)
            );
        }
    }

    #[test]
    fn auto_swing_moves_smoothly_between_groups() {
        let mut previous = auto_percent(80.0);
        for step in 1..=2400 {
            let tempo = 80.0 + f64::from(step) * 0.1;
            let now = auto_percent(tempo);
            // No jumps: the steepest crossing (100 to 140 BPM, 6 points over 20 BPM with a
            // smooth curve) moves under 0.1 point per 0.1 BPM.
            assert!(
                (now - previous).abs() < 0.1,
                "{tempo} BPM: {previous} → {now}"
            );
            previous = now;
        }
        // Half-way between two middles lies half-way between their figures.
        assert!((auto_percent(120.0) - (52.6 + 58.6) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn swung_and_straight_undo_each_other() {
        for fraction in [0.5, 0.55, 0.6, 2.0 / 3.0, 0.75] {
            assert!((swung(0.5, fraction) - fraction).abs() < 1e-12);
            assert_eq!(swung(0.0, fraction), 0.0);
            for k in 0..120 {
                let x = f64::from(k) / 120.0;
                let y = swung(x, fraction);
                assert!(
                    (straight(y, fraction) - x).abs() < 1e-12,
                    "{x} at {fraction}"
                );
                assert!((0.0..1.0).contains(&y));
            }
        }
        assert_eq!(swing_position(7.25, 0.5), 7.25);
        assert!((swing_position(7.5, 0.6) - 7.6).abs() < 1e-12);
        assert!((straighten_position(7.6, 0.6) - 7.5).abs() < 1e-12);
    }

    #[test]
    fn swing_reads_percentages_and_auto() {
        assert_eq!(Swing::parse("auto"), Ok(Swing::Auto));
        assert_eq!(Swing::parse(" 60 "), Ok(Swing::Percent(60.0)));
        assert_eq!(Swing::parse("57.5%"), Ok(Swing::Percent(57.5)));
        for bad in ["", "49", "76", "NaN", "fast", "inf"] {
            let e = Swing::parse(bad).unwrap_err();
            assert!(e.contains("50 (straight eighths)"), "{bad}: {e}");
        }
        assert_eq!(Swing::STRAIGHT.fraction(300.0), 0.5);
        assert!((Swing::Percent(60.0).fraction(90.0) - 0.6).abs() < 1e-7);
        assert!((Swing::Auto.fraction(260.0) - 0.544).abs() < 1e-12);
    }
}
