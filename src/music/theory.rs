//! Music theory without music21: pitch spelling, directed interval names,
//! chords, scales and approach tones, exactly as the original's grammar
//! strings need them.
//!
//! Everything here follows what music21 (10.5) computes when it reads a MIDI
//! file, because that is what produced the original's training values:
//!
//! - A MIDI note number is spelled with music21's default spelling
//!   (`C C# D E- E F F# G G# A B- B`), octave numbers as in `nameWithOctave`
//!   (MIDI 60 = `C4`).
//! - An [`Interval`] is a pair (generic interval from the letter names,
//!   semitones), named like music21's `directedName` (`m2`, `M-3`, `P-4`,
//!   `A4`, `d5`, `M9`, `P-11`, `dd1`...).
//! - A [`Chord`] finds its root and quality the way music21's `Chord.root()`
//!   and `Chord.quality` do on default-spelled pitches, and derives its scale
//!   like `scale.MajorScale().derive(chord)` / `scale.DorianScale().derive(chord)`.
//!
//! Nothing in this module allocates except the `String`-returning helpers
//! ([`name_with_octave`], [`Interval::directed_name`], [`Interval::parse`]'s
//! error), so chords and pitch-class sets are safe on the audio thread.

use std::fmt;
use std::str::FromStr;

/// music21's default spelling of each pitch class (what `Pitch.midi = n` gives).
pub const PITCH_NAMES: [&str; 12] = [
    "C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B",
];

/// Letter (0 = C ... 6 = B) of each pitch class under the default spelling.
const LETTER_OF_PC: [i32; 12] = [0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6];

/// Pitch class of each natural letter C D E F G A B.
const NATURAL_PC: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// Pitch class (0 = C ... 11 = B) of a MIDI note number; works for any integer.
pub fn pitch_class(midi: impl Into<i32>) -> u8 {
    midi.into().rem_euclid(12) as u8
}

/// music21's default name of a MIDI note number without octave: `C`, `C#`, `E-`...
pub fn pitch_name(midi: impl Into<i32>) -> &'static str {
    PITCH_NAMES[pitch_class(midi) as usize]
}

/// music21's octave number of a MIDI note number (MIDI 60 is in octave 4,
/// MIDI 0 in octave -1).
pub fn octave(midi: impl Into<i32>) -> i32 {
    midi.into().div_euclid(12) - 1
}

/// music21's `nameWithOctave` of a MIDI note number: `C4` for 60, `E-4` for 63.
pub fn name_with_octave(midi: impl Into<i32>) -> String {
    NoteName(midi.into()).to_string()
}

/// A MIDI note number that displays as music21's `nameWithOctave` (`E-4`)
/// without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteName(pub i32);

impl fmt::Display for NoteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", pitch_name(self.0), octave(self.0))
    }
}

/// Position of a MIDI note on the staff (one step per letter) under the
/// default spelling; differences of these are music21's staff distances.
fn staff_position(midi: i32) -> i32 {
    midi.div_euclid(12) * 7 + LETTER_OF_PC[midi.rem_euclid(12) as usize]
}

// ---------------------------------------------------------------------------
// Intervals
// ---------------------------------------------------------------------------

/// A directed interval as music21 models it: a generic interval counted in
/// letter steps plus an exact size in semitones.
///
/// `generic` is music21's directed generic interval: `1` unison, `2` a second
/// up, `-2` a second down, `8` an octave up, `-11` an eleventh down. It is
/// never `0` or `-1` (music21 has no descending unison: a unison's direction
/// lives in its semitones, `d1` is -1 semitone). Intervals built with those
/// values are treated as unisons.
///
/// `semitones` is the signed distance in semitones (MIDI note numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    pub generic: i32,
    pub semitones: i32,
}

impl Interval {
    /// `P1`.
    pub const UNISON: Interval = Interval {
        generic: 1,
        semitones: 0,
    };
    /// `m3`, the interval the original widens every range by.
    pub const MINOR_THIRD: Interval = Interval {
        generic: 3,
        semitones: 3,
    };

    /// An interval from a directed generic interval and semitones; `None` for
    /// the generic values music21 cannot hold (`0`, `-1`).
    pub fn new(generic: i32, semitones: i32) -> Option<Interval> {
        (generic != 0 && generic != -1).then_some(Interval { generic, semitones })
    }

    /// The interval from a signed staff distance (letters moved: 0 unison,
    /// 2 a third up, -3 a fourth down) and semitones.
    pub fn from_staff_distance(staff: i32, semitones: i32) -> Interval {
        let generic = if staff >= 0 { staff + 1 } else { staff - 1 };
        Interval { generic, semitones }
    }

    /// Letters moved, signed: music21's `GenericInterval.staffDistance`.
    pub fn staff_distance(&self) -> i32 {
        if self.generic >= 1 {
            self.generic - 1
        } else if self.generic <= -2 {
            self.generic + 1
        } else {
            0
        }
    }

    /// The interval from `start_midi` to `end_midi`, both spelled with
    /// music21's default spelling: the generic interval comes from their
    /// letters, the quality from the semitones (MIDI 60 → 63 is C → E-, `m3`;
    /// 60 → 66 is C → F#, `A4`; 61 → 63 is C# → E-, `d3`).
    pub fn between(start_midi: impl Into<i32>, end_midi: impl Into<i32>) -> Interval {
        let (a, b) = (start_midi.into(), end_midi.into());
        Interval::from_staff_distance(staff_position(b) - staff_position(a), b - a)
    }

    /// The pitch `midi` moved by this interval (MIDI note numbers; may leave
    /// 0..=127).
    pub fn transpose(&self, midi: i32) -> i32 {
        midi.saturating_add(self.semitones)
    }

    /// The same interval in the other direction (music21's `reverse()`):
    /// `M3` → `M-3`, `A1` → `d1`.
    pub fn reversed(self) -> Interval {
        Interval::from_staff_distance(-self.staff_distance(), -self.semitones)
    }

    /// music21's `interval.add([self, other])` (also `self + other`): it spells C4, transposes it
    /// by each interval in turn (letters by staff distance, then the
    /// accidental that gives the exact semitones) and names C4 → result. So
    /// staff distances add and semitones add: `m-2 + m3` is C4 → B3 → D4, `M2`.
    // Named after music21's `interval.add`, which the contract mirrors.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Interval) -> Interval {
        Interval::from_staff_distance(
            self.staff_distance() + other.staff_distance(),
            self.semitones + other.semitones,
        )
    }

    /// music21's `interval.subtract([self, other])` (also `self - other`): C4 transposed by `self`
    /// then by `other.reverse()`, so `A1 - m3` is C4 → C#4 → A#3, `d-3`.
    pub fn subtract(self, other: Interval) -> Interval {
        self.add(other.reversed())
    }

    /// music21's `directedName`: specifier plus signed generic interval
    /// (`P1`, `m2`, `M-3`, `P-4`, `A4`, `d5`, `M9`, `P-11`, `dd-12`, `AA1`).
    ///
    /// Beyond quadruple augmented/diminished (where music21 itself gives up)
    /// the letter keeps repeating, so every interval has a name that
    /// [`Interval::parse`] reads back.
    pub fn directed_name(&self) -> String {
        self.to_string()
    }

    /// Reads a directed name as written by [`Interval::directed_name`]
    /// (music21's `directedName`): `m3`, `P-4`, `dd1`, `AA-8`, `M13`.
    /// Only canonical names are accepted, so that parsing then naming gives
    /// back the same string; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Interval, String> {
        parse_interval(text)
    }

    /// Generic interval size without direction (1 unison, 8 octave).
    fn undirected(&self) -> i32 {
        match self.generic {
            -1..=1 => 1,
            g => g.abs(),
        }
    }

    /// How far the semitones lie from the perfect or major interval of the
    /// same generic size, in music21's direction convention.
    fn quality_offset(&self) -> i64 {
        let u = self.undirected() as i64;
        let normal = NATURAL_PC[((u - 1) % 7) as usize] as i64 + 12 * ((u - 1) / 7);
        // music21 measures a descending interval's size upward, and a unison's
        // semitones keep their sign (C → C- is d1, C → C# is A1).
        let direction = if self.generic <= -2 { -1 } else { 1 };
        self.semitones as i64 * direction - normal
    }
}

/// Perfectable generic sizes: unisons, fourths, fifths and their compounds.
fn perfectable(undirected: i64) -> bool {
    matches!((undirected - 1) % 7, 0 | 3 | 4)
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.quality_offset();
        let (letter, count) = if perfectable(self.undirected() as i64) {
            match offset {
                0 => ('P', 1),
                o if o > 0 => ('A', o),
                o => ('d', -o),
            }
        } else {
            match offset {
                0 => ('M', 1),
                -1 => ('m', 1),
                o if o > 0 => ('A', o),
                o => ('d', -o - 1),
            }
        };
        for _ in 0..count {
            write!(f, "{letter}")?;
        }
        let generic = if self.generic <= -2 {
            self.generic
        } else {
            self.undirected()
        };
        write!(f, "{generic}")
    }
}

impl std::ops::Add for Interval {
    type Output = Interval;
    fn add(self, other: Interval) -> Interval {
        Interval::add(self, other)
    }
}

impl std::ops::Sub for Interval {
    type Output = Interval;
    fn sub(self, other: Interval) -> Interval {
        Interval::subtract(self, other)
    }
}

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Interval, String> {
        parse_interval(s)
    }
}

/// Longest interval name accepted; far beyond anything a melody produces,
/// it keeps absurd inputs from costing time or overflowing.
const MAX_INTERVAL_NAME: usize = 32;

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text.is_empty() {
        return Err("empty interval name (expected e.g. m3, P-4, A1)".into());
    }
    if text.len() > MAX_INTERVAL_NAME {
        return Err(format!(
            "interval name '{text}' is too long (at most {MAX_INTERVAL_NAME} characters)"
        ));
    }
    let number_at = text
        .find(|c: char| c == '-' || c.is_ascii_digit())
        .ok_or_else(|| format!("interval '{text}' has no size number (expected e.g. m3, P-4)"))?;
    let (quality, number) = text.split_at(number_at);
    let first = quality.chars().next().ok_or_else(|| {
        format!("interval '{text}' has no quality (expected P, M, m, A or d before the number)")
    })?;
    if !matches!(first, 'P' | 'M' | 'm' | 'A' | 'd') || quality.chars().any(|c| c != first) {
        return Err(format!(
            "unknown interval quality '{quality}' in '{text}' \
             (expected P, M, m, A, d, AA, dd...)"
        ));
    }
    if matches!(first, 'P' | 'M' | 'm') && quality.len() > 1 {
        return Err(format!(
            "unknown interval quality '{quality}' in '{text}' (only A and d repeat)"
        ));
    }
    let (negative, digits) = match number.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, number),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.starts_with('0'))
    {
        return Err(format!(
            "bad interval size '{number}' in '{text}' (expected a whole number like 3 or -4)"
        ));
    }
    let undirected: i64 = digits
        .parse()
        .map_err(|_| format!("interval size '{number}' in '{text}' is too large"))?;
    if undirected > 10_000 {
        return Err(format!("interval size '{number}' in '{text}' is too large"));
    }
    if negative && undirected == 1 {
        return Err(format!(
            "'{text}': a unison has no direction (write d1 for a semitone down)"
        ));
    }
    let count = quality.len() as i64;
    let offset = if perfectable(undirected) {
        match first {
            'P' => 0,
            'A' => count,
            'd' => -count,
            _ => {
                return Err(format!(
                "'{text}': a {undirected} is perfect, augmented or diminished, not major or minor"
            ))
            }
        }
    } else {
        match first {
            'M' => 0,
            'm' => -1,
            'A' => count,
            'd' => -count - 1,
            _ => {
                return Err(format!(
                    "'{text}': a {undirected} is major, minor, augmented or diminished, not perfect"
                ))
            }
        }
    };
    let normal = NATURAL_PC[((undirected - 1) % 7) as usize] as i64 + 12 * ((undirected - 1) / 7);
    let direction = if negative { -1 } else { 1 };
    let generic = undirected * direction;
    Ok(Interval {
        generic: generic as i32,
        semitones: ((normal + offset) * direction) as i32,
    })
}

// ---------------------------------------------------------------------------
// Pitch-class sets
// ---------------------------------------------------------------------------

/// A set of pitch classes (bit `pc` set for pitch class `pc`, 0 = C ... 11 = B).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PcSet(pub u16);

impl PcSet {
    /// No pitch class.
    pub const EMPTY: PcSet = PcSet(0);
    /// All twelve pitch classes.
    pub const CHROMATIC: PcSet = PcSet(0x0fff);

    /// The set of the pitch classes given (taken modulo 12).
    pub fn from_pcs(pcs: &[u8]) -> PcSet {
        pcs.iter().fold(PcSet::EMPTY, |s, &pc| s.with(pc))
    }

    /// The pitch classes of some MIDI note numbers.
    pub fn from_midi(notes: &[u8]) -> PcSet {
        PcSet::from_pcs(notes)
    }

    /// Whether pitch class `pc` (taken modulo 12) is in the set.
    pub fn contains(self, pc: u8) -> bool {
        self.0 & (1 << (pc % 12)) != 0
    }

    /// The set plus pitch class `pc` (taken modulo 12).
    pub fn with(self, pc: u8) -> PcSet {
        PcSet(self.0 | (1 << (pc % 12)))
    }

    /// Adds pitch class `pc` (taken modulo 12).
    pub fn insert(&mut self, pc: u8) {
        *self = self.with(pc);
    }

    /// Number of pitch classes in the set.
    pub fn len(self) -> u32 {
        (self.0 & 0x0fff).count_ones()
    }

    /// Whether the set has no pitch class.
    pub fn is_empty(self) -> bool {
        self.0 & 0x0fff == 0
    }

    /// Pitch classes in either set.
    pub fn union(self, other: PcSet) -> PcSet {
        PcSet(self.0 | other.0)
    }

    /// Pitch classes in both sets.
    pub fn intersection(self, other: PcSet) -> PcSet {
        PcSet(self.0 & other.0)
    }

    /// Every pitch class moved up by `semitones` (negative moves down).
    pub fn transpose(self, semitones: i32) -> PcSet {
        let shift = semitones.rem_euclid(12) as u32;
        let bits = (self.0 & 0x0fff) as u32;
        PcSet((((bits << shift) | (bits >> (12 - shift))) & 0x0fff) as u16)
    }

    /// The `n`-th pitch class of the set in ascending order, if any.
    pub fn nth(self, n: usize) -> Option<u8> {
        self.iter().nth(n)
    }

    /// The pitch classes in ascending order.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..12u8).filter(move |&pc| self.contains(pc))
    }
}

impl fmt::Debug for PcSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|pc| PITCH_NAMES[pc as usize]))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Chords and scales
// ---------------------------------------------------------------------------

/// Chord quality as the original uses it: only `Major` changes the scale.
///
/// Rule (music21's `Chord.quality`, on the chord's root): find the chord's
/// third and fifth by letter name; a third of 4 semitones with a fifth of 7
/// (or no fifth) is `Major`, 3 with 7 (or no fifth) is `Minor`. Everything
/// else is `Other`: no third, two different thirds (or roots, or fifths),
/// diminished and augmented triads (music21 calls those `diminished` and
/// `augmented`; the original treats them like any non-major chord).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    Major,
    Minor,
    Other,
}

/// Major scale steps from the tonic, as a pitch-class set on C.
const MAJOR_SCALE: PcSet = PcSet(0b1010_1011_0101);
/// Dorian steps from the tonic (C D E- F G A B-).
const DORIAN_SCALE: PcSet = PcSet(0b0110_1010_1101);
/// Letter spelling of each pitch class as the tonic music21's `derive` picks
/// (its candidate list has both C# and D-, D# and E-, B and C-; ties go to
/// the later spelling or the higher pitch: D-, E- and B win).
const TONIC_LETTER: [i32; 12] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6];

/// A chord as the grammar needs it: its pitch classes, root and quality.
/// `Copy` and allocation-free.
///
/// `root` is a pitch class (0 = C ... 11 = B). The empty chord (no pitch
/// classes) stands for "no harmony": no chord or approach tones, and every
/// pitch class counts as a scale tone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chord {
    pub pcs: PcSet,
    pub root: u8,
    pub quality: Quality,
}

impl Chord {
    /// No harmony.
    pub const EMPTY: Chord = Chord {
        pcs: PcSet::EMPTY,
        root: 0,
        quality: Quality::Other,
    };

    /// Analyses sounding MIDI notes the way music21 analyses a chord read
    /// from a MIDI file (pitches spelled by default, `C# E- F# G# B-`).
    ///
    /// Root (music21's `Chord.root()`): with one pitch per letter kept (the
    /// first of each letter in `notes` order), a pitch whose letters stack in
    /// thirds above it is the root; otherwise each candidate scores 1/6, 1/7,
    /// 1/8, 1/9, 1/10, 1/11 for a 3rd, 5th, 7th, 9th, 11th, 13th above it (by
    /// letter) and the first best wins; with seven letters the bass is the
    /// root. Only letters count, so spelling matters: C# F G# (D- major
    /// spelled with sharps) gets root F and quality `Other`, exactly as
    /// music21 judged the original's MIDI chords. Ties follow `notes` order,
    /// so pass the notes in the order music21 lists them (file order).
    ///
    /// An empty slice gives [`Chord::EMPTY`].
    pub fn from_midi(notes: &[u8]) -> Chord {
        let Some(root_at) = find_root(notes) else {
            return Chord::EMPTY;
        };
        let root = notes[root_at];
        Chord {
            pcs: PcSet::from_midi(notes),
            root: pitch_class(root),
            quality: find_quality(notes, root),
        }
    }

    /// [`Chord::from_midi`] on one pitch of each class, in ascending order.
    pub fn from_pcs(pcs: PcSet) -> Chord {
        let mut notes = [0u8; 12];
        let mut n = 0;
        for pc in pcs.iter() {
            notes[n] = 60 + pc;
            n += 1;
        }
        Chord::from_midi(&notes[..n])
    }

    /// Whether the chord has no pitch class.
    pub fn is_empty(&self) -> bool {
        self.pcs.is_empty()
    }

    /// The scale the `S` role refers to: music21's
    /// `MajorScale().derive(chord)` when the quality is major, else
    /// `DorianScale().derive(chord)`. `derive` tries every tonic, keeps the
    /// scales holding the most chord pitch classes and, among those, takes
    /// the highest tonic (B first, C last; music21 sorts its candidates by
    /// pitch). So C major gives G major (it holds C E G and G > C) and
    /// C minor gives B- Dorian (the notes of A- major).
    pub fn scale(&self) -> PcSet {
        if self.is_empty() {
            return PcSet::CHROMATIC;
        }
        self.scale_pattern().transpose(self.scale_tonic() as i32)
    }

    /// Tonic pitch class of [`Chord::scale`].
    pub fn scale_tonic(&self) -> u8 {
        let pattern = self.scale_pattern();
        let mut best = (0, 0);
        for tonic in (0..12u8).rev() {
            let count = pattern.transpose(tonic as i32).intersection(self.pcs).len();
            if count > best.0 || tonic == 11 {
                best = (count, tonic);
            }
        }
        best.1
    }

    fn scale_pattern(&self) -> PcSet {
        match self.quality {
            Quality::Major => MAJOR_SCALE,
            _ => DORIAN_SCALE,
        }
    }

    /// The scale tones the original's `S` test really accepted: music21
    /// compares note *names*, so a pitch class only counts when its default
    /// spelling is the scale's spelling (D- major spells D- E- F G- A- B- C,
    /// and MIDI notes are named C# E- F F# G# B- C, so only E- F B- C match).
    /// Use this to classify notes like the original; use [`Chord::scale`]
    /// for what a musician calls the scale.
    pub fn scale_by_name(&self) -> PcSet {
        if self.is_empty() {
            return PcSet::CHROMATIC;
        }
        let tonic = self.scale_tonic();
        let tonic_letter = TONIC_LETTER[tonic as usize];
        let pattern = self.scale_pattern();
        let mut named = PcSet::EMPTY;
        for (degree, step) in pattern.iter().enumerate() {
            let pc = (tonic + step) % 12;
            if LETTER_OF_PC[pc as usize] == (tonic_letter + degree as i32) % 7 {
                named.insert(pc);
            }
        }
        named
    }

    /// Whether pitch class `pc` sounds in the chord.
    pub fn is_chord_tone(&self, pc: u8) -> bool {
        self.pcs.contains(pc)
    }

    /// Whether pitch class `pc` is in [`Chord::scale`].
    pub fn is_scale_tone(&self, pc: u8) -> bool {
        self.scale().contains(pc)
    }

    /// Whether pitch class `pc` is in [`Chord::scale_by_name`] (the
    /// original's name-based test).
    pub fn is_scale_tone_by_name(&self, pc: u8) -> bool {
        self.scale_by_name().contains(pc)
    }

    /// Pitch classes one semitone above or below a chord tone (chord tones
    /// a semitone from another chord tone included, as in the original).
    pub fn approach_tones(&self) -> PcSet {
        self.pcs.transpose(1).union(self.pcs.transpose(-1))
    }

    /// Whether pitch class `pc` is one semitone above or below a chord tone.
    pub fn is_approach_tone(&self, pc: u8) -> bool {
        self.approach_tones().contains(pc)
    }
}

fn letter(midi: u8) -> i32 {
    LETTER_OF_PC[(midi % 12) as usize]
}

/// Index in `notes` of the root music21's `Chord.root()` picks, `None` when
/// there are no notes.
fn find_root(notes: &[u8]) -> Option<usize> {
    // One pitch per letter, the first of each, in order of first appearance.
    let mut first_of_letter = [usize::MAX; 7];
    let mut order = [0usize; 7];
    let mut distinct = 0;
    for (i, &n) in notes.iter().enumerate() {
        let l = letter(n) as usize;
        if first_of_letter[l] == usize::MAX {
            first_of_letter[l] = i;
            order[distinct] = i;
            distinct += 1;
        }
    }
    match distinct {
        0 => return None,
        1 => return Some(0),
        7 => {
            let (at, _) = notes.iter().enumerate().min_by_key(|&(i, &n)| (n, i))?;
            return Some(at);
        }
        _ => {}
    }
    // Letters stacked in thirds above one of them (E C G → C).
    let mut present = [0usize; 7];
    let mut m = 0;
    for (l, &first) in first_of_letter.iter().enumerate() {
        if first != usize::MAX {
            present[m] = l;
            m += 1;
        }
    }
    for start in 0..m {
        let mut last = present[start] as i32;
        let stacked = (start + 1..start + m).all(|end| {
            let step = present[end % m] as i32;
            let ok = matches!(step - last, 2 | -5);
            last = step;
            ok
        });
        if stacked {
            return Some(first_of_letter[present[start]]);
        }
    }
    // Otherwise the candidate with most thirds, fifths, sevenths... above it.
    const STEPS: [i32; 6] = [3, 5, 7, 2, 4, 6];
    let mut best: Option<(f64, usize)> = None;
    for &at in &order[..distinct] {
        let l = letter(notes[at]);
        let mut score = 0.0f64;
        for (i, step) in STEPS.iter().enumerate() {
            if first_of_letter[((l + step - 1) % 7) as usize] != usize::MAX {
                score += 1.0 / (i as f64 + 6.0);
            }
        }
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, at));
        }
    }
    best.map(|(_, at)| at)
}

/// music21's `Chord.quality` given the root pitch.
fn find_quality(notes: &[u8], root: u8) -> Quality {
    let root_letter = letter(root);
    let step_of = |n: u8| (letter(n) - root_letter).rem_euclid(7) + 1;
    let semis = |n: u8| (n as i32 - root as i32).rem_euclid(12);
    let first_at = |step: i32| notes.iter().copied().find(|&n| step_of(n) == step);
    let repeated = |step: i32| match first_at(step) {
        Some(first) => notes
            .iter()
            .any(|&n| step_of(n) == step && semis(n) != semis(first)),
        None => false,
    };
    let Some(third) = first_at(3).map(semis) else {
        return Quality::Other;
    };
    if repeated(1) || repeated(3) {
        return Quality::Other;
    }
    let fifth = first_at(5).map(semis);
    if fifth.is_some() && repeated(5) {
        return Quality::Other;
    }
    match (third, fifth) {
        (4, None | Some(7)) => Quality::Major,
        (3, None | Some(7)) => Quality::Minor,
        _ => Quality::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_notes_are_spelled_like_music21() {
        assert_eq!(name_with_octave(60), "C4");
        assert_eq!(name_with_octave(63), "E-4");
        assert_eq!(name_with_octave(70), "B-4");
        assert_eq!(name_with_octave(59), "B3");
        assert_eq!(name_with_octave(0), "C-1");
        assert_eq!(name_with_octave(127), "G9");
        assert_eq!(pitch_name(61u8), "C#");
        assert_eq!(NoteName(66).to_string(), "F#4");
    }

    #[test]
    fn intervals_take_letters_from_the_default_spelling() {
        let name = |a: i32, b: i32| Interval::between(a, b).directed_name();
        assert_eq!(name(60, 60), "P1");
        assert_eq!(name(60, 61), "A1"); // C → C#
        assert_eq!(name(61, 63), "d3"); // C# → E-
        assert_eq!(name(60, 66), "A4"); // C → F#
        assert_eq!(name(66, 72), "d5"); // F# → C
        assert_eq!(name(60, 56), "d-4"); // C → G#
        assert_eq!(name(64, 60), "M-3");
        assert_eq!(name(60, 55), "P-4");
        assert_eq!(name(60, 74), "M9");
        assert_eq!(name(60, 43), "P-11");
        assert_eq!(name(48, 30), "d-12");
        assert_eq!(name(60, 48), "P-8");
    }

    #[test]
    fn music21_add_and_subtract_examples() {
        let i = |s: &str| Interval::parse(s).unwrap();
        assert_eq!(i("A2").add(i("P5")).directed_name(), "A6");
        assert_eq!(i("P5").add(i("P-4")).directed_name(), "M2");
        assert_eq!(i("P5").subtract(i("M3")).directed_name(), "m3");
        assert_eq!(i("P4").subtract(i("d3")).directed_name(), "A2");
        assert_eq!(i("P4").subtract(i("M-2")).directed_name(), "P5");
        assert_eq!(i("A1").subtract(i("P1")).directed_name(), "A1");
        assert_eq!(i("P8").subtract(i("d2")).directed_name(), "A7");
        assert_eq!(i("P8").subtract(i("A1")).directed_name(), "d8");
        assert_eq!(i("P5").subtract(i("A5")).directed_name(), "d1");
        assert_eq!(
            i("M6").subtract(i("m2")).subtract(i("m2")).directed_name(),
            "AA4"
        );
    }

    #[test]
    fn parse_reads_what_directed_name_writes() {
        for generic in (-30..=30).filter(|g| *g != 0 && *g != -1) {
            for semitones in -60..=60 {
                let it = Interval { generic, semitones };
                let name = it.directed_name();
                if name.len() <= MAX_INTERVAL_NAME {
                    assert_eq!(Interval::parse(&name), Ok(it), "{name}");
                }
            }
        }
    }

    #[test]
    fn parse_explains_what_is_wrong() {
        for (bad, says) in [
            ("", "empty"),
            ("m", "no size"),
            ("3", "no quality"),
            ("X3", "unknown interval quality 'X'"),
            ("Mm3", "unknown interval quality"),
            ("MM3", "only A and d repeat"),
            ("P3", "not perfect"),
            ("M5", "not major or minor"),
            ("P-1", "unison has no direction"),
            ("m03", "bad interval size"),
            ("m3x", "bad interval size"),
            ("m+3", "unknown interval quality 'm+'"),
            ("P0", "bad interval size"),
            ("P99999999999", "too large"),
        ] {
            let err = Interval::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn pc_sets_rotate_and_count() {
        let c_major = PcSet::from_pcs(&[0, 4, 7]);
        assert_eq!(c_major.len(), 3);
        assert_eq!(c_major.transpose(2), PcSet::from_pcs(&[2, 6, 9]));
        assert_eq!(c_major.transpose(-1), PcSet::from_pcs(&[11, 3, 6]));
        assert_eq!(c_major.nth(2), Some(7));
        assert_eq!(c_major.nth(3), None);
        assert_eq!(format!("{c_major:?}"), "{\"C\", \"E\", \"G\"}");
        assert_eq!(MAJOR_SCALE, PcSet::from_pcs(&[0, 2, 4, 5, 7, 9, 11]));
        assert_eq!(DORIAN_SCALE, PcSet::from_pcs(&[0, 2, 3, 5, 7, 9, 10]));
    }

    #[test]
    fn chord_roots_and_qualities_follow_music21() {
        let chord = |notes: &[u8]| {
            let c = Chord::from_midi(notes);
            (pitch_name(c.root), c.quality)
        };
        // Inversions and added tones do not matter when thirds stack.
        assert_eq!(chord(&[64, 60, 67]), ("C", Quality::Major));
        assert_eq!(chord(&[57, 60, 64]), ("A", Quality::Minor));
        assert_eq!(chord(&[53, 59, 62, 67]), ("G", Quality::Major)); // F B D G
        assert_eq!(chord(&[60, 63]), ("C", Quality::Minor)); // incomplete
        assert_eq!(chord(&[63, 67]), ("E-", Quality::Major));
        assert_eq!(chord(&[60, 61, 62]), ("D", Quality::Other)); // C before D: 7th beats 2nd
        assert_eq!(chord(&[60, 61, 64, 67]), ("C", Quality::Other)); // two roots
        assert_eq!(chord(&[60, 63, 64, 67]), ("C", Quality::Other)); // two thirds
        assert_eq!(chord(&[60, 62, 64]), ("C", Quality::Major)); // "major 9th"
        assert_eq!(chord(&[60, 64, 68]), ("C", Quality::Other)); // augmented
        assert_eq!(chord(&[59, 62, 65]), ("B", Quality::Other)); // diminished
        assert_eq!(chord(&[60, 64, 67, 70]), ("C", Quality::Major)); // C7
        assert_eq!(chord(&[62, 65, 69, 72]), ("D", Quality::Minor)); // Dm7
                                                                     // D- major spelled C# F G# has no letter third: music21 says F, other.
        assert_eq!(chord(&[61, 65, 68]), ("F", Quality::Other));
        // The original's piano voicing E-4 G4 C4 B-3 G#2 (from deepjazz's docs).
        assert_eq!(chord(&[63, 67, 60, 58, 44]).0, "C");
        assert_eq!(Chord::from_midi(&[]), Chord::EMPTY);
    }

    #[test]
    fn roots_of_music21s_own_examples() {
        let root = |notes: &[u8]| name_with_octave(notes[find_root(notes).unwrap()]);
        assert_eq!(root(&[52, 60, 79]), "C4"); // E3 C4 G5
        assert_eq!(root(&[57, 63, 67]), "A3"); // A3 E-4 G4: A dim7 without 3rd
        assert_eq!(root(&[51, 69, 67]), "A4"); // E-3 A4 G4
        assert_eq!(root(&[52, 60, 67, 70, 76, 79]), "C4"); // E3 C4 G4 B-4 E5 G5
        assert_eq!(root(&[60, 65, 67]), "F4"); // C4 F4 G4: "F9 in 2nd inversion"
                                               // Seven letters (a 13th chord): the bass, wherever it is listed.
        assert_eq!(root(&[62, 65, 57, 60, 64, 67, 71]), "A3");
        assert_eq!(root(&[61, 60]), "C#4"); // one letter (C# C): the first pitch
    }

    #[test]
    fn scales_are_derived_like_music21() {
        let names = |s: PcSet| {
            s.iter()
                .map(|pc| PITCH_NAMES[pc as usize])
                .collect::<Vec<_>>()
        };
        // C major: G major and C major both hold C E G; music21 takes G.
        let c = Chord::from_midi(&[60, 64, 67]);
        assert_eq!(pitch_name(c.scale_tonic()), "G");
        assert_eq!(names(c.scale()), ["C", "D", "E", "F#", "G", "A", "B"]);
        // Cmaj7 fits C and G major too; C7 fits only F major.
        let cmaj7 = Chord::from_midi(&[60, 64, 67, 71]);
        assert_eq!(pitch_name(cmaj7.scale_tonic()), "G");
        let c7 = Chord::from_midi(&[60, 64, 67, 70]);
        assert_eq!(pitch_name(c7.scale_tonic()), "F");
        // C minor: C, F and B- Dorian all hold C E- G; music21 takes B-.
        let cm = Chord::from_midi(&[60, 63, 67]);
        assert_eq!(pitch_name(cm.scale_tonic()), "B-");
        // Dm7 fits C, D and G Dorian; music21 takes G Dorian (F major's notes).
        let dm7 = Chord::from_midi(&[62, 65, 69, 72]);
        assert_eq!(pitch_name(dm7.scale_tonic()), "G");
        assert_eq!(names(dm7.scale()), ["C", "D", "E", "F", "G", "A", "B-"]);
        assert!(dm7.is_scale_tone(64) && !dm7.is_scale_tone(63));
        assert_eq!(Chord::EMPTY.scale(), PcSet::CHROMATIC);
    }

    #[test]
    fn scale_tones_by_name_drop_respelled_notes() {
        // D-maj7 (C# F G# C): D- major spelled D- E- F G- A- B- C.
        let db = Chord::from_midi(&[61, 65, 68, 72]);
        assert_eq!(db.quality, Quality::Other);
        // As Other it gets a Dorian scale; check by-name is a subset anyway.
        assert_eq!(
            db.scale_by_name().intersection(db.scale()),
            db.scale_by_name()
        );
        // G major chord → G major scale (ties with C and D major), all
        // spelled like MIDI notes.
        let g = Chord::from_midi(&[55, 59, 62]);
        assert_eq!(pitch_name(g.scale_tonic()), "G");
        assert_eq!(g.scale_by_name(), g.scale());
        // E major chord → B major scale: B C# D# E F# G# A#; D# and A# are
        // named E- and B- on MIDI notes.
        let e = Chord::from_midi(&[52, 56, 59]);
        assert_eq!(pitch_name(e.scale_tonic()), "B");
        assert!(e.is_scale_tone(63) && !e.is_scale_tone_by_name(63));
        assert!(e.is_scale_tone_by_name(61));
        assert_eq!(e.scale().len() - e.scale_by_name().len(), 2);
    }

    #[test]
    fn approach_tones_are_a_semitone_from_chord_tones() {
        let c = Chord::from_midi(&[60, 64, 67]);
        let approach: Vec<u8> = c.approach_tones().iter().collect();
        assert_eq!(approach, [1, 3, 5, 6, 8, 11]);
        assert!(c.is_approach_tone(11) && !c.is_approach_tone(2));
        assert!(c.is_chord_tone(67) && !c.is_chord_tone(62));
    }
}
