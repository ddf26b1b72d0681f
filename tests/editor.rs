//! The plugin's editor in a real window: the plugin binary loaded by a CLAP host (clack-host),
//! its GUI extension embedding the editor in an X11 window (Xvfb when there is no screen,
//! Mesa's software OpenGL drawing egui), a screenshot checked for the panels' content; and the
//! GUI calls in any order never crash.

mod common;

use std::time::{Duration, Instant};

use common::clap_harness::{play, settle, state_json, GuiCall, Host};
use common::display::{display, gui_turn, write_ppm, HostWindow};
use serde_json::json;

const SR: f64 = 48_000.0;
const TEMPO: f64 = 120.0;

/// Pixels of exactly this colour (the piano roll's cells are solid inside).
fn count(rgb: &[u8], colour: [u8; 3]) -> usize {
    rgb.chunks_exact(3).filter(|p| *p == colour).count()
}

/// Share of pixels in the rectangle that differ from the panel background (text, widgets).
fn ink(rgb: &[u8], width: usize, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> f64 {
    let mut inked = 0;
    let mut all = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = &rgb[(y * width + x) * 3..][..3];
            all += 1;
            if p.iter().any(|&c| c > 90) {
                inked += 1;
            }
        }
    }
    inked as f64 / all.max(1) as f64
}

#[test]
fn the_editor_opens_in_a_window_and_draws_its_panels() {
    let _turn = gui_turn("the editor screenshot test", Duration::from_secs(180));
    let state = state_json(
        &[
            ("seed", json!({"i32": 3})),
            ("rhythm", json!({"string": "phrase"})),
        ],
        None,
    );
    let mut host = Host::with_state(SR, Some(&state));
    settle(&mut host, TEMPO);
    let window = HostWindow::new(1000, 800);

    assert!(
        host.gui(GuiCall::Create).0,
        "the plugin makes an X11 editor"
    );
    let (ok, size) = host.gui(GuiCall::GetSize);
    assert!(ok);
    let (w, h) = size.unwrap();
    assert_eq!(
        (w, h),
        jazz_synth::plugin::params::EDITOR_SIZE,
        "the default size"
    );
    assert!(host.gui(GuiCall::CanResize).0, "the window can be resized");
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    assert!(host.gui(GuiCall::Show).0);

    // Music plays while the window is open, so the live panel has values to draw.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        play(&mut host, TEMPO, 1.0, |_| 512);
        std::thread::sleep(Duration::from_millis(15));
    }
    std::thread::sleep(Duration::from_millis(300));

    let (w16, h16) = (w as u16, h as u16);
    let shot = window.screenshot(w16, h16);
    let path = std::env::temp_dir().join(format!("jazz-synth-editor-{}.ppm", std::process::id()));
    write_ppm(&path, w16, h16, &shot);
    common::summary::note(&format!(
        "editor: {w}x{h} window drawn under {} (screenshot {})",
        display(),
        path.display()
    ));

    let distinct: std::collections::HashSet<&[u8]> = shot.chunks_exact(3).collect();
    assert!(
        distinct.len() > 30,
        "a blank window ({} colours)",
        distinct.len()
    );
    let width = w as usize;
    // The left column (model and changes panels) and the right one (live panel) hold text.
    let left = ink(&shot, width, (10, 60, width / 2 - 10, h as usize / 2));
    let right = ink(
        &shot,
        width,
        (width / 2 + 10, 60, width - 10, h as usize / 2),
    );
    assert!(left > 0.02, "the model panel is empty ({left:.3})");
    assert!(right > 0.02, "the live panel is empty ({right:.3})");
    // Every parameter row is whole: nothing is drawn into the window's bottom edge.
    let edge = ink(&shot, width, (0, h as usize - 10, width, h as usize));
    assert!(
        edge == 0.0,
        "the bottom row is cut off ({edge:.3} of the edge inked)"
    );
    // The piano roll draws the notes played in their roles' colours.
    let notes = count(&shot, [240, 190, 60]) + count(&shot, [90, 170, 240]);
    assert!(notes > 100, "no notes in the piano roll ({notes} pixels)");

    host.gui(GuiCall::Hide);
    host.gui(GuiCall::Destroy);
}

/// Hosts call the GUI extension in every order, with values no screen has (a scale of 0, -1
/// or NaN, windows of 0 or 4 billion pixels); none of them crashes the plugin, nonsense is
/// refused, and after any sequence the editor still opens.
#[test]
fn gui_calls_in_any_order_never_crash() {
    let _turn = gui_turn("the GUI call-order test", Duration::from_secs(300));
    let mut host = Host::new(SR);
    let window = HostWindow::new(800, 600);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut calls = 0;
    let mut refused = 0;
    for _ in 0..25 {
        // What the host believes: an editor exists, and it has its parent window.
        let (mut created, mut parented) = (false, false);
        for _ in 0..8 {
            let call = match next(9) {
                0 | 1 => GuiCall::Create,
                2 => GuiCall::SetParent(window.window),
                3 => GuiCall::SetScale(
                    [0.5, 1.0, 2.0, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e9][next(8) as usize],
                ),
                4 => match next(4) {
                    0 => GuiCall::SetSize(0, next(3000) as u32),
                    1 => GuiCall::SetSize(u32::MAX, u32::MAX),
                    _ => GuiCall::SetSize(next(3000) as u32, next(3000) as u32),
                },
                5 => GuiCall::GetSize,
                6 => GuiCall::Show,
                7 => GuiCall::Hide,
                _ => GuiCall::Destroy,
            };
            if matches!(call, GuiCall::Destroy) && created && !parented {
                // baseview 0.4's X11 thread can wait forever in the drop of a window that never
                // got its parent; real hosts always give the parent right after create.
                host.gui(GuiCall::SetParent(window.window));
            }
            let (ok, size) = host.gui(call);
            match call {
                GuiCall::Create => {
                    assert_eq!(ok, !created, "create succeeds once, then is refused");
                    created = true;
                }
                GuiCall::SetParent(_) => {
                    assert_eq!(ok, created, "set_parent works on a created editor only");
                    parented |= ok;
                }
                GuiCall::Destroy => (created, parented) = (false, false),
                GuiCall::SetScale(s) if !(0.25..=8.0).contains(&s) => {
                    assert!(!ok, "a scale of {s} is refused");
                    refused += 1;
                }
                GuiCall::SetSize(w, h) if w == 0 || h == 0 || w > 16_384 => {
                    assert!(!ok, "a {w}x{h} window is refused");
                    refused += 1;
                }
                GuiCall::GetSize if ok => {
                    let (w, h) = size.unwrap();
                    assert!(
                        (1..=16_384).contains(&w) && (1..=16_384).contains(&h),
                        "{w}x{h}"
                    );
                }
                _ => {}
            }
            calls += 1;
            play(&mut host, TEMPO, 0.05, |_| 256);
        }
        if created && !parented {
            host.gui(GuiCall::SetParent(window.window));
        }
        host.gui(GuiCall::Destroy);
    }
    assert!(host.gui(GuiCall::Create).0);
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    assert!(host.gui(GuiCall::Show).0);
    play(&mut host, TEMPO, 0.5, |_| 256);
    host.gui(GuiCall::Destroy);
    common::summary::note(&format!(
        "editor: {calls} random GUI calls ({refused} nonsense ones refused), no crash"
    ));
}

/// A project saved with a bigger window reopens at that size: the host makes the editor when it
/// loads the plugin, before it gives it the project.
#[test]
fn a_restored_project_opens_the_editor_at_its_saved_size() {
    let _turn = gui_turn("the restored-size test", Duration::from_secs(120));
    let mut host = Host::new(SR);
    assert!(host.gui(GuiCall::Create).0);
    assert_eq!(
        host.gui(GuiCall::GetSize).1,
        Some(jazz_synth::plugin::params::EDITOR_SIZE)
    );
    let window = HostWindow::new(1100, 800);
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    host.gui(GuiCall::Destroy);

    let mut saved = host.save_state();
    let text = common::clap_harness::state_text(&saved);
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["fields"]["editor-size"] = json!("[1000,700]");
    let bytes = serde_json::to_vec(&json).unwrap();
    saved = common::clap_harness::state_blob(&bytes);
    host.load_state(&saved);
    assert!(host.gui(GuiCall::Create).0);
    assert_eq!(host.gui(GuiCall::GetSize).1, Some((1000, 700)));
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    assert!(host.gui(GuiCall::Show).0);
    play(&mut host, TEMPO, 0.3, |_| 256);
    host.gui(GuiCall::Destroy);
    let again = common::clap_harness::state_text(&host.save_state());
    assert!(
        again.contains("1000,700"),
        "the size is saved again: {again}"
    );
}
