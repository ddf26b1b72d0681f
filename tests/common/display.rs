//! An X display for the editor tests: the one in `DISPLAY` if it answers, else an `Xvfb`
//! server started for this test binary (CI machines have no screen; `.ci/install-deps` installs
//! Xvfb and Mesa's software OpenGL, which egui draws with). The server ends with the test binary
//! (`-terminate` ends it when its last client, this process, goes).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::rust_connection::RustConnection;

/// The display every editor test of this binary uses, as `:N`. Sets `DISPLAY` for the plugin.
pub fn display() -> &'static str {
    static DISPLAY: OnceLock<String> = OnceLock::new();
    DISPLAY.get_or_init(|| {
        if let Ok(name) = std::env::var("DISPLAY") {
            if RustConnection::connect(Some(&name)).is_ok() {
                return name;
            }
        }
        let name = format!(":{}", 40 + std::process::id() % 400);
        let mut server = Command::new("Xvfb")
            .args([
                &name,
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
                "-terminate",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start Xvfb ({e}); `.ci/install-deps` installs it (package xvfb)")
            });
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok((conn, _)) = RustConnection::connect(Some(&name)) {
                // Held for the whole test binary, so -terminate keeps the server up until the
                // process ends.
                std::mem::forget(conn);
                break;
            }
            if let Ok(Some(status)) = server.try_wait() {
                panic!("Xvfb {name} exited at start ({status})");
            }
            assert!(Instant::now() < until, "Xvfb {name} did not answer in 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::mem::forget(server);
        // SAFETY: set once, before any plugin opens a window (OnceLock serializes callers).
        unsafe { std::env::set_var("DISPLAY", &name) };
        name
    })
}

/// A top-level X11 window of `w`×`h` pixels, mapped, for a plugin editor to embed in.
pub struct HostWindow {
    pub conn: RustConnection,
    pub window: u32,
    pub root: u32,
}

impl HostWindow {
    pub fn new(w: u16, h: u16) -> HostWindow {
        use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
        let (conn, screen) = RustConnection::connect(Some(display())).expect("X connection");
        let screen = &conn.setup().roots[screen];
        let root = screen.root;
        let window = conn.generate_id().unwrap();
        conn.create_window(
            screen.root_depth,
            window,
            root,
            0,
            0,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            screen.root_visual,
            &CreateWindowAux::new().background_pixel(screen.black_pixel),
        )
        .unwrap();
        conn.map_window(window).unwrap();
        conn.flush().unwrap();
        HostWindow { conn, window, root }
    }

    /// The pixels of the window's area as RGB rows (a screenshot of what the screen shows).
    pub fn screenshot(&self, w: u16, h: u16) -> Vec<u8> {
        use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.window, 0, 0, w, h, !0)
            .unwrap()
            .reply()
            .expect("the window's pixels");
        // 24-bit depth comes as 32 bits per pixel, BGRX.
        image
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect()
    }
}

impl Drop for HostWindow {
    fn drop(&mut self) {
        use x11rb::protocol::xproto::ConnectionExt;
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}

/// Writes RGB pixels as a binary PPM image (any image viewer opens it; `convert` makes a PNG).
pub fn write_ppm(path: &std::path::Path, w: u16, h: u16, rgb: &[u8]) {
    let mut bytes = format!("P6\n{w} {h}\n255\n").into_bytes();
    bytes.extend_from_slice(rgb);
    std::fs::write(path, bytes).expect("write the screenshot");
}

/// One editor test's turn at the display: editor tests of a binary run one at a time (the
/// windowing library keeps one X11 thread for the whole process, so one test's broken window
/// would take the other's with it), and a test that has not finished within `limit` ends the
/// test binary with a message instead of hanging CI.
pub struct GuiTurn {
    _turn: std::sync::MutexGuard<'static, ()>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn gui_turn(name: &'static str, limit: Duration) -> GuiTurn {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    display();
    let done = Arc::new(AtomicBool::new(false));
    let watching = done.clone();
    std::thread::spawn(move || {
        let until = Instant::now() + limit;
        while !watching.load(Ordering::Acquire) {
            if Instant::now() > until {
                eprintln!("{name}: still running after {limit:?}, a GUI call hangs; ending the test binary");
                std::process::exit(3);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    GuiTurn { _turn: turn, done }
}

impl Drop for GuiTurn {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
    }
}
