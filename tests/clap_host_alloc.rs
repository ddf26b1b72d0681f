//! The audio thread never allocates: the plugin binary is built with nice-plug's
//! `assert_process_allocs` (this target requires that feature), which aborts the process on any
//! allocation or deallocation inside `process()` in debug builds. A long run with a restless
//! host — random block sizes, starts, stops, jumps, loops, tempo changes, chords and a melody on
//! the input, trading and listening switched on and off, automation, bypass, weights swaps and
//! bad weights files — must get through alive.
//!
//! Run: `cargo test --features assert_process_allocs --test clap_host_alloc`

mod common;

use std::time::Duration;

use common::clap_harness::*;
use serde_json::json;

/// A small deterministic PRNG (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

#[test]
fn process_never_allocates_under_a_restless_host() {
    let alternative = std::env::temp_dir().join(format!(
        "jazz-synth-{}-alloc.safetensors",
        std::process::id()
    ));
    write_alternative_weights(&alternative);
    let bad = std::env::temp_dir().join(format!("jazz-synth-{}-alloc-bad", std::process::id()));
    std::fs::write(&bad, b"not weights").unwrap();
    let weights = [
        Some(alternative.to_str().unwrap().to_string()),
        Some(bad.to_str().unwrap().to_string()),
        Some(String::new()),
        None,
        // A model with styles: the style knob and its strength (two passes a value) play.
        Some("wjd-styles".to_string()),
    ];

    let mut host = Host::new(48_000.0);
    // Start with the styled model, so the guided steps run from the first blocks.
    host.load_state(&state_json(&[], Some("wjd-styles")));
    std::thread::sleep(Duration::from_millis(60));
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let mut tempo = 120.0;
    let mut beat = 0.0f64;
    let mut playing = true;
    let mut held: Vec<u8> = Vec::new();
    let mut melody: Option<u8> = None;
    let mut total_notes = 0;

    for block in 0..6000 {
        let frames = match rng.below(4) {
            0 => 1 + rng.below(16) as usize,
            1 => 64,
            2 => 512,
            _ => 1 + rng.below(MAX_BLOCK as u64) as usize,
        };

        // The host's transport moves on, or jumps, loops, stops and changes tempo.
        if rng.chance(200) {
            playing = !playing;
        }
        if rng.chance(150) {
            beat = rng.below(64) as f64 + [0.0, 0.25, 0.5, 0.999][rng.below(4) as usize];
        }
        if rng.chance(300) {
            tempo = [60.0, 90.0, 120.0, 137.5, 200.0, 300.0][rng.below(6) as usize];
        }
        let t = transport(tempo, beat, playing);
        let host_transport = if rng.chance(400) { None } else { Some(&t) };

        // Chords pressed and released on the plugin's input.
        let mut input = Vec::new();
        if rng.chance(40) {
            for &key in &held {
                input.push((0, key, false));
            }
            held.clear();
            let root = 48 + rng.below(24) as u8;
            for step in [0, 4, 7, 10] {
                held.push(root + step);
                input.push(((rng.below(frames as u64)) as u32, root + step, true));
            }
        }

        // A melody above them: the call, when trading or listening.
        if rng.chance(6) {
            if let Some(key) = melody.take() {
                input.push((0, key, false));
            }
            let key = 60 + rng.below(24) as u8;
            melody = Some(key);
            input.push((rng.below(frames as u64) as u32, key, true));
        }

        // Automation.
        let mut params: Vec<(&str, f64)> = Vec::new();
        if rng.chance(100) {
            // Bypassed a quarter of the time: the rest of the run still has to make music.
            params.push(("bypass", (rng.below(4) == 0) as u8 as f64));
        }
        if rng.chance(80) {
            params.push(("preview-on", rng.below(2) as f64));
        }
        if rng.chance(60) {
            params.push(("seed", rng.below(1000) as f64));
        }
        if rng.chance(60) {
            params.push(("temperature", rng.below(100) as f64 / 100.0));
        }
        if rng.chance(60) {
            params.push(("chord-source", rng.below(2) as f64));
        }
        if rng.chance(60) {
            params.push(("rhythm", rng.below(2) as f64));
        }
        if rng.chance(60) {
            // Past the model's styles too: those play as any.
            params.push(("style", rng.below(10) as f64));
        }
        if rng.chance(60) {
            // 0 (any) to 4 in halves: 1 plays unguided, the others run the network twice.
            params.push(("style-strength", rng.below(9) as f64 * 0.5));
        }
        if rng.chance(60) {
            params.push(("progression", rng.below(5) as f64));
        }
        if rng.chance(100) {
            params.push(("free-run", rng.below(2) as f64));
        }
        // Trading and listening: the call is heard on the audio thread.
        if rng.chance(50) {
            params.push(("mode", rng.below(2) as f64));
        }
        if rng.chance(80) {
            params.push(("trade-bars", rng.below(3) as f64));
        }
        if rng.chance(80) {
            params.push(("listen", rng.below(2) as f64));
        }
        if rng.chance(100) {
            params.push(("split-point", [0.0, 60.0][rng.below(2) as usize]));
        }

        input.sort_by_key(|e| e.0);
        let notes = host.block_with_params(frames, host_transport, &input, &params);
        total_notes += notes.len();
        if playing {
            beat += frames as f64 / samples_per_beat(48_000.0, tempo);
        }

        // A DAW switching presets: weights files come and go, the loader thread swaps them in.
        if block % 500 == 250 {
            let choice = weights[rng.below(weights.len() as u64) as usize].clone();
            let state = state_json(
                &[("seed", json!({"i32": rng.below(100) as i32}))],
                choice.as_deref(),
            );
            host.load_state(&state);
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    assert!(
        total_notes > 100,
        "the run played music: {total_notes} events"
    );
    let _ = std::fs::remove_file(alternative);
    let _ = std::fs::remove_file(bad);
}

/// The editor open (created, embedded in a window, shown) while blocks run, the live panel
/// following them and typed changes arriving: the audio thread still never allocates.
#[test]
fn process_never_allocates_with_the_editor_open() {
    let _turn =
        common::display::gui_turn("the alloc check with the editor", Duration::from_secs(300));
    let window = common::display::HostWindow::new(900, 720);
    let mut host = Host::new(48_000.0);
    assert!(host.gui(GuiCall::Create).0, "the editor is created");
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    assert!(host.gui(GuiCall::Show).0);
    let mut rng = Rng(0xED17_0A11_0C00_0001);
    let mut beat = 0.0f64;
    let mut total_notes = 0;
    let start = std::time::Instant::now();
    for block in 0..1500 {
        let frames = match rng.below(4) {
            0 => 1,
            1 => 64,
            2 => 512,
            _ => 1 + rng.below(MAX_BLOCK as u64) as usize,
        };
        let t = transport(120.0, beat, true);
        let mut params: Vec<(&str, f64)> = Vec::new();
        if rng.chance(50) {
            params.push(("temperature", rng.below(100) as f64 / 100.0));
        }
        if rng.chance(200) {
            params.push(("progression", rng.below(5) as f64));
        }
        total_notes += host.block_with_params(frames, Some(&t), &[], &params).len();
        beat += frames as f64 / samples_per_beat(48_000.0, 120.0);
        // The editor draws between blocks, as it would beside a real audio callback.
        if block % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if block == 700 {
            // A session restored with typed changes while the window is open.
            let state = state_json(&[], None);
            let text = state_text(&state);
            let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
            json["fields"]["custom-changes"] = json!("\"Dm7 G7 | Cmaj7 | F#m7b5 B7 | Em7\"");
            host.load_state(&state_blob(&serde_json::to_vec(&json).unwrap()));
        }
    }
    assert!(host.gui(GuiCall::Hide).0);
    host.gui(GuiCall::Destroy);
    assert!(
        total_notes > 50,
        "the run played music: {total_notes} events"
    );
    common::summary::note(&format!(
        "allocation check with the editor open: 1500 blocks in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
}
