//! The chord-symbol parser and the built-in progressions.

use jazz_synth::music::changes::{
    builtin, builtin_by_name, parse_changes, parse_changes_in, parse_symbol, ChangesError,
    ChordSymbol, BUILTIN,
};

/// Pitch classes of a symbol as a sorted list of note numbers 0..12.
fn pcs(symbol: &str) -> Vec<u8> {
    let chord = parse_symbol(symbol).unwrap_or_else(|e| panic!("{symbol}: {e:?}"));
    (0..12)
        .filter(|pc| chord.pitch_classes() & (1 << pc) != 0)
        .collect()
}

fn root(symbol: &str) -> u8 {
    parse_symbol(symbol).unwrap().root
}

const C: u8 = 0;
const DB: u8 = 1;
const D: u8 = 2;
const EB: u8 = 3;
const E: u8 = 4;
const F: u8 = 5;
const GB: u8 = 6;
const G: u8 = 7;
const AB: u8 = 8;
const A: u8 = 9;
const BB: u8 = 10;
const B: u8 = 11;

#[test]
fn sevenths_and_triads() {
    assert_eq!(pcs("C"), [C, E, G]);
    assert_eq!(pcs("Cm"), [C, EB, G]);
    assert_eq!(pcs("Cmaj7"), [C, E, G, B]);
    assert_eq!(pcs("CΔ7"), [C, E, G, B]);
    assert_eq!(pcs("CM7"), [C, E, G, B]);
    assert_eq!(pcs("Dm7"), [C, D, F, A]);
    assert_eq!(pcs("D-7"), [C, D, F, A]);
    assert_eq!(pcs("Dmin7"), [C, D, F, A]);
    assert_eq!(pcs("G7"), [D, F, G, B]);
    assert_eq!(pcs("Bm7b5"), [D, F, A, B]);
    assert_eq!(pcs("Bm7(b5)"), [D, F, A, B]);
    assert_eq!(pcs("Bø"), [D, F, A, B]);
    assert_eq!(pcs("Bø7"), [D, F, A, B]);
    assert_eq!(pcs("Bdim7"), [D, F, AB, B]);
    assert_eq!(pcs("Bo7"), pcs("Bdim7"));
    assert_eq!(pcs("Bdim"), [D, F, B]);
    assert_eq!(pcs("Caug"), [C, E, AB]);
    assert_eq!(pcs("C+"), [C, E, AB]);
    assert_eq!(pcs("CmMaj7"), [C, EB, G, B]);
    assert_eq!(pcs("Cm(maj7)"), [C, EB, G, B]);
}

#[test]
fn sixths_suspensions_and_power_chords() {
    assert_eq!(pcs("C6"), [C, E, G, A]);
    assert_eq!(pcs("Cm6"), [C, EB, G, A]);
    assert_eq!(pcs("C6/9"), [C, D, E, G, A]);
    assert_eq!(pcs("C69"), [C, D, E, G, A]);
    assert_eq!(pcs("Csus4"), [C, F, G]);
    assert_eq!(pcs("Csus"), [C, F, G]);
    assert_eq!(pcs("Csus2"), [C, D, G]);
    assert_eq!(pcs("C7sus4"), [C, F, G, BB]);
    assert_eq!(pcs("C9sus4"), [C, D, F, G, BB]);
    assert_eq!(pcs("C5"), [C, G]);
}

#[test]
fn altered_dominants_and_tensions() {
    assert_eq!(pcs("G7b9"), [D, F, G, AB, B]);
    assert_eq!(pcs("G7(b9)"), [D, F, G, AB, B]);
    assert_eq!(pcs("G7#9"), [D, F, G, BB, B]);
    assert_eq!(pcs("C7#11"), [C, E, GB, G, BB]);
    assert_eq!(pcs("C7b13"), [C, E, G, AB, BB]);
    assert_eq!(pcs("C7#5"), [C, E, AB, BB]);
    assert_eq!(pcs("C7b5"), [C, E, GB, BB]);
    assert_eq!(pcs("C7(#9,b13)"), [C, EB, E, G, AB, BB]);
    assert_eq!(pcs("C7alt"), [C, DB, EB, E, GB, AB, BB]);
    assert_eq!(pcs("C9"), [C, D, E, G, BB]);
    assert_eq!(pcs("Cmaj9"), [C, D, E, G, B]);
    assert_eq!(pcs("Cm9"), [C, D, EB, G, BB]);
    assert_eq!(pcs("Cm11"), [C, D, EB, F, G, BB]);
    assert_eq!(pcs("C13"), [C, D, E, G, A, BB]);
    assert_eq!(pcs("Cadd9"), [C, D, E, G]);
    assert_eq!(pcs("Cmaj7#11"), [C, E, GB, G, B]);
}

#[test]
fn roots_with_accidentals() {
    assert_eq!(root("Bb7"), BB);
    assert_eq!(root("F#m7b5"), GB);
    assert_eq!(root("Ebmaj7"), EB);
    assert_eq!(root("Cb"), B);
    assert_eq!(root("E#"), F);
    assert_eq!(root("B♭7"), BB);
    assert_eq!(pcs("Db7"), [DB, F, AB, B]);
}

#[test]
fn slash_chords_keep_their_root_and_add_the_bass() {
    let c_over_e = parse_symbol("C/E").unwrap();
    assert_eq!(c_over_e.root, C);
    assert_eq!(c_over_e.bass, Some(E));
    assert_eq!(pcs("C/E"), [C, E, G], "an inversion adds no pitch class");
    assert_eq!(parse_symbol("C/C").unwrap().bass, None);
    let c_over_bb = parse_symbol("C/Bb").unwrap();
    assert_eq!(c_over_bb.root, C);
    assert_eq!(c_over_bb.bass, Some(BB));
    assert_eq!(pcs("C/Bb"), [C, E, G, BB]);
    assert_eq!(pcs("D/C"), [C, D, GB, A]);
    assert_eq!(pcs("Fmaj7/A"), [C, E, F, A]);
    assert_eq!(parse_symbol("Bbmaj7/D").unwrap().root, BB);
}

fn err(text: &str) -> ChangesError {
    match parse_changes(text) {
        Ok(p) => panic!("{text:?} parsed as {p}"),
        Err(e) => e,
    }
}

#[test]
fn bad_symbols_are_pointed_at() {
    let e = err("Dm7 G7 | Hmaj7 | C");
    assert_eq!((e.bar, e.column, e.symbol.as_str()), (2, 10, "Hmaj7"));
    assert_eq!(
        e.to_string(),
        "bar 2, column 10: bad chord symbol \"Hmaj7\": 'H' is not a note name: a chord starts with A–G, then # or b"
    );

    let e = err("Cmaj7 | dm7");
    assert_eq!((e.bar, e.column), (2, 9));
    assert!(
        e.to_string()
            .contains("the root 'd' must be an upper-case note name"),
        "{e}"
    );

    let e = err("C7 | G12");
    assert_eq!((e.bar, e.column, e.symbol.as_str()), (2, 7, "G12"));
    assert!(e.reason.contains("12 is not a chord extension"), "{e}");

    let e = err("C7b | F");
    assert_eq!((e.bar, e.column), (1, 3));
    assert!(
        e.reason
            .contains("accidental here must be followed by 5, 9, 11 or 13"),
        "{e}"
    );

    let e = err("C7#7");
    assert_eq!(e.column, 4, "points at the 7 after the sharp");
    assert!(e.reason.contains("#7 is not an alteration"), "{e}");

    let e = err("Cxyz");
    assert_eq!(e.column, 2);
    assert_eq!(
        e.reason,
        "cannot read \"xyz\" (expected a chord quality like m7, maj7, 7b9, sus4)"
    );

    let e = err("C/H");
    assert_eq!(e.column, 3);
    assert!(e.reason.contains("after '/' write the bass note"), "{e}");

    let e = err("C7(b9");
    assert!(e.reason.contains("missing ')'"), "{e}");

    let e = err("C7)");
    assert_eq!(e.column, 3);
    assert!(e.reason.contains("')' without a matching '('"), "{e}");

    let e = err("Fmaj7/A7");
    assert!(
        e.reason.contains("unexpected \"7\" after the bass note"),
        "{e}"
    );
}

#[test]
fn bad_layouts_are_explained() {
    let e = err("");
    assert!(e.reason.starts_with("no chords"), "{e}");
    let e = err("  |  | ");
    assert!(e.reason.starts_with("no chords"), "{e}");
    let e = err("% | C");
    assert_eq!((e.bar, e.column), (1, 1));
    assert!(e.reason.contains("this is the first bar"), "{e}");
    let e = err("C | % G7");
    assert_eq!((e.bar, e.column, e.symbol.as_str()), (2, 7, "G7"));
    assert!(e.reason.contains("cannot hold other chords"), "{e}");
    assert!(parse_changes_in("C", 0).is_err());
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = err("CΔ7 Bø | Q7");
    assert_eq!((e.bar, e.column), (2, 10));
}

#[test]
fn chords_share_their_bar_evenly() {
    let p = parse_changes("| Dm7 G7 | Cmaj7 || Am7 D7 G7 |").unwrap();
    assert_eq!(p.bars(), 3);
    assert_eq!(p.len_beats(), 12.0);
    let at = |beat: f64| p.symbol_at(beat).to_string();
    assert_eq!(at(0.0), "Dm7");
    assert_eq!(at(1.999), "Dm7");
    assert_eq!(at(2.0), "G7");
    assert_eq!(at(4.0), "Cmaj7");
    assert_eq!(at(7.5), "Cmaj7");
    assert_eq!(at(8.0), "Am7");
    // 4/3 beat per chord: a grid position of 16/12 beat is on the change.
    assert_eq!(at(8.0 + 16.0 / 12.0), "D7");
    assert_eq!(at(8.0 + 15.0 / 12.0), "Am7");
    assert_eq!(at(8.0 + 32.0 / 12.0), "G7");
    // The progression cycles, in both directions.
    assert_eq!(at(12.0), "Dm7");
    assert_eq!(at(14.0), "G7");
    assert_eq!(at(-1.0), "G7");
    assert_eq!(at(12.0 * 1000.0 + 4.0), "Cmaj7");
    assert_eq!(at(f64::NAN), "Dm7");
}

#[test]
fn repeat_bar_and_other_meters() {
    let p = parse_changes("C7 | % | F7 G7 | %").unwrap();
    assert_eq!(p.bars(), 4);
    assert_eq!(p.to_string(), "C7 | C7 | F7 G7 | F7 G7");
    let waltz = parse_changes_in("Dm7 | G7 | Cmaj7", 3).unwrap();
    assert_eq!(waltz.len_beats(), 9.0);
    assert_eq!(waltz.symbol_at(3.0).to_string(), "G7");
    let chords: Vec<(f64, f64, ChordSymbol)> = waltz.chords().collect();
    assert_eq!(chords.len(), 3);
    assert_eq!((chords[2].0, chords[2].1), (6.0, 3.0));
}

#[test]
fn printed_progressions_parse_back() {
    for (name, text) in BUILTIN {
        let p = parse_changes(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = parse_changes(&p.to_string()).unwrap();
        assert_eq!(p, again, "{name}");
    }
    for sym in [
        "Cmaj7", "Dm7", "G7", "Bm7b5", "Bdim7", "G7b9", "C7#11", "Csus4", "C6", "Cm6", "C/Bb",
        "C7alt", "C13", "CmMaj7", "C5", "Caug", "C69", "Cmaj9",
    ] {
        let s = parse_symbol(sym).unwrap();
        assert_eq!(
            parse_symbol(&s.to_string()).unwrap(),
            s,
            "{sym} printed as {s}"
        );
    }
}

#[test]
fn any_pitch_set_can_be_written_as_an_interval_list() {
    assert_eq!(pcs("C{3,5,b7,9}"), pcs("C9"));
    assert_eq!(pcs("F{3,5,6,7}"), [C, D, E, F, A]);
    assert_eq!(parse_symbol("F{3,5,6,7}/D").unwrap().bass, Some(D));
    // Combinations without a common name print that way and read back.
    let odd = parse_symbol("F^6").unwrap();
    assert_eq!(odd.to_string(), "F{3,5,6,7}");
    assert_eq!(parse_symbol(&odd.to_string()).unwrap(), odd);
    let e = err("C{3,x}");
    assert_eq!(e.column, 5);
    assert!(e.reason.starts_with("inside { } list intervals"), "{e}");
}

#[test]
fn builtin_progressions() {
    assert!(BUILTIN.len() >= 5);
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "ii-V-I in C",
            "12-bar blues in F",
            "Autumn Leaves",
            "Rhythm changes A",
            "Metheny solo"
        ]
    );
    assert_eq!(builtin(1).unwrap().bars(), 12);
    assert_eq!(builtin(2).unwrap().bars(), 32);
    assert_eq!(builtin(3).unwrap().bars(), 8);
    assert_eq!(builtin(4).unwrap().bars(), 19);
    assert!(builtin(BUILTIN.len()).is_none());
    assert_eq!(builtin_by_name("blues"), Some(1));
    assert_eq!(builtin_by_name("Autumn leaves"), Some(2));
    assert_eq!(builtin_by_name("ii-v-i in c"), Some(0));
    assert_eq!(builtin_by_name("metheny"), Some(4));
    assert_eq!(builtin_by_name("in"), None, "ambiguous");
    assert_eq!(builtin_by_name("bossa"), None);
    let blues = builtin(1).unwrap();
    assert_eq!(blues.symbol_at(0.0).to_string(), "F7");
    assert_eq!(blues.symbol_at(20.0).to_string(), "Bdim7");
    assert_eq!(blues.symbol_at(14.0).to_string(), "F7");
}

#[test]
fn symbols_become_grammar_chords_with_their_written_root() {
    use jazz_synth::music::theory::{PcSet, Quality};
    let chord = |s: &str| parse_symbol(s).unwrap().to_chord();
    let c6 = chord("C6");
    assert_eq!((c6.root, c6.quality), (C, Quality::Major));
    assert_eq!(c6.pcs, PcSet(parse_symbol("C6").unwrap().pitch_classes()));
    assert!(c6.is_chord_tone(A));
    assert_eq!(chord("Dm7").quality, Quality::Minor);
    assert_eq!(chord("G7").quality, Quality::Major);
    assert_eq!(chord("G7#9").quality, Quality::Major);
    assert_eq!(chord("Bm7b5").quality, Quality::Other);
    assert_eq!(chord("Bdim7").quality, Quality::Other);
    assert_eq!(chord("Caug").quality, Quality::Other);
    assert_eq!(chord("Csus4").quality, Quality::Other);
    let slash = chord("C/Bb");
    assert_eq!(slash.root, C);
    assert!(slash.is_chord_tone(BB));
    let p = parse_changes("Dm7 G7 | Cmaj7").unwrap();
    assert_eq!(p.chord_at(2.0), chord("G7"));
    assert_eq!(p.chord_at(10.0), chord("G7"));
    assert_eq!(p.chord_at(9.0), chord("Dm7"));
}

#[test]
fn random_text_never_panics_and_errors_point_inside_it() {
    // A deterministic fuzz: symbols built from the characters chord text uses,
    // plus some that it never does.
    let alphabet: Vec<char> =
        "ABCDEFGHabcdefgm#b♭♯Δø°o+-^(){}/,|% 0123456789susaddaltmajMdimaugé\u{0}\n"
            .chars()
            .collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ok = 0;
    for _ in 0..50_000 {
        let len = (next() % 24) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        match parse_changes(&text) {
            Ok(p) => {
                ok += 1;
                assert!(p.bars() >= 1);
                let _ = p.chord_at(3.5);
                assert_eq!(
                    parse_changes(&p.to_string()).map(|q| q.bars()),
                    Ok(p.bars()),
                    "{text:?}"
                );
            }
            Err(e) => {
                let width = text.chars().count() + 1;
                assert!(e.column >= 1 && e.column <= width.max(1), "{text:?}: {e}");
                assert!(!e.reason.is_empty());
            }
        }
    }
    assert!(ok > 100, "some random texts are valid chords: {ok}");
}

#[test]
fn lead_sheet_spellings() {
    // Minor, major seventh, half-diminished and diminished as lead sheets write them.
    assert_eq!(pcs("C-7"), pcs("Cm7"));
    assert_eq!(pcs("F-7"), [C, EB, F, AB]);
    assert_eq!(pcs("C^7"), pcs("Cmaj7"));
    assert_eq!(pcs("C^"), pcs("Cmaj7"));
    assert_eq!(pcs("CΔ7"), pcs("Cmaj7"));
    assert_eq!(pcs("Cj7"), pcs("Cmaj7"));
    assert_eq!(pcs("Bbj7"), [D, F, A, BB]);
    assert_eq!(pcs("Cø"), pcs("Cm7b5"));
    assert_eq!(pcs("Ch7"), pcs("Cm7b5"));
    assert_eq!(pcs("Ch"), pcs("Cm7b5"));
    assert_eq!(pcs("Co7"), pcs("Cdim7"));
    assert_eq!(pcs("Co"), pcs("Cdim"));
    assert_eq!(pcs("C+"), pcs("Caug"));
    assert_eq!(pcs("C7+"), pcs("C7#5"));
    assert_eq!(pcs("C7alt"), [C, DB, EB, E, GB, AB, BB]);
    assert_eq!(pcs("C7sus"), pcs("C7sus4"));
    assert_eq!(pcs("C-^7"), pcs("CmMaj7"));
    assert_eq!(pcs("C-^"), pcs("CmMaj7"));
    assert_eq!(pcs("C-j7"), pcs("CmMaj7"));
    assert_eq!(pcs("C69"), pcs("C6/9"));
    assert_eq!(pcs("C-69"), [C, D, EB, G, A]);
    assert_eq!(pcs("C2"), pcs("Cadd9"));
    assert_eq!(pcs("C-b6"), [C, EB, G, AB]);
    assert_eq!(pcs("Co^7"), [C, EB, GB, B]);
    assert_eq!(pcs("C7susadd3"), [C, E, F, G, BB]);
    assert_eq!(pcs("Ch9"), [C, D, EB, GB, BB]);
    assert_eq!(pcs("C^9#11"), [C, D, E, GB, G, B]);
    assert_eq!(pcs("C7b9sus"), [C, DB, F, G, BB]);
    // Slash basses.
    let eb7_over_g = parse_symbol("Eb7/G").unwrap();
    assert_eq!((eb7_over_g.root, eb7_over_g.bass), (EB, Some(G)));
    assert_eq!(parse_symbol("F-7/Eb").unwrap().bass, Some(EB));
    // No chord.
    for nc in ["NC", "N.C.", "N.C"] {
        let s = parse_symbol(nc).unwrap();
        assert!(s.is_no_chord(), "{nc}");
        assert_eq!(s.pitch_classes(), 0);
        assert!(s.to_chord().is_empty());
        assert_eq!(s.to_string(), "NC");
        assert_eq!(
            s.voicing(&mut [0; 13]),
            0,
            "no chord sounds in the chord track"
        );
    }
    let p = parse_changes("Bbj7 | F-7 Bb7 | Eb7/G | NC").unwrap();
    assert_eq!(p.to_string(), "Bbmaj7 | Fm7 Bb7 | Eb7/G | NC");
    assert!(p.chord_at(12.5).is_empty(), "NC is no harmony");
    assert_eq!(parse_changes(&p.to_string()).unwrap(), p);
}

#[test]
fn slots_place_chords_inside_a_bar() {
    let p = parse_changes("C7 . F7 G7 | Dm7 / / G7 | Cmaj7").unwrap();
    let chords: Vec<(f64, f64, String)> = p
        .chords()
        .map(|(start, length, s)| (start, length, s.to_string()))
        .collect();
    let expect = [
        (0.0, 2.0, "C7"),
        (2.0, 1.0, "F7"),
        (3.0, 1.0, "G7"),
        (4.0, 3.0, "Dm7"),
        (7.0, 1.0, "G7"),
        (8.0, 4.0, "Cmaj7"),
    ];
    assert_eq!(chords.len(), expect.len());
    for ((s, l, name), (es, el, en)) in chords.iter().zip(expect) {
        assert_eq!((*s, *l, name.as_str()), (es, el, en));
    }
    assert_eq!(p.to_string(), "C7 . F7 G7 | Dm7 . . G7 | Cmaj7");
    assert_eq!(parse_changes(&p.to_string()).unwrap(), p);
    // Even slots print as the plain bar, and equal positions on other grids are equal.
    let halves = parse_changes("C . F . | G").unwrap();
    assert_eq!(halves.to_string(), "C F | G");
    assert_eq!(halves, parse_changes("C F | G").unwrap());
    // A bar opening with a hold keeps the chord before it; the first bar keeps the last one.
    let held = parse_changes(". . Bb7 . | F7 | . Gm7 C7 .").unwrap();
    assert_eq!(held.symbol_at(0.0).to_string(), "C7");
    assert_eq!(held.symbol_at(2.0).to_string(), "Bb7");
    assert_eq!(held.symbol_at(8.0).to_string(), "F7");
    assert_eq!(held.symbol_at(9.0).to_string(), "Gm7");
    assert_eq!(held.to_string(), "C7 Bb7 | F7 | F7 Gm7 C7 .");
    assert_eq!(parse_changes(&held.to_string()).unwrap(), held);
    // Triplet placement in a waltz: three slots of one beat.
    let waltz = parse_changes_in("Am . E7 | Am", 3).unwrap();
    assert_eq!(waltz.symbol_at(2.0).to_string(), "E7");
    assert_eq!(waltz.to_string(), "Am . E7 | Am");
    // Holds alone are not chords.
    assert!(err(". . | .").reason.starts_with("no chords"));
    assert!(parse_changes("C | . | %").is_ok());
}

#[test]
fn lead_sheet_regulars_print_by_name_and_read_back() {
    for (written, printed) in [
        ("C-11", "Cm11"),
        ("C-13", "Cm13"),
        ("C-69", "Cm69"),
        ("C-^9", "CmMaj9"),
        ("C^13", "Cmaj13"),
        ("C^7#11", "Cmaj7#11"),
        ("C^7#5", "Cmaj7#5"),
        ("C9sus", "C9sus4"),
        ("C13sus", "C13sus4"),
        ("C7b9sus", "C7b9sus4"),
        ("C7b9b13", "C7b9b13"),
        ("C7#9#5", "C7#9#5"),
        ("C13#11", "C13#11"),
    ] {
        let s = parse_symbol(written).unwrap();
        assert_eq!(s.to_string(), printed, "{written}");
        assert_eq!(parse_symbol(printed).unwrap(), s, "{printed}");
    }
}
