//! Choosing the pitch of a value the way the training material moves.
//!
//! A value keeps only a role and, for notes after the first of a measure, `<UP,DOWN>`: the
//! learned interval from the previous note plus and minus a minor third. The original decoder
//! ([`decode_pitch`](crate::music::grammar::decode_pitch)) draws uniformly among the role's tones
//! anywhere in that six-semitone window and places a measure's first note anywhere in octave 4,
//! which turns every corpus into the same leaping arpeggio.
//!
//! The learned decoder ([`decode_learned`]) keeps the role and the window but weighs each
//! candidate pitch by
//! - how often the corpus moved by that interval to a note of that role ([`IntervalProfile`],
//!   counted at training time and stored in the weights), and
//! - how close it is to the interval the value itself encodes (the window's centre), with a
//!   narrow Gaussian, so that where the centre fits the role it is nearly always taken;
//!
//! and places notes without a window (first of a measure) near the previous note by the same
//! profile instead of anywhere in an octave. It never allocates (audio thread).

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::music::grammar::{fits_role, playable_range, role_of, Role, Value};
use crate::music::theory::pitch_class;

/// Largest interval, in semitones either way, the profile counts; larger moves count here.
pub const MAX_INTERVAL: i32 = 24;
const BINS: usize = (2 * MAX_INTERVAL + 1) as usize;
/// A pitch of another role than the value's is weighted by how common its own role is in the
/// training melodies, times this: the interval the value encodes can win over its role when the
/// chords under the solo are not the ones the value was learned over, but only towards roles
/// the corpus plays (a corpus of pure arpeggios never gets passing tones this way).
const OTHER_ROLE: f32 = 0.7;
/// Width (semitones) of the preference for the value's own interval.
const CENTRE_SIGMA: f32 = 0.75;
/// Added to every count, as a share of the row's total, so an interval the corpus never used
/// stays possible when nothing else fits, but rare.
const SMOOTHING: f32 = 1e-3;

/// Most pitches a draw weighs: the octave either side of the previous note, and one.
const MAX_CANDIDATES: usize = 25;

/// Notes remembered for the repeat check: a few minutes of a busy solo.
pub const RECENT_NOTES: usize = 1024;
/// Length of the pitch sequences [`RecentNotes`] keeps from repeating.
const REPEAT_GRAM: usize = 4;
/// Weight left to a pitch that would replay a 4-note sequence of the last [`RECENT_NOTES`]
/// notes.
const REPEAT_PENALTY: f32 = 0.005;

/// Weight factor for a pitch class the player's call just played, while answering.
const ECHO_PITCH_CLASS: f32 = 3.0;
/// Share of its weight the previous pitch keeps under a value that names a move (a non-zero
/// interval). The WJD's players sounded their previous pitch again under such a value on 1 move in
/// 1,000; without this the chord-aware model's renders did on 13 in 1,000, when the pitch a value
/// named had another role over the chord and the nearest pitch of its role was the previous one.
const MOVED_REPEAT: f32 = 0.05;
/// Weight factor for a move the way the call's last bar went, while answering.
const ECHO_DIRECTION: f32 = 2.0;
/// Chance that a value moving against the call's direction is turned round, while answering.
const ECHO_TURN: f32 = 0.5;

/// What an answer takes from the call it answers: the pitch classes of the call's last bar and
/// the way that bar moved (-1 down, 0 level, 1 up). While it is set the learned decoder leans
/// towards those pitch classes and that direction, as a player answering a phrase quotes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Echo {
    /// Bit `pc` set for each pitch class; 0 = no echo.
    pub pitch_classes: u16,
    pub direction: i8,
}

/// The last notes played, so a passage the model replays from memory is varied inside its
/// windows instead of repeated note for note, and the call being answered ([`Echo`]).
/// Fixed-size (audio thread).
#[derive(Clone, Debug)]
pub struct RecentNotes {
    ring: [u8; RECENT_NOTES],
    /// Notes stored (at most `RECENT_NOTES`).
    len: usize,
    /// Where the next note goes.
    next: usize,
    echo: Echo,
}

impl Default for RecentNotes {
    fn default() -> Self {
        RecentNotes {
            ring: [0; RECENT_NOTES],
            len: 0,
            next: 0,
            echo: Echo::default(),
        }
    }
}

impl RecentNotes {
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
        self.echo = Echo::default();
    }

    /// The call the next notes answer ([`Echo::default`] for none).
    pub fn set_echo(&mut self, echo: Echo) {
        self.echo = echo;
    }

    pub fn echo(&self) -> Echo {
        self.echo
    }

    pub fn push(&mut self, note: u8) {
        self.ring[self.next] = note;
        self.next = (self.next + 1) % RECENT_NOTES;
        self.len = (self.len + 1).min(RECENT_NOTES);
    }

    /// The `i`-th newest note (0 = the last one played).
    fn back(&self, i: usize) -> u8 {
        self.ring[(self.next + RECENT_NOTES - 1 - i) % RECENT_NOTES]
    }

    /// The notes that followed the last three notes wherever those three were played before,
    /// as a bit set over MIDI notes: playing one of them would replay a 4-note sequence. One
    /// pass over the memory.
    fn followers(&self) -> u128 {
        let k = REPEAT_GRAM - 1;
        if self.len < REPEAT_GRAM {
            return 0;
        }
        let mut set = 0u128;
        // A 3-gram ending `end` notes back (end >= 1) equal to the last one, and its follower.
        for end in 1..=self.len - k {
            if (0..k).all(|j| self.back(end + j) == self.back(j)) {
                set |= 1u128 << (self.back(end - 1) & 127);
            }
        }
        set
    }
}

/// Which decoder turns values into pitches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Contour {
    /// Follows the intervals the model learned ([`decode_learned`]); falls back to the original
    /// for weights without an interval profile.
    #[default]
    Learned,
    /// The original deepjazz decoder: a uniform draw inside the value's window.
    Original,
}

/// How often the corpus moved by each interval to a note of each role: the intervals from the
/// previous note, `-MAX_INTERVAL..=MAX_INTERVAL` semitones, per role `C S A X`.
/// Stored as `{"counts": [[..]; 5]}`; the row totals the decoder needs are kept beside the
/// counts, so weighing a candidate costs a few loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ProfileCounts", into = "ProfileCounts")]
pub struct IntervalProfile {
    /// `counts[role][interval + MAX_INTERVAL]`, roles in the order of [`Role::ALL`] (the rest
    /// row stays empty).
    counts: Vec<Vec<u32>>,
    /// Sum of each row of `counts`.
    row_totals: [u64; ROLES],
    /// Sum of all counts.
    total: u64,
}

const ROLES: usize = Role::ALL.len();

/// The stored form of an [`IntervalProfile`].
#[derive(Clone, Serialize, Deserialize)]
struct ProfileCounts {
    counts: Vec<Vec<u32>>,
}

impl From<ProfileCounts> for IntervalProfile {
    fn from(stored: ProfileCounts) -> Self {
        let mut row_totals = [0u64; ROLES];
        for (total, row) in row_totals.iter_mut().zip(&stored.counts) {
            *total = row.iter().map(|&c| u64::from(c)).sum();
        }
        IntervalProfile {
            counts: stored.counts,
            total: row_totals.iter().sum(),
            row_totals,
        }
    }
}

impl From<IntervalProfile> for ProfileCounts {
    fn from(profile: IntervalProfile) -> Self {
        ProfileCounts {
            counts: profile.counts,
        }
    }
}

impl Default for IntervalProfile {
    fn default() -> Self {
        IntervalProfile {
            counts: vec![vec![0; BINS]; ROLES],
            row_totals: [0; ROLES],
            total: 0,
        }
    }
}

fn role_row(role: Role) -> usize {
    Role::ALL.iter().position(|&r| r == role).unwrap_or(0)
}

/// The interval (semitones, signed) a value's `<UP,DOWN>` encodes: the middle of its window.
pub fn encoded_interval(value: &Value) -> Option<i32> {
    value
        .range
        .map(|(up, down)| (up.semitones + down.semitones).div_euclid(2))
}

impl IntervalProfile {
    /// Counts the interval each value with a window encodes, under its role.
    pub fn from_values(values: &[Value]) -> IntervalProfile {
        let mut profile = IntervalProfile::default();
        for value in values {
            if let Some(step) = encoded_interval(value) {
                profile.add(value.role, step);
            }
        }
        profile
    }

    /// Counts one move of `semitones` onto a note of `role`.
    pub fn add(&mut self, role: Role, semitones: i32) {
        let bin = (semitones.clamp(-MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL) as usize;
        let row = role_row(role);
        self.counts[row][bin] += 1;
        self.row_totals[row] += 1;
        self.total += 1;
    }

    /// Moves counted in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The relative weight of a move of `semitones` onto `role`: the role's count plus
    /// smoothing, or the count over all roles when the role was never seen.
    pub fn weight(&self, role: Role, semitones: i32) -> f32 {
        let bin = (semitones.clamp(-MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL) as usize;
        let row = role_row(role);
        let total = self.row_totals[row];
        if total > 0 {
            self.counts[row][bin] as f32 + SMOOTHING * total as f32
        } else {
            self.counts.iter().map(|r| r[bin]).sum::<u32>() as f32
                + SMOOTHING * self.total.max(1) as f32
        }
    }

    /// Share of the counted moves that landed on `role` (0 when nothing was counted).
    pub fn role_share(&self, role: Role) -> f32 {
        if self.total == 0 {
            return 0.0;
        }
        self.row_totals[role_row(role)] as f32 / self.total as f32
    }

    /// Checks a profile read from a file: one row per role of `2 * MAX_INTERVAL + 1` counts.
    pub fn validate(&self) -> Result<(), String> {
        if self.counts.len() != Role::ALL.len() || self.counts.iter().any(|r| r.len() != BINS) {
            return Err(format!(
                "the interval profile must have {} rows of {BINS} counts",
                Role::ALL.len()
            ));
        }
        Ok(())
    }
}

/// Turns `value` into a MIDI pitch over `chord` following `profile`; `None` for a rest.
/// `prev` is the previous note; `low..=high` the playable range. Candidates are the pitches of
/// the range whose role is the value's as the corpus reader judges it ([`role_of`]; the looser
/// [`fits_role`] only when none is near); with a window only those inside it (the
/// original's bounds), else those within an octave of `prev`; each is weighted as the module
/// documentation says. With no previous note the first note is a tone of the role nearest the
/// middle of the range (random among ties). Never allocates; draws from `rng` only.
pub fn decode_learned(
    value: &Value,
    chord: &crate::music::theory::Chord,
    prev: Option<u8>,
    (low, high): (u8, u8),
    profile: &IntervalProfile,
    recent: &RecentNotes,
    rng: &mut impl rand::Rng,
) -> Option<u8> {
    if value.role == Role::Rest {
        return None;
    }
    let (low, high) = playable_range(low, high);
    // The role exactly as the corpus reader judged it (a scale tone that is not a chord tone,
    // and so on); the original decoder's looser test only when nothing else is near.
    let fits = |p: i32| role_of(p.clamp(0, 127) as u8, chord) == value.role;
    let loosely = |p: i32| fits_role(value.role, chord, pitch_class(p));
    let Some(prev) = prev.map(i32::from) else {
        let middle = (low + high) / 2;
        return Some(nearest_fitting(middle, low, high, &|p| fits(p) || loosely(p), rng) as u8);
    };
    // A move that would leave the range turns round, as a player does at the bottom or the top
    // of the instrument, instead of piling notes up on its edge.
    // Answering a call, a move against the call's direction turns round half the time: the
    // answer keeps the model's rhythm, roles and interval sizes and imitates the call's contour.
    let echo = recent.echo;
    let turn = |step: i32, rng: &mut dyn rand::Rng| {
        echo.direction != 0
            && step.signum() == -i32::from(echo.direction)
            && rng.random::<f32>() < ECHO_TURN
    };
    let centre = match encoded_interval(value) {
        Some(step) => {
            let c = prev + step;
            if (c < low && step < 0) || (c > high && step > 0) || turn(step, rng) {
                Some(prev - step)
            } else {
                Some(c)
            }
        }
        None => None,
    };
    let weight = |p: i32| -> f32 {
        let role = role_of(p.clamp(0, 127) as u8, chord);
        let exact = if role == value.role {
            1.0
        } else {
            OTHER_ROLE * profile.role_share(role)
        };
        let learned = exact * profile.weight(value.role, p - prev);
        match centre {
            Some(c) => {
                let d = (p - c) as f32 / CENTRE_SIGMA;
                learned * (-0.5 * d * d).exp()
            }
            None => learned,
        }
    };
    let (from, to) = match centre {
        Some(c) => (c - 3, c + 3),
        None => (prev - 12, prev + 12),
    };
    let (from, to) = (from.max(low), to.min(high));
    // A pitch that would replay a recent 4-note sequence keeps a small share.
    let replays = recent.followers();
    let varied = |p: i32| {
        let mut w = weight(p);
        if replays & (1u128 << p.clamp(0, 127)) != 0 {
            w *= REPEAT_PENALTY;
        }
        if echo.pitch_classes & (1 << pitch_class(p)) != 0 {
            w *= ECHO_PITCH_CLASS;
        }
        if echo.direction != 0 && (p - prev).signum() == i32::from(echo.direction) {
            w *= ECHO_DIRECTION;
        }
        w
    };
    let any = |_: i32| true;
    let pick = weighted_pick(from, to, &any, &varied, rng)
        .or_else(|| weighted_pick(from, to, &loosely, &weight, rng))
        // Nothing of the role in the window (or the window outside the range): the nearest
        // tone of the role to where the value wanted to go.
        .unwrap_or_else(|| {
            let target = centre.unwrap_or(prev).clamp(low, high);
            nearest_fitting(target, low, high, &|p| fits(p) || loosely(p), rng)
        });
    Some(pick as u8)
}

/// The learned decoder's leanings applied to pitch weights from elsewhere (the chord-aware
/// model's [`crate::music::pitch::PitchModel`]): a pitch that would replay a recent 4-note
/// sequence keeps a small share, and while answering a call its pitch classes and direction
/// are favoured. Under a value that `moves` (names a non-zero interval) the previous pitch keeps
/// a small share too. Returns the new sum of the weights. Never allocates.
pub fn lean_weights(
    weights: &mut [f32; 128],
    prev: Option<u8>,
    recent: &RecentNotes,
    moves: bool,
) -> f32 {
    let replays = recent.followers();
    let echo = recent.echo;
    let mut total = 0.0;
    for (p, w) in weights.iter_mut().enumerate() {
        if *w <= 0.0 {
            continue;
        }
        if replays & (1u128 << p) != 0 {
            *w *= REPEAT_PENALTY;
        }
        if echo.pitch_classes & (1 << (p % 12)) != 0 {
            *w *= ECHO_PITCH_CLASS;
        }
        if let Some(prev) = prev {
            if moves && usize::from(prev) == p {
                *w *= MOVED_REPEAT;
            }
            if echo.direction != 0
                && (p as i32 - i32::from(prev)).signum() == i32::from(echo.direction)
            {
                *w *= ECHO_DIRECTION;
            }
        }
        total += *w;
    }
    total
}

/// A pitch of `from..=to` that `fits`, drawn in proportion to `weight`; `None` when none fits.
/// Each weight is computed once (at most [`MAX_CANDIDATES`] pitches are considered).
fn weighted_pick(
    from: i32,
    to: i32,
    fits: &impl Fn(i32) -> bool,
    weight: &impl Fn(i32) -> f32,
    rng: &mut impl rand::Rng,
) -> Option<i32> {
    let mut weights = [0.0f32; MAX_CANDIDATES];
    let count = ((to - from + 1).max(0) as usize).min(MAX_CANDIDATES);
    let mut total = 0.0f32;
    for (i, w) in weights[..count].iter_mut().enumerate() {
        let p = from + i as i32;
        if fits(p) {
            *w = weight(p);
            total += *w;
        }
    }
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let mut left = rng.random::<f32>() * total;
    let mut last = None;
    for (i, &w) in weights[..count].iter().enumerate() {
        if w > 0.0 {
            last = Some(from + i as i32);
            if left < w {
                return last;
            }
            left -= w;
        }
    }
    last
}

/// The pitch of `low..=high` nearest `target` that `fits` (a random one of two at the same
/// distance), or `target` itself when none fits.
fn nearest_fitting(
    target: i32,
    low: i32,
    high: i32,
    fits: &impl Fn(i32) -> bool,
    rng: &mut impl rand::Rng,
) -> i32 {
    for d in 0..=(high - low) {
        let (below, above) = (target - d, target + d);
        let ok = |p: i32| (low..=high).contains(&p) && fits(p);
        match (ok(below), ok(above)) {
            (true, true) if d > 0 => {
                return if rng.random::<bool>() { above } else { below };
            }
            (true, _) => return below,
            (_, true) => return above,
            _ => {}
        }
    }
    target.clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::grammar::interval_range;
    use crate::music::theory::Chord;
    use rand::SeedableRng;

    fn value(text: &str) -> Value {
        Value::parse(text).unwrap()
    }

    #[test]
    fn the_previous_pitch_keeps_a_small_share_only_under_a_value_that_moves() {
        let mut base = [0.0f32; 128];
        base[60] = 2.0;
        base[62] = 1.0;
        let recent = RecentNotes::default();
        let mut still = base;
        assert_eq!(lean_weights(&mut still, Some(60), &recent, false), 3.0);
        assert_eq!(still, base);
        let mut moving = base;
        let total = lean_weights(&mut moving, Some(60), &recent, true);
        assert_eq!(moving[60], 2.0 * MOVED_REPEAT);
        assert_eq!(moving[62], 1.0);
        assert_eq!(total, 1.0 + 2.0 * MOVED_REPEAT);
        // The first note has no previous pitch to keep away from.
        let mut first = base;
        assert_eq!(lean_weights(&mut first, None, &recent, true), 3.0);
    }

    #[test]
    fn the_window_centre_is_the_interval_the_corpus_played() {
        for (a, b) in [(60, 67), (60, 60), (67, 60), (60, 61), (72, 55)] {
            let (up, down) = interval_range(a, b);
            let v = Value {
                role: Role::Chord,
                duration: 1.0,
                range: Some((up, down)),
            };
            assert_eq!(
                encoded_interval(&v),
                Some(i32::from(b) - i32::from(a)),
                "{a}->{b}"
            );
        }
    }

    #[test]
    fn a_fitting_centre_is_taken_almost_always() {
        // C major; from E4 (64) a value whose window is centred on G4 (67), a chord tone.
        let chord = Chord::from_midi(&[60, 64, 67]);
        let (up, down) = interval_range(64, 67);
        let v = Value {
            role: Role::Chord,
            duration: 0.5,
            range: Some((up, down)),
        };
        let profile = IntervalProfile::from_values(&[v; 10]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let hits = (0..1000)
            .filter(|_| {
                decode_learned(
                    &v,
                    &chord,
                    Some(64),
                    (40, 90),
                    &profile,
                    &RecentNotes::default(),
                    &mut rng,
                ) == Some(67)
            })
            .count();
        assert!(hits > 990, "{hits}");
    }

    #[test]
    fn a_first_note_of_a_measure_stays_near_the_previous_one() {
        let chord = Chord::from_midi(&[62, 65, 69, 72]); // Dm7
        let mut profile = IntervalProfile::default();
        for step in [-2, -1, 1, 2, 2, 1, -1, -2, 0] {
            profile.add(Role::Scale, step);
        }
        let v = value("S,0.500");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut near = 0;
        for _ in 0..500 {
            let p = decode_learned(
                &v,
                &chord,
                Some(67),
                (40, 90),
                &profile,
                &RecentNotes::default(),
                &mut rng,
            )
            .unwrap();
            near += usize::from((65..=69).contains(&p));
            assert!(chord.is_scale_tone(pitch_class(p)));
            assert!((55..=79).contains(&p), "{p}");
        }
        // Unheard intervals keep a small share (smoothing): 6 other S tones within an octave.
        assert!(near > 450, "{near} of 500 within a whole tone");
    }

    #[test]
    fn rests_are_silent_and_pitches_stay_in_range() {
        let chord = Chord::from_midi(&[60, 64, 67]);
        let profile = IntervalProfile::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        assert_eq!(
            decode_learned(
                &value("R,1.000"),
                &chord,
                Some(60),
                (55, 84),
                &profile,
                &RecentNotes::default(),
                &mut rng
            ),
            None
        );
        for text in [
            "C,0.250",
            "S,0.250,<P8,P5>",
            "A,0.500,<M-9,d-14>",
            "X,1.000,<m3,m-3>",
        ] {
            for prev in [None, Some(20), Some(60), Some(120)] {
                let p = decode_learned(
                    &value(text),
                    &chord,
                    prev,
                    (55, 84),
                    &profile,
                    &RecentNotes::default(),
                    &mut rng,
                )
                .unwrap();
                assert!((55..=84).contains(&p), "{text} {prev:?} -> {p}");
            }
        }
    }

    #[test]
    fn a_passage_heard_before_is_varied_when_the_window_allows() {
        // C major, from E4 a chord-tone value centred a whole tone up (F#4, no chord tone):
        // E4 again and G4 are about as likely, by the profile and the distance to the centre.
        let chord = Chord::from_midi(&[60, 64, 67]);
        let (up, down) = interval_range(64, 66);
        let v = Value {
            role: Role::Chord,
            duration: 0.25,
            range: Some((up, down)),
        };
        let mut profile = IntervalProfile::default();
        profile.add(Role::Chord, 3);
        for _ in 0..15 {
            profile.add(Role::Chord, 0);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let draws = |recent: &RecentNotes, rng: &mut rand::rngs::StdRng| {
            (0..200)
                .filter(|_| {
                    decode_learned(&v, &chord, Some(64), (40, 90), &profile, recent, rng)
                        == Some(67)
                })
                .count()
        };
        let mut recent = RecentNotes::default();
        for note in [60, 62, 64] {
            recent.push(note);
        }
        let fresh = draws(&recent, &mut rng);
        assert!((40..=160).contains(&fresh), "G4 {fresh} of 200 times");
        // Once "60 62 64 67" has been played, after "60 62 64" G4 would replay it.
        for note in [67, 71, 60, 62, 64] {
            recent.push(note);
        }
        let replayed = draws(&recent, &mut rng);
        assert!(replayed < 10, "G4 {replayed} of 200 times");
    }

    #[test]
    fn profiles_count_by_role_and_read_back() {
        let values = [
            value("C,0.250,<M3,m-2>"),
            value("C,0.250"),
            value("S,0.250,<P4,M2>"),
        ];
        let profile = IntervalProfile::from_values(&values);
        assert_eq!(profile.total(), 2);
        assert!(profile.weight(Role::Chord, 1) > profile.weight(Role::Chord, 0));
        let json = serde_json::to_string(&profile).unwrap();
        let back: IntervalProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, profile);
        back.validate().unwrap();
        let bad: IntervalProfile = serde_json::from_str(r#"{"counts":[[1,2]]}"#).unwrap();
        assert!(bad.validate().is_err());
    }
}
