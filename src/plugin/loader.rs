//! The weights loader thread: loads the weights the session (or `JAZZ_SYNTH_WEIGHTS`) names,
//! off the audio thread, hands each model over through a channel, and drops the models the
//! audio thread retires. It also parses the changes typed in the editor (or restored with a
//! session) and hands them over the same way, and tells the editor what plays ([`Panels`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use nice_plug::prelude::*;

use crate::model::lstm::Model;
use crate::model::weights;
use crate::music::changes::{self, Progression};
use crate::music::leadsheet::ireal;
use crate::plugin::params::JazzSynthParams;
use crate::plugin::view::{ChangesState, ModelInfo, Panels};
use crate::plugin::WEIGHTS_ENV;

/// How often the loader thread looks for a new weights path and for retired models. Polling
/// (rather than blocking on a channel) keeps the audio thread from ever waking a thread.
const LOADER_POLL: Duration = Duration::from_millis(20);

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsSource {
    /// The model compiled into the plugin.
    Embedded,
    /// A weights file.
    File(PathBuf),
}

impl WeightsSource {
    /// The session's path wins; else `JAZZ_SYNTH_WEIGHTS`; else the embedded model.
    /// Returns the source and whether it came from the environment.
    pub fn resolve(session_path: &str, env: Option<OsString>) -> (WeightsSource, bool) {
        if !session_path.trim().is_empty() {
            return (
                WeightsSource::File(PathBuf::from(session_path.trim())),
                false,
            );
        }
        match env.filter(|p| !p.is_empty()) {
            Some(path) => (WeightsSource::File(PathBuf::from(path)), true),
            None => (WeightsSource::Embedded, false),
        }
    }

    /// Loads and validates the model. The error names the file and says why.
    pub fn load(&self) -> Result<Box<Model>, String> {
        let path = match self {
            WeightsSource::Embedded => None,
            WeightsSource::File(path) => Some(path.as_path()),
        };
        // The weights loader's messages already name the file.
        weights::resolve(path)
            .map(Box::new)
            .map_err(|err| err.to_string())
    }
}

impl std::fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightsSource::Embedded => f.write_str("the embedded weights"),
            WeightsSource::File(path) => write!(f, "the weights in {}", path.display()),
        }
    }
}

/// The loader thread: loads weights named by the session (or the environment), hands them to
/// the audio thread and drops the models it retires.
pub(super) struct WeightsLoader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The loader's ends of the channels to the audio thread.
pub(super) struct LoaderEnds {
    pub(super) fresh: Sender<Box<Model>>,
    pub(super) retired: Receiver<Box<Model>>,
    pub(super) changes: Sender<Option<Progression>>,
    pub(super) old_changes: Receiver<Option<Progression>>,
}

impl WeightsLoader {
    pub(super) fn spawn(
        params: Arc<JazzSynthParams>,
        ends: LoaderEnds,
        panels: Arc<Panels>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("jazz-synth weights".into())
            .spawn({
                let stop = stop.clone();
                move || run_loader(&params, &ends, &panels, &stop)
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for WeightsLoader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The model played when a named weights file cannot be loaded.
fn fallback_model() -> Box<Model> {
    Box::new(weights::default_model())
}

/// The typed changes, parsed: None for "" (the built-in progression). Chord text may start
/// with its meter (`3/4 Am | E7`); a pasted iReal Pro link (one song) plays that song's changes.
pub fn parse_typed_changes(text: &str) -> Result<Option<Progression>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let chord_text = typed_chord_text(text)?;
    changes::parse_changes_with_meter(&chord_text.1)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// What typed changes stand for: (the title of a pasted iReal Pro link's song, if it is one;
/// the chord text). A link holding several songs is refused with their titles: paste one.
pub fn typed_chord_text(text: &str) -> Result<(Option<String>, String), String> {
    if !ireal::is_link(text.trim()) {
        return Ok((None, text.to_string()));
    }
    let book = ireal::read_playlists(text).map_err(|e| e.to_string())?;
    let song = book.pick(None)?;
    let chords = song.chord_text().map_err(|e| e.to_string())?;
    Ok((Some(song.title.clone()), chords))
}

fn run_loader(params: &JazzSynthParams, ends: &LoaderEnds, panels: &Panels, stop: &AtomicBool) {
    let LoaderEnds {
        fresh,
        retired,
        changes,
        old_changes,
    } = ends;
    let mut seen_generation = None;
    let mut seen_changes = None;
    let mut changes_ready: Option<Option<Progression>> = None;
    // What the audio thread has (or has been sent): it starts on the embedded model.
    let mut current = WeightsSource::Embedded;
    let mut ready: Option<(WeightsSource, bool, Box<Model>)> = None;
    let builtin = weights::default_model();
    params.style_names.set(builtin.styles());
    panels.set_model(ModelInfo::of("built-in model", &builtin));
    drop(builtin);

    while !stop.load(Ordering::Acquire) {
        loop {
            match retired.try_recv() {
                Ok(old) => drop(old),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        while let Ok(old) = old_changes.try_recv() {
            drop(old);
        }

        let typed = params.custom_changes.generation();
        if seen_changes != Some(typed) {
            seen_changes = Some(typed);
            let text = params.custom_changes.get();
            match parse_typed_changes(&text) {
                // The panel is told before the audio thread gets the changes: it may start
                // them (and the editor look) before this thread runs again.
                Ok(progression) => {
                    panels.set_changes(if progression.is_none() {
                        ChangesState::Builtin
                    } else {
                        // A pasted link shows as the song and its chords, not as the link.
                        match typed_chord_text(&text) {
                            Ok((Some(title), chords)) => {
                                ChangesState::Playing(format!("{title}: {chords}"))
                            }
                            _ => ChangesState::Playing(text),
                        }
                    });
                    changes_ready = Some(progression);
                }
                Err(error) => {
                    nice_error!("jazz-synth: the typed chord changes are refused: {error}");
                    panels.set_changes(ChangesState::Refused { text, error });
                }
            }
        }
        if let Some(progression) = changes_ready.take() {
            match changes.try_send(progression) {
                Ok(()) => {}
                Err(TrySendError::Full(progression)) => changes_ready = Some(progression),
                Err(TrySendError::Disconnected(_)) => return,
            }
        }

        let generation = params.weights_path.generation();
        if seen_generation != Some(generation) {
            seen_generation = Some(generation);
            let (wanted, from_env) =
                WeightsSource::resolve(&params.weights_path.get(), std::env::var_os(WEIGHTS_ENV));
            let latest = ready.as_ref().map(|(s, ..)| s).unwrap_or(&current);
            if wanted != *latest {
                match wanted.load() {
                    Ok(model) => {
                        panels.set_load_error(None);
                        ready = Some((wanted, from_env, model))
                    }
                    // A session naming a file that has vanished (or broken) plays the default
                    // model; the path stays in the session, so nothing is lost on the next save.
                    Err(err) => {
                        nice_error!(
                            "jazz-synth: could not load the weights file: {err}; \
                             playing the embedded default model instead"
                        );
                        panels.set_load_error(Some(err.clone()));
                        if *latest != WeightsSource::Embedded {
                            ready = Some((WeightsSource::Embedded, false, fallback_model()));
                        }
                    }
                }
            }
        }

        if let Some((source, from_env, model)) = ready.take() {
            let info = ModelInfo::of(
                match &source {
                    WeightsSource::Embedded => "built-in model".to_string(),
                    WeightsSource::File(path) => path.display().to_string(),
                },
                &model,
            );
            let styles = model.styles().to_vec();
            match fresh.try_send(model) {
                Ok(()) => {
                    params.style_names.set(&styles);
                    panels.set_model(info);
                    if let (WeightsSource::File(path), true) = (&source, from_env) {
                        // Saved with the session, so the project still plays these weights
                        // on a machine without the environment variable.
                        params.weights_path.record(path.to_string_lossy());
                    }
                    nice_log!("jazz-synth: playing {source}");
                    current = source;
                }
                Err(TrySendError::Full(model)) => ready = Some((source, from_env, model)),
                Err(TrySendError::Disconnected(_)) => return,
            }
        }

        std::thread::sleep(LOADER_POLL);
    }
}
