//! The plugin's saved state: what a host hands back when a project is opened or a preset loaded.
//!
//! nice-plug saves the parameters (plain values by string id) and the persisted fields (JSON
//! strings) as one JSON object, a [`PluginState`]; on load it parses the JSON and calls
//! [`Plugin::filter_state`] before applying it. The
//! plugin's `filter_state` is [`sanitize`], which makes any parsed state safe to apply and says
//! what it changed:
//!
//! - a state written by a newer jazz-synth (a `state-format` above [`STATE_FORMAT`]) or with an
//!   unreadable format tag is replaced by the default state as a whole: parameters read from a
//!   format this version does not know could mean something else;
//! - an unknown parameter id is dropped; a value of the wrong type, a non-finite number or an
//!   unknown enum choice becomes the parameter's default; a number outside its range is clamped
//!   into it (nice-plug would store it as it is: a saved preview volume of 1e30 would play at
//!   1e30); a parameter missing from the state gets its default, so loading a state always gives
//!   the same settings whatever the instance held before;
//! - the `weights-path` field must be a JSON string, else it becomes "" (the default model); an
//!   unknown field is dropped.
//!
//! Bytes that are not JSON of that shape never reach the plugin: nice-plug's wrapper refuses them
//! and the host is told the state could not be loaded; the instance keeps its settings (the
//! defaults for a new instance) and keeps playing. [`load`] does both steps for tests and fuzzing.

use std::collections::BTreeMap;

use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

use crate::plugin::params::{JazzSynthParams, STATE_FORMAT};

/// The parameter format 2 added, and the value sessions saved before it get.
const CONTOUR_PARAM: &str = "contour";
const CONTOUR_BEFORE_FORMAT_2: &str = "original";
/// The parameter format 3 added, and the value sessions saved before it get: straight eighths.
const SWING_PARAM: &str = "swing";
const SWING_BEFORE_FORMAT_3: i32 = 50;
/// The parameter format 4 added, and the value sessions saved before it get: no guidance, the
/// styled network alone, as they sounded.
const STYLE_STRENGTH_PARAM: &str = "style-strength";
const STYLE_STRENGTH_BEFORE_FORMAT_4: f32 = 1.0;

/// The persisted field holding [`STATE_FORMAT`].
pub const FORMAT_FIELD: &str = "state-format";
/// The persisted field holding the session's weights file.
pub const WEIGHTS_FIELD: &str = "weights-path";
/// The persisted field holding the changes typed in the editor.
pub const CHANGES_FIELD: &str = "custom-changes";
/// The persisted field holding the editor window's size.
pub const EDITOR_SIZE_FIELD: &str = "editor-size";

/// Why saved bytes are not a jazz-synth state at all.
#[derive(Debug, Clone, PartialEq)]
pub struct StateError(String);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the saved jazz-synth state is not readable ({}); the plugin keeps its current \
             settings",
            self.0
        )
    }
}

impl std::error::Error for StateError {}

/// Parses the JSON of a saved state as nice-plug does (no sanitizing).
pub fn parse(json: &[u8]) -> Result<PluginState, StateError> {
    serde_json::from_slice(json).map_err(|e| StateError(e.to_string()))
}

/// Parses and sanitizes a saved state: the state the plugin would apply, and the warnings it
/// would log.
pub fn load(json: &[u8]) -> Result<(PluginState, Vec<String>), StateError> {
    let mut state = parse(json)?;
    let warnings = sanitize(&mut state);
    Ok((state, warnings))
}

/// The state of a new instance: every parameter at its default, no weights file.
pub fn default_state() -> PluginState {
    let params = JazzSynthParams::default();
    PluginState {
        version: env!("CARGO_PKG_VERSION").to_string(),
        params: current_values(&params),
        fields: params.serialize_fields(),
    }
}

/// The plain values of `params`, encoded as nice-plug saves them.
fn current_values(params: &JazzSynthParams) -> BTreeMap<String, ParamValue> {
    params
        .param_map()
        .into_iter()
        // SAFETY: the pointers point into `params`, alive for the whole call.
        .map(|(id, ptr, _)| (id, unsafe { plain_value(ptr) }))
        .collect()
}

/// # Safety
/// `ptr` must point to a live parameter.
unsafe fn plain_value(ptr: ParamPtr) -> ParamValue {
    unsafe {
        match ptr {
            ParamPtr::FloatParam(p) => ParamValue::F32((*p).unmodulated_plain_value()),
            ParamPtr::IntParam(p) => ParamValue::I32((*p).unmodulated_plain_value()),
            ParamPtr::BoolParam(p) => ParamValue::Bool((*p).unmodulated_plain_value()),
            ParamPtr::EnumParam(p) => match (*p).unmodulated_plain_id() {
                Some(id) => ParamValue::String(id.to_owned()),
                None => ParamValue::I32((*p).unmodulated_plain_value()),
            },
        }
    }
}

/// What a saved value is worth for one parameter.
enum Verdict {
    Good,
    /// Usable after clamping into range: the clamped value and why.
    Clamped(ParamValue, String),
    /// Unusable: why.
    Bad(String),
}

/// Judges `value` for the parameter behind `ptr`.
///
/// # Safety
/// `ptr` must point to a live parameter; enum parameters may be changed (use a scratch instance).
unsafe fn judge(ptr: ParamPtr, value: &ParamValue) -> Verdict {
    // The ends of a numeric range, as plain values.
    let range = |ptr: ParamPtr| unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
    match (ptr, value) {
        (ParamPtr::FloatParam(_), ParamValue::F32(v)) => {
            if !v.is_finite() {
                return Verdict::Bad(format!("{v} is not a usable number"));
            }
            let (lo, hi) = range(ptr);
            if *v < lo || *v > hi {
                let c = v.clamp(lo, hi);
                return Verdict::Clamped(
                    ParamValue::F32(c),
                    format!("{v} is outside {lo}..{hi}, using {c}"),
                );
            }
            Verdict::Good
        }
        (ParamPtr::IntParam(_), ParamValue::I32(v)) => {
            let (lo, hi) = range(ptr);
            let (lo, hi) = (lo.round() as i32, hi.round() as i32);
            if *v < lo || *v > hi {
                let c = (*v).clamp(lo, hi);
                return Verdict::Clamped(
                    ParamValue::I32(c),
                    format!("{v} is outside {lo}..{hi}, using {c}"),
                );
            }
            Verdict::Good
        }
        (ParamPtr::BoolParam(_), ParamValue::Bool(_)) => Verdict::Good,
        (ParamPtr::EnumParam(p), ParamValue::I32(index)) => {
            let len = unsafe { (*p).len() };
            if usize::try_from(*index).is_ok_and(|i| i < len) {
                Verdict::Good
            } else {
                Verdict::Bad(format!("choice number {index} does not exist"))
            }
        }
        (ParamPtr::EnumParam(p), ParamValue::String(id)) => {
            if unsafe { (*p).set_from_id(id) } {
                Verdict::Good
            } else {
                Verdict::Bad(format!("\"{id}\" is not one of its choices"))
            }
        }
        (_, other) => Verdict::Bad(format!("{other:?} is the wrong kind of value")),
    }
}

/// Makes a parsed state safe to apply (see the module documentation) and returns one warning
/// per thing it changed, each a sentence a musician can act on.
pub fn sanitize(state: &mut PluginState) -> Vec<String> {
    let mut warnings = Vec::new();
    // States from before the format tag existed are format 1.
    let mut saved_format = 1;

    if let Some(text) = state.fields.get(FORMAT_FIELD) {
        let saved_version = if state.version.is_empty() {
            "an unknown version".to_string()
        } else {
            format!("version {}", state.version)
        };
        match serde_json::from_str::<u32>(text) {
            Ok(format) if format <= STATE_FORMAT => saved_format = format,
            Ok(format) => {
                warnings.push(format!(
                    "this session was saved by a newer jazz-synth ({saved_version}, state format \
                     {format}); this jazz-synth ({}) reads state format {STATE_FORMAT}, so it \
                     starts from the default settings and the default model. Update jazz-synth \
                     to get the saved settings back; saving now replaces them.",
                    env!("CARGO_PKG_VERSION")
                ));
                *state = default_state();
                return warnings;
            }
            Err(_) => {
                warnings.push(format!(
                    "the saved state's format tag {text:?} ({saved_version}) is unreadable, so \
                     jazz-synth starts from the default settings and the default model"
                ));
                *state = default_state();
                return warnings;
            }
        }
    }

    let scratch = JazzSynthParams::default();
    let defaults = current_values(&scratch);
    let map = scratch.param_map();
    let mut clean = BTreeMap::new();
    for (id, value) in std::mem::take(&mut state.params) {
        let Some((_, ptr, _)) = map.iter().find(|(known, ..)| *known == id) else {
            warnings.push(format!(
                "ignoring the saved parameter \"{id}\": this jazz-synth has no such parameter"
            ));
            continue;
        };
        // SAFETY: `ptr` points into `scratch`, alive until the end of this function.
        let value = match unsafe { judge(*ptr, &value) } {
            Verdict::Good => value,
            Verdict::Clamped(clamped, why) => {
                warnings.push(format!("saved parameter \"{id}\": {why}"));
                clamped
            }
            Verdict::Bad(why) => {
                warnings.push(format!(
                    "saved parameter \"{id}\": {why}; using its default"
                ));
                defaults[&id].clone()
            }
        };
        clean.insert(id, value);
    }
    if saved_format < 2 {
        // Sessions from before the learned decoder keep sounding as they did.
        clean
            .entry(CONTOUR_PARAM.to_string())
            .or_insert_with(|| ParamValue::String(CONTOUR_BEFORE_FORMAT_2.to_string()));
    }
    if saved_format < 3 {
        // Sessions from before swing keep their straight eighths.
        clean
            .entry(SWING_PARAM.to_string())
            .or_insert(ParamValue::I32(SWING_BEFORE_FORMAT_3));
    }
    if saved_format < 4 {
        // Sessions from before the style strength keep the style as they heard it.
        clean
            .entry(STYLE_STRENGTH_PARAM.to_string())
            .or_insert(ParamValue::F32(STYLE_STRENGTH_BEFORE_FORMAT_4));
    }
    for (id, value) in defaults {
        clean.entry(id).or_insert(value);
    }
    state.params = clean;

    let mut fields = BTreeMap::new();
    for (name, text) in std::mem::take(&mut state.fields) {
        match name.as_str() {
            WEIGHTS_FIELD => {
                if serde_json::from_str::<String>(&text).is_err() {
                    warnings.push(format!(
                        "the saved weights file entry {text:?} is not a file name; playing the \
                         default model"
                    ));
                    fields.insert(name, json_string(""));
                } else {
                    fields.insert(name, text);
                }
            }
            CHANGES_FIELD => {
                if serde_json::from_str::<String>(&text).is_err() {
                    warnings.push(format!(
                        "the saved chord changes {text:?} are not text; playing the built-in \
                         progression"
                    ));
                    fields.insert(name, json_string(""));
                } else {
                    // Text that does not parse as changes is kept (so it can be fixed in the
                    // editor); the loader refuses it and says why.
                    fields.insert(name, text);
                }
            }
            EDITOR_SIZE_FIELD => {
                if serde_json::from_str::<(u32, u32)>(&text).is_ok() {
                    fields.insert(name, text);
                } else {
                    warnings.push(format!(
                        "the saved editor size {text:?} is not a width and a height; the editor \
                         opens at its default size"
                    ));
                }
            }
            FORMAT_FIELD => {}
            _ => warnings.push(format!(
                "ignoring the saved field \"{name}\": this jazz-synth does not know it"
            )),
        }
    }
    fields
        .entry(WEIGHTS_FIELD.to_string())
        .or_insert_with(|| json_string(""));
    fields.insert(FORMAT_FIELD.to_string(), STATE_FORMAT.to_string());
    state.fields = fields;
    warnings
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

/// Checks that `state` can be applied as it is: every parameter of this version present, known,
/// of its type and in range, and every field readable. [`sanitize`]'s output always passes.
pub fn check_loadable(state: &PluginState) -> Result<(), String> {
    let scratch = JazzSynthParams::default();
    let map = scratch.param_map();
    for (id, ptr, _) in &map {
        let value = state
            .params
            .get(id)
            .ok_or_else(|| format!("parameter \"{id}\" is missing"))?;
        // SAFETY: `ptr` points into `scratch`, alive until the end of this function.
        match unsafe { judge(*ptr, value) } {
            Verdict::Good => {}
            Verdict::Clamped(_, why) | Verdict::Bad(why) => {
                return Err(format!("parameter \"{id}\": {why}"))
            }
        }
    }
    if let Some(id) = state
        .params
        .keys()
        .find(|id| !map.iter().any(|(k, ..)| k == *id))
    {
        return Err(format!("unknown parameter \"{id}\""));
    }
    for (name, text) in &state.fields {
        match name.as_str() {
            WEIGHTS_FIELD | CHANGES_FIELD => {
                serde_json::from_str::<String>(text).map_err(|e| format!("field {name}: {e}"))?;
            }
            EDITOR_SIZE_FIELD => {
                serde_json::from_str::<(u32, u32)>(text)
                    .map_err(|e| format!("field {name}: {e}"))?;
            }
            FORMAT_FIELD => match serde_json::from_str::<u32>(text) {
                Ok(f) if f <= STATE_FORMAT => {}
                _ => return Err(format!("field {name} is {text:?}")),
            },
            _ => return Err(format!("unknown field \"{name}\"")),
        }
    }
    Ok(())
}

/// Applies a state to `params` the way nice-plug's wrapper does after `filter_state` (plain
/// values by id, then the persisted fields). For tests and fuzzing; the host path is nice-plug's.
pub fn apply(params: &JazzSynthParams, state: &PluginState) {
    let map = params.param_map();
    for (id, value) in &state.params {
        let Some((_, ptr, _)) = map.iter().find(|(known, ..)| known == id) else {
            continue;
        };
        // SAFETY: `ptr` points into `params`, alive for the whole call.
        unsafe {
            let plain = match (*ptr, value) {
                (ParamPtr::EnumParam(p), ParamValue::String(choice)) => {
                    (*p).set_from_id(choice);
                    continue;
                }
                (_, ParamValue::F32(v)) => *v,
                (_, ParamValue::I32(v)) => *v as f32,
                (_, ParamValue::Bool(v)) => *v as u8 as f32,
                (_, ParamValue::String(_)) => continue,
            };
            ptr._internal_set_normalized_value(ptr.preview_normalized(plain));
        }
    }
    params.deserialize_fields(&state.fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: &str) -> PluginState {
        parse(json.as_bytes()).expect("test JSON")
    }

    #[test]
    fn the_default_state_is_loadable_and_sanitizes_to_itself() {
        let mut s = default_state();
        check_loadable(&s).unwrap();
        assert_eq!(sanitize(&mut s), Vec::<String>::new());
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            serde_json::to_string(&default_state()).unwrap()
        );
        assert_eq!(s.fields[FORMAT_FIELD], STATE_FORMAT.to_string());
        assert_eq!(s.fields[WEIGHTS_FIELD], "\"\"");
    }

    /// The parameters a session of state format `format` (`None`: before formats were written)
    /// restores, when it saved only the seed: what the format's defaults make of the rest.
    fn restored_from_format(format: Option<u32>) -> JazzSynthParams {
        let tag = format.map_or(String::new(), |f| format!(r#","state-format":"{f}""#));
        let mut s = state(&format!(
            r#"{{"version":"0.1.0","params":{{"seed":{{"i32":3}}}},"fields":{{"weights-path":"\"\""{tag}}}}}"#
        ));
        assert_eq!(sanitize(&mut s), Vec::<String>::new());
        let params = JazzSynthParams::default();
        apply(&params, &s);
        params
    }

    #[test]
    fn sessions_from_before_the_learned_decoder_keep_the_original() {
        use crate::plugin::params::ContourMode;
        for (format, expected) in [
            (None, ContourMode::Original),
            (Some(1), ContourMode::Original),
            (Some(2), ContourMode::Learned),
        ] {
            let params = restored_from_format(format);
            assert_eq!(params.contour.value(), expected, "format {format:?}");
        }
    }

    #[test]
    fn sessions_from_before_swing_keep_straight_eighths() {
        for (format, expected) in [
            (None, 50),
            (Some(2), 50),
            (Some(3), crate::plugin::params::SWING_AUTO),
        ] {
            let params = restored_from_format(format);
            assert_eq!(params.swing.value(), expected, "format {format:?}");
        }
    }

    #[test]
    fn a_good_state_passes_unchanged_and_missing_parameters_get_defaults() {
        let mut s = state(
            r#"{"version":"0.1.0","params":{"seed":{"i32":1234},"temperature":{"f32":0.55},
            "rhythm":{"string":"phrase"}},"fields":{"weights-path":"\"/x.safetensors\""}}"#,
        );
        assert_eq!(sanitize(&mut s), Vec::<String>::new());
        check_loadable(&s).unwrap();
        let params = JazzSynthParams::default();
        apply(&params, &s);
        assert_eq!(params.seed.value(), 1234);
        assert!((params.temperature.value() - 0.55).abs() < 1e-6);
        assert_eq!(params.weights_path.get(), "/x.safetensors");
        assert_eq!(
            params.velocity.value(),
            JazzSynthParams::default().velocity.value()
        );
    }

    #[test]
    fn sessions_from_before_style_strength_keep_their_sound_and_new_ones_get_the_default() {
        for (format, expected) in [
            (None, 1.0),
            (Some(3), 1.0),
            (Some(4), crate::engine::DEFAULT_STYLE_STRENGTH),
        ] {
            let tag = format.map_or(String::new(), |f| format!(r#","state-format":"{f}""#));
            let mut s = state(&format!(
                r#"{{"version":"0.1.0","params":{{"style":{{"i32":3}}}},
                "fields":{{"weights-path":"\"wjd-styles\""{tag}}}}}"#
            ));
            assert_eq!(sanitize(&mut s), Vec::<String>::new());
            let params = JazzSynthParams::default();
            apply(&params, &s);
            assert_eq!(params.style.value(), 3);
            assert_eq!(
                params.engine_settings().style_strength,
                expected,
                "format {format:?}"
            );
        }
        // A saved strength is kept; one past the range is clamped, with a warning.
        for (saved, want, warned) in [(1.5f32, 1.5f32, false), (9.0, 4.0, true)] {
            let mut s = state(&format!(
                r#"{{"version":"0.1.0","params":{{"style-strength":{{"f32":{saved}}}}},
                "fields":{{"weights-path":"\"\""}}}}"#
            ));
            let warnings = sanitize(&mut s);
            assert_eq!(!warnings.is_empty(), warned, "{saved}: {warnings:?}");
            let params = JazzSynthParams::default();
            apply(&params, &s);
            assert_eq!(params.engine_settings().style_strength, want);
        }
    }

    #[test]
    fn a_newer_format_falls_back_to_defaults_with_a_warning() {
        let mut s = state(
            r#"{"version":"7.0.0","params":{"seed":{"i32":99}},
            "fields":{"state-format":"99","weights-path":"\"/x.safetensors\""}}"#,
        );
        let warnings = sanitize(&mut s);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("newer jazz-synth"), "{warnings:?}");
        assert!(warnings[0].contains("7.0.0"), "{warnings:?}");
        check_loadable(&s).unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            serde_json::to_string(&default_state()).unwrap()
        );
    }

    #[test]
    fn an_unreadable_format_tag_falls_back_to_defaults() {
        let mut s = state(r#"{"params":{},"fields":{"state-format":"\"two\""}}"#);
        let warnings = sanitize(&mut s);
        assert!(warnings[0].contains("format tag"), "{warnings:?}");
        check_loadable(&s).unwrap();
    }

    #[test]
    fn bad_values_become_defaults_or_are_clamped_each_with_a_warning() {
        let mut s = state(
            r#"{"params":{
                "preview-volume":{"f32":1e30},
                "temperature":{"f32":-3.0},
                "seed":{"bool":true},
                "midi-channel":{"i32":99},
                "rhythm":{"string":"bebop"},
                "progression":{"i32":17},
                "bogus":{"i32":1}},
              "fields":{"weights-path":"42","extra":"1"}}"#,
        );
        let warnings = sanitize(&mut s);
        let all = warnings.join("\n");
        for needle in [
            "\"preview-volume\": 1000000000000000000000000000000 is outside",
            "\"temperature\": -3 is outside",
            "\"seed\": Bool(true) is the wrong kind of value; using its default",
            "\"midi-channel\": 99 is outside 1..16, using 16",
            "\"rhythm\": \"bebop\" is not one of its choices",
            "\"progression\": choice number 17 does not exist",
            "no such parameter",
            "not a file name",
            "\"extra\"",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        check_loadable(&s).unwrap();
        let params = JazzSynthParams::default();
        apply(&params, &s);
        assert!(params.preview_volume.value() <= 1.0);
        assert_eq!(params.temperature.value(), 0.0);
        assert_eq!(params.midi_channel.value(), 16);
        assert_eq!(params.weights_path.get(), "");
    }

    #[test]
    fn not_json_is_an_error_saying_so() {
        let err = parse(b"\x00\x01garbage").unwrap_err().to_string();
        assert!(err.contains("not readable"), "{err}");
        assert!(load(b"{\"params\": 3}").is_err());
    }
}
