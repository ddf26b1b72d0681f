//! The plugin's editor in a real window: the plugin binary loaded by a CLAP host (clack-host),
//! its GUI extension embedding the editor in an X11 window (Xvfb when there is no screen,
//! Mesa's software OpenGL drawing egui), a screenshot checked for the panels' content; and the
//! GUI calls in any order never crash.

mod common;

use std::time::{Duration, Instant};

use common::clap_harness::{play, settle, state_json, GuiCall, Host};
use common::display::{display, write_ppm, HostWindow};
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
    display();
    let state = state_json(
        &[
            ("seed", json!({"i32": 3})),
            ("rhythm", json!({"string": "phrase"})),
        ],
        None,
    );
    let mut host = Host::with_state(SR, Some(&state));
    settle(&mut host, TEMPO);
    let window = HostWindow::new(1000, 720);

    assert!(
        host.gui(GuiCall::Create).0,
        "the plugin makes an X11 editor"
    );
    let (ok, size) = host.gui(GuiCall::GetSize);
    assert!(ok);
    let (w, h) = size.unwrap();
    assert_eq!((w, h), (900, 640), "the default size");
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
    // The piano roll draws the notes played in their roles' colours.
    let notes = count(&shot, [240, 190, 60]) + count(&shot, [90, 170, 240]);
    assert!(notes > 100, "no notes in the piano roll ({notes} pixels)");

    host.gui(GuiCall::Hide);
    host.gui(GuiCall::Destroy);
}

/// Hosts call the GUI extension in every order; none of them crashes the plugin, and after any
/// sequence the editor still opens.
#[test]
fn gui_calls_in_any_order_never_crash() {
    display();
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
    for _ in 0..25 {
        for _ in 0..8 {
            let call = match next(9) {
                0 | 1 => GuiCall::Create,
                2 => GuiCall::SetParent(window.window),
                3 => GuiCall::SetScale([0.5, 1.0, 2.0, 0.0, -1.0][next(5) as usize]),
                4 => GuiCall::SetSize(next(3000) as u32, next(3000) as u32),
                5 => GuiCall::GetSize,
                6 => GuiCall::Show,
                7 => GuiCall::Hide,
                _ => GuiCall::Destroy,
            };
            host.gui(call);
            calls += 1;
            play(&mut host, TEMPO, 0.05, |_| 256);
        }
        host.gui(GuiCall::Destroy);
    }
    assert!(host.gui(GuiCall::Create).0);
    assert!(host.gui(GuiCall::SetParent(window.window)).0);
    assert!(host.gui(GuiCall::Show).0);
    host.gui(GuiCall::Destroy);
    common::summary::note(&format!("editor: {calls} random GUI calls, no crash"));
}
