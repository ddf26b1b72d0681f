//! MusicXML lead sheets (`.musicxml`, `.xml`, and `.mxl`, the ZIP archive holding one): the
//! chord symbols (`<harmony>`: root, kind, degrees added, altered or taken out, bass) of the
//! first part that has any, placed in their measures by the notes, `<backup>` and
//! `<forward>` before them (and their `<offset>`), with repeats, volta endings, segno, coda,
//! D.C./D.S. and Fine walked into the bars as played.
//!
//! What is not read, and said so: a meter that changes (one meter per tune), roman-numeral
//! harmony (`<function>`), `score-timewise` files. A pickup measure (`implicit="yes"` first
//! measure) is left out, with a note.

use std::io::{Cursor, Read};

use roxmltree::{Document, Node, ParsingOptions};

use super::form::{self, EndingRule, Jump, Until, WrittenBar};
use super::{LeadSheet, LeadSheetError, PlayedBar, TICKS_PER_BEAT};
use crate::music::changes::{parse_meter, parse_symbol, ChordSymbol};

/// The largest score file read from an archive (bytes); real lead sheets are far smaller.
const MAX_XML_BYTES: u64 = 64 << 20;

/// Reads a compressed MusicXML file (`.mxl`): the score `META-INF/container.xml` names (or the
/// archive's first `.musicxml`/`.xml` file outside `META-INF`).
pub fn read_mxl(name: &str, bytes: &[u8]) -> Result<LeadSheet, LeadSheetError> {
    let bad = |why: String| LeadSheetError::new(name, why);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("is not a readable .mxl (ZIP) archive: {e}")))?;
    let container = read_entry(&mut archive, "META-INF/container.xml").ok();
    let mut score_path = container.and_then(|text| {
        let doc = Document::parse(&text).ok()?;
        doc.descendants()
            .filter(|n| n.has_tag_name("rootfile"))
            .find(|n| {
                n.attribute("media-type")
                    .is_none_or(|m| m.contains("musicxml"))
            })
            .and_then(|n| n.attribute("full-path"))
            .map(String::from)
    });
    if score_path.is_none() {
        score_path = archive
            .file_names()
            .filter_map(Result::ok)
            .find(|f| {
                !f.starts_with("META-INF") && (f.ends_with(".musicxml") || f.ends_with(".xml"))
            })
            .map(|f| f.to_string());
    }
    let path =
        score_path.ok_or_else(|| {
            bad("holds no MusicXML score (no META-INF/container.xml rootfile, no .musicxml or .xml)"
            .into())
        })?;
    let text = read_entry(&mut archive, &path).map_err(bad)?;
    read_xml(name, &text)
}

fn read_entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, path: &str) -> Result<String, String> {
    let entry = archive
        .by_name(path)
        .map_err(|e| format!("cannot open {path} inside the archive: {e}"))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_XML_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot unpack {path} from the archive: {e}"))?;
    if bytes.len() as u64 > MAX_XML_BYTES {
        return Err(format!("{path} inside the archive is larger than 64 MB"));
    }
    // A byte-order mark or UTF-16 would be unusual; UTF-8 is what notation programs write.
    String::from_utf8(bytes).map_err(|_| format!("{path} inside the archive is not UTF-8 text"))
}

/// One measure as read, before the form is walked.
struct Measure {
    number: usize,
    form: WrittenBar,
    chords: Vec<(u32, ChordSymbol)>,
}

/// Reads a MusicXML score (`score-partwise`) into a lead sheet; `name` names the file in errors.
pub fn read_xml(name: &str, text: &str) -> Result<LeadSheet, LeadSheetError> {
    // Notation programs write a DOCTYPE; roxmltree never fetches it.
    let options = ParsingOptions {
        allow_dtd: true,
        nodes_limit: 4_000_000,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options)
        .map_err(|e| LeadSheetError::new(name, format!("is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "score-partwise" => {}
        "score-timewise" => {
            return Err(LeadSheetError::new(
                name,
                "is a score-timewise MusicXML file: export it as score-partwise (what notation \
                 programs write by default)",
            ))
        }
        other => {
            return Err(LeadSheetError::new(
                name,
                format!("is XML but not a MusicXML score (its root is <{other}>)"),
            ))
        }
    }
    let child_text = |node: Node, tag: &str| -> Option<String> {
        node.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let title = root
        .children()
        .find(|n| n.has_tag_name("work"))
        .and_then(|w| child_text(w, "work-title"))
        .or_else(|| child_text(root, "movement-title"))
        .unwrap_or_else(|| name.to_string());
    let composer = root
        .children()
        .find(|n| n.has_tag_name("identification"))
        .and_then(|id| {
            id.children()
                .find(|n| n.has_tag_name("creator") && n.attribute("type") == Some("composer"))
        })
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());

    let part = root
        .children()
        .filter(|n| n.has_tag_name("part"))
        .find(|p| p.descendants().any(|n| n.has_tag_name("harmony")))
        .ok_or_else(|| {
            LeadSheetError::new(
                &title,
                "has no chord symbols (<harmony>): add them in your notation program (chord \
                 symbols, not notes) and export again",
            )
        })?;

    let mut notes = Vec::new();
    let mut divisions: u32 = 1;
    let mut meter: Option<(u32, u32, u32)> = None;
    let mut measures: Vec<Measure> = Vec::new();
    let mut ending: Option<Vec<u32>> = None;
    for (index, m) in part
        .children()
        .filter(|n| n.has_tag_name("measure"))
        .enumerate()
    {
        let number = m
            .attribute("number")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(index + 1);
        let mut form = WrittenBar::default();
        let mut placed: Vec<(i64, ChordSymbol)> = Vec::new();
        let mut cursor: i64 = 0;
        let mut anything_before = false;
        let mut ending_stops = false;
        for child in m.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "attributes" => {
                    if let Some(d) = child_text(child, "divisions") {
                        divisions = d
                            .parse::<u32>()
                            .ok()
                            .filter(|d| (1..=1_000_000).contains(d))
                            .ok_or_else(|| {
                                LeadSheetError::at_bar(
                                    &title,
                                    number,
                                    format!(
                                        "<divisions>{d}</divisions> is not a count of 1 or more"
                                    ),
                                )
                            })?;
                    }
                    if let Some(time) = child.children().find(|n| n.has_tag_name("time")) {
                        let read = read_time(time)
                            .map_err(|e| LeadSheetError::at_bar(&title, number, e))?;
                        match meter {
                            None => meter = Some(read),
                            Some(old) if old.2 == read.2 && (old.0, old.1) == (read.0, read.1) => {}
                            Some((a, b, _)) => {
                                return Err(LeadSheetError::at_bar(
                                    &title,
                                    number,
                                    format!(
                                        "the meter changes from {a}/{b} to {}/{}: jazz-synth \
                                         plays one meter per tune (write the tune in one meter)",
                                        read.0, read.1
                                    ),
                                ))
                            }
                        }
                    }
                }
                "harmony" => {
                    let symbol = read_harmony(child).map_err(|(written, reason)| {
                        LeadSheetError::symbol(&title, number, &written, reason)
                    })?;
                    let offset = child
                        .children()
                        .find(|n| n.has_tag_name("offset"))
                        .and_then(|n| n.text())
                        .and_then(|t| t.trim().parse::<f64>().ok())
                        .filter(|o| o.is_finite())
                        .unwrap_or(0.0);
                    placed.push((cursor + offset.round() as i64, symbol));
                    anything_before = true;
                }
                "note" => {
                    anything_before = true;
                    let is_chord = child.children().any(|n| n.has_tag_name("chord"));
                    let is_grace = child.children().any(|n| n.has_tag_name("grace"));
                    if !is_chord && !is_grace {
                        cursor += duration(child, &title, number)?;
                    }
                }
                "forward" => cursor += duration(child, &title, number)?,
                "backup" => cursor = (cursor - duration(child, &title, number)?).max(0),
                "barline" => read_barline(child, &mut form, &mut ending, &mut ending_stops),
                "direction" => {
                    read_direction(child, &mut form, !anything_before);
                }
                "sound" => read_sound(child, &mut form, !anything_before),
                _ => {}
            }
        }
        form.ending.clone_from(&ending);
        if ending_stops {
            ending = None;
        }
        let (_, _, bpb) = meter.unwrap_or((4, 4, 4));
        let bar_ticks = bpb * TICKS_PER_BEAT;
        let mut chords: Vec<(u32, ChordSymbol)> = Vec::new();
        placed.sort_by_key(|(at, _)| *at);
        for (at, symbol) in placed {
            let ticks = (at.max(0) as f64 * f64::from(TICKS_PER_BEAT) / f64::from(divisions))
                .round()
                .clamp(0.0, f64::from(bar_ticks - 1)) as u32;
            match chords.last_mut() {
                // Two symbols on one tick: the later one is what is meant.
                Some(last) if last.0 == ticks => last.1 = symbol,
                _ => chords.push((ticks, symbol)),
            }
        }
        if index == 0 && m.attribute("implicit") == Some("yes") {
            notes.push(format!(
                "the pickup bar (measure {number}) is left out{}",
                if chords.is_empty() {
                    String::new()
                } else {
                    " with its chords".to_string()
                }
            ));
            // Marks on the pickup (a forward repeat) belong to the first full bar.
            measures.push(Measure {
                number,
                form,
                chords: Vec::new(),
            });
            continue;
        }
        measures.push(Measure {
            number,
            form,
            chords,
        });
    }
    // A pickup is dropped after its marks have moved on.
    if measures.len() > 1
        && part
            .children()
            .find(|n| n.has_tag_name("measure"))
            .and_then(|m| m.attribute("implicit"))
            == Some("yes")
    {
        let pickup = measures.remove(0);
        let first = &mut measures[0].form;
        first.repeat_open |= pickup.form.repeat_open;
        first.segno |= pickup.form.segno;
    }
    if measures.is_empty() {
        return Err(LeadSheetError::new(&title, "has no measures"));
    }
    // A jump written without "al …" goes to the coda or Fine the score has.
    let has_to_coda = measures.iter().filter(|m| m.form.coda).count() >= 2;
    let has_fine = measures.iter().any(|m| m.form.fine);
    for m in &mut measures {
        if let Some(jump) = &mut m.form.jump {
            let (Jump::DaCapo(until) | Jump::DalSegno(until)) = jump;
            if *until == Until::End {
                *until = if has_to_coda {
                    Until::Coda
                } else if has_fine {
                    Until::Fine
                } else {
                    Until::End
                };
            }
        }
    }

    let forms: Vec<WrittenBar> = measures.iter().map(|m| m.form.clone()).collect();
    let (order, form_notes) = form::expand(&title, &forms, EndingRule::Listed)?;
    notes.extend(form_notes);
    let bars: Vec<PlayedBar> = order
        .iter()
        .map(|&i| PlayedBar {
            written: measures[i].number,
            chords: measures[i].chords.clone(),
        })
        .collect();
    if bars.iter().all(|b| b.chords.is_empty()) {
        return Err(LeadSheetError::new(
            &title,
            "has no chord symbols in the bars played",
        ));
    }
    let (numerator, denominator, _) = meter.unwrap_or((4, 4, 4));
    Ok(LeadSheet {
        title,
        composer,
        meter: (numerator, denominator),
        tempo_bpm: tempo(part, root),
        bars,
        notes,
    })
}

/// The first `<sound tempo="…">` of the score, in quarter notes per minute (20 to 400).
fn tempo(part: Node, root: Node) -> Option<f64> {
    part.descendants()
        .chain(root.descendants())
        .filter(|n| n.has_tag_name("sound"))
        .find_map(|n| n.attribute("tempo"))
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| (20.0..=400.0).contains(t))
}

/// `<duration>` of a note, forward or backup, in divisions.
fn duration(node: Node, title: &str, bar: usize) -> Result<i64, LeadSheetError> {
    match node.children().find(|n| n.has_tag_name("duration")) {
        None => Ok(0),
        Some(d) => d
            .text()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && (0.0..1e9).contains(v))
            .map(|v| v.round() as i64)
            .ok_or_else(|| {
                LeadSheetError::at_bar(
                    title,
                    bar,
                    format!(
                        "<duration>{}</duration> is not a length in divisions",
                        d.text().unwrap_or("")
                    ),
                )
            }),
    }
}

/// `<time>`: (numerator, denominator, quarter notes per bar). `3+2` beats add up.
fn read_time(time: Node) -> Result<(u32, u32, u32), String> {
    if time.children().any(|n| n.has_tag_name("senza-misura")) {
        return Err("the score has no meter (senza misura): jazz-synth needs bars".into());
    }
    let text = |tag: &str| {
        time.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let beats = text("beats");
    let numerator: u32 = beats
        .split('+')
        .map(|b| b.trim().parse::<u32>().ok())
        .sum::<Option<u32>>()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("<beats>{beats}</beats> is not a number of beats"))?;
    let beat_type = text("beat-type");
    let denominator: u32 = beat_type
        .parse()
        .map_err(|_| format!("<beat-type>{beat_type}</beat-type> is not a note value"))?;
    parse_meter(&format!("{numerator}/{denominator}"))
}

fn read_barline(
    node: Node,
    form: &mut WrittenBar,
    ending: &mut Option<Vec<u32>>,
    ending_stops: &mut bool,
) {
    for child in node.children().filter(Node::is_element) {
        match child.tag_name().name() {
            "repeat" => match child.attribute("direction") {
                Some("forward") => form.repeat_open = true,
                Some("backward") => {
                    form.repeat_close = true;
                    form.times = child
                        .attribute("times")
                        .and_then(|t| t.trim().parse::<u32>().ok())
                        .filter(|t| (1..=64).contains(t));
                }
                _ => {}
            },
            "ending" => {
                let numbers: Vec<u32> = child
                    .attribute("number")
                    .unwrap_or("")
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter_map(|n| n.trim().parse().ok())
                    .filter(|n| (1..=64).contains(n))
                    .collect();
                match child.attribute("type") {
                    Some("start") if !numbers.is_empty() => {
                        *ending = Some(numbers);
                        *ending_stops = false;
                    }
                    Some("stop") | Some("discontinue") => {
                        if ending.is_none() && !numbers.is_empty() {
                            *ending = Some(numbers);
                        }
                        *ending_stops = true;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// Segno, coda, D.C./D.S., Fine and To Coda from a `<direction>`; `at_start`: nothing sounded
/// in the measure before it.
fn read_direction(node: Node, form: &mut WrittenBar, at_start: bool) {
    for kind in node
        .children()
        .filter(|n| n.has_tag_name("direction-type"))
        .flat_map(|t| t.children().filter(Node::is_element))
    {
        match kind.tag_name().name() {
            "segno" => form.segno = true,
            "coda" => {
                form.coda = true;
                form.coda_before = at_start;
            }
            "words" => read_words(kind.text().unwrap_or(""), form, at_start),
            _ => {}
        }
    }
    if let Some(sound) = node.children().find(|n| n.has_tag_name("sound")) {
        read_sound(sound, form, at_start);
    }
}

fn read_words(text: &str, form: &mut WrittenBar, at_start: bool) {
    let lower = text.to_lowercase();
    if let Some(jump) = Jump::in_words(&lower) {
        form.jump = Some(jump);
    } else if lower.contains("to coda") {
        form.coda = true;
        form.coda_before = at_start;
    } else if lower.trim() == "fine" {
        form.fine = true;
    }
}

fn read_sound(node: Node, form: &mut WrittenBar, at_start: bool) {
    let yes = |a: &str| node.attribute(a).is_some();
    if yes("segno") {
        form.segno = true;
    }
    if yes("coda") {
        form.coda = true;
        form.coda_before = true;
    }
    if yes("tocoda") {
        form.coda = true;
        form.coda_before = at_start;
    }
    if yes("fine") {
        form.fine = true;
    }
    if node.attribute("dacapo") == Some("yes") && form.jump.is_none() {
        form.jump = Some(Jump::DaCapo(Until::End));
    }
    if yes("dalsegno") && form.jump.is_none() {
        form.jump = Some(Jump::DalSegno(Until::End));
    }
}

/// Semitones above the root of each `<kind>` (root left implicit).
fn kind_intervals(kind: &str) -> Option<&'static [u8]> {
    Some(match kind {
        "major" => &[4, 7],
        "minor" => &[3, 7],
        "augmented" => &[4, 8],
        "diminished" => &[3, 6],
        "dominant" => &[4, 7, 10],
        "major-seventh" => &[4, 7, 11],
        "minor-seventh" => &[3, 7, 10],
        "diminished-seventh" => &[3, 6, 9],
        "augmented-seventh" => &[4, 8, 10],
        "half-diminished" => &[3, 6, 10],
        "major-minor" => &[3, 7, 11],
        "major-sixth" => &[4, 7, 9],
        "minor-sixth" => &[3, 7, 9],
        "dominant-ninth" => &[2, 4, 7, 10],
        "major-ninth" => &[2, 4, 7, 11],
        "minor-ninth" => &[2, 3, 7, 10],
        "dominant-11th" => &[2, 4, 5, 7, 10],
        "major-11th" => &[2, 4, 5, 7, 11],
        "minor-11th" => &[2, 3, 5, 7, 10],
        "dominant-13th" => &[2, 4, 7, 9, 10],
        "major-13th" => &[2, 4, 7, 9, 11],
        "minor-13th" => &[2, 3, 7, 9, 10],
        "suspended-second" => &[2, 7],
        "suspended-fourth" => &[5, 7],
        "Neapolitan" => &[4, 7],
        "Italian" => &[4, 10],
        "French" => &[4, 6, 10],
        "German" => &[4, 7, 10],
        "pedal" => &[],
        "power" => &[7],
        "Tristan" => &[3, 6, 10],
        _ => return None,
    })
}

/// A degree's semitones above the root on a dominant chord (MusicXML's reference for added
/// degrees), and where an existing one may sit (for altered and removed degrees).
fn degree_steps(value: u32) -> Option<(u8, &'static [u8])> {
    Some(match value {
        1 | 8 => (0, &[0]),
        2 | 9 => (2, &[2, 1]),
        3 | 10 => (4, &[4, 3]),
        4 | 11 => (5, &[5, 6]),
        5 | 12 => (7, &[7, 6, 8]),
        6 | 13 => (9, &[9, 8]),
        7 => (10, &[10, 11, 9]),
        _ => return None,
    })
}

fn pitch(step: &str, alter: Option<&str>) -> Option<u8> {
    let base: i32 = match step.trim() {
        "C" => 0,
        "D" => 2,
        "E" => 4,
        "F" => 5,
        "G" => 7,
        "A" => 9,
        "B" => 11,
        _ => return None,
    };
    let alter = match alter {
        None => 0.0,
        Some(a) => a
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|a| a.is_finite() && a.abs() <= 4.0)?,
    };
    Some((base + alter.round() as i32).rem_euclid(12) as u8)
}

/// A `<harmony>` as a chord symbol; on error, the symbol as written and why.
fn read_harmony(h: Node) -> Result<ChordSymbol, (String, String)> {
    let text_of = |node: Node, tag: &str| -> Option<String> {
        node.children()
            .find(|n| n.has_tag_name(tag))
            .map(|n| n.text().unwrap_or("").trim().to_string())
    };
    let kind_node = h.children().find(|n| n.has_tag_name("kind"));
    let kind = kind_node
        .and_then(|k| k.text())
        .unwrap_or("")
        .trim()
        .to_string();
    let kind_text = kind_node.and_then(|k| k.attribute("text")).unwrap_or("");
    let root_node = h.children().find(|n| n.has_tag_name("root"));
    let root_step = root_node.and_then(|r| text_of(r, "root-step"));
    let written = format!(
        "{}{}",
        root_step.clone().unwrap_or_default(),
        if kind_text.is_empty() {
            &kind
        } else {
            kind_text
        }
    );
    if kind == "none" {
        return Ok(ChordSymbol::NO_CHORD);
    }
    if h.children()
        .any(|n| n.has_tag_name("function") || n.has_tag_name("numeral"))
    {
        return Err((
            written,
            "roman-numeral harmony is not read: write chord symbols with a root".into(),
        ));
    }
    let root_node = root_node.ok_or((written.clone(), "the chord symbol has no <root>".into()))?;
    let root = pitch(
        &root_step.unwrap_or_default(),
        text_of(root_node, "root-alter").as_deref(),
    )
    .ok_or((written.clone(), "its root is not a note name A–G".into()))?;
    let mut intervals: u16 = 1;
    match kind_intervals(&kind) {
        Some(list) => {
            for &i in list {
                intervals |= 1 << i;
            }
        }
        None if kind == "other" || kind.is_empty() => {
            // Written out only as text: read it as chord text would be.
            let names = [
                "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
            ];
            let spelled = format!("{}{}", names[usize::from(root)], kind_text);
            let parsed = parse_symbol(&spelled).map_err(|(_, why)| (written.clone(), why))?;
            intervals = parsed.intervals;
        }
        None => {
            return Err((
                written,
                format!("<kind>{kind}</kind> is not a MusicXML chord kind"),
            ))
        }
    }
    for degree in h.children().filter(|n| n.has_tag_name("degree")) {
        let value: u32 = text_of(degree, "degree-value")
            .and_then(|v| v.parse().ok())
            .ok_or((written.clone(), "a <degree> without a number".to_string()))?;
        let alter: i32 = text_of(degree, "degree-alter")
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|a| a.is_finite() && a.abs() <= 2.0)
            .map_or(0, |a| a.round() as i32);
        let (base, places) = degree_steps(value).ok_or((
            written.clone(),
            format!("degree {value} is not a chord degree (1 to 13)"),
        ))?;
        let existing = places.iter().copied().find(|&p| intervals & (1 << p) != 0);
        let kind = text_of(degree, "degree-type").unwrap_or_else(|| "add".into());
        let shifted = |from: u8| (i32::from(from) + alter).rem_euclid(12) as u8;
        match kind.as_str() {
            "add" => intervals |= 1 << shifted(base),
            "alter" => {
                let from = existing.unwrap_or(base);
                intervals &= !(1 << from);
                intervals |= 1 << shifted(from);
            }
            "subtract" => {
                let gone = existing.unwrap_or(shifted(base));
                intervals &= !(1 << gone);
            }
            other => {
                return Err((
                    written,
                    format!("<degree-type>{other}</degree-type> is not add, alter or subtract"),
                ))
            }
        }
    }
    intervals |= 1;
    let bass = match h.children().find(|n| n.has_tag_name("bass")) {
        None => None,
        Some(b) => Some(
            pitch(
                &text_of(b, "bass-step").unwrap_or_default(),
                text_of(b, "bass-alter").as_deref(),
            )
            .ok_or((
                written.clone(),
                "its bass is not a note name A–G".to_string(),
            ))?,
        ),
    };
    Ok(ChordSymbol {
        root,
        intervals,
        bass: bass.filter(|&b| b != root),
    })
}
