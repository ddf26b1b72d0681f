//! `load_playlist_300`: an iReal Pro playlist of 300 songs (scrambled `irealb://`, URL-encoded,
//! as the app exports it; 32-bar AABA charts with a repeat, two endings, two chords in some
//! bars) read and every song turned into chord text. Target: under 50 ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use jazz_synth::music::leadsheet::ireal;

const ROOTS: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];
const QUALITIES: [&str; 10] = [
    "^7", "-7", "7", "h7", "o7", "7b9", "-6", "69", "7alt", "7sus",
];

/// A seeded chord symbol.
fn chord(state: &mut u64) -> String {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let r = (*state >> 33) as usize;
    format!("{}{}", ROOTS[r % 12], QUALITIES[(r / 12) % QUALITIES.len()])
}

fn bar(state: &mut u64, two: bool) -> String {
    if two {
        format!("{} {} |", chord(state), chord(state))
    } else {
        format!("{}   |", chord(state))
    }
}

/// A 32-bar AABA chart: `{A (6 bars) N1 (2) } N2 (2)`, B (8), A (8).
fn chart(seed: u64) -> String {
    let mut s = seed.wrapping_add(1);
    let mut c = String::from("T44*A{");
    for i in 0..6 {
        c.push_str(&bar(&mut s, i % 3 == 2));
    }
    c.push_str("N1");
    c.push_str(&bar(&mut s, true));
    c.push_str(&bar(&mut s, false).replace('|', "}"));
    c.push_str("|N2");
    c.push_str(&bar(&mut s, true));
    c.push_str(&bar(&mut s, false).replace('|', "]"));
    c.push_str("*B[");
    for i in 0..8 {
        c.push_str(&bar(&mut s, i % 2 == 1));
    }
    c.push_str("*A[");
    for i in 0..7 {
        c.push_str(&bar(&mut s, i % 4 == 3));
    }
    c.push_str(&bar(&mut s, false).replace('|', "Z"));
    c
}

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

fn playlist(songs: u64) -> String {
    let body: Vec<String> = (0..songs)
        .map(|i| {
            let short = chart(i)
                .replace("| x", "Kcl")
                .replace(" |", "LZ")
                .replace("   ", "XyQ");
            format!(
                "Song {i}=Writer {i}==Medium Swing=C=={}{}=Jazz-Medium Swing={}=3",
                ireal::MUSIC_PREFIX,
                ireal::scramble_blocks(&short),
                100 + i % 150
            )
        })
        .collect();
    format!(
        "irealb://{}",
        url_encode(&format!("{}===Bench Book", body.join("===")))
    )
}

fn bench(c: &mut Criterion) {
    let link = playlist(300);
    let book = ireal::read_playlists(&link).expect("the bench playlist reads");
    assert_eq!(book.songs.len(), 300, "{:?}", book.refused.first());
    assert_eq!(book.songs[0].bars.len(), 32);
    c.bench_function("load_playlist_300", |b| {
        b.iter(|| {
            let book = ireal::read_playlists(black_box(&link)).unwrap();
            let texts: usize = book
                .songs
                .iter()
                .map(|s| s.chord_text().map(|t| t.len()).unwrap_or(0))
                .sum();
            black_box(texts)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
