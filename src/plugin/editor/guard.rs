//! What stands between the host's GUI calls and the egui editor.
//!
//! - Scale factors and sizes no screen can have (a scale of 0, a negative or NaN one, a window
//!   of 0 or 4 billion pixels) are refused here: the call answers "no" to the host. Passed on,
//!   some of them panic inside the windowing library, on its window thread, which takes every
//!   open window of the process with it (and, across the plugin's C boundary, the host).
//! - A project restored after the editor object was made (hosts make it when they load the
//!   plugin, before they give it the project) carries its own window size: the egui editor is
//!   made again for it the next time a window opens.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, Modifiers, ParentWindowHandle, ResizeHint, SpawnedEditor,
    VirtualKeyCode,
};
use nice_plug::plugin::TrackInfo;
use nice_plug_egui::{EguiEditor, EguiEditorHandle, EguiEditorState};

use super::JazzEditor;
use crate::plugin::params::JazzSynthParams;
use crate::plugin::view::{LiveView, Panels};

/// The largest window edge taken from a host, in physical pixels.
pub const MAX_EDGE: u32 = 16_384;
/// The scale factors taken from a host.
pub const SCALE_RANGE: (f64, f64) = (0.25, 8.0);

/// Whether a host's scale factor is one a screen can have.
pub fn scale_is_sane(scale: f64) -> bool {
    scale.is_finite() && (SCALE_RANGE.0..=SCALE_RANGE.1).contains(&scale)
}

/// Whether a window size from a host is one a screen can show.
pub fn size_is_sane(width: u32, height: u32) -> bool {
    (1..=MAX_EDGE).contains(&width) && (1..=MAX_EDGE).contains(&height)
}

/// The egui editor and the session's editor state it was made with.
struct Built {
    editor: EguiEditor<JazzEditor>,
    state: Arc<EguiEditorState>,
}

/// The plugin's editor: the egui editor behind the guard.
pub struct GuardedEditor {
    params: Arc<JazzSynthParams>,
    live: Arc<LiveView>,
    panels: Arc<Panels>,
    built: Mutex<Built>,
}

impl GuardedEditor {
    pub(super) fn new(
        params: Arc<JazzSynthParams>,
        live: Arc<LiveView>,
        panels: Arc<Panels>,
    ) -> Option<GuardedEditor> {
        let state = params.editor_size.state();
        let editor = super::build(params.clone(), live.clone(), panels.clone(), state.clone())?;
        Some(GuardedEditor {
            params,
            live,
            panels,
            built: Mutex::new(Built { editor, state }),
        })
    }

    /// The egui editor for the session's editor state now (made again if a project replaced
    /// that state since). GUI thread only; never held across a call into the host.
    fn current(&self) -> MutexGuard<'_, Built> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.params.editor_size.state();
        if !Arc::ptr_eq(&built.state, &state) {
            if let Some(editor) = super::build(
                self.params.clone(),
                self.live.clone(),
                self.panels.clone(),
                state.clone(),
            ) {
                *built = Built { editor, state };
            }
        }
        built
    }
}

/// An open window's handle behind the guard.
pub struct GuardedHandle(EguiEditorHandle);

/// Why a GUI call failed.
#[derive(Debug)]
pub enum GuardError {
    /// The host asked for something no window can be.
    Refused(String),
    /// The window system failed.
    Window(<EguiEditorHandle as EditorHandle>::Error),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Refused(what) => write!(f, "refused {what} from the host"),
            GuardError::Window(e) => write!(f, "{e}"),
        }
    }
}

impl Error for GuardError {}

impl Editor for GuardedEditor {
    type Handle = GuardedHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn Error>> {
        let spawned = self.current().editor.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor.filter(|s| scale_is_sane(*s)),
            gui_context,
            host,
        )?;
        Ok(SpawnedEditor {
            handle: GuardedHandle(spawned.handle),
            window: spawned.window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        self.current().editor.size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.current().editor.resize_hint()
    }

    fn track_info_updated(&self, info: TrackInfo) {
        self.current().editor.track_info_updated(info)
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: our caller's contract is the inner editor's.
        unsafe { self.current().editor.assume_standalone_in_process() }
    }
}

impl EditorHandle for GuardedHandle {
    type Window = <EguiEditorHandle as EditorHandle>::Window;
    type Error = GuardError;

    fn run_until_closed(window: Self::Window) -> Result<(), Self::Error> {
        EguiEditorHandle::run_until_closed(window).map_err(GuardError::Window)
    }

    fn set_parent(
        &self,
        parent: ParentWindowHandle,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        self.0
            .set_parent(parent, window)
            .map_err(GuardError::Window)
    }

    fn show(&self, window: &Self::Window) -> Result<(), Self::Error> {
        self.0.show(window).map_err(GuardError::Window)
    }

    fn hide(&self, window: &Self::Window) -> Result<(), Self::Error> {
        self.0.hide(window).map_err(GuardError::Window)
    }

    fn set_size(
        &self,
        new_size: NativeSize<u32>,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        if !size_is_sane(new_size.width, new_size.height) {
            return Err(GuardError::Refused(format!(
                "a window of {}x{} pixels",
                new_size.width, new_size.height
            )));
        }
        self.0
            .set_size(new_size, window)
            .map_err(GuardError::Window)
    }

    fn host_main_thread_callback(&self, window: &Self::Window) {
        self.0.host_main_thread_callback(window)
    }

    fn adjust_size(
        &self,
        new_size: NativeSize<u32>,
        window: &Self::Window,
    ) -> Option<NativeSize<u32>> {
        if !size_is_sane(new_size.width, new_size.height) {
            return None;
        }
        self.0.adjust_size(new_size, window)
    }

    fn set_fallback_scale_factor(
        &self,
        scale_factor: f64,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        if !scale_is_sane(scale_factor) {
            return Err(GuardError::Refused(format!(
                "a scale factor of {scale_factor}"
            )));
        }
        self.0
            .set_fallback_scale_factor(scale_factor, window)
            .map_err(GuardError::Window)
    }

    fn on_virtual_key_from_host(
        &self,
        key_code: VirtualKeyCode,
        is_down: bool,
        modifiers: Modifiers,
    ) -> bool {
        self.0
            .on_virtual_key_from_host(key_code, is_down, modifiers)
    }

    fn state_changed(&self) {
        self.0.state_changed()
    }

    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.0.param_value_changed(id, normalized_value)
    }

    fn param_modulation_changed(&self, id: &str, modulation_offset: f32) {
        self.0.param_modulation_changed(id, modulation_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_sizes_no_screen_has_are_refused() {
        for s in [0.0, -1.0, 0.1, f64::NAN, f64::INFINITY, 1e9] {
            assert!(!scale_is_sane(s), "{s}");
        }
        for s in [0.5, 1.0, 1.25, 2.0, 3.0] {
            assert!(scale_is_sane(s), "{s}");
        }
        assert!(!size_is_sane(0, 600) && !size_is_sane(900, 0));
        assert!(!size_is_sane(u32::MAX, 600) && !size_is_sane(900, MAX_EDGE + 1));
        assert!(size_is_sane(900, 640) && size_is_sane(1, 1));
    }
}
