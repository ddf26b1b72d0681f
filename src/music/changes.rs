//! Chord changes: a chord-symbol parser (`"Dm7 G7 | Cmaj7 | ..."`) and the
//! built-in progressions the engine cycles through.
//!
//! Bars are separated by `|`; the chords written in one bar share it evenly
//! (two chords in a 4/4 bar get two beats each). A `.` (or a lone `/`) is a
//! slot that holds the chord before it, so `C7 . F7 G7` gives C7 two beats and
//! the others one; a bar may start with `.` to hold the previous bar's last
//! chord (the first bar holds the chord the progression ends on, as it
//! cycles). `%` repeats the previous bar. `NC` (or `N.C.`) is "no chord": the
//! empty chord, over which every pitch class is a scale tone.
//! Parsing happens once, off the audio thread; `Progression::chord_at` then
//! only reads a table.

use std::fmt;

use crate::music::theory::{Chord, PcSet, Quality};

/// Semitones above the root, for readability of the symbol table below.
const B9: u8 = 1;
const NINE: u8 = 2;
const MIN3: u8 = 3;
const MAJ3: u8 = 4;
const FOURTH: u8 = 5;
const FLAT5: u8 = 6;
const FIFTH: u8 = 7;
const SHARP5: u8 = 8;
const SIXTH: u8 = 9;
const MIN7: u8 = 10;
const MAJ7: u8 = 11;

/// Note names as they are printed back (flats for black keys, as lead sheets
/// in flat keys usually do).
const NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
];

/// One parsed chord symbol: root, the chord's pitch classes relative to the
/// root, and an optional different bass (slash chord).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChordSymbol {
    /// Pitch class of the root, 0 = C … 11 = B.
    pub root: u8,
    /// Bit `i` set = the chord contains the pitch `i` semitones above the root.
    pub intervals: u16,
    /// Pitch class of the bass after a `/`, if any.
    pub bass: Option<u8>,
}

impl ChordSymbol {
    /// "No chord" (`NC`, `N.C.`): no root, no pitch class. It becomes [`Chord::EMPTY`], which
    /// the engine reads as no harmony (every pitch class a scale tone, none a chord tone), and it
    /// voices as silence in the chord track.
    pub const NO_CHORD: ChordSymbol = ChordSymbol {
        root: 0,
        intervals: 0,
        bass: None,
    };

    /// True for [`ChordSymbol::NO_CHORD`] (every real chord has its root, bit 0, in `intervals`).
    pub fn is_no_chord(&self) -> bool {
        self.intervals == 0
    }

    /// The chord's absolute pitch classes (bit `pc` set), bass included.
    pub fn pitch_classes(&self) -> u16 {
        let mut mask = 0u16;
        for i in 0..12u8 {
            if self.intervals & (1 << i) != 0 {
                mask |= 1 << ((self.root + i) % 12);
            }
        }
        if let Some(b) = self.bass {
            mask |= 1 << b;
        }
        mask
    }

    /// True when the chord has a minor third and no major third.
    pub fn is_minor(&self) -> bool {
        self.has(MIN3) && !self.has(MAJ3)
    }

    /// The chord as the grammar sees it: its pitch classes (bass included),
    /// the written root (not a guess from the notes: `C6` keeps root C, where
    /// an analysis of C E G A could call it A minor), and music21's quality
    /// rule judged on that root (major or minor third with a perfect fifth or
    /// none; everything else, e.g. m7b5, dim7, aug, sus, is `Other`).
    pub fn to_chord(&self) -> Chord {
        let plain_fifth = self.has(FIFTH) || (!self.has(FLAT5) && !self.has(SHARP5));
        let quality = if self.has(MAJ3) && plain_fifth {
            Quality::Major
        } else if self.has(MIN3) && !self.has(MAJ3) && plain_fifth {
            Quality::Minor
        } else {
            Quality::Other
        };
        Chord {
            pcs: PcSet(self.pitch_classes()),
            root: self.root,
            quality,
        }
    }

    fn has(&self, semitones: u8) -> bool {
        self.intervals & (1 << semitones) != 0
    }

    /// MIDI note numbers of one voicing: the bass (if any) in octave 3, the
    /// chord tones stacked from the root in octave 4. At most 13 notes.
    pub fn voicing(&self, notes: &mut [u8; 13]) -> usize {
        let mut n = 0;
        if let Some(b) = self.bass {
            notes[n] = 48 + b;
            n += 1;
        }
        for i in 0..12u8 {
            if self.has(i) {
                notes[n] = 60 + self.root + i;
                n += 1;
            }
        }
        n
    }
}

impl fmt::Display for ChordSymbol {
    /// A canonical spelling (`Dm7`, `G7b9`, `Bbmaj7/D`); it parses back to the
    /// same pitch classes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_no_chord() {
            return write!(f, "NC");
        }
        write!(f, "{}", NAMES[self.root as usize])?;
        let body = self.intervals & !1;
        let named = NAMED.iter().find(|(_, mask)| *mask == self.intervals | 1);
        match named {
            Some((suffix, _)) => write!(f, "{suffix}")?,
            None => {
                // Unnamed combination: the explicit interval list `C{3,5,6,7}`,
                // which `parse_symbol` reads back.
                write!(f, "{{")?;
                let mut first = true;
                for (i, name) in INTERVAL_NAMES.iter().enumerate().skip(1) {
                    if body & (1 << i) != 0 {
                        if !first {
                            write!(f, ",")?;
                        }
                        write!(f, "{name}")?;
                        first = false;
                    }
                }
                write!(f, "}}")?;
            }
        }
        if let Some(b) = self.bass {
            write!(f, "/{}", NAMES[b as usize])?;
        }
        Ok(())
    }
}

const INTERVAL_NAMES: [&str; 12] = [
    "1", "b9", "9", "b3", "3", "11", "b5", "5", "#5", "6", "b7", "7",
];

const fn mask(ints: &[u8]) -> u16 {
    let mut m = 1u16;
    let mut i = 0;
    while i < ints.len() {
        m |= 1 << ints[i];
        i += 1;
    }
    m
}

/// Spellings used when printing a symbol; the first match wins.
const NAMED: &[(&str, u16)] = &[
    ("", mask(&[MAJ3, FIFTH])),
    ("m", mask(&[MIN3, FIFTH])),
    ("dim", mask(&[MIN3, FLAT5])),
    ("aug", mask(&[MAJ3, SHARP5])),
    ("sus4", mask(&[FOURTH, FIFTH])),
    ("sus2", mask(&[NINE, FIFTH])),
    ("5", mask(&[FIFTH])),
    ("6", mask(&[MAJ3, FIFTH, SIXTH])),
    ("m6", mask(&[MIN3, FIFTH, SIXTH])),
    ("69", mask(&[NINE, MAJ3, FIFTH, SIXTH])),
    ("7", mask(&[MAJ3, FIFTH, MIN7])),
    ("maj7", mask(&[MAJ3, FIFTH, MAJ7])),
    ("m7", mask(&[MIN3, FIFTH, MIN7])),
    ("mMaj7", mask(&[MIN3, FIFTH, MAJ7])),
    ("m7b5", mask(&[MIN3, FLAT5, MIN7])),
    ("dim7", mask(&[MIN3, FLAT5, SIXTH])),
    ("7sus4", mask(&[FOURTH, FIFTH, MIN7])),
    ("9", mask(&[NINE, MAJ3, FIFTH, MIN7])),
    ("maj9", mask(&[NINE, MAJ3, FIFTH, MAJ7])),
    ("m9", mask(&[NINE, MIN3, FIFTH, MIN7])),
    ("7b9", mask(&[B9, MAJ3, FIFTH, MIN7])),
    ("7#9", mask(&[MIN3, MAJ3, FIFTH, MIN7])),
    ("7#11", mask(&[MAJ3, FLAT5, FIFTH, MIN7])),
    ("7b5", mask(&[MAJ3, FLAT5, MIN7])),
    ("7#5", mask(&[MAJ3, SHARP5, MIN7])),
    ("7b13", mask(&[MAJ3, FIFTH, SHARP5, MIN7])),
    ("13", mask(&[NINE, MAJ3, FIFTH, SIXTH, MIN7])),
    ("7alt", mask(&[B9, MIN3, MAJ3, FLAT5, SHARP5, MIN7])),
    // Lead-sheet regulars, so they print as musicians write them rather than as `{…}` lists.
    ("m11", mask(&[NINE, MIN3, FOURTH, FIFTH, MIN7])),
    ("m13", mask(&[NINE, MIN3, FIFTH, SIXTH, MIN7])),
    ("m69", mask(&[NINE, MIN3, FIFTH, SIXTH])),
    ("mMaj9", mask(&[NINE, MIN3, FIFTH, MAJ7])),
    ("maj13", mask(&[NINE, MAJ3, FIFTH, SIXTH, MAJ7])),
    ("maj7#11", mask(&[MAJ3, FLAT5, FIFTH, MAJ7])),
    ("maj7#5", mask(&[MAJ3, SHARP5, MAJ7])),
    ("9sus4", mask(&[NINE, FOURTH, FIFTH, MIN7])),
    ("13sus4", mask(&[NINE, FOURTH, FIFTH, SIXTH, MIN7])),
    ("7b9sus4", mask(&[B9, FOURTH, FIFTH, MIN7])),
    ("7b9b13", mask(&[B9, MAJ3, FIFTH, SHARP5, MIN7])),
    ("7#9#5", mask(&[MIN3, MAJ3, SHARP5, MIN7])),
    ("13#11", mask(&[NINE, MAJ3, FLAT5, FIFTH, SIXTH, MIN7])),
];

/// Why a chord text was refused, with where: the bad symbol, its bar and its
/// column (1-based, in characters), so an editor or a terminal can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangesError {
    /// The offending symbol as written (empty for errors about a bar or the whole text).
    pub symbol: String,
    /// 1-based bar number.
    pub bar: usize,
    /// 1-based column (characters) where the symbol or problem starts.
    pub column: usize,
    /// What is wrong, in a musician's words.
    pub reason: String,
}

impl fmt::Display for ChangesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.symbol.is_empty() {
            write!(
                f,
                "bar {}, column {}: {}",
                self.bar, self.column, self.reason
            )
        } else {
            write!(
                f,
                "bar {}, column {}: bad chord symbol \"{}\": {}",
                self.bar, self.column, self.symbol, self.reason
            )
        }
    }
}

impl std::error::Error for ChangesError {}

/// Parses one chord symbol such as `Dm7`, `G7b9`, `Bbmaj7/D`, `F#m7b5`,
/// `C6/9`, `Ebø`, `Bdim7`, `Gsus4`, `Am(maj7)`, `C7alt`, `C{3,5,b7,9}`, and the
/// lead-sheet spellings `C-7`, `C^7`, `CΔ7`, `Cj7`, `Ch7` (half-diminished),
/// `Co7`, `C+`, `C-^7`, `C2` (add 9), `C-b6`, `Co^7`, `NC` / `N.C.` (no chord).
///
/// On error returns the reason and the character index inside `symbol` where
/// the problem starts.
pub fn parse_symbol(symbol: &str) -> Result<ChordSymbol, (usize, String)> {
    if matches!(symbol, "NC" | "N.C." | "N.C" | "N/C") {
        return Ok(ChordSymbol::NO_CHORD);
    }
    let chars: Vec<char> = symbol.chars().collect();
    let mut p = Cursor { c: &chars, i: 0 };
    let root = read_root(&mut p)?;
    let intervals = if p.eat("{") {
        read_interval_list(&mut p)?
    } else {
        let mut quality = SymbolReading::default();
        quality.read_triad(&mut p)?;
        quality.read_number(&mut p)?;
        quality.read_alterations(&mut p)?;
        quality.intervals()
    };
    let bass = read_bass(&mut p)?;
    Ok(ChordSymbol {
        root,
        intervals,
        bass: bass.filter(|&b| b != root),
    })
}

type ParseResult<T> = Result<T, (usize, String)>;

/// The root: A–G, then `#` or `b`.
fn read_root(p: &mut Cursor) -> ParseResult<u8> {
    p.note().ok_or_else(|| {
        let found = p.c.first().copied().unwrap_or(' ');
        let hint = if ('a'..='g').contains(&found) {
            format!("the root '{found}' must be an upper-case note name (A–G)")
        } else {
            format!("'{found}' is not a note name: a chord starts with A–G, then # or b")
        };
        (0, hint)
    })
}

/// An explicit interval list after `{`: `C{3,5,b7,9}`. Returns the intervals with the root.
fn read_interval_list(p: &mut Cursor) -> ParseResult<u16> {
    let mut intervals: u16 = 1;
    loop {
        let at = p.i;
        if p.eat("}") {
            return Ok(intervals);
        }
        let found = INTERVAL_NAMES
            .iter()
            .enumerate()
            .skip(1)
            .rev()
            .find(|(_, name)| p.eat(name));
        match found {
            Some((i, _)) => intervals |= 1 << i,
            None => {
                return Err((
                    at,
                    "inside { } list intervals: b9 9 b3 3 11 b5 5 #5 6 b7 7".into(),
                ))
            }
        }
        if !p.eat(",") && p.peek() != Some('}') {
            return Err((p.i, "missing '}'".into()));
        }
    }
}

/// The optional `/BASS` that ends a symbol; nothing may follow it.
fn read_bass(p: &mut Cursor) -> ParseResult<Option<u8>> {
    let bass = if p.eat("/") {
        let at = p.i;
        let note = p.note().ok_or_else(|| {
            (
                at,
                "after '/' write the bass note (A–G, then # or b)".to_string(),
            )
        })?;
        Some(note)
    } else {
        None
    };
    if p.i < p.c.len() {
        let rest: String = p.c[p.i..].iter().collect();
        let after = if bass.is_some() {
            "the bass note"
        } else {
            "the chord"
        };
        return Err((p.i, format!("unexpected \"{rest}\" after {after}")));
    }
    Ok(bass)
}

#[derive(PartialEq, Clone, Copy, Default)]
enum Third {
    #[default]
    Major,
    Minor,
    Sus4,
    Sus2,
    Omit,
}

#[derive(PartialEq, Clone, Copy, Default)]
enum Seventh {
    #[default]
    None,
    Minor,
    Major,
    Diminished,
}

/// What a symbol's quality, number and alterations say, read in that order.
struct SymbolReading {
    third: Third,
    fifth: Option<u8>,
    seventh: Seventh,
    extra: u16,
    major_marker: bool,
    diminished: bool,
    number: Option<u32>,
}

impl Default for SymbolReading {
    fn default() -> Self {
        SymbolReading {
            third: Third::Major,
            fifth: Some(FIFTH),
            seventh: Seventh::None,
            extra: 0,
            major_marker: false,
            diminished: false,
            number: None,
        }
    }
}

impl SymbolReading {
    /// The seventh a number (7, 9, 11, 13) or an altered tension implies.
    fn implied_seventh(&self) -> Seventh {
        if self.major_marker {
            Seventh::Major
        } else if self.diminished {
            Seventh::Diminished
        } else {
            Seventh::Minor
        }
    }

    /// The triad quality. "maj"/"M"/"Δ" must be tried before "m".
    fn read_triad(&mut self, p: &mut Cursor) -> ParseResult<()> {
        if p.eat_any(&["maj", "Maj", "MAJ"]) {
            self.major_marker = true;
        } else if p.eat_any(&["Δ", "^", "j"]) {
            self.major_marker = true;
            self.seventh = Seventh::Major;
        } else if p.eat_any(&["M"]) {
            self.major_marker = true;
        } else if p.eat_any(&["min", "mi", "m", "-"]) {
            self.third = Third::Minor;
            // Minor-major seventh: mMaj7, m(maj7), mM7, -Δ7.
            let paren = p.eat("(");
            if p.eat_any(&["maj", "Maj", "M"]) {
                self.major_marker = true;
            } else if p.eat_any(&["Δ", "^", "j"]) {
                // The triangle alone means the major seventh: C-^ is C-^7.
                self.major_marker = true;
                self.seventh = Seventh::Major;
            } else if paren {
                p.i -= 1;
            }
            if paren && self.major_marker {
                p.eat_any(&["7"]);
                if !p.eat(")") {
                    return Err((p.i, "missing ')' after the major seventh".into()));
                }
                self.seventh = Seventh::Major;
            }
        } else if p.eat_any(&["dim", "o", "°"]) {
            self.third = Third::Minor;
            self.fifth = Some(FLAT5);
            self.diminished = true;
            // Diminished with a major seventh: Co^7, CoΔ.
            if p.eat_any(&["Δ", "^", "j"]) {
                self.diminished = false;
                self.major_marker = true;
                self.seventh = Seventh::Major;
            }
        } else if p.eat_any(&["ø", "Ø", "h"]) {
            self.third = Third::Minor;
            self.fifth = Some(FLAT5);
            self.seventh = Seventh::Minor;
            p.eat("7");
        } else if p.eat_any(&["aug", "+"]) {
            self.fifth = Some(SHARP5);
        }
        Ok(())
    }

    /// The number: 5, 6, 6/9, 69, 7, 9, 11, 13.
    fn read_number(&mut self, p: &mut Cursor) -> ParseResult<()> {
        let at = p.i;
        self.number = p.number();
        let seventh = self.implied_seventh();
        match self.number {
            None => {}
            Some(5) => {
                if self.third != Third::Major || self.major_marker {
                    return Err((at, "a power chord is written like C5".into()));
                }
                self.third = Third::Omit;
            }
            Some(6) => {
                self.extra |= 1 << SIXTH;
                if p.eat("/9") {
                    self.extra |= 1 << NINE;
                }
            }
            Some(69) => self.extra |= (1 << SIXTH) | (1 << NINE),
            // C2: the added ninth, third kept (as iReal Pro's "2").
            Some(2) => self.extra |= 1 << NINE,
            Some(7) => self.seventh = seventh,
            Some(9) => {
                self.seventh = seventh;
                self.extra |= 1 << NINE;
            }
            Some(11) => {
                self.seventh = seventh;
                self.extra |= (1 << NINE) | (1 << FOURTH);
            }
            Some(13) => {
                self.seventh = seventh;
                self.extra |= (1 << NINE) | (1 << SIXTH);
            }
            Some(n) => {
                return Err((
                    at,
                    format!("{n} is not a chord extension (use 2, 5, 6, 6/9, 7, 9, 11 or 13)"),
                ))
            }
        }
        Ok(())
    }

    /// Alterations, tensions and suspensions, optionally in parentheses, up to a `/` or the
    /// end.
    fn read_alterations(&mut self, p: &mut Cursor) -> ParseResult<()> {
        let mut depth = 0;
        while let Some(c) = p.peek() {
            if c == '/' {
                break;
            }
            let at = p.i;
            if p.eat("(") {
                depth += 1;
            } else if p.eat(")") {
                if depth == 0 {
                    return Err((at, "')' without a matching '('".into()));
                }
                depth -= 1;
            } else if p.eat(",") {
            } else if p.eat("sus2") {
                self.third = Third::Sus2;
            } else if p.eat_any(&["sus4", "sus"]) {
                self.third = Third::Sus4;
            } else if p.eat("alt") {
                if self.seventh == Seventh::None {
                    self.seventh = Seventh::Minor;
                }
                self.fifth = None;
                self.extra |= (1 << B9) | (1 << MIN3) | (1 << FLAT5) | (1 << SHARP5);
            } else if p.eat("add") {
                match p.number() {
                    Some(2) | Some(9) => self.extra |= 1 << NINE,
                    // 7susadd3: the third over a suspended fourth.
                    Some(3) => self.extra |= 1 << MAJ3,
                    Some(4) | Some(11) => self.extra |= 1 << FOURTH,
                    Some(6) | Some(13) => self.extra |= 1 << SIXTH,
                    _ => {
                        return Err((
                            at,
                            "write add2, add9, add3, add4, add11, add6 or add13".into(),
                        ))
                    }
                }
            } else if p.peek() == Some('+') && !p.c.get(p.i + 1).is_some_and(char::is_ascii_digit) {
                // C7+: a '+' without a degree raises the fifth.
                p.i += 1;
                self.fifth = Some(SHARP5);
            } else if let Some(sign) = p.accidental() {
                self.read_altered(p, at, sign)?;
            } else if let Some(n) = p.number() {
                // Tensions in parentheses: C7(9), C7(13).
                match n {
                    9 => self.extra |= 1 << NINE,
                    11 => self.extra |= 1 << FOURTH,
                    13 => self.extra |= 1 << SIXTH,
                    _ => return Err((at, format!("{n} is not a tension (use 9, 11 or 13)"))),
                }
            } else {
                let rest: String = p.c[at..].iter().collect();
                return Err((
                    at,
                    format!(
                        "cannot read \"{rest}\" (expected a chord quality like m7, maj7, 7b9, sus4)"
                    ),
                ));
            }
        }
        if depth != 0 {
            return Err((p.i, "missing ')'".into()));
        }
        Ok(())
    }

    /// An altered fifth or tension after its accidental (`sign` -1 flat, +1 sharp) at `at`.
    fn read_altered(&mut self, p: &mut Cursor, at: usize, sign: i8) -> ParseResult<()> {
        let n_at = p.i;
        let degree = p.number();
        match (degree, sign) {
            (Some(5), -1) => self.fifth = Some(FLAT5),
            (Some(5), 1) => self.fifth = Some(SHARP5),
            (Some(9), -1) => self.extra |= 1 << B9,
            (Some(9), 1) => self.extra |= 1 << MIN3,
            (Some(11), 1) => self.extra |= 1 << FLAT5,
            (Some(13), -1) => self.extra |= 1 << SHARP5,
            // C-b6: a minor triad with the flat sixth, no seventh implied.
            (Some(6), -1) => {
                self.extra |= 1 << SHARP5;
                return Ok(());
            }
            (Some(n), _) => {
                return Err((
                    n_at,
                    format!(
                        "{}{n} is not an alteration (use b5, #5, b6, b9, #9, #11 or b13)",
                        if sign < 0 { "b" } else { "#" }
                    ),
                ))
            }
            (None, _) => {
                return Err((
                    at,
                    "an accidental here must be followed by 5, 9, 11 or 13".into(),
                ))
            }
        }
        let is_tension = degree != Some(5);
        if is_tension && self.seventh == Seventh::None && !matches!(self.number, Some(6) | Some(69))
        {
            // An altered tension implies the seventh: C(b9) reads as C7(b9).
            self.seventh = self.implied_seventh();
        }
        Ok(())
    }

    /// The chord's intervals as a bit set over semitones above the root (bit 0, the root, set).
    fn intervals(&self) -> u16 {
        let mut intervals: u16 = 1;
        match self.third {
            Third::Major => intervals |= 1 << MAJ3,
            Third::Minor => intervals |= 1 << MIN3,
            Third::Sus4 => intervals |= 1 << FOURTH,
            Third::Sus2 => intervals |= 1 << NINE,
            Third::Omit => {}
        }
        if let Some(f) = self.fifth {
            intervals |= 1 << f;
        }
        match self.seventh {
            Seventh::None => {}
            Seventh::Minor => intervals |= 1 << MIN7,
            Seventh::Major => intervals |= 1 << MAJ7,
            Seventh::Diminished => intervals |= 1 << SIXTH,
        }
        intervals | self.extra
    }
}

struct Cursor<'a> {
    c: &'a [char],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.i + n <= self.c.len() && s.chars().zip(&self.c[self.i..]).all(|(a, &b)| a == b) {
            self.i += n;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, options: &[&str]) -> bool {
        options.iter().any(|s| self.eat(s))
    }

    fn accidental(&mut self) -> Option<i8> {
        match self.peek() {
            Some('b') | Some('♭') | Some('-') => {
                self.i += 1;
                Some(-1)
            }
            Some('#') | Some('♯') | Some('+') => {
                self.i += 1;
                Some(1)
            }
            _ => None,
        }
    }

    fn note(&mut self) -> Option<u8> {
        let pc = match self.peek()? {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return None,
        };
        self.i += 1;
        let alter: i32 = match self.peek() {
            Some('b') | Some('♭') => -1,
            Some('#') | Some('♯') => 1,
            _ => 0,
        };
        if alter != 0 {
            self.i += 1;
        }
        Some(((pc + alter + 12) % 12) as u8)
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d);
            self.i += 1;
        }
        (self.i > start).then_some(n)
    }
}

/// A chord progression: chords with their start positions, cycled forever.
#[derive(Clone, Debug, PartialEq)]
pub struct Progression {
    /// Sorted by start; the first starts at beat 0.
    segments: Vec<Segment>,
    bars: usize,
    beats_per_bar: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    /// Position in quarter-note beats from the start of the progression.
    start: f64,
    /// Length in quarter-note beats.
    length: f64,
    symbol: ChordSymbol,
    chord: Chord,
    /// 1-based bar number, for displays.
    bar: usize,
}

/// Positions closer than this (in beats) to a chord change count as on it, so
/// a beat grid computed as 16/12 still meets a change written at 4/3.
const BOUNDARY_EPSILON: f64 = 1e-9;

impl Progression {
    /// Length of one pass in quarter-note beats.
    pub fn len_beats(&self) -> f64 {
        self.bars as f64 * self.beats_per_bar as f64
    }

    /// Number of bars in one pass.
    pub fn bars(&self) -> usize {
        self.bars
    }

    /// Beats (quarter notes) per bar used when the text was parsed.
    pub fn beats_per_bar(&self) -> u32 {
        self.beats_per_bar
    }

    /// The chord symbol sounding at `beat` (quarter notes from the start; the
    /// progression repeats, negative positions wrap too). Never allocates.
    pub fn symbol_at(&self, beat: f64) -> ChordSymbol {
        self.segments[self.segment_index(beat)].symbol
    }

    /// The chord sounding at `beat` (quarter notes from the start; the
    /// progression repeats). Never allocates.
    pub fn chord_at(&self, beat: f64) -> Chord {
        self.segments[self.segment_index(beat)].chord
    }

    fn segment_index(&self, beat: f64) -> usize {
        let len = self.len_beats();
        let mut b = beat.rem_euclid(len);
        if !b.is_finite() {
            b = 0.0;
        }
        // A position a hair below the wrap point belongs to the first chord.
        if len - b <= BOUNDARY_EPSILON {
            return 0;
        }
        // partition_point: number of segments starting at or before b.
        let after = self
            .segments
            .partition_point(|s| s.start <= b + BOUNDARY_EPSILON);
        after.saturating_sub(1)
    }

    /// The chords in order with their start (beats) and length (beats), for
    /// displays and the renderer's chord track.
    pub fn chords(&self) -> impl Iterator<Item = (f64, f64, ChordSymbol)> + '_ {
        self.segments.iter().map(|s| (s.start, s.length, s.symbol))
    }
}

impl fmt::Display for Progression {
    /// Prints the progression as chord text (`Dm7 G7 | Cmaj7 | C7 . F7 G7`) that
    /// parses back to the same progression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bpb = f64::from(self.beats_per_bar);
        let mut first = 0;
        while first < self.segments.len() {
            let bar = self.segments[first].bar;
            let count = self.segments[first..]
                .iter()
                .take_while(|s| s.bar == bar)
                .count();
            let bar_start = (bar - 1) as f64 * bpb;
            let chords: Vec<(f64, ChordSymbol)> = self.segments[first..first + count]
                .iter()
                .map(|s| (s.start - bar_start, s.symbol))
                .collect();
            if first > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{}", bar_text(&chords, self.beats_per_bar))?;
            first += count;
        }
        Ok(())
    }
}

/// One bar of chord text for chords at `offset` beats (quarter notes) from the bar's start,
/// in order, the first at 0: the symbols alone when they share the bar evenly (`Dm7 G7`),
/// else on the fewest equal slots that place them all, `.` holding a chord (`C7 . F7 G7`).
/// Offsets off every grid finer than 1/12 beat are rounded to it.
pub fn bar_text(chords: &[(f64, ChordSymbol)], beats_per_bar: u32) -> String {
    let bpb = f64::from(beats_per_bar.max(1));
    let n = chords.len();
    let even = chords
        .iter()
        .enumerate()
        .all(|(i, (at, _))| (at - i as f64 * bpb / n as f64).abs() < 1e-6);
    let names: Vec<String> = chords.iter().map(|(_, s)| s.to_string()).collect();
    if even {
        return names.join(" ");
    }
    let max_slots = beats_per_bar.max(1) * 12;
    let slots = (1..=max_slots)
        .find(|&k| {
            chords.iter().all(|(at, _)| {
                let x = at * f64::from(k) / bpb;
                (x - x.round()).abs() < 1e-6
            })
        })
        .unwrap_or(max_slots);
    let mut cells = vec![String::from("."); slots as usize];
    for ((at, _), name) in chords.iter().zip(names) {
        let slot = (at * f64::from(slots) / bpb)
            .round()
            .clamp(0.0, f64::from(slots - 1));
        cells[slot as usize] = name;
    }
    cells.join(" ")
}

/// A lone word of chord text that holds the chord before it for one slot.
fn is_hold(word: &str) -> bool {
    word == "." || word == "/"
}

/// Parses chord text in 4/4: bars separated by `|`, chords separated by
/// spaces; the chords of a bar share it evenly, a `.` (or lone `/`) holding the
/// chord before it for one share; `%` repeats the previous bar.
/// Leading and trailing bar lines and `||` are allowed.
pub fn parse_changes(text: &str) -> Result<Progression, ChangesError> {
    parse_changes_in(text, 4)
}

/// A time signature as musicians write it, `3/4`, `6/8`: whole bars of quarter notes only
/// (jazz-synth counts in quarter-note beats). Returns (numerator, denominator, quarter notes
/// per bar), or what is wrong with it.
pub fn parse_meter(text: &str) -> Result<(u32, u32, u32), String> {
    let bad = || {
        format!(
            "\"{text}\" is not a meter: write it like 4/4, 3/4, 6/8 or 2/2 (a number of beats, \
             a slash, and a note value 1, 2, 4, 8 or 16)"
        )
    };
    let (n, d) = text.trim().split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let d: u32 = d.trim().parse().map_err(|_| bad())?;
    if n == 0 || n > 64 || ![1, 2, 4, 8, 16].contains(&d) {
        return Err(bad());
    }
    if !(n * 4).is_multiple_of(d) || !(1..=32).contains(&(n * 4 / d)) {
        return Err(format!(
            "{n}/{d} bars are not a whole number of quarter notes (1 to 32), which jazz-synth \
             counts in; use e.g. 6/8 or 3/4 instead of 7/8"
        ));
    }
    Ok((n, d, n * 4 / d))
}

/// Splits a time signature heading chord text (`"3/4 Am | E7"` → `Some("3/4")`, `"Am | E7"`);
/// the rest starts at its first chord or bar line.
pub fn split_meter_head(text: &str) -> (Option<&str>, &str) {
    let text = text.trim_start();
    match text.split_once(|c: char| c.is_whitespace() || c == '|') {
        Some((first, rest))
            if first.contains('/') && first.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            (Some(first), rest.trim_start_matches([' ', '|']))
        }
        _ => (None, text),
    }
}

/// Chord text that may start with its meter (`"3/4 Am | E7"`, as lead sheets convert to and
/// the plugin's changes field accepts); 4/4 without one. Columns count in the whole text.
pub fn parse_changes_with_meter(text: &str) -> Result<Progression, ChangesError> {
    let (head, rest) = split_meter_head(text);
    let Some(head) = head else {
        return parse_changes(text);
    };
    let (_, _, beats_per_bar) = parse_meter(head).map_err(|reason| ChangesError {
        symbol: String::new(),
        bar: 1,
        column: 1,
        reason,
    })?;
    let skipped = text.chars().count() - rest.chars().count();
    parse_changes_in(rest, beats_per_bar).map_err(|mut e| {
        e.column += skipped;
        e
    })
}

/// As [`parse_changes`], with `beats_per_bar` quarter notes per bar (1..=32).
pub fn parse_changes_in(text: &str, beats_per_bar: u32) -> Result<Progression, ChangesError> {
    if !(1..=32).contains(&beats_per_bar) {
        return Err(ChangesError {
            symbol: String::new(),
            bar: 1,
            column: 1,
            reason: format!("{beats_per_bar} beats per bar is not supported (use 1 to 32)"),
        });
    }
    // Tokens with their 1-based column; bar lines are tokens too.
    #[derive(Clone, Copy)]
    enum Tok<'a> {
        Bar,
        Word(&'a str, usize),
    }
    let mut toks: Vec<Tok> = Vec::new();
    let mut word_start: Option<(usize, usize)> = None; // (byte index, column)
    let mut column = 0;
    for (byte, ch) in text.char_indices() {
        column += 1;
        let separator = ch.is_whitespace() || ch == '|';
        if separator {
            if let Some((start, col)) = word_start.take() {
                toks.push(Tok::Word(&text[start..byte], col));
            }
            if ch == '|' {
                toks.push(Tok::Bar);
            }
        } else if word_start.is_none() {
            word_start = Some((byte, column));
        }
    }
    if let Some((start, col)) = word_start {
        toks.push(Tok::Word(&text[start..], col));
    }

    // Each bar: its slots as (symbol, slots held); None = hold the chord before the bar.
    let mut bars: Vec<Vec<(Option<ChordSymbol>, u32)>> = Vec::new();
    let mut current: Vec<(Option<ChordSymbol>, u32)> = Vec::new();
    let mut bar_has_repeat = false;
    let mut bar_column = 1;
    let mut prev_was_bar = true;
    let mut any_chord = false;
    for tok in toks {
        match tok {
            Tok::Bar => {
                // Empty bars ("||", "| |") are bar-line decoration, not silence.
                if !current.is_empty() {
                    bars.push(std::mem::take(&mut current));
                }
                bar_has_repeat = false;
                prev_was_bar = true;
            }
            Tok::Word(word, col) => {
                let bar = bars.len() + 1;
                if prev_was_bar {
                    bar_column = col;
                }
                prev_was_bar = false;
                if word == "%" {
                    if !current.is_empty() || bar_has_repeat {
                        return Err(ChangesError {
                            symbol: word.into(),
                            bar,
                            column: col,
                            reason:
                                "'%' repeats the whole previous bar and must stand alone in its bar"
                                    .into(),
                        });
                    }
                    match bars.last() {
                        Some(prev) => current = prev.clone(),
                        None => {
                            return Err(ChangesError {
                                symbol: word.into(),
                                bar,
                                column: col,
                                reason: "'%' repeats the previous bar, but this is the first bar"
                                    .into(),
                            })
                        }
                    }
                    bar_has_repeat = true;
                    continue;
                }
                if bar_has_repeat {
                    return Err(ChangesError {
                        symbol: word.into(),
                        bar,
                        column: col,
                        reason:
                            "a bar with '%' cannot hold other chords; put a '|' before this chord"
                                .into(),
                    });
                }
                if is_hold(word) {
                    match current.last_mut() {
                        Some((_, slots)) => *slots += 1,
                        None => current.push((None, 1)),
                    }
                } else {
                    match parse_symbol(word) {
                        Ok(sym) => current.push((Some(sym), 1)),
                        Err((at, reason)) => {
                            return Err(ChangesError {
                                symbol: word.into(),
                                bar,
                                column: col + at,
                                reason,
                            })
                        }
                    }
                    any_chord = true;
                }
                let slots: u32 = current.iter().map(|(_, n)| n).sum();
                if slots > beats_per_bar * 12 {
                    return Err(ChangesError {
                        symbol: word.into(),
                        bar,
                        column: bar_column,
                        reason: "too many chords in one bar".into(),
                    });
                }
            }
        }
    }
    if !current.is_empty() {
        bars.push(current);
    }
    if bars.is_empty() || !any_chord {
        return Err(ChangesError {
            symbol: String::new(),
            bar: 1,
            column: 1,
            reason: "no chords: write chord symbols separated by spaces and bars by '|', e.g. \"Dm7 G7 | Cmaj7\"".into(),
        });
    }
    if bars.len() > 4096 {
        return Err(ChangesError {
            symbol: String::new(),
            bar: 4097,
            column: 1,
            reason: "more than 4096 bars".into(),
        });
    }

    // A bar opening with a hold keeps the chord before it; the first bar keeps the last
    // chord of the progression, which sounds before it when the progression cycles.
    let mut previous = bars
        .iter()
        .flatten()
        .rev()
        .find_map(|(symbol, _)| *symbol)
        .unwrap_or(ChordSymbol::NO_CHORD);
    let bpb = beats_per_bar as f64;
    let mut segments = Vec::new();
    for (b, chords) in bars.iter().enumerate() {
        let total: u32 = chords.iter().map(|(_, n)| n).sum();
        let mut slot = 0;
        for &(symbol, held) in chords {
            let symbol = symbol.unwrap_or(previous);
            previous = symbol;
            // Integer numerators over one division: equal positions written on different
            // slot grids (2 of 4, 1 of 2) give the same f64, so printed text parses back equal.
            segments.push(Segment {
                start: b as f64 * bpb + f64::from(slot * beats_per_bar) / f64::from(total),
                length: f64::from(held * beats_per_bar) / f64::from(total),
                symbol,
                chord: symbol.to_chord(),
                bar: b + 1,
            });
            slot += held;
        }
    }
    Ok(Progression {
        segments,
        bars: bars.len(),
        beats_per_bar,
    })
}

/// The built-in progressions: `(name, chord text)`. The engine's
/// `Settings::progression` is an index into this table.
pub const BUILTIN: &[(&str, &str)] = &[
    ("ii-V-I in C", "Dm7 | G7 | Cmaj7 | Cmaj7"),
    (
        "12-bar blues in F",
        "F7 | Bb7 | F7 | Cm7 F7 | Bb7 | Bdim7 | F7 | Am7 D7 | Gm7 | C7 | F7 D7 | Gm7 C7",
    ),
    (
        "Autumn Leaves",
        "Cm7 | F7 | Bbmaj7 | Ebmaj7 | Am7b5 | D7 | Gm6 | Gm6 | \
         Cm7 | F7 | Bbmaj7 | Ebmaj7 | Am7b5 | D7 | Gm6 | Gm6 | \
         Am7b5 | D7 | Gm6 | Gm6 | Cm7 | F7 | Bbmaj7 | Ebmaj7 | \
         Am7b5 | D7 | Gm7 C7 | Fm7 Bb7 | Am7b5 | D7 | Gm6 | Gm6",
    ),
    (
        "Rhythm changes A",
        "Bb6 G7 | Cm7 F7 | Dm7 G7 | Cm7 F7 | Fm7 Bb7 | Eb7 Edim7 | Dm7 G7 | Cm7 F7",
    ),
    // Transcribed from the piano part of original_metheny.mid under the solo
    // the model learns from (quarter notes 476 to 551); anticipations are
    // moved to the nearest beat.
    (
        "Metheny solo",
        "Abmaj7 Gm7 | Fm7 Ebmaj7 | Dbmaj7 C7sus4 | Bbm7 Abmaj7 | Fmaj7 C7sus4 | \
         Dm7 Dm7 Dm7 Ebmaj7 | Dm7 Dm7 Dm7 Gm7 | Gm7 Gm7 Gm7 C7sus4 | Fmaj7 C7sus4 | \
         Dm7 Dm7 Dm7 G7#11 | Gm7 | % | % | % | Bbm7 | % | % | Bbm7 Bbm7 Bbm7 Eb7sus4 | Eb6",
    ),
];

/// The built-in progression at `index` in [`BUILTIN`], parsed.
pub fn builtin(index: usize) -> Option<Progression> {
    BUILTIN
        .get(index)
        .and_then(|(_, text)| parse_changes(text).ok())
}

/// Finds a built-in progression by name, ignoring case, spaces and dashes
/// (`"ii-V-I in C"`, `"blues"`, `"autumn"`: a unique prefix of the name is enough).
pub fn builtin_by_name(name: &str) -> Option<usize> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = norm(name);
    if wanted.is_empty() {
        return None;
    }
    if let Some(i) = BUILTIN.iter().position(|(n, _)| norm(n) == wanted) {
        return Some(i);
    }
    let mut found = BUILTIN
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| norm(n).contains(&wanted));
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}
