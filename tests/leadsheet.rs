//! Lead sheets in: iReal Pro links (plain and scrambled, single songs, playlists, HTML exports)
//! and MusicXML files (plain and `.mxl`) give exactly the bars and chords written out by hand
//! here; unreadable symbols name the song, bar and symbol; random corruptions give errors, never
//! panics. Every chart here is written by this test.

mod common;

use std::io::Write;

use jazz_synth::music::changes::parse_changes_with_meter;
use jazz_synth::music::leadsheet::{self, ireal, musicxml, LeadSheet, Songbook};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

// ---------------------------------------------------------------------------------------------
// An iReal Pro encoder, written from the public description of the format as the inverse of the
// reader: abbreviations in, then the 50-character block shuffle (its own inverse).
// ---------------------------------------------------------------------------------------------

/// The block shuffle, written independently of the library's: a permutation of each full block
/// with at least two characters after it.
fn shuffle(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut perm: Vec<usize> = (0..50).collect();
    for i in (0..5).chain(10..24) {
        perm[i] = 49 - i;
        perm[49 - i] = i;
    }
    let mut out = String::new();
    let mut at = 0;
    while chars.len() - at > 50 {
        let scramble = chars.len() - (at + 50) >= 2;
        for (i, &p) in perm.iter().enumerate() {
            out.push(chars[at + if scramble { p } else { i }]);
        }
        at += 50;
    }
    out.extend(&chars[at..]);
    out
}

/// A chart's music field as iReal Pro writes it.
fn scramble(chart: &str) -> String {
    let short = chart
        .replace("| x", "Kcl")
        .replace(" |", "LZ")
        .replace("   ", "XyQ");
    format!("{}{}", ireal::MUSIC_PREFIX, shuffle(&short))
}

/// URL-encodes like a browser would (everything but unreserved characters).
fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Chart {
    title: &'static str,
    composer: &'static str,
    chart: &'static str,
    tempo: u32,
    /// The chord text of the bars as played, written out by hand.
    expect: &'static str,
}

/// A song's fields in the scrambled form: Title=Composer==Style=Key==Music=Groove=Tempo=Repeats.
fn pro_song(c: &Chart) -> String {
    format!(
        "{}={}==Medium Swing=C=={}=Jazz-Medium Swing={}=3",
        c.title,
        c.composer,
        scramble(c.chart),
        c.tempo
    )
}

/// A song in the plain form: Title=Composer=Style=Key=n=Chart.
fn book_song(c: &Chart) -> String {
    format!("{}={}=Medium Swing=C=n={}", c.title, c.composer, c.chart)
}

const CHARTS: &[Chart] = &[
    Chart {
        title: "Blues For Testing",
        composer: "Writer Ann",
        chart: "T44*A[F7   |Bb7   |F7   |C-7 F7 |Bb7   |Bo7   |F7   |A-7 D7 |G-7   |C7   |F7 D7 |G-7 C7 Z",
        tempo: 0,
        expect: "F7 | Bb7 | F7 | Cm7 F7 | Bb7 | Bdim7 | F7 | Am7 D7 | Gm7 | C7 | F7 D7 | Gm7 C7",
    },
    Chart {
        title: "Two Endings",
        composer: "Writer Ann",
        chart: "T44*A{C^7   |A-7   |N1D-7   |G7   }|N2D-7 G7 |C^7   Z",
        tempo: 140,
        expect: "Cmaj7 | Am7 | Dm7 | G7 | Cmaj7 | Am7 | Dm7 G7 | Cmaj7",
    },
    Chart {
        title: "Little Waltz",
        composer: "Writer Bo",
        chart: "T34*A{D-7   |G7   |C^7   |x   }|E-7 A7 |D-7 G7 C7 |F^7   Z",
        tempo: 180,
        expect: "3/4 Dm7 | G7 | Cmaj7 | Cmaj7 | Dm7 | G7 | Cmaj7 | Cmaj7 | Em7 . A7 | Dm7 G7 C7 | Fmaj7",
    },
    Chart {
        title: "Five Four",
        composer: "Writer Bo",
        chart: "T54*A[E-7   A7 |D-7   G7 |C^7     |C^7     Z",
        tempo: 170,
        expect: "5/4 Em7 . . A7 . | Dm7 . . G7 . | Cmaj7 | Cmaj7",
    },
    Chart {
        title: "Capo To Coda",
        composer: "Writer Cy",
        chart: "T44*A[C^7   |F7  Q |E-7   |A7<D.C. al Coda>   ]Q[D-7 G7 |C^7   Z",
        tempo: 120,
        expect: "Cmaj7 | F7 | Em7 | A7 | Cmaj7 | F7 | Dm7 G7 | Cmaj7",
    },
    Chart {
        title: "Segno To Fine",
        composer: "Writer Cy",
        chart: "T44*A[C^7   |A-7   |SD-7   |G7 <Fine> |E-7   |A7<D.S. al Fine>   Z",
        tempo: 0,
        expect: "Cmaj7 | Am7 | Dm7 | G7 | Em7 | A7 | Dm7 | G7",
    },
    Chart {
        title: "Bars Again",
        composer: "Writer Dee",
        chart: "T44{C7<3x>   |F7   | r   |    }G7   | x   Z",
        tempo: 200,
        expect: "C7 | F7 | C7 | F7 | C7 | F7 | C7 | F7 | C7 | F7 | C7 | F7 | G7 | G7",
    },
    Chart {
        title: "No Chord And Slashes",
        composer: "Writer Dee",
        chart: "T44*A[C^7 n |W/E   |A-7 A-7/G |F#h7 B7b9 Z",
        tempo: 96,
        expect: "Cmaj7 NC | Cmaj7/E | Am7 Am7/G | Gbm7b5 B7b9",
    },
    Chart {
        title: "Three Endings",
        composer: "Writer Eve",
        chart: "T44{C^7   |N1D-7   }|N2E-7   }|N3F^7   Z",
        tempo: 0,
        expect: "Cmaj7 | Dm7 | Cmaj7 | Em7 | Cmaj7 | Fmaj7",
    },
    Chart {
        title: "Four In A Bar",
        composer: "Writer Eve",
        chart: "T44*A[C^7,A-7,D-7,G7|E-7 A7,D7|p,p,p,G7|C6     ]",
        tempo: 0,
        expect: "Cmaj7 Am7 Dm7 G7 | Em7 . A7 D7 | D7 . . G7 | C6",
    },
    Chart {
        title: "Lead Sheet Spellings",
        composer: "Writer Fay",
        chart: "T44[C-^7   |Ch7 F7alt |Bb-69 Eb7sus |Ab^7#11   |Do7   |G7b9b13 C-11 |F13sus   |C^9   Z",
        tempo: 110,
        expect: "CmMaj7 | Cm7b5 F7alt | Bbm69 Eb7sus4 | Abmaj7#11 | Ddim7 | G7b9b13 Cm11 | F13sus4 | Cmaj9",
    },
];

fn chord_text(sheet: &LeadSheet) -> String {
    sheet.chord_text().unwrap_or_else(|e| panic!("{e}"))
}

fn only_song(book: &Songbook) -> &LeadSheet {
    assert!(book.refused.is_empty(), "{:?}", book.refused);
    book.pick(None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_chart_plays_its_bars_as_written_out_by_hand() {
    for c in CHARTS {
        for (form, link) in [
            ("irealb", format!("irealb://{}", url_encode(&pro_song(c)))),
            ("irealb raw", format!("irealb://{}", pro_song(c))),
            (
                "irealbook",
                format!("irealbook://{}", url_encode(&book_song(c))),
            ),
            ("irealbook raw", format!("irealbook://{}", book_song(c))),
        ] {
            let book = ireal::read_playlists(&link)
                .unwrap_or_else(|e| panic!("{} ({form}): {e}", c.title));
            let sheet = only_song(&book);
            assert_eq!(sheet.title, c.title, "{form}");
            assert_eq!(sheet.composer.as_deref(), Some(c.composer), "{form}");
            assert_eq!(chord_text(sheet), c.expect, "{} ({form})", c.title);
            // The chord text is what the rest of the program plays.
            let progression = sheet.progression().unwrap();
            assert_eq!(progression.bars(), sheet.bars.len(), "{}", c.title);
            assert_eq!(
                parse_changes_with_meter(c.expect).unwrap(),
                progression,
                "{}",
                c.title
            );
            let tempo = (form.starts_with("irealb ") || form == "irealb") && c.tempo > 0;
            assert_eq!(
                sheet.tempo_bpm,
                tempo.then_some(f64::from(c.tempo)),
                "{} ({form})",
                c.title
            );
        }
    }
}

#[test]
fn played_bars_know_their_written_bar() {
    let c = &CHARTS[4]; // D.C. al Coda
    let book = ireal::read_playlists(&format!("irealb://{}", pro_song(c))).unwrap();
    let written: Vec<usize> = only_song(&book).bars.iter().map(|b| b.written).collect();
    assert_eq!(written, [1, 2, 3, 4, 1, 2, 5, 6]);
    assert_eq!(only_song(&book).meter, (4, 4));
}

/// Built by hand from the public description (abbreviations, then the block shuffle, then
/// URL encoding), as iReal Pro exports a song: the "Two Endings" chart.
const HAND_MADE: &str = "irealb://Ending%20Test%3DWriter%20Ann%3D%3DMedium%20Swing%3DC%3D%3D1r34LbKcu7X7%5ECZ%7BC%5E7%20-D2N%7C%7DQyX7GZL%207%20-D1NZL%20%207-AZL%207%20G7LA%2A44TyQZ%3DJazz-Medium%20Swing%3D140%3D3";

#[test]
fn a_hand_made_scrambled_link_reads() {
    let book = ireal::read_playlists(HAND_MADE).unwrap();
    let sheet = only_song(&book);
    assert_eq!(sheet.title, "Ending Test");
    assert_eq!(sheet.tempo_bpm, Some(140.0));
    assert_eq!(chord_text(sheet), CHARTS[1].expect);
    // The test's own encoder agrees with the hand-made string.
    assert!(HAND_MADE.contains(&url_encode(&scramble(CHARTS[1].chart))));
    assert_eq!(
        ireal::unscramble(&scramble(CHARTS[1].chart)[ireal::MUSIC_PREFIX.len()..]),
        CHARTS[1].chart
    );
}

fn pro_playlist(name: &str) -> String {
    let songs: Vec<String> = CHARTS.iter().map(pro_song).collect();
    format!(
        "irealb://{}",
        url_encode(&format!("{}==={name}", songs.join("===")))
    )
}

#[test]
fn a_whole_playlist_loads_and_songs_are_picked_by_name() {
    for link in [
        pro_playlist("Test Book"),
        format!(
            "irealbook://{}",
            CHARTS.iter().map(book_song).collect::<Vec<_>>().join("===") + "===Test Book"
        ),
    ] {
        let book = ireal::read_playlists(&link).unwrap();
        assert_eq!(book.name.as_deref(), Some("Test Book"));
        assert!(book.refused.is_empty(), "{:?}", book.refused);
        assert_eq!(book.songs.len(), CHARTS.len());
        for (sheet, c) in book.songs.iter().zip(CHARTS) {
            assert_eq!(chord_text(sheet), c.expect, "{}", c.title);
        }
        assert_eq!(book.pick(Some("little waltz")).unwrap().meter, (3, 4));
        assert_eq!(book.pick(Some("five")).unwrap().meter, (5, 4));
        let e = book.pick(None).unwrap_err();
        assert!(
            e.contains("--tune") && e.contains("Blues For Testing"),
            "{e}"
        );
        let e = book.pick(Some("endings")).unwrap_err();
        assert!(e.contains("matches 2 songs"), "{e}");
        let e = book.pick(Some("autumn")).unwrap_err();
        assert!(e.contains("no song \"autumn\""), "{e}");
    }
}

#[test]
fn an_html_export_and_a_file_load() {
    let mut html = String::from("<html><body><h1>Test Book</h1>\n");
    for c in CHARTS {
        html.push_str(&format!(
            "<p><a href=\"irealb://{}\">{}</a></p>\n",
            url_encode(&pro_song(c)).replace("%26", "&amp;"),
            c.title
        ));
    }
    html.push_str("</body></html>\n");
    let dir = common::temp_dir("leadsheet-html");
    let path = dir.join("playlist.html");
    std::fs::write(&path, &html).unwrap();
    let book = leadsheet::read(path.to_str().unwrap()).unwrap();
    assert_eq!(book.songs.len(), CHARTS.len());
    assert_eq!(
        chord_text(book.pick(Some("Bars Again")).unwrap()),
        CHARTS[6].expect
    );
    // A pasted link reads the same through the common entry point.
    let pasted = leadsheet::read(&format!("  {}\n", pro_playlist("P"))).unwrap();
    assert_eq!(pasted.songs.len(), CHARTS.len());
}

#[test]
fn unreadable_chords_name_song_bar_and_symbol() {
    let c = Chart {
        title: "Bad Symbol",
        composer: "Writer Ann",
        chart: "T44[C^7   |F7   |Hm7   Z",
        tempo: 0,
        expect: "",
    };
    // H is not a note: it is not a chord and not a mark, so the chart names it.
    let book = ireal::read_playlists(&format!("irealb://{}", pro_song(&c))).unwrap();
    assert!(book.songs.is_empty());
    let e = &book.refused[0];
    assert_eq!((e.song.as_str(), e.bar), ("Bad Symbol", Some(3)));
    let c = Chart {
        chart: "T44[C^7   |F7   |C12   Z",
        ..c
    };
    let book = ireal::read_playlists(&format!("irealbook://{}", book_song(&c))).unwrap();
    let e = book.pick(Some("bad symbol")).unwrap_err();
    assert_eq!(
        e,
        "\"Bad Symbol\", bar 3: chord symbol \"C12\": 12 is not a chord extension (use 2, 5, 6, \
         6/9, 7, 9, 11 or 13)"
    );
    let meter_change = Chart {
        chart: "T44[C^7   |T34F7   Z",
        ..c
    };
    let book = ireal::read_playlists(&format!("irealbook://{}", book_song(&meter_change))).unwrap();
    let e = book.refused[0].to_string();
    assert!(e.contains("bar 2") && e.contains("from 4/4 to 3/4"), "{e}");
    let seven_eight = Chart {
        chart: "T78[C^7   Z",
        ..c
    };
    let book = ireal::read_playlists(&format!("irealbook://{}", book_song(&seven_eight))).unwrap();
    assert!(
        book.refused[0].to_string().contains("\"T78\""),
        "{:?}",
        book.refused
    );
}

/// Seeded corruptions of `good`: characters replaced, cut out, doubled or the text cut short.
fn corruptions(good: &str, seed: u64, alphabet: &[char]) -> Vec<String> {
    let chars: Vec<char> = good.chars().collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..50)
        .map(|k| {
            let mut c = chars.clone();
            let at = rng.random_range(0..c.len());
            match k % 4 {
                0 => {
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..c.len());
                        c[i] = alphabet[rng.random_range(0..alphabet.len())];
                    }
                }
                1 => {
                    let end = (at + rng.random_range(1..20)).min(c.len());
                    c.drain(at..end);
                }
                2 => {
                    let junk: Vec<char> = (0..rng.random_range(1..6))
                        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                        .collect();
                    c.splice(at..at, junk);
                }
                _ => c.truncate(at),
            }
            c.into_iter().collect()
        })
        .collect()
}

#[test]
fn corrupted_ireal_links_give_errors_never_panics() {
    let alphabet: Vec<char> = "=%*<>{}[]|ZQSxrnpWT0123456789HKwq&\"é\u{0}"
        .chars()
        .collect();
    let mut errors = 0;
    for (k, c) in CHARTS.iter().enumerate() {
        let link = format!("irealb://{}", pro_song(c));
        let bad = corruptions(&link, 22 + k as u64, &alphabet);
        let book_link = format!("irealbook://{}", book_song(c));
        let bad_book = corruptions(&book_link, 122 + k as u64, &alphabet);
        for text in bad.iter().chain(&bad_book) {
            let outcome = ireal::read_playlists(text)
                .map_err(|e| e.to_string())
                .and_then(|book| {
                    book.pick(None)
                        .map(|s| s.chord_text().map_err(|e| e.to_string()))
                })
                .and_then(|r| r);
            match outcome {
                Ok(chords) => {
                    // Still a tune: it reads back as chord text.
                    parse_changes_with_meter(&chords).unwrap();
                }
                Err(e) => {
                    assert!(
                        e.starts_with('"') || e.contains("--tune"),
                        "unclear error: {e}"
                    );
                    errors += 1;
                }
            }
        }
    }
    let total = CHARTS.len() * 100;
    // Most corruptions break the chart; those that do not still give a playable tune.
    assert!(errors * 10 >= total * 6, "{errors} errors of {total}");
    common::summary::report("leadsheet_ireal_corruptions_refused", errors as f64);
}

// ---------------------------------------------------------------------------------------------
// MusicXML
// ---------------------------------------------------------------------------------------------

/// A score-partwise document around `measures` (the one part's), as notation programs write it.
fn score(title: &str, measures: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="4.0">
  <work><work-title>{title}</work-title></work>
  <identification><creator type="composer">Test Writer</creator></identification>
  <part-list><score-part id="P1"><part-name>Lead</part-name></score-part></part-list>
  <part id="P1">
{measures}
  </part>
</score-partwise>
"#
    )
}

fn harmony(root: &str, alter: i32, kind: &str, extra: &str) -> String {
    let alter = if alter != 0 {
        format!("<root-alter>{alter}</root-alter>")
    } else {
        String::new()
    };
    format!(
        "<harmony><root><root-step>{root}</root-step>{alter}</root><kind>{kind}</kind>{extra}</harmony>"
    )
}

fn note(duration: u32) -> String {
    format!(
        "<note><pitch><step>C</step><octave>5</octave></pitch><duration>{duration}</duration><voice>1</voice><type>quarter</type></note>"
    )
}

fn rest(duration: u32) -> String {
    format!("<note><rest/><duration>{duration}</duration><voice>1</voice></note>")
}

const ATTRS_44: &str = "<attributes><divisions>2</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>";

/// Five lead sheets: (file name, document, expected chord text, expected written bars).
fn musicxml_files() -> Vec<(&'static str, String, &'static str, Vec<usize>)> {
    // 1. Four bars, chords placed by half notes; a tempo.
    let one = score(
        "Plain Four",
        &format!(
            r#"<measure number="1">{ATTRS_44}<direction><sound tempo="132"/></direction>{}{}{}{}</measure>
<measure number="2">{}{}</measure>
<measure number="3">{}{}{}{}</measure>
<measure number="4">{}{}</measure>"#,
            harmony("D", 0, "minor-seventh", ""),
            note(4),
            harmony("G", 0, "dominant", ""),
            note(4),
            harmony("C", 0, "major-seventh", ""),
            rest(8),
            harmony("A", 0, "minor-seventh", ""),
            note(2),
            harmony("D", 0, "dominant-ninth", ""),
            note(6),
            harmony(
                "G",
                0,
                "dominant",
                r#"<bass><bass-step>B</bass-step></bass>"#
            ),
            note(8),
        ),
    );
    // 2. Repeats with volta endings; chords placed by <forward>; degrees.
    let b9 = "<degree><degree-value>9</degree-value><degree-alter>-1</degree-alter><degree-type>add</degree-type></degree>";
    let sharp5 = "<degree><degree-value>5</degree-value><degree-alter>1</degree-alter><degree-type>alter</degree-type></degree>";
    let two = score(
        "Voltas",
        &format!(
            r#"<measure number="1">{ATTRS_44}<barline location="left"><repeat direction="forward"/></barline>{}<forward><duration>8</duration></forward></measure>
<measure number="2">{}<forward><duration>6</duration></forward>{}<forward><duration>2</duration></forward></measure>
<measure number="3"><barline location="left"><ending number="1" type="start"/></barline>{}<forward><duration>8</duration></forward><barline location="right"><ending number="1" type="stop"/><repeat direction="backward"/></barline></measure>
<measure number="4"><barline location="left"><ending number="2" type="start"/></barline>{}<forward><duration>4</duration></forward>{}<forward><duration>4</duration></forward><barline location="right"><ending number="2" type="discontinue"/></barline></measure>
<measure number="5">{}<forward><duration>8</duration></forward></measure>"#,
            harmony("E", -1, "major-seventh", ""),
            harmony("F", 0, "minor-seventh", ""),
            harmony("B", -1, "dominant", b9),
            harmony("G", 0, "dominant", sharp5),
            harmony("C", 0, "minor-seventh", ""),
            harmony("F", 0, "dominant", ""),
            harmony("B", -1, "major-sixth", ""),
        ),
    );
    // 3. A waltz with a pickup bar, a chord on beat 3 after a <backup>, and N.C.
    let attrs_34 = "<attributes><divisions>1</divisions><time><beats>3</beats><beat-type>4</beat-type></time></attributes>";
    let three = score(
        "Pickup Waltz",
        &format!(
            r#"<measure number="0" implicit="yes">{attrs_34}{}{}</measure>
<measure number="1">{}{}<backup><duration>3</duration></backup><forward><duration>2</duration></forward>{}<forward><duration>1</duration></forward></measure>
<measure number="2">{}{}</measure>
<measure number="3"><harmony><kind>none</kind></harmony>{}</measure>"#,
            harmony("G", 0, "dominant", ""),
            note(1),
            harmony("C", 0, "major", ""),
            note(3),
            harmony("A", 0, "minor", ""),
            harmony("F", 0, "major-seventh", ""),
            note(3),
            rest(3),
        ),
    );
    // 4. D.S. al Coda: segno on bar 2, to-coda after bar 3, coda at bar 5.
    let four = score(
        "Segno Coda",
        &format!(
            r#"<measure number="1">{ATTRS_44}{}{}</measure>
<measure number="2"><direction><direction-type><segno/></direction-type><sound segno="s1"/></direction>{}{}</measure>
<measure number="3">{}{}<direction><direction-type><words>To Coda</words></direction-type><sound tocoda="c1"/></direction></measure>
<measure number="4">{}{}<direction><direction-type><words>D.S. al Coda</words></direction-type><sound dalsegno="s1"/></direction></measure>
<measure number="5"><direction><direction-type><coda/></direction-type><sound coda="c1"/></direction>{}{}</measure>"#,
            harmony("C", 0, "major-seventh", ""),
            rest(8),
            harmony("E", 0, "half-diminished", ""),
            rest(8),
            harmony("A", 0, "dominant", ""),
            rest(8),
            harmony("D", 0, "minor-seventh", ""),
            rest(8),
            harmony("G", 0, "suspended-fourth", ""),
            rest(8),
        ),
    );
    // 5. (zipped as .mxl) 5/4 with <offset>, diminished seventh, minor-major seventh, subtract.
    let attrs_54 = "<attributes><divisions>4</divisions><time><beats>3+2</beats><beat-type>4</beat-type></time></attributes>";
    let no5 = "<degree><degree-value>5</degree-value><degree-alter>0</degree-alter><degree-type>subtract</degree-type></degree>";
    let five = score(
        "Zipped Five",
        &format!(
            r#"<measure number="1">{attrs_54}{}<harmony><root><root-step>B</root-step><root-alter>-1</root-alter></root><kind text="m7">minor-seventh</kind><offset>12</offset></harmony>{}</measure>
<measure number="2">{}{}</measure>
<measure number="3">{}{}</measure>"#,
            harmony("E", -1, "minor-seventh", ""),
            rest(20),
            harmony("C", 1, "diminished-seventh", ""),
            rest(20),
            harmony("D", 0, "major-minor", no5),
            rest(20),
        ),
    );
    vec![
        (
            "plain.musicxml",
            one,
            "Dm7 G7 | Cmaj7 | Am7 D9 . . | G7/B",
            vec![1, 2, 3, 4],
        ),
        (
            "voltas.xml",
            two,
            "Ebmaj7 | Fm7 . . Bb7b9 | G7#5 | Ebmaj7 | Fm7 . . Bb7b9 | Cm7 F7 | Bb6",
            vec![1, 2, 3, 1, 2, 4, 5],
        ),
        (
            "waltz.musicxml",
            three,
            "3/4 C . Am | Fmaj7 | NC",
            vec![1, 2, 3],
        ),
        (
            "coda.xml",
            four,
            "Cmaj7 | Em7b5 | A7 | Dm7 | Em7b5 | A7 | Gsus4",
            vec![1, 2, 3, 4, 2, 3, 5],
        ),
        (
            "five.mxl",
            five,
            "5/4 Ebm7 . . Bbm7 . | Dbdim7 | D{b3,7}",
            vec![1, 2, 3],
        ),
    ]
}

/// A `.mxl` archive of `xml`: the container naming the score, as notation programs pack it.
fn mxl(xml: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(b"application/vnd.recordare.musicxml")
            .unwrap();
        zip.start_file("META-INF/container.xml", deflated).unwrap();
        zip.write_all(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<container><rootfiles><rootfile full-path="score/lead.musicxml" media-type="application/vnd.recordare.musicxml+xml"/></rootfiles></container>"#,
        )
        .unwrap();
        zip.start_file("score/lead.musicxml", deflated).unwrap();
        zip.write_all(xml.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

#[test]
fn musicxml_files_play_their_bars_as_written_out_by_hand() {
    let dir = common::temp_dir("leadsheet-xml");
    for (name, xml, expect, written) in musicxml_files() {
        let bytes = if name.ends_with(".mxl") {
            mxl(&xml)
        } else {
            xml.into_bytes()
        };
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let book = leadsheet::read(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
        let sheet = only_song(&book);
        assert_eq!(chord_text(sheet), expect, "{name}");
        let bars: Vec<usize> = sheet.bars.iter().map(|b| b.written).collect();
        assert_eq!(bars, written, "{name}");
        assert_eq!(sheet.composer.as_deref(), Some("Test Writer"));
        assert_eq!(
            parse_changes_with_meter(expect).unwrap(),
            sheet.progression().unwrap(),
            "{name}"
        );
        if name == "plain.musicxml" {
            assert_eq!(sheet.title, "Plain Four");
            assert_eq!(sheet.tempo_bpm, Some(132.0));
        }
        if name == "waltz.musicxml" {
            assert!(sheet.notes[0].contains("pickup"), "{:?}", sheet.notes);
        }
    }
}

#[test]
fn musicxml_it_cannot_play_is_reported_with_bar_and_symbol() {
    let bad_kind = score(
        "Odd Kind",
        &format!(
            r#"<measure number="1">{ATTRS_44}{}{}</measure><measure number="2">{}{}</measure>"#,
            harmony("C", 0, "major", ""),
            rest(8),
            harmony("F", 0, "hyper-dominant", ""),
            rest(8)
        ),
    );
    let e = musicxml::read_xml("odd.xml", &bad_kind).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"Odd Kind\", bar 2: chord symbol \"Fhyper-dominant\": <kind>hyper-dominant</kind> is \
         not a MusicXML chord kind"
    );
    let meter_change = score(
        "Changing",
        &format!(
            r#"<measure number="1">{ATTRS_44}{}{}</measure><measure number="2"><attributes><time><beats>3</beats><beat-type>4</beat-type></time></attributes>{}{}</measure>"#,
            harmony("C", 0, "major", ""),
            rest(8),
            harmony("F", 0, "major", ""),
            rest(6)
        ),
    );
    let e = musicxml::read_xml("changing.xml", &meter_change).unwrap_err();
    assert!(
        e.to_string().contains("bar 2") && e.to_string().contains("4/4 to 3/4"),
        "{e}"
    );
    let roman = score(
        "Roman",
        &format!(
            r#"<measure number="1">{ATTRS_44}<harmony><function>V7</function><kind>dominant</kind></harmony>{}</measure>"#,
            rest(8)
        ),
    );
    let e = musicxml::read_xml("roman.xml", &roman).unwrap_err();
    assert!(e.to_string().contains("roman-numeral"), "{e}");
    let none = score(
        "No Chords",
        &format!(r#"<measure number="1">{ATTRS_44}{}</measure>"#, note(8)),
    );
    let e = musicxml::read_xml("none.xml", &none).unwrap_err();
    assert!(e.to_string().contains("no chord symbols"), "{e}");
    let e = leadsheet::read_bytes("notes.txt", b"just some words").unwrap_err();
    assert!(e.to_string().contains("is not a lead sheet"), "{e}");
}

#[test]
fn corrupted_musicxml_gives_errors_never_panics() {
    let alphabet: Vec<char> = "<>/&\";=x1-harmonykind \u{0}é".chars().collect();
    let mut errors = 0;
    let mut total = 0;
    for (k, (name, xml, _, _)) in musicxml_files().into_iter().enumerate() {
        for text in corruptions(&xml, 7 + k as u64, &alphabet) {
            total += 1;
            match musicxml::read_xml(name, &text).and_then(|s| s.chord_text()) {
                Ok(chords) => {
                    parse_changes_with_meter(&chords).unwrap();
                }
                Err(e) => {
                    assert!(e.to_string().starts_with('"'), "{e}");
                    errors += 1;
                }
            }
        }
        // The archive too: bytes flipped, cut or dropped.
        let zipped = mxl(&xml);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(77 + k as u64);
        for j in 0..50 {
            total += 1;
            let mut bytes = zipped.clone();
            let at = rng.random_range(0..bytes.len());
            match j % 3 {
                0 => {
                    for _ in 0..rng.random_range(1..8) {
                        let i = rng.random_range(0..bytes.len());
                        bytes[i] = rng.random();
                    }
                }
                1 => bytes.truncate(at),
                _ => {
                    let end = (at + rng.random_range(1..64)).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
            match leadsheet::read_bytes("broken.mxl", &bytes).and_then(|b| {
                b.pick(None)
                    .map_err(|e| leadsheet::LeadSheetError {
                        song: "broken.mxl".into(),
                        bar: None,
                        symbol: None,
                        reason: e,
                    })
                    .and_then(|s| s.chord_text())
            }) {
                Ok(chords) => {
                    parse_changes_with_meter(&chords).unwrap();
                }
                Err(e) => {
                    assert!(e.to_string().starts_with('"'), "{e}");
                    errors += 1;
                }
            }
        }
    }
    assert!(errors * 10 >= total * 6, "{errors} errors of {total}");
    common::summary::report("leadsheet_musicxml_corruptions_refused", errors as f64);
}

// ---------------------------------------------------------------------------------------------
// The standalone's --changes and --tune
// ---------------------------------------------------------------------------------------------

#[test]
fn changes_load_into_the_setup_with_their_meter_and_tempo() {
    use jazz_synth::standalone::changes;
    use jazz_synth::standalone::session::{MusicOptions, Setup};
    let link = pro_playlist("Book");
    let loaded = changes::load(&link, Some("little waltz")).unwrap();
    assert_eq!(loaded.chord_text, CHARTS[2].expect);
    assert_eq!(loaded.tempo_bpm, Some(180.0));
    let setup = Setup::from_options(&MusicOptions {
        chords: Some(loaded.chord_text.clone()),
        tempo_bpm: loaded.tempo_bpm,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(setup.time_sig, (3, 4));
    assert_eq!(setup.tempo_bpm, 180.0);
    assert_eq!(setup.progression.bars(), 11);
    assert_eq!(
        setup.progression.symbol_at(3.0 * 8.0 + 2.0).to_string(),
        "A7"
    );
    let e = changes::load(&link, None).unwrap_err();
    assert!(e.contains("--tune"), "{e}");
    let e = changes::load("/nonexistent/tune.musicxml", None).unwrap_err();
    assert!(e.contains("cannot read /nonexistent/tune.musicxml"), "{e}");
}

#[test]
fn render_plays_a_lead_sheet_and_refuses_a_bad_one() {
    let dir = common::temp_dir("leadsheet-cli");
    let (_, xml, _, _) = musicxml_files().remove(0);
    let score_path = dir.join("plain.musicxml");
    std::fs::write(&score_path, xml).unwrap();
    let playlist = dir.join("book.html");
    std::fs::write(
        &playlist,
        format!("<a href=\"{}\">Book</a>", pro_playlist("Book")),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jazz-synth"))
            .arg("render")
            .args(args)
            .output()
            .unwrap()
    };
    let out_mid = dir.join("over.mid");
    let out = run(&[
        "--changes",
        score_path.to_str().unwrap(),
        "--bars",
        "4",
        "--out",
        out_mid.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("changes of Plain Four: Dm7 G7 | Cmaj7 | Am7 D9 . . | G7/B"),
        "{stdout}"
    );
    assert!(
        stderr.contains("at 132 BPM"),
        "the lead sheet's tempo: {stderr}"
    );
    let out = run(&[
        "--changes",
        playlist.to_str().unwrap(),
        "--tune",
        "five four",
        "--tempo",
        "150",
        "--bars",
        "2",
        "--quiet",
        "--out",
        out_mid.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("at 150 BPM"), "--tempo wins: {stderr}");
    let bad = dir.join("bad.html");
    let bad_chart = Chart {
        title: "Broken",
        composer: "X",
        chart: "T44[C^7   |F7   |C12   Z",
        tempo: 0,
        expect: "",
    };
    let href = url_encode(&book_song(&bad_chart));
    std::fs::write(&bad, format!("<a href=\"irealbook://{href}\">Broken</a>")).unwrap();
    let out = run(&[
        "--changes",
        bad.to_str().unwrap(),
        "--out",
        out_mid.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--changes: \"Broken\", bar 3: chord symbol \"C12\""),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The plugin: a pasted link in the changes field, "Load lead sheet…"
// ---------------------------------------------------------------------------------------------

#[test]
fn the_plugin_takes_a_pasted_link_and_loads_lead_sheet_files() {
    use jazz_synth::plugin::editor::lead_sheet_songs;
    use jazz_synth::plugin::parse_typed_changes;
    // One song's link plays its changes, meter included.
    let waltz = format!("irealb://{}", url_encode(&pro_song(&CHARTS[2])));
    let progression = parse_typed_changes(&waltz).unwrap().unwrap();
    assert_eq!(
        progression,
        parse_changes_with_meter(CHARTS[2].expect).unwrap()
    );
    assert_eq!(progression.beats_per_bar(), 3);
    // Meter-headed chord text is typed changes too.
    assert_eq!(
        parse_typed_changes("3/4 Am | E7")
            .unwrap()
            .unwrap()
            .beats_per_bar(),
        3
    );
    // A playlist names its songs: paste one of them.
    let e = parse_typed_changes(&pro_playlist("Book")).unwrap_err();
    assert!(e.contains("11 songs") && e.contains("Little Waltz"), "{e}");
    // A broken chart is refused with song, bar and symbol.
    let broken = Chart {
        title: "Broken",
        composer: "X",
        chart: "T44[C^7   |Fq7   Z",
        tempo: 0,
        expect: "",
    };
    let e = parse_typed_changes(&format!("irealbook://{}", book_song(&broken))).unwrap_err();
    assert!(e.starts_with("\"Broken\", bar 2"), "{e}");

    let dir = common::temp_dir("leadsheet-plugin");
    let book = dir.join("book.html");
    std::fs::write(
        &book,
        format!("<a href=\"{}\">Book</a>", pro_playlist("Book")),
    )
    .unwrap();
    let songs = lead_sheet_songs(&book).unwrap();
    assert_eq!(songs.len(), CHARTS.len());
    for ((title, chords), c) in songs.iter().zip(CHARTS) {
        assert_eq!(title, c.title);
        // What the editor puts in the changes field parses as typed changes.
        let text = chords.as_ref().unwrap();
        assert_eq!(text, c.expect);
        assert!(parse_typed_changes(text).unwrap().is_some());
    }
    let (_, xml, expect, _) = musicxml_files().remove(4);
    let zipped = dir.join("five.mxl");
    std::fs::write(&zipped, mxl(&xml)).unwrap();
    assert_eq!(
        lead_sheet_songs(&zipped).unwrap(),
        [("Zipped Five".to_string(), Ok(expect.to_string()))]
    );
    assert!(lead_sheet_songs(&dir.join("missing.xml"))
        .unwrap_err()
        .contains("cannot read"));
}
