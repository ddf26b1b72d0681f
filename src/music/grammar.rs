//! The jazz grammar of deepjazz (after Impro-Visor's "Learning Jazz
//! Grammars"): each melody element is a value `ROLE,DURATION[,<UP,DOWN>]`,
//! e.g. `C,0.250` or `S,0.500,<m3,P-4>`.
//!
//! - ROLE, judged against the chord sounding at the note: `R` rest, `C` chord
//!   tone, `S` scale tone, `A` approach tone (a semitone from a chord tone),
//!   `X` anything else.
//! - DURATION in quarter notes, written like Python's `"%.3f"`.
//! - `<UP,DOWN>`: the interval from the previous note plus and minus a minor
//!   third, as music21 directed names; decoding places the next pitch
//!   between them.
//!
//! [`Value`] parses and prints these strings exactly; [`role_of`] and
//! [`interval_range`] build them from notes like the original's
//! `parse_melody`; [`decode_pitch`] turns one back into a MIDI pitch like its
//! `unparse_grammar`, without allocating (it runs on the audio thread).

use std::fmt;
use std::str::FromStr;

use rand::RngExt;

use crate::music::theory::{pitch_class, Chord, Interval};

/// What a melody element is, relative to the chord sounding under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `R`: silence.
    Rest,
    /// `C`: a pitch class of the chord.
    Chord,
    /// `S`: a tone of the scale derived from the chord.
    Scale,
    /// `A`: a semitone above or below a chord tone.
    Approach,
    /// `X`: anything else.
    Other,
}

impl Role {
    /// All roles in the order `R C S A X`.
    pub const ALL: [Role; 5] = [
        Role::Rest,
        Role::Chord,
        Role::Scale,
        Role::Approach,
        Role::Other,
    ];

    /// The letter the grammar writes: `R`, `C`, `S`, `A` or `X`.
    pub fn letter(self) -> char {
        match self {
            Role::Rest => 'R',
            Role::Chord => 'C',
            Role::Scale => 'S',
            Role::Approach => 'A',
            Role::Other => 'X',
        }
    }

    /// The role written as `letter`, if any.
    pub fn from_letter(letter: char) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.letter() == letter)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// Longest duration a value may have, in quarter notes. The original's
/// values stay within a 4/4 measure; this only keeps nonsense from reaching
/// the engine's beat arithmetic.
pub const MAX_DURATION: f64 = 1000.0;

/// One grammar value: `ROLE,DURATION` or `ROLE,DURATION,<UP,DOWN>`.
///
/// Parsing accepts exactly what the original writes (and nothing else), so
/// `Value::parse(s)?.to_string() == s` for every string that parses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Value {
    pub role: Role,
    /// Length in quarter notes; positive, finite, at most [`MAX_DURATION`].
    /// Printed with three decimals, so only that precision survives printing.
    pub duration: f64,
    /// `(UP, DOWN)` as written: the interval from the previous note plus and
    /// minus a minor third. Absent for rests and for the first note of a
    /// measure.
    pub range: Option<(Interval, Interval)>,
}

impl Value {
    /// Reads a value as the original writes it, e.g. `C,0.250` or
    /// `S,0.500,<m3,P-4>`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Value, GrammarError> {
        parse_value(text)
    }

    /// Whether this is a rest.
    pub fn is_rest(&self) -> bool {
        self.role == Role::Rest
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rust's `{:.3}` rounds the exact binary value half-to-even, like
        // Python's "%.3f" (0.0625 → 0.062 in both).
        write!(f, "{},{:.3}", self.role, self.duration)?;
        if let Some((up, down)) = self.range {
            write!(f, ",<{up},{down}>")?;
        }
        Ok(())
    }
}

impl FromStr for Value {
    type Err = GrammarError;
    fn from_str(text: &str) -> Result<Value, GrammarError> {
        parse_value(text)
    }
}

/// Why a string is not a grammar value. Its `Display` names the string and
/// the problem, e.g. `unknown role 'Q' in "Q,0.250" (expected R, C, S, A or X)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarError {
    input: String,
    kind: GrammarErrorKind,
}

/// The kinds of [`GrammarError`]; each carries the offending piece of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrammarErrorKind {
    /// Nothing at all.
    Empty,
    /// The text before the first comma is not `R`, `C`, `S`, `A` or `X`.
    UnknownRole(String),
    /// No comma after the role.
    MissingDuration,
    /// The duration is not written like `0.250`.
    BadDuration(String),
    /// The duration is zero or negative.
    NonPositiveDuration(String),
    /// The duration exceeds [`MAX_DURATION`].
    DurationTooLong(String),
    /// The range is not `<UP,DOWN>`; the second field says what is missing.
    BadRange(String, &'static str),
    /// One of the range's intervals is not a music21 directed name.
    BadInterval(String, String),
    /// A rest carries a range.
    RestWithRange,
}

impl GrammarError {
    /// The string that failed to parse (cut to 80 characters).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &GrammarErrorKind {
        &self.kind
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        match &self.kind {
            GrammarErrorKind::Empty => write!(
                f,
                "empty grammar value (expected ROLE,DURATION[,<UP,DOWN>] \
                 like \"C,0.250\" or \"S,0.500,<m3,P-4>\")"
            ),
            GrammarErrorKind::UnknownRole(role) => write!(
                f,
                "unknown role '{role}' in {input:?} (expected R, C, S, A or X)"
            ),
            GrammarErrorKind::MissingDuration => write!(
                f,
                "missing duration in {input:?} (expected ROLE,DURATION like \"C,0.250\")"
            ),
            GrammarErrorKind::BadDuration(d) => write!(
                f,
                "bad duration '{d}' in {input:?} \
                 (expected quarter notes with three decimals, like 0.250)"
            ),
            GrammarErrorKind::NonPositiveDuration(d) => {
                write!(f, "duration '{d}' in {input:?} must be positive")
            }
            GrammarErrorKind::DurationTooLong(d) => write!(
                f,
                "duration '{d}' in {input:?} is longer than {MAX_DURATION} quarter notes"
            ),
            GrammarErrorKind::BadRange(range, what) => write!(
                f,
                "bad interval range '{range}' in {input:?}: {what} \
                 (expected <UP,DOWN> like <m3,P-4>)"
            ),
            GrammarErrorKind::BadInterval(interval, why) => {
                write!(f, "bad interval '{interval}' in {input:?}: {why}")
            }
            GrammarErrorKind::RestWithRange => write!(
                f,
                "a rest has no interval range, but {input:?} has one (expected e.g. \"R,0.250\")"
            ),
        }
    }
}

impl std::error::Error for GrammarError {}

fn parse_value(text: &str) -> Result<Value, GrammarError> {
    let fail = |kind| {
        let input = match text.char_indices().nth(80) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_owned(),
        };
        Err(GrammarError { input, kind })
    };
    if text.is_empty() {
        return fail(GrammarErrorKind::Empty);
    }
    let (role_text, rest) = match text.split_once(',') {
        Some((role, rest)) => (role, Some(rest)),
        None => (text, None),
    };
    let mut letters = role_text.chars();
    let role = match (letters.next().and_then(Role::from_letter), letters.next()) {
        (Some(role), None) => role,
        _ => return fail(GrammarErrorKind::UnknownRole(role_text.to_owned())),
    };
    let Some(rest) = rest else {
        return fail(GrammarErrorKind::MissingDuration);
    };
    let (duration_text, range_text) = match rest.split_once(',') {
        Some((d, r)) => (d, Some(r)),
        None => (rest, None),
    };
    let duration = match parse_duration(duration_text) {
        Ok(d) => d,
        Err(kind) => return fail(kind),
    };
    let range = match range_text {
        None => None,
        Some(_) if role == Role::Rest => return fail(GrammarErrorKind::RestWithRange),
        Some(r) => match parse_range(r) {
            Ok(range) => Some(range),
            Err(kind) => return fail(kind),
        },
    };
    Ok(Value {
        role,
        duration,
        range,
    })
}

/// Reads exactly what `"%.3f"` writes for a positive number: digits without
/// a leading zero (except `0` itself), a point, three digits.
fn parse_duration(text: &str) -> Result<f64, GrammarErrorKind> {
    let bad = || GrammarErrorKind::BadDuration(text.to_owned());
    let (unsigned, negative) = match text.strip_prefix('-') {
        Some(u) => (u, true),
        None => (text, false),
    };
    let (whole, decimals) = unsigned.split_once('.').ok_or_else(bad)?;
    let canonical_whole = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && (whole == "0" || !whole.starts_with('0'));
    if !canonical_whole || decimals.len() != 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Only digits and one point are left, so this parse cannot fail; a huge
    // number of digits gives infinity, which the MAX_DURATION check rejects.
    let value: f64 = unsigned.parse().map_err(|_| bad())?;
    if negative || value == 0.0 {
        return Err(GrammarErrorKind::NonPositiveDuration(text.to_owned()));
    }
    if value > MAX_DURATION {
        return Err(GrammarErrorKind::DurationTooLong(text.to_owned()));
    }
    Ok(value)
}

fn parse_range(text: &str) -> Result<(Interval, Interval), GrammarErrorKind> {
    let bad = |what| GrammarErrorKind::BadRange(text.to_owned(), what);
    let inner = text.strip_prefix('<').ok_or_else(|| bad("missing '<'"))?;
    let inner = inner.strip_suffix('>').ok_or_else(|| bad("missing '>'"))?;
    let (up, down) = inner
        .split_once(',')
        .ok_or_else(|| bad("it needs two intervals separated by a comma"))?;
    if down.contains(',') {
        return Err(bad("it has more than two intervals"));
    }
    let interval = |name: &str| {
        Interval::parse(name).map_err(|why| GrammarErrorKind::BadInterval(name.to_owned(), why))
    };
    Ok((interval(up)?, interval(down)?))
}

/// The role the original's `parse_melody` gives MIDI note `midi` over
/// `chord`: `C` if its pitch class sounds in the chord, else `S` if music21's
/// name-based scale test accepts it ([`Chord::is_scale_tone_by_name`]), else
/// `A` if it is a semitone from a chord tone, else `X`.
pub fn role_of(midi: u8, chord: &Chord) -> Role {
    let pc = pitch_class(midi);
    if chord.is_chord_tone(pc) {
        Role::Chord
    } else if chord.is_scale_tone_by_name(pc) {
        Role::Scale
    } else if chord.is_approach_tone(pc) {
        Role::Approach
    } else {
        Role::Other
    }
}

/// The role the automatic corpus reader (and the live listener) gives MIDI note `midi` over
/// `chord`: like [`role_of`], but any pitch class of the derived scale ([`Chord::scale`]) counts
/// as `S`, as when [`decode_pitch`] turns an `S` back into a note.
pub fn role_by_pitch_class(midi: u8, chord: &Chord) -> Role {
    let pc = pitch_class(midi);
    if chord.is_chord_tone(pc) {
        Role::Chord
    } else if chord.is_scale_tone(pc) {
        Role::Scale
    } else if chord.is_approach_tone(pc) {
        Role::Approach
    } else {
        Role::Other
    }
}

/// The `<UP,DOWN>` the original writes for a note at MIDI `midi` after one
/// at `prev_midi`: music21's interval between them, plus and minus a minor
/// third.
pub fn interval_range(prev_midi: u8, midi: u8) -> (Interval, Interval) {
    let step = Interval::between(prev_midi, midi);
    (
        step.add(Interval::MINOR_THIRD),
        step.subtract(Interval::MINOR_THIRD),
    )
}

/// A note range as the decoders use it: MIDI notes clamped to 0..=127, a low above the high
/// read the other way round.
pub fn playable_range(low: u8, high: u8) -> (i32, i32) {
    let (a, b) = (i32::from(low.min(127)), i32::from(high.min(127)));
    (a.min(b), a.max(b))
}

/// Whether pitch class `pc` plays `role` over `chord` when decoding: `C`
/// chord tone, `S` scale tone ([`Chord::scale`]), `A` and `X` approach tone.
pub fn fits_role(role: Role, chord: &Chord, pc: u8) -> bool {
    match role {
        Role::Rest => false,
        Role::Chord => chord.is_chord_tone(pc),
        Role::Scale => chord.is_scale_tone(pc),
        Role::Approach | Role::Other => chord.is_approach_tone(pc),
    }
}

/// MIDI note of the lowest C of octave 4 (`C4`): first notes start here.
const OCTAVE_4: i32 = 60;
/// `C3`: notes after the first never go below octave 3.
const OCTAVE_3: i32 = 48;

/// Turns one value into a MIDI pitch over `chord`, like the original's
/// `unparse_grammar` (deepjazz), or `None` for a rest. `prev` is the MIDI
/// pitch of the previous note; `low..=high` the playable MIDI range.
/// Never allocates; draws from `rng` only.
///
/// - Without a range, or with no previous note, it is a first note: `C` a
///   random chord tone, `S` a random tone of [`Chord::scale`], `A`/`X` a
///   random scale tone moved a semitone up or down; placed in octave 4 (a
///   note pushed below C4 by the semitone moves up an octave). The original
///   took the octave from the piano voicing and raised it to at least 4;
///   a [`Chord`] keeps no voicing, so octave 4 it is.
/// - With `<UP,DOWN>`: the candidates are `prev` moved by every semitone
///   from the smaller interval to the larger, inclusive; those fitting the
///   role ([`fits_role`]) are kept. With several, one is drawn at random
///   among those that are not `prev`; with one, it is taken; with none,
///   `prev` moves a whole tone up or down at random. A result below octave 3
///   moves into octave 3.
/// - Finally the pitch is placed into `low..=high` by whole octaves, which
///   keeps its pitch class and so its role. Only when the range is narrower
///   than an octave and holds no octave of that pitch class does it take the
///   nearest pitch of the range that fits the role, or failing that the
///   nearest end of the range. `low` and `high` are clamped to 0..=127 and
///   swapped if reversed.
///
/// Differences from the original, all deliberate: roles are tested on pitch
/// classes (the original compared music21 note names, which made respelled
/// scale tones such as D# in E major fail the `S` test); the first `S` note of
/// a non-major chord uses the Dorian scale where the original switched to
/// music21's weighted hexatonic blues scale; chord tones are drawn from
/// pitch classes, not from the voicing's (possibly doubled) notes.
pub fn decode_pitch(
    value: &Value,
    chord: &Chord,
    prev: Option<u8>,
    low: u8,
    high: u8,
    rng: &mut impl rand::Rng,
) -> Option<u8> {
    if value.role == Role::Rest {
        return None;
    }
    let (low, high) = playable_range(low, high);
    let pitch = match (value.range, prev) {
        (Some((a, b)), Some(prev)) => next_note(value.role, chord, prev as i32, a, b, rng),
        _ => first_note(value.role, chord, rng),
    };
    let placed = place_in_range(pitch, low, high, |pc| fits_role(value.role, chord, pc));
    Some(placed as u8)
}

/// A uniformly drawn index below `count` (`count` > 0).
fn draw(rng: &mut impl rand::Rng, count: u32) -> u32 {
    rng.random_range(0..count)
}

fn first_note(role: Role, chord: &Chord, rng: &mut impl rand::Rng) -> i32 {
    let scale = chord.scale();
    let pool = match role {
        Role::Chord if !chord.is_empty() => chord.pcs,
        _ => scale,
    };
    let pc = pool.nth(draw(rng, pool.len()) as usize).unwrap_or(0) as i32;
    let mut pitch = OCTAVE_4 + pc;
    if matches!(role, Role::Approach | Role::Other) {
        pitch += if draw(rng, 2) == 0 { -1 } else { 1 };
        if pitch < OCTAVE_4 {
            pitch += 12;
        }
    }
    pitch
}

fn next_note(
    role: Role,
    chord: &Chord,
    prev: i32,
    a: Interval,
    b: Interval,
    rng: &mut impl rand::Rng,
) -> i32 {
    let (lower, upper) = if a.semitones <= b.semitones {
        (a, b)
    } else {
        (b, a)
    };
    // Only MIDI pitches can be candidates, however wide the range.
    let first = lower.transpose(prev).max(0);
    let last = upper.transpose(prev).min(127);
    let fits = |p: i32| fits_role(role, chord, pitch_class(p));
    let count = (first..=last).filter(|&p| fits(p)).count() as u32;
    let pitch = match count {
        0 => prev + if draw(rng, 2) == 0 { -2 } else { 2 },
        1 => (first..=last).find(|&p| fits(p)).unwrap_or(prev),
        _ => {
            let others = |p: &i32| fits(*p) && *p != prev;
            let n = (first..=last).filter(others).count() as u32;
            let k = draw(rng, n) as usize;
            (first..=last).filter(others).nth(k).unwrap_or(prev)
        }
    };
    if pitch < OCTAVE_3 {
        OCTAVE_3 + pitch.rem_euclid(12)
    } else {
        pitch
    }
}

/// Moves `pitch` into `low..=high` by octaves; see [`decode_pitch`].
fn place_in_range(pitch: i32, low: i32, high: i32, fits: impl Fn(u8) -> bool) -> i32 {
    let mut p = pitch;
    while p > high {
        p -= 12;
    }
    while p < low {
        p += 12;
    }
    if p <= high {
        return p;
    }
    let nearest = (low..=high)
        .filter(|&q| fits(pitch_class(q)))
        .min_by_key(|&q| ((q - pitch).abs(), q));
    nearest.unwrap_or(if pitch > high { high } else { low })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_print_as_their_letters() {
        let letters: String = Role::ALL.iter().map(|r| r.to_string()).collect();
        assert_eq!(letters, "RCSAX");
        assert_eq!(Role::from_letter('A'), Some(Role::Approach));
        assert_eq!(Role::from_letter('c'), None);
    }

    #[test]
    fn durations_must_look_like_percent_point_three_f() {
        assert_eq!(parse_duration("0.250"), Ok(0.25));
        assert_eq!(parse_duration("12.000"), Ok(12.0));
        for bad in [
            "0.25", ".250", "00.250", "01.000", "0.2500", "1e2.000", "+1.000", "0,250",
        ] {
            assert!(
                matches!(parse_duration(bad), Err(GrammarErrorKind::BadDuration(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_duration("-0.250"),
            Err(GrammarErrorKind::NonPositiveDuration(_))
        ));
        assert!(matches!(
            parse_duration("1000.001"),
            Err(GrammarErrorKind::DurationTooLong(_))
        ));
    }

    #[test]
    fn the_original_range_is_the_step_plus_and_minus_a_minor_third() {
        let (up, down) = interval_range(60, 67);
        assert_eq!(
            (up.to_string(), down.to_string()),
            ("m7".into(), "M3".into())
        );
        let (up, down) = interval_range(60, 60);
        assert_eq!(
            (up.to_string(), down.to_string()),
            ("m3".into(), "m-3".into())
        );
    }

    #[test]
    fn narrow_ranges_fall_back_to_a_fitting_pitch_inside() {
        // G major chord tones G B D; range E4..=A-4 holds G4 only.
        let chord = Chord::from_midi(&[55, 59, 62]);
        let fits = |pc| chord.is_chord_tone(pc);
        assert_eq!(place_in_range(74, 64, 68, fits), 67);
        assert_eq!(place_in_range(62, 40, 52, fits), 50);
        assert_eq!(place_in_range(60, 61, 62, |_| false), 61);
    }
}
