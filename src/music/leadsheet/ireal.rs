//! iReal Pro links and playlists: `irealbook://` (plain) and `irealb://` (the app's own export,
//! its music scrambled), URL-encoded or not, one song or a playlist, bare or inside an HTML
//! export (`<a href="irealb://…">`).
//!
//! A song is a run of `=`-separated fields. `irealbook://` songs are
//! `Title=Composer=Style=Key=n=Chart`. `irealb://` songs are
//! `Title=Composer==Style=Key=Transpose=Music=Groove=Tempo=Repeats`, joined by `===`, the
//! playlist's name last; the music field starts with `1r34LbKcu7` and is scrambled in blocks
//! of 50 characters (in each full block with at least two characters after it, positions
//! 0–4 trade places with 49–45 and 10–23 with 39–26), then three abbreviations are written
//! out: `XyQ` = three empty cells, `LZ` = ` |`, `Kcl` = `| x`.
//!
//! The chart: `T44` time signatures, `| [ ] { } Z` bar lines, `*A` section marks, `N1` `N2`
//! endings, `S` segno, `Q` coda, `f` fermata, `<…>` comments (D.C./D.S. al Coda/Fine, Fine,
//! `3x`), `x` repeat the bar before, `r` repeat the two bars before, `n` no chord, `p` a slash
//! (the chord holds), `W/E` the chord before over E, `s` `l` `Y` `,` layout, `(…)` alternate
//! chords (left out), `U` end. Each chord, `n`, `p`, `W` and space is a cell; a bar's cells
//! are spread over its beats (four cells on four beats; in 3/4 the fourth cell falls on beat
//! 3), a chord meeting a taken beat moving to the next free one.

use percent_encoding::percent_decode_str;

use super::form::{self, EndingRule, Jump, WrittenBar};
use super::{LeadSheet, LeadSheetError, PlayedBar, Songbook, TICKS_PER_BEAT};
use crate::music::changes::{parse_meter, parse_symbol, ChordSymbol};

/// Where the scrambled music field of an `irealb://` song starts.
pub const MUSIC_PREFIX: &str = "1r34LbKcu7";

/// The most songs one read accepts (iReal's biggest public playlists hold about 1,500).
const MAX_SONGS: usize = 5000;

/// True when `text` starts like an iReal Pro link.
pub fn is_link(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("irealb://") || head.starts_with("irealbook://")
}

/// Reads every song of the iReal links in `text`: one link (spaces allowed inside), or a page
/// or file holding links (an HTML export: each link ends at a quote, `<`, `>` or white space).
/// A song whose chart cannot be read is kept in [`Songbook::refused`] with its error, so the
/// others of a playlist still load.
pub fn read_playlists(text: &str) -> Result<Songbook, LeadSheetError> {
    let trimmed = text.trim();
    let links: Vec<String> = if is_link(trimmed) && !trimmed.contains("<a ") {
        vec![trimmed.to_string()]
    } else {
        find_links(text)
    };
    if links.is_empty() {
        return Err(LeadSheetError::new(
            "iReal Pro playlist",
            "holds no irealb:// or irealbook:// link",
        ));
    }
    let mut book = Songbook {
        name: None,
        songs: Vec::new(),
        refused: Vec::new(),
    };
    for link in &links {
        let (name, songs) = read_link(link)?;
        if name.is_some() {
            book.name = name;
        }
        for song in songs {
            match song {
                Ok(s) => book.songs.push(s),
                Err(e) => book.refused.push(e),
            }
            if book.songs.len() + book.refused.len() > MAX_SONGS {
                return Err(LeadSheetError::new(
                    "iReal Pro playlist",
                    format!("holds more than {MAX_SONGS} songs"),
                ));
            }
        }
    }
    Ok(book)
}

/// Links inside a page: from each `irealb://` or `irealbook://` to a quote, `<`, `>` or white
/// space, HTML entities (`&amp;`, `&#39;`…) written out.
fn find_links(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut links = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("ireal") {
        let start = from + at;
        let rest = &lower[start..];
        if !(rest.starts_with("irealb://") || rest.starts_with("irealbook://")) {
            from = start + 5;
            continue;
        }
        let end = text[start..]
            .find(|c: char| matches!(c, '"' | '\'' | '<' | '>') || c.is_whitespace())
            .map_or(text.len(), |e| start + e);
        links.push(html_unescape(&text[start..end]));
        from = end;
    }
    links
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity_end = rest[..rest.len().min(12)].find(';');
        let decoded = entity_end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "nbsp" => Some(' '),
                _ => {
                    let n = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                        u32::from_str_radix(hex, 16).ok()
                    } else {
                        name.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

type SongResult = Result<LeadSheet, LeadSheetError>;

/// One link: the playlist name (if any) and each song read, or why the link itself is unreadable.
fn read_link(link: &str) -> Result<(Option<String>, Vec<SongResult>), LeadSheetError> {
    let decoded = percent_decode_str(link).decode_utf8().map_err(|_| {
        LeadSheetError::new(
            "iReal Pro link",
            "its %-escapes do not decode to UTF-8 text: copy the link again from iReal Pro",
        )
    })?;
    let decoded = decoded.trim();
    let (scheme, body) = decoded.split_once("://").unwrap_or(("", decoded));
    let fields: Vec<&str> = body.split('=').collect();
    if scheme.eq_ignore_ascii_case("irealb") {
        read_pro_fields(&fields)
    } else {
        read_book_fields(&fields)
    }
}

/// `irealb://` fields: each song found by its music field, the others at fixed places from it.
fn read_pro_fields(fields: &[&str]) -> Result<(Option<String>, Vec<SongResult>), LeadSheetError> {
    let music_at: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].starts_with(MUSIC_PREFIX))
        .collect();
    if music_at.is_empty() {
        return Err(LeadSheetError::new(
            fields.first().copied().unwrap_or("iReal Pro link"),
            format!(
                "is not an iReal Pro song: its music field (starting {MUSIC_PREFIX}) is missing"
            ),
        ));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let mut songs = Vec::new();
    for &m in &music_at {
        let title = if m >= 6 { field(m - 6) } else { "" };
        let title = if title.is_empty() { "Untitled" } else { title };
        if m < 6 {
            songs.push(Err(LeadSheetError::new(
                title,
                "its fields are cut short: an iReal song is Title=Composer==Style=Key==Music…",
            )));
            continue;
        }
        let music = unscramble(&fields[m][MUSIC_PREFIX.len()..]);
        let tempo = field(m + 2).trim();
        let song = read_chart(
            title,
            Some(field(m - 5)),
            &music,
            if tempo.is_empty() {
                Some("0")
            } else {
                Some(tempo)
            },
        );
        songs.push(song);
    }
    let last = *music_at.last().unwrap_or(&0);
    let name = fields
        .get(last + 4..)
        .unwrap_or(&[])
        .iter()
        .find(|f| !f.trim().is_empty())
        .map(|f| f.trim().to_string());
    Ok((name, songs))
}

/// `irealbook://` fields: `Title=Composer=Style=Key=n=Chart`, songs one after the other.
fn read_book_fields(fields: &[&str]) -> Result<(Option<String>, Vec<SongResult>), LeadSheetError> {
    let mut songs = Vec::new();
    let mut used = 0;
    let mut i = 4;
    while i + 1 < fields.len() {
        if fields[i] == "n" && i >= used + 4 {
            let title = fields[i - 4].trim();
            let title = if title.is_empty() { "Untitled" } else { title };
            songs.push(read_chart(title, Some(fields[i - 3]), fields[i + 1], None));
            used = i + 2;
            i += 6;
        } else {
            i += 1;
        }
    }
    if songs.is_empty() {
        return Err(LeadSheetError::new(
            fields.first().copied().unwrap_or("iReal Pro link"),
            "is not an iReal Pro song: write irealbook://Title=Composer=Style=Key=n=Chart",
        ));
    }
    let name = fields
        .get(used..)
        .unwrap_or(&[])
        .iter()
        .find(|f| !f.trim().is_empty())
        .map(|f| f.trim().to_string());
    Ok((name, songs))
}

/// Undoes the scrambling of an `irealb://` music field (after its prefix) and writes out its
/// abbreviations. The block shuffle is its own inverse, so [`scramble_blocks`] also scrambles.
pub fn unscramble(music: &str) -> String {
    scramble_blocks(music)
        .replace("XyQ", "   ")
        .replace("LZ", " |")
        .replace("Kcl", "| x")
}

/// The 50-character block shuffle of `irealb://` music (self-inverse).
pub fn scramble_blocks(music: &str) -> String {
    let chars: Vec<char> = music.chars().collect();
    let mut out = String::with_capacity(music.len());
    let mut at = 0;
    while chars.len() - at > 50 {
        let mut block: Vec<char> = chars[at..at + 50].to_vec();
        at += 50;
        if chars.len() - at >= 2 {
            for i in (0..5).chain(10..24) {
                block.swap(i, 49 - i);
            }
        }
        out.extend(block);
    }
    out.extend(&chars[at..]);
    out
}

/// One cell of a bar.
#[derive(Clone, Debug)]
enum Cell {
    Chord(ChordSymbol),
    Hold,
    Space,
}

/// A bar while the chart is read.
#[derive(Default)]
struct ChartBar {
    form: WrittenBar,
    cells: Vec<Cell>,
    /// `x`: the bar before again; `r`: the two bars before again.
    repeat: Option<u8>,
    /// Anything but spaces was written in it.
    written: bool,
    /// Opened by a bar line that starts bars (`|`, `[`, `{`), not after a closing one.
    opened_plain: bool,
}

/// A bar is what has something written in it, or empty cells after a plain bar line (an empty
/// bar, the chord before holding); spaces after a closing bar line only lay out the chart.
fn is_bar(bar: &ChartBar) -> bool {
    bar.written || (bar.opened_plain && !bar.cells.is_empty())
}

/// Ends the bar being written: kept when it is a bar ([`is_bar`]); an empty bar right after an
/// `r` is the second bar the `r` stands for and gives it its closing marks; otherwise the marks
/// written carry on to the next bar.
fn finish(bars: &mut Vec<ChartBar>, cur: &mut ChartBar, opened_plain: bool) -> bool {
    let done = std::mem::replace(
        cur,
        ChartBar {
            opened_plain,
            ..Default::default()
        },
    );
    let after_two = bars.last().is_some_and(|b| b.repeat == Some(2));
    if after_two && !done.written {
        if let Some(last) = bars.last_mut() {
            let f = &mut last.form;
            f.repeat_close |= done.form.repeat_close;
            f.times = f.times.or(done.form.times);
            f.jump = f.jump.or(done.form.jump);
            f.fine |= done.form.fine;
            f.end |= done.form.end;
        }
        return false;
    }
    if is_bar(&done) {
        bars.push(done);
        true
    } else {
        cur.form = done.form;
        false
    }
}

/// The meter (numerator, denominator) of a `T..` mark: `T44` 4/4, `T12` 12/8.
fn time_signature(digits: &str) -> (u32, u32) {
    if digits == "12" {
        return (12, 8);
    }
    let mut d = digits.chars().filter_map(|c| c.to_digit(10));
    (d.next().unwrap_or(4), d.next().unwrap_or(4))
}

/// Reads one chart (already unscrambled) into a lead sheet.
fn read_chart(
    title: &str,
    composer: Option<&str>,
    chart: &str,
    tempo: Option<&str>,
) -> Result<LeadSheet, LeadSheetError> {
    let mut notes = Vec::new();
    let tempo_bpm = match tempo.map(str::trim) {
        None | Some("0") | Some("") => None,
        Some(t) => match t.parse::<f64>() {
            Ok(bpm) if (20.0..=400.0).contains(&bpm) => Some(bpm),
            _ => {
                notes.push(format!(
                    "its tempo \"{t}\" is left out (20 to 400 BPM are played)"
                ));
                None
            }
        },
    };
    let chars: Vec<char> = chart.chars().collect();
    let mut bars: Vec<ChartBar> = Vec::new();
    let mut cur = ChartBar {
        opened_plain: false,
        ..Default::default()
    };
    let mut meter: Option<(u32, u32)> = None;
    let mut ending: Option<Vec<u32>> = None;
    let mut times: Option<u32> = None;
    let bar_no = |bars: &Vec<ChartBar>| bars.len() + 1;

    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let here = bar_no(&bars);
        match c {
            '|' | '[' | ']' | '{' | '}' | 'Z' => {
                if is_bar(&cur) {
                    cur.form.ending.clone_from(&ending);
                    if c == '}' {
                        cur.form.repeat_close = true;
                        cur.form.times = times.take();
                    }
                } else if c == '}' {
                    // A closing repeat right after a bar line closes the bar before.
                    if let Some(last) = bars.last_mut() {
                        last.form.repeat_close = true;
                        last.form.times = times.take().or(last.form.times);
                    }
                }
                let made = finish(&mut bars, &mut cur, matches!(c, '|' | '[' | '{'));
                if made && matches!(c, '}' | ']' | 'Z') {
                    ending = None;
                }
                if matches!(c, '[' | '{') {
                    ending = None;
                }
                if c == '{' {
                    cur.form.repeat_open = true;
                }
                i += 1;
            }
            'T' => {
                let digits: String = chars[i + 1..].iter().take(2).collect();
                if digits.len() < 2 || !digits.chars().all(|d| d.is_ascii_digit()) {
                    return Err(LeadSheetError::symbol(
                        title,
                        here,
                        &format!("T{digits}"),
                        "a time signature is T and two digits (T44, T34, T54, T68, T12)",
                    ));
                }
                let (n, d) = time_signature(&digits);
                parse_meter(&format!("{n}/{d}"))
                    .map_err(|e| LeadSheetError::symbol(title, here, &format!("T{digits}"), e))?;
                match meter {
                    None => meter = Some((n, d)),
                    Some(m) if m == (n, d) => {}
                    Some((a, b)) => {
                        return Err(LeadSheetError::at_bar(
                            title,
                            here,
                            format!(
                                "the meter changes from {a}/{b} to {n}/{d}: jazz-synth plays one \
                                 meter per tune (write the tune in one meter)"
                            ),
                        ))
                    }
                }
                i += 3;
            }
            '*' => {
                // A section mark: a new section ends a trailing ending.
                if chars.get(i + 1).is_some_and(|m| m.is_ascii_alphabetic()) {
                    i += 2;
                } else {
                    i += 1;
                }
            }
            'N' => {
                let n = chars.get(i + 1).and_then(|d| d.to_digit(10));
                match n {
                    Some(n) if n >= 1 => {
                        ending = Some(vec![n]);
                        cur.written = true;
                        i += 2;
                    }
                    _ => {
                        return Err(LeadSheetError::symbol(
                            title,
                            here,
                            &chars[i..chars.len().min(i + 2)].iter().collect::<String>(),
                            "an ending is N and its number (N1, N2, N3)",
                        ))
                    }
                }
            }
            '<' => {
                let end = chars[i..].iter().position(|&c| c == '>').map(|e| i + e);
                let Some(end) = end else {
                    return Err(LeadSheetError::at_bar(
                        title,
                        here,
                        "a comment opened with '<' is never closed with '>'",
                    ));
                };
                let text: String = chars[i + 1..end].iter().collect();
                read_comment(&text, &mut cur.form, &mut times);
                i = end + 1;
            }
            '(' => {
                // Alternate chords, printed small above: the band plays the main ones.
                let end = chars[i..].iter().position(|&c| c == ')').map(|e| i + e);
                i = match end {
                    Some(e) => e + 1,
                    None => {
                        return Err(LeadSheetError::at_bar(
                            title,
                            here,
                            "alternate chords opened with '(' are never closed with ')'",
                        ))
                    }
                };
            }
            'S' => {
                cur.form.segno = true;
                i += 1;
            }
            'Q' => {
                cur.form.coda = true;
                cur.form.coda_before = !cur.cells.iter().any(|c| matches!(c, Cell::Chord(_)));
                i += 1;
            }
            'U' => {
                cur.form.end = true;
                i += 1;
            }
            'f' | 's' | 'l' | 'Y' | ',' | '\n' | '\r' | '\t' => i += 1,
            ' ' => {
                cur.cells.push(Cell::Space);
                i += 1;
            }
            'x' | 'r' => {
                cur.repeat = Some(if c == 'x' { 1 } else { 2 });
                cur.written = true;
                i += 1;
            }
            'n' => {
                cur.cells.push(Cell::Chord(ChordSymbol::NO_CHORD));
                cur.written = true;
                i += 1;
            }
            'p' => {
                cur.cells.push(Cell::Hold);
                cur.written = true;
                i += 1;
            }
            'W' | 'A'..='G' => {
                let (text, len) = chord_token(&chars[i..]);
                let symbol = if c == 'W' {
                    invisible_root(title, here, &text, &bars, &cur)?
                } else {
                    parse_symbol(&text)
                        .map_err(|(_, reason)| LeadSheetError::symbol(title, here, &text, reason))?
                };
                cur.cells.push(Cell::Chord(symbol));
                cur.written = true;
                i += len;
            }
            other => {
                return Err(LeadSheetError::symbol(
                    title,
                    here,
                    &other.to_string(),
                    "is not part of an iReal chart (chords, bar lines | [ ] { } Z, marks)",
                ))
            }
        }
    }
    if cur.written {
        cur.form.ending.clone_from(&ending);
        finish(&mut bars, &mut cur, false);
    }
    if let Some(last) = bars.last_mut() {
        // Marks after the last bar line (a D.C. written after the final bar) belong to it.
        let left = std::mem::take(&mut cur.form);
        last.form.jump = last.form.jump.or(left.jump);
        last.form.fine |= left.fine;
        last.form.end |= left.end;
        last.form.coda |= left.coda;
    }
    if bars.is_empty() {
        return Err(LeadSheetError::new(title, "its chart has no bars"));
    }

    let (numerator, denominator) = meter.unwrap_or((4, 4));
    let unit = 4 * TICKS_PER_BEAT / denominator;
    // Written bars with their chords; `x` and `r` copy the bars written before them.
    let mut written: Vec<(WrittenBar, Vec<(u32, ChordSymbol)>)> = Vec::new();
    for bar in bars {
        let n = written.len() + 1;
        match bar.repeat {
            Some(k) => {
                let k = usize::from(k);
                if written.len() < k {
                    return Err(LeadSheetError::at_bar(
                        title,
                        n,
                        format!(
                            "repeats the {} before it, but there {} not that many",
                            if k == 1 { "bar" } else { "two bars" },
                            if k == 1 { "is" } else { "are" }
                        ),
                    ));
                }
                let copies: Vec<Vec<(u32, ChordSymbol)>> = written[written.len() - k..]
                    .iter()
                    .map(|(_, c)| c.clone())
                    .collect();
                let mut first = bar.form;
                if k == 2 {
                    // The closing marks of an `r` belong to the second bar it stands for.
                    let second = WrittenBar {
                        repeat_close: std::mem::take(&mut first.repeat_close),
                        times: first.times.take(),
                        jump: first.jump.take(),
                        fine: std::mem::take(&mut first.fine),
                        end: std::mem::take(&mut first.end),
                        ending: first.ending.clone(),
                        ..Default::default()
                    };
                    written.push((first, copies[0].clone()));
                    written.push((second, copies[1].clone()));
                } else {
                    written.push((first, copies[0].clone()));
                }
            }
            None => {
                let chords = place_cells(&bar.cells, numerator, unit);
                written.push((bar.form, chords));
            }
        }
    }
    let forms: Vec<WrittenBar> = written.iter().map(|(f, _)| f.clone()).collect();
    let (order, form_notes) = form::expand(title, &forms, EndingRule::Capped)?;
    notes.extend(form_notes);
    let bars: Vec<PlayedBar> = order
        .iter()
        .map(|&i| PlayedBar {
            written: i + 1,
            chords: written[i].1.clone(),
        })
        .collect();
    if bars.iter().all(|b| b.chords.is_empty()) {
        return Err(LeadSheetError::new(title, "has no chord symbols"));
    }
    Ok(LeadSheet {
        title: title.to_string(),
        composer: composer
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from),
        meter: (numerator, denominator),
        tempo_bpm,
        bars,
        notes,
    })
}

/// Reads a comment's jumps, fine and repeat count into the bar's marks.
fn read_comment(text: &str, form: &mut WrittenBar, times: &mut Option<u32>) {
    // A leading "*nn" places the comment vertically.
    let text = text
        .strip_prefix('*')
        .map(|t| t.get(2..).unwrap_or(""))
        .unwrap_or(text);
    let lower = text.to_lowercase();
    if let Some(jump) = Jump::in_words(&lower) {
        form.jump = Some(jump);
    } else if lower.contains("fine") {
        form.fine = true;
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    for w in words {
        if let Some(n) = w.strip_suffix('x').and_then(|n| n.parse::<u32>().ok()) {
            if (1..=64).contains(&n) {
                *times = Some(n);
            }
        }
    }
}

/// The chord at the start of `chars`: root, quality (digits, `b # ^ - + h o`, `alt` `sus`
/// `add`, or a custom `*…*`), optional `/bass`. Returns its text and its length in chars.
fn chord_token(chars: &[char]) -> (String, usize) {
    let mut i = 1;
    let mut text = String::new();
    text.push(chars[0]);
    if chars[0] != 'W' && matches!(chars.get(1), Some('b') | Some('#')) {
        text.push(chars[1]);
        i = 2;
    }
    loop {
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        if matches!(rest.as_str(), "alt" | "sus" | "add") {
            text.push_str(&rest);
            i += 3;
            continue;
        }
        match chars.get(i) {
            Some(&c) if c.is_ascii_digit() || "b#^-+ho".contains(c) => {
                text.push(c);
                i += 1;
            }
            Some('*') => {
                // A custom quality between stars, read as written.
                let end = chars[i + 1..].iter().position(|&c| c == '*');
                match end {
                    Some(e) => {
                        text.extend(&chars[i + 1..i + 1 + e]);
                        i += e + 2;
                    }
                    None => break,
                }
            }
            _ => break,
        }
    }
    if chars.get(i) == Some(&'/') && chars.get(i + 1).is_some_and(|c| ('A'..='G').contains(c)) {
        text.push('/');
        text.push(chars[i + 1]);
        i += 2;
        if matches!(chars.get(i), Some('b') | Some('#')) {
            text.push(chars[i]);
            i += 1;
        }
    }
    (text, i)
}

/// `W/E`: the chord before, over E (`W` alone holds it).
fn invisible_root(
    title: &str,
    bar: usize,
    text: &str,
    bars: &[ChartBar],
    cur: &ChartBar,
) -> Result<ChordSymbol, LeadSheetError> {
    let before = cur
        .cells
        .iter()
        .rev()
        .chain(bars.iter().rev().flat_map(|b| b.cells.iter().rev()))
        .find_map(|c| match c {
            Cell::Chord(s) if !s.is_no_chord() => Some(*s),
            _ => None,
        })
        .ok_or_else(|| {
            LeadSheetError::symbol(
                title,
                bar,
                text,
                "W repeats the chord before, and there is none",
            )
        })?;
    match text.strip_prefix("W/") {
        None if text == "W" => Ok(before),
        Some(bass) => {
            let over = parse_symbol(&format!("C/{bass}"))
                .ok()
                .and_then(|s| s.bass)
                .or(if bass == "C" { Some(0) } else { None })
                .ok_or_else(|| {
                    LeadSheetError::symbol(title, bar, text, "after W/ write the bass note")
                })?;
            Ok(ChordSymbol {
                bass: (over != before.root).then_some(over),
                ..before
            })
        }
        None => Err(LeadSheetError::symbol(
            title,
            bar,
            text,
            "W is written W/ and a bass note",
        )),
    }
}

/// The chords of a bar's cells at their offsets (ticks): cell `i` of `n` on beat `i` when the
/// bar has four cells and at most four beats, else on beat `i * beats / n`; a chord meeting a
/// taken beat moves to the next, and with none left replaces the bar's last chord.
fn place_cells(cells: &[Cell], beats: u32, unit: u32) -> Vec<(u32, ChordSymbol)> {
    let n = cells.len() as u32;
    let mut placed: Vec<(u32, ChordSymbol)> = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let Cell::Chord(symbol) = cell else { continue };
        let i = i as u32;
        let mut beat = if n == 4 && beats <= 4 {
            i.min(beats - 1)
        } else {
            i * beats / n
        };
        if let Some(&(last, _)) = placed.last() {
            let last_beat = last / unit;
            if beat <= last_beat {
                beat = last_beat + 1;
            }
        }
        if beat >= beats {
            if let Some(last) = placed.last_mut() {
                last.1 = *symbol;
            }
            continue;
        }
        placed.push((beat * unit, *symbol));
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_shuffle_is_its_own_inverse() {
        let text: String = (0..173)
            .map(|i| char::from(b'!' + (i % 90) as u8))
            .collect();
        assert_ne!(scramble_blocks(&text), text);
        assert_eq!(scramble_blocks(&scramble_blocks(&text)), text);
        // A last full block with fewer than two characters after it stays as it is.
        let short: String = (0..51).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        assert_eq!(scramble_blocks(&short), short);
    }

    #[test]
    fn cells_fall_on_beats() {
        let c = Cell::Chord(parse_symbol("C").unwrap());
        let f = Cell::Chord(parse_symbol("F").unwrap());
        let at = |cells: &[Cell], beats| -> Vec<u32> {
            place_cells(cells, beats, 12)
                .iter()
                .map(|(t, _)| t / 12)
                .collect()
        };
        assert_eq!(
            at(&[c.clone(), Cell::Space, f.clone(), Cell::Space], 4),
            [0, 2]
        );
        assert_eq!(at(&[c.clone(), f.clone()], 4), [0, 2]);
        assert_eq!(
            at(&[c.clone(), Cell::Space, Cell::Space, f.clone()], 3),
            [0, 2]
        );
        assert_eq!(
            at(&[c.clone(), f.clone(), c.clone(), f.clone()], 3),
            [0, 1, 2]
        );
        assert_eq!(
            at(&[c.clone(), Cell::Space, f.clone(), Cell::Space], 5),
            [0, 2]
        );
    }

    #[test]
    fn html_entities_are_written_out() {
        assert_eq!(html_unescape("a&amp;b&#39;c&#x41;&bogus"), "a&b'cA&bogus");
    }
}
