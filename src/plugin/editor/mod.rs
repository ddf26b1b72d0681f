//! The plugin's window (egui, through nice-plug-egui): the model, the changes, what it plays,
//! and the parameters.
//!
//! It runs on the host's GUI thread and never touches the audio thread's data directly: it
//! reads the [`LiveView`] the audio thread publishes in atomics and the [`Panels`] the weights
//! loader fills, sets parameters through the host (so automation and undo see every change),
//! and asks for weights files and changes through the session's persisted fields, which the
//! loader thread loads and parses before anything reaches the audio thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use egui::{Color32, RichText, Stroke, Ui};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::editor::{ResizeHint, SizeConstraints};
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiNiceSettings, NiceEguiApp};
use nice_plug_egui::{Frame, RepaintNotifier};

use crate::model::weights;
use crate::music::changes::BUILTIN;
use crate::music::grammar::Role;
use crate::music::leadsheet::{self, Format};
use crate::music::theory::{pitch_name, Chord, Quality};
use crate::plugin::params::{JazzSynthParams, ProgressionChoice, EDITOR_MAX, EDITOR_MIN};
use crate::plugin::parse_typed_changes;
use crate::plugin::view::{ChangesState, LiveView, Panels};
use crate::train::corpus;

mod guard;

pub use guard::{scale_is_sane, size_is_sane, GuardedEditor, GuardedHandle};

/// The editor type the plugin exports: the egui editor behind a guard against nonsense GUI calls.
pub type Editor = GuardedEditor;

/// How often the window repaints (the live panel moves with the music).
const REPAINT: Duration = Duration::from_millis(33);

/// The editor for a plugin instance, sized as the session left it.
pub fn create(
    params: Arc<JazzSynthParams>,
    live: Arc<LiveView>,
    panels: Arc<Panels>,
) -> Option<Editor> {
    GuardedEditor::new(params, live, panels)
}

/// The egui editor itself, opening at the size the session's editor state holds.
fn build(
    params: Arc<JazzSynthParams>,
    live: Arc<LiveView>,
    panels: Arc<Panels>,
    state: Arc<nice_plug_egui::EguiEditorState>,
) -> Option<EguiEditor<JazzEditor>> {
    let notifier = RepaintNotifier::new();
    let settings = EguiNiceSettings::new()
        .with_tile("jazz-synth")
        .with_repaint_poll_interval(REPAINT)
        .with_resize_hint(ResizeHint {
            can_resize: true,
            can_resize_horizontally: true,
            can_resize_vertically: true,
            preserve_aspect_ratio: false,
            aspect_ratio_width: 1,
            aspect_ratio_height: 1,
            size_constraints: SizeConstraints::Logical {
                min_size: Some(LogicalSize::new(EDITOR_MIN.0 as f32, EDITOR_MIN.1 as f32)),
                max_size: Some(LogicalSize::new(EDITOR_MAX.0 as f32, EDITOR_MAX.1 as f32)),
            },
        });
    create_egui_editor(
        state,
        notifier.clone(),
        settings,
        JazzEditor {
            params,
            live,
            panels,
            notifier,
            gui: None,
            path_text: String::new(),
            browsing: None,
            browse_for: BrowseFor::Weights,
            songs: Vec::new(),
            pick_error: None,
            changes_text: String::new(),
            changes_error: None,
            loaded_texts: false,
        },
    )
}

/// What the changes panel's "Play these changes" does: the text is parsed here (on the GUI
/// thread); broken changes are refused with the parser's message, pointing at the bad symbol,
/// and the changes playing stay. Good ones ("" for the built-in progression) go into the session,
/// where the loader thread hands them to the audio thread for the next bar line.
pub fn submit_changes(params: &JazzSynthParams, text: &str) -> Result<(), String> {
    parse_typed_changes(text)?;
    params.custom_changes.request(text.trim());
    Ok(())
}

/// What the model panel's "Load" does: the weights file is checked here, so a bad one never
/// replaces the model playing; a good one goes into the session, where the loader thread loads
/// it for the audio thread.
pub fn choose_weights(params: &JazzSynthParams, path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("type or browse to a .safetensors file first".into());
    }
    // A file, or the name of a built-in model (`metheny`, `wjd`) where no such file exists.
    weights::resolve(Some(Path::new(path.trim())))
        .map_err(|e| format!("{e}. The model playing keeps playing."))?;
    params.weights_path.request(path.trim());
    Ok(())
}

/// A song of a lead-sheet file: its title, and its chord text or why it cannot be played.
pub type SongChoice = (String, Result<String, String>);

/// What "Load lead sheet…" reads from a file: each song with its chord text (the meter first
/// unless 4/4), or why it cannot be played (song, bar, symbol). A lead sheet (iReal Pro playlist
/// or HTML export, MusicXML, `.mxl`) or a MIDI file's chords, as the standalone's `--changes`.
pub fn lead_sheet_songs(path: &Path) -> Result<Vec<SongChoice>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if leadsheet::sniff("", Some(&bytes)) == Some(Format::Midi) {
        let text = corpus::changes_text(path, &Default::default()).map_err(|e| e.to_string())?;
        return Ok(vec![(name, Ok(text))]);
    }
    let book = leadsheet::read_bytes(&name, &bytes).map_err(|e| e.to_string())?;
    let mut songs: Vec<SongChoice> = book
        .songs
        .iter()
        .map(|s| (s.title.clone(), s.chord_text().map_err(|e| e.to_string())))
        .collect();
    songs.extend(
        book.refused
            .iter()
            .map(|e| (e.song.clone(), Err(e.to_string()))),
    );
    Ok(songs)
}

/// Where the browser opens: the folder of `path` if it is one, else the home folder.
fn start_folder(path: &str) -> PathBuf {
    Path::new(path.trim())
        .parent()
        .filter(|p| p.is_dir())
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// A file browser entry: name shown, path, whether it is a folder.
type Entry = (String, PathBuf, bool);

/// What the in-editor file browser is choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BrowseFor {
    Weights,
    LeadSheet,
}

impl BrowseFor {
    fn shows(self, extension: &str) -> bool {
        let x = extension.to_ascii_lowercase();
        match self {
            BrowseFor::Weights => x == "safetensors",
            BrowseFor::LeadSheet => matches!(
                x.as_str(),
                "musicxml" | "xml" | "mxl" | "html" | "htm" | "txt" | "mid" | "midi"
            ),
        }
    }
}

/// The editor's own state (GUI thread only).
pub struct JazzEditor {
    params: Arc<JazzSynthParams>,
    live: Arc<LiveView>,
    panels: Arc<Panels>,
    notifier: RepaintNotifier,
    gui: Option<GuiContext>,
    /// The weights path being typed or chosen.
    path_text: String,
    /// The in-editor file browser: the folder shown and its entries (folders, then files of
    /// what it is choosing).
    browsing: Option<(PathBuf, Vec<Entry>)>,
    /// What the browser chooses: weights or a lead sheet.
    browse_for: BrowseFor,
    /// The songs of the playlist loaded last, to choose from.
    songs: Vec<SongChoice>,
    /// Why the last weights file chosen here was refused.
    pick_error: Option<String>,
    /// The changes being typed.
    changes_text: String,
    /// Why the last changes applied here were refused.
    changes_error: Option<String>,
    /// Whether the text fields were filled from the session yet.
    loaded_texts: bool,
}

impl NiceEguiApp for JazzEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        self.gui = Some(gui);
        self.loaded_texts = false;
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        if !self.loaded_texts {
            self.path_text = self.params.weights_path.get();
            self.changes_text = self.params.custom_changes.get();
            self.loaded_texts = true;
        }
        // The live panel moves with the music: keep repainting while the window is open.
        self.notifier.request_repaint();
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("jazz-synth");
                ui.label(RichText::new("LSTM jazz improviser").weak());
            });
            ui.separator();
            ui.columns(2, |cols| {
                self.model_panel(&mut cols[0]);
                cols[0].add_space(8.0);
                self.changes_panel(&mut cols[0], &setter);
                self.live_panel(&mut cols[1]);
            });
            ui.separator();
            self.parameters(ui, &setter);
        });
    }

    fn editor_closed(&mut self) {
        self.gui = None;
        self.browsing = None;
        self.songs.clear();
    }
}

impl JazzEditor {
    fn model_panel(&mut self, ui: &mut Ui) {
        ui.group(|ui| {
            ui.strong("Model");
            let info = self.panels.model();
            ui.label(format!("Playing: {}", info.name));
            ui.label(format!(
                "{} values, {} hidden units{}",
                info.vocab.len(),
                info.hidden,
                info.final_loss
                    .map(|l| format!(", final loss {l:.3}"))
                    .unwrap_or_default()
            ));
            if !info.training_files.is_empty() {
                let files = &info.training_files;
                let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
                let more = files.len().saturating_sub(3);
                ui.label(format!(
                    "Trained on {}{}",
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ));
            }
            if let Some(figures) = &info.figures {
                ui.collapsing("Training melodies", |ui| {
                    ui.label(RichText::new(figures).monospace().small());
                });
            }
            ui.horizontal(|ui| {
                ui.label("Weights file");
                ui.add(egui::TextEdit::singleline(&mut self.path_text).desired_width(220.0));
            });
            ui.horizontal(|ui| {
                if ui.button("Load").clicked() {
                    let path = self.path_text.trim().to_string();
                    self.choose(&path);
                }
                if ui.button("Browse…").clicked() {
                    let start = start_folder(&self.path_text);
                    self.browse_for = BrowseFor::Weights;
                    self.browse(start);
                }
                if ui.button("Built-in model").clicked() {
                    self.path_text.clear();
                    self.pick_error = None;
                    self.params.weights_path.request("");
                }
                if ui
                    .button("Metheny (built-in)")
                    .on_hover_text("The original course model, learned from one Pat Metheny solo")
                    .clicked()
                {
                    self.path_text = "metheny".into();
                    self.choose("metheny");
                }
            });
            self.file_browser(ui, BrowseFor::Weights);
            let error = self.pick_error.clone().or_else(|| self.panels.load_error());
            if let Some(error) = error {
                ui.colored_label(Color32::LIGHT_RED, error);
            }
        });
    }

    /// Checks a weights file here, so a bad one never replaces the model playing; a good one
    /// goes into the session, where the loader thread loads it.
    fn choose(&mut self, path: &str) {
        self.pick_error = choose_weights(&self.params, path).err();
    }

    fn browse(&mut self, dir: PathBuf) {
        let mut entries: Vec<Entry> = match std::fs::read_dir(&dir) {
            Ok(list) => list
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let path = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        return None;
                    }
                    let is_dir = path.is_dir();
                    let wanted = path
                        .extension()
                        .is_some_and(|x| self.browse_for.shows(&x.to_string_lossy()));
                    (is_dir || wanted).then_some((name, path, is_dir))
                })
                .collect(),
            Err(e) => {
                let error = Some(format!("cannot list {}: {e}", dir.display()));
                match self.browse_for {
                    BrowseFor::Weights => self.pick_error = error,
                    BrowseFor::LeadSheet => self.changes_error = error,
                }
                Vec::new()
            }
        };
        entries.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        self.browsing = Some((dir, entries));
    }

    fn file_browser(&mut self, ui: &mut Ui, shown_for: BrowseFor) {
        if self.browse_for != shown_for {
            return;
        }
        let Some((dir, entries)) = self.browsing.clone() else {
            return;
        };
        let mut go = None;
        let mut pick = None;
        ui.group(|ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(dir.display().to_string()).small());
                if let Some(parent) = dir.parent() {
                    if ui.small_button("Up").clicked() {
                        go = Some(parent.to_path_buf());
                    }
                }
                if ui.small_button("Close").clicked() {
                    self.browsing = None;
                }
            });
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .id_salt("file browser")
                .show(ui, |ui| {
                    if entries.is_empty() {
                        ui.label(
                            RichText::new(match shown_for {
                                BrowseFor::Weights => "no folders or .safetensors files here",
                                BrowseFor::LeadSheet => {
                                    "no folders or lead sheets (.musicxml .xml .mxl .html .mid) here"
                                }
                            })
                            .weak(),
                        );
                    }
                    for (name, path, is_dir) in &entries {
                        let label = if *is_dir {
                            format!("{name}/")
                        } else {
                            name.clone()
                        };
                        if ui.selectable_label(false, label).clicked() {
                            if *is_dir {
                                go = Some(path.clone());
                            } else {
                                pick = Some(path.clone());
                            }
                        }
                    }
                });
        });
        if let Some(dir) = go {
            self.browse(dir);
        }
        if let Some(path) = pick {
            self.browsing = None;
            match shown_for {
                BrowseFor::Weights => {
                    self.path_text = path.display().to_string();
                    let text = self.path_text.clone();
                    self.choose(&text);
                }
                BrowseFor::LeadSheet => self.load_lead_sheet(&path),
            }
        }
    }

    /// Reads a lead sheet (here, on the GUI thread: a big playlist takes milliseconds): one
    /// song plays at once, as its chord text in the changes field (so the session keeps the
    /// changes, not the file); a playlist lists its songs to choose from.
    fn load_lead_sheet(&mut self, path: &Path) {
        self.songs.clear();
        match lead_sheet_songs(path) {
            Err(e) => self.changes_error = Some(e),
            Ok(mut songs) if songs.len() == 1 => match songs.remove(0) {
                (_, Ok(text)) => {
                    self.changes_text = text;
                    self.apply_changes();
                }
                (_, Err(e)) => self.changes_error = Some(e),
            },
            Ok(songs) => {
                self.changes_error = None;
                self.songs = songs;
            }
        }
    }

    /// The songs of the playlist loaded: one click plays one.
    fn song_list(&mut self, ui: &mut Ui) {
        if self.songs.is_empty() {
            return;
        }
        let mut chosen = None;
        ui.group(|ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("{} songs: choose one", self.songs.len())).small());
                if ui.small_button("Close").clicked() {
                    chosen = Some(None);
                }
            });
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .id_salt("songs")
                .show(ui, |ui| {
                    for (i, (title, chords)) in self.songs.iter().enumerate() {
                        let label = match chords {
                            Ok(_) => RichText::new(title),
                            Err(_) => RichText::new(format!("{title} (cannot be read)")).weak(),
                        };
                        if ui.selectable_label(false, label).clicked() {
                            chosen = Some(Some(i));
                        }
                    }
                });
        });
        match chosen {
            Some(Some(i)) => match self.songs[i].1.clone() {
                Ok(text) => {
                    self.changes_text = text;
                    self.apply_changes();
                    self.songs.clear();
                }
                Err(e) => self.changes_error = Some(e),
            },
            Some(None) => self.songs.clear(),
            None => {}
        }
    }

    fn changes_panel(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        ui.group(|ui| {
            ui.strong("Changes");
            let current = self.params.progression.value();
            ui.horizontal(|ui| {
                ui.label("Built-in");
                egui::ComboBox::from_id_salt("progression")
                    .selected_text(BUILTIN[current.builtin_index()].0)
                    .show_ui(ui, |ui| {
                        for (i, (name, _)) in BUILTIN.iter().enumerate() {
                            let choice = ProgressionChoice::from_builtin_index(i);
                            if ui.selectable_label(choice == current, *name).clicked() {
                                setter.begin_set_parameter(&self.params.progression);
                                setter.set_parameter(&self.params.progression, choice);
                                setter.end_set_parameter(&self.params.progression);
                            }
                        }
                    });
            });
            ui.label("Your changes (bars with |, e.g. Dm7 G7 | Cmaj7 | %), or an iReal Pro link:");
            ui.add(
                egui::TextEdit::multiline(&mut self.changes_text)
                    .desired_rows(2)
                    .desired_width(f32::INFINITY)
                    .font(egui::TextStyle::Monospace),
            );
            ui.horizontal(|ui| {
                if ui.button("Play these changes").clicked() {
                    self.apply_changes();
                }
                if ui.button("Use the built-in").clicked() {
                    self.changes_text.clear();
                    self.apply_changes();
                }
                if ui
                    .button("Load lead sheet…")
                    .on_hover_text(
                        "An iReal Pro playlist (.html), MusicXML (.musicxml, .xml, .mxl) or a \
                         MIDI file with a chord track",
                    )
                    .clicked()
                {
                    self.browse_for = BrowseFor::LeadSheet;
                    self.browse(start_folder(""));
                }
            });
            self.file_browser(ui, BrowseFor::LeadSheet);
            self.song_list(ui);
            let error = self.changes_error.clone().or(match self.panels.changes() {
                ChangesState::Refused { error, .. } => Some(error),
                _ => None,
            });
            match error {
                Some(error) => {
                    ui.colored_label(Color32::LIGHT_RED, error);
                }
                None => {
                    let playing = match self.panels.changes() {
                        ChangesState::Playing(text) => format!("Playing: {text}"),
                        _ => "Playing the built-in progression".to_string(),
                    };
                    ui.label(RichText::new(playing).weak());
                }
            }
        });
    }

    /// Parses the typed changes here: a broken text is refused with its message (the changes
    /// playing stay); good ones go into the session and start at the next bar.
    fn apply_changes(&mut self) {
        self.changes_error = submit_changes(&self.params, &self.changes_text).err();
    }

    fn live_panel(&mut self, ui: &mut Ui) {
        ui.group(|ui| {
            ui.strong("Live");
            let (bar, beat, playing) = self.live.position();
            let chord = self
                .live
                .chord()
                .map_or_else(|| "–".to_string(), |c| chord_label(&c));
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{}:{:.2}", bar + 1, beat + 1.0))
                        .monospace()
                        .size(22.0),
                );
                ui.label(RichText::new(chord).size(22.0).strong());
                if !playing {
                    ui.label(RichText::new("stopped").weak());
                }
            });
            self.piano_roll(ui);
            ui.label("Most likely values at the last step:");
            let vocab = self.panels.model().vocab;
            for (index, p) in self.live.top() {
                let name = vocab
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| index.to_string());
                ui.horizontal(|ui| {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(80.0, 12.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, Color32::from_gray(50));
                    let mut bar = rect;
                    bar.set_width(rect.width() * p.clamp(0.0, 1.0));
                    ui.painter()
                        .rect_filled(bar, 2.0, Color32::from_rgb(90, 160, 230));
                    ui.label(RichText::new(format!("{:>5.1} %  {name}", p * 100.0)).monospace());
                });
            }
        });
    }

    /// The last values: pitch over time, one column each, coloured by role.
    fn piano_roll(&self, ui: &mut Ui) {
        let recent = self.live.recent();
        let width = ui.available_width().clamp(200.0, 600.0);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 140.0), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, Color32::from_gray(24));
        let (low, high) = (
            i32::from(
                self.params
                    .low_note
                    .value()
                    .min(self.params.high_note.value()) as u8,
            ),
            i32::from(
                self.params
                    .low_note
                    .value()
                    .max(self.params.high_note.value()) as u8,
            ),
        );
        let span = (high - low).max(12) as f32;
        for octave in (0..128).step_by(12) {
            if octave >= low && octave <= high {
                let y = rect.bottom() - (octave - low) as f32 / span * rect.height();
                painter.line_segment(
                    [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
                    Stroke::new(1.0, Color32::from_gray(45)),
                );
            }
        }
        let column = rect.width() / crate::plugin::view::RECENT as f32;
        for (i, v) in recent.iter().enumerate() {
            let x = rect.left() + i as f32 * column;
            let colour = role_colour(v.role);
            match v.note {
                Some(note) => {
                    let y = rect.bottom()
                        - (i32::from(note) - low).clamp(0, high - low) as f32 / span
                            * rect.height();
                    let cell = egui::Rect::from_min_size(
                        egui::pos2(x + 2.0, y - 5.0),
                        egui::vec2(column - 4.0, 10.0),
                    );
                    painter.rect_filled(cell, 2.0, colour);
                }
                None => {
                    let cell = egui::Rect::from_min_size(
                        egui::pos2(x + 2.0, rect.bottom() - 6.0),
                        egui::vec2(column - 4.0, 4.0),
                    );
                    painter.rect_filled(cell, 1.0, colour);
                }
            }
        }
        ui.horizontal(|ui| {
            for (role, name) in [
                (Role::Chord, "chord tone"),
                (Role::Scale, "scale"),
                (Role::Approach, "approach"),
                (Role::Other, "other"),
                (Role::Rest, "rest"),
            ] {
                ui.colored_label(role_colour(role), name);
            }
        });
    }

    fn parameters(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        let p = &self.params;
        ui.strong("Parameters");
        egui::Grid::new("parameters")
            .num_columns(4)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                macro_rules! row {
                    ($($param:expr),+) => {
                        $(
                            ui.label($param.name());
                            ui.add(ParamSlider::for_param(&$param, setter).with_width(140.0));
                        )+
                        ui.end_row();
                    };
                }
                row!(p.temperature, p.seed);
                row!(p.rhythm, p.contour);
                ui.label(p.swing.name());
                ui.add(ParamSlider::for_param(&p.swing, setter).with_width(140.0));
                ui.label(p.style.name());
                style_menu(ui, p, setter);
                ui.end_row();
                // The strength sits under the menu it qualifies.
                ui.label("");
                ui.label("");
                ui.label(p.style_strength.name());
                ui.add(ParamSlider::for_param(&p.style_strength, setter).with_width(140.0))
                    .on_hover_text(
                        "How far the solo leans towards the style: 1 as the model learned it, \
                         more exaggerates it, 0 plays Any. Not 1 costs a second pass of the \
                         network; no effect with the style on Any",
                    );
                ui.end_row();
                row!(p.low_note, p.high_note);
                row!(p.velocity, p.midi_channel);
                row!(p.chord_source, p.transpose);
                row!(p.mode, p.trade_bars);
                row!(p.listen, p.call_channel);
                row!(p.split_point, p.reset_on_start);
                row!(p.free_run, p.preview_on);
                row!(p.preview_volume, p.bypass);
            });
    }
}

/// The style menu: "any" and the loaded model's styles, in the order its weights list them.
fn style_menu(ui: &mut Ui, p: &JazzSynthParams, setter: &ParamSetter) {
    let styles = p.style_names.get();
    let current = p.style.value();
    let combo = egui::ComboBox::from_id_salt("style")
        .width(140.0)
        .selected_text(p.style_names.text(current));
    let response = combo.show_ui(ui, |ui| {
        for k in 0..=styles.len() {
            let name = crate::music::style::name_at(&styles, k);
            let k = k as i32;
            if ui.selectable_label(k == current, name).clicked() {
                setter.begin_set_parameter(&p.style);
                setter.set_parameter(&p.style, k);
                setter.end_set_parameter(&p.style);
            }
        }
    });
    if styles.is_empty() {
        response
            .response
            .on_hover_text("This model learned no styles: it plays as it learned (any)");
    }
}

fn role_colour(role: Role) -> Color32 {
    match role {
        Role::Chord => Color32::from_rgb(240, 190, 60),
        Role::Scale => Color32::from_rgb(90, 170, 240),
        Role::Approach => Color32::from_rgb(230, 110, 160),
        Role::Other => Color32::from_rgb(170, 120, 230),
        Role::Rest => Color32::from_gray(110),
    }
}

/// A chord as the live panel names it: root and quality, or its notes.
pub fn chord_label(c: &Chord) -> String {
    if c.is_empty() {
        return "N.C.".into();
    }
    let root = pitch_name(i32::from(c.root));
    let has = |semitones: u8| c.pcs.contains((c.root + semitones) % 12);
    match c.quality {
        Quality::Major if has(10) => format!("{root}7"),
        Quality::Major if has(11) => format!("{root}maj7"),
        Quality::Major => root.to_string(),
        Quality::Minor if has(6) && has(10) => format!("{root}m7b5"),
        Quality::Minor if has(10) => format!("{root}m7"),
        Quality::Minor => format!("{root}m"),
        Quality::Other => c
            .pcs
            .iter()
            .map(|pc| pitch_name(i32::from(pc)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
