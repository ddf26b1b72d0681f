//! The weights file (safetensors, f32) and the embedded default model.
//!
//! In short:
//! - `load(bytes: &[u8]) -> Result<Model, WeightsError>`, `load_file(path)`, `save_atomic(&Model, path)`.
//! - `resolve(Option<&Path>)`: the built-in model or a checked file, wherever a path is optional.
//! - `default_model() -> Model` from `include_bytes!("../../weights/metheny.safetensors")`.
//!
//! # Format `jazz-synth/1`
//!
//! A [safetensors](https://github.com/huggingface/safetensors) file: an
//! 8-byte little-endian header length, a JSON header, then the raw tensor
//! bytes. Five tensors, all `F32`, little-endian, row-major, Keras layout
//! (gate order input, forget, cell, output), `n` = number of values, `H` =
//! hidden units:
//!
//! | tensor                  | shape      |
//! |-------------------------|------------|
//! | `lstm.kernel`           | `[n, 4H]`  |
//! | `lstm.recurrent_kernel` | `[H, 4H]`  |
//! | `lstm.bias`             | `[4H]`     |
//! | `dense.kernel`          | `[H, n]`   |
//! | `dense.bias`            | `[n]`      |
//!
//! Metadata (`__metadata__`, all values are strings, most of them JSON):
//!
//! | key               | value                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | `format`          | `jazz-synth/1`                                               |
//! | `vocab`           | JSON array of the value strings in index order (`n` entries) |
//! | `hidden`          | optional: `H` as a decimal integer, checked against the shapes |
//! | `training_files`  | optional: JSON array of `{"name": .., "sha256": .., "tracks": ..}` (`tracks` optional) |
//! | `hyperparameters` | optional: JSON object                                        |
//! | `final_loss`      | optional: JSON number (loss summed over the Tx outputs) or `null` |
//! | `final_accuracy`  | optional: JSON number (0..1) or `null`                       |
//! | `intervals`       | optional: JSON `{"counts": [[..49 counts..] × 5]}`, moves of -24..=24 semitones onto roles R C S A X |
//! | `corpus_stats`    | optional: JSON object, the figures of the training melodies (`jazz-synth quality`) |
//! | `validation`      | optional: JSON `{"values", "nll", "unigram_nll", "accuracy"}` of the held-out part |
//!
//! `jazz-synth/2` (chord-aware) adds `lstm.cond_kernel` and the `conditioning` metadata;
//! `jazz-synth/3` (stacked layers) adds the `layers` metadata and `lstm{l}.*` tensors for the
//! layers above the first (see [`FORMAT_2`], [`FORMAT_3`] and docs/model.md).
//!
//! Only the five tensors, `format` and `vocab` are required: a model written by another tool
//! (see docs/model.md for Keras and PyTorch) loads without any provenance.
//!
//! Files are written by this module with sorted keys and tensors in name
//! order, so the same model always gives the same bytes.

use crate::model::lstm::{
    layer_tensor_name, parse_vocab_entry, vocab_entry_text, Conditioning, LayerParams, LstmParams,
    Model, Provenance, MAX_LAYERS, MAX_WEIGHT,
};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The format tag this version reads and writes.
pub const FORMAT: &str = "jazz-synth/1";

/// The format of chord-aware models: [`FORMAT`] plus the tensor `lstm.cond_kernel` (`[C, 4H]`)
/// and the metadata `conditioning` (`{"layout": ..., "size": C}`). Models without conditioning
/// are still written as [`FORMAT`], byte for byte as before.
pub const FORMAT_2: &str = "jazz-synth/2";

/// The format of stacked models (`--layers 2` and up): [`FORMAT_2`]'s tensors and metadata
/// (the conditioning is optional here: present when the metadata `conditioning` is), plus the
/// metadata `layers` (`L`, 2 to [`MAX_LAYERS`]) and, for each layer `l` from 2 to `L`, the
/// tensors `lstm{l}.kernel` (`[H, 4H]`, its input is the hidden state of the layer below),
/// `lstm{l}.recurrent_kernel` (`[H, 4H]`) and `lstm{l}.bias` (`[4H]`). One-layer models are
/// still written as [`FORMAT`] or [`FORMAT_2`], byte for byte as before.
pub const FORMAT_3: &str = "jazz-synth/3";

/// The conditioning tensor of [`FORMAT_2`].
pub const COND_TENSOR: &str = "lstm.cond_kernel";
/// The dense layer's style rows (`[S, n]`), in a file with styles: optional (files written
/// before they existed have none, and play as they did).
pub const STYLE_DENSE_TENSOR: &str = "dense.style_kernel";

/// Tensor names in the file.
pub const TENSOR_NAMES: [&str; 5] = [
    "lstm.kernel",
    "lstm.recurrent_kernel",
    "lstm.bias",
    "dense.kernel",
    "dense.bias",
];

/// Metadata keys this version writes; only `format` and `vocab` are required to read a file.
pub const METADATA_KEYS: [&str; 7] = [
    "format",
    "vocab",
    "hidden",
    "training_files",
    "hyperparameters",
    "final_loss",
    "final_accuracy",
];

/// Weights files larger than this are refused before reading (the seed
/// model is ~200 KB; this leaves room for vocabularies of thousands).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The default model: chord-aware, trained on the 456 solos of the Weimar Jazz Database
/// (`--preset jazz`; see the README for the command and the figures), embedded at build time.
pub const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../../weights/wjd.safetensors");

/// The seed model: the original's setup trained on the Metheny solo, embedded at build time.
/// Produced by `jazz-train data/original_metheny.mid --preset metheny
/// --out weights/metheny.safetensors` (seed hyper-parameters).
pub const METHENY_WEIGHTS: &[u8] = include_bytes!("../../weights/metheny.safetensors");

/// The WJD model that also hears the style (`jazz-synth/cond-2`: traditional, swing, bebop,
/// cool, hard bop, post-bop, fusion): the default model with styles learned on it (`--style-from`
/// the WJD's `index.csv`, `--style-base` the default's file), so its "any" is the default
/// network bit for bit. Built in as `wjd-styles` beside the default (see README, "The default
/// model").
pub const STYLES_WEIGHTS: &[u8] = include_bytes!("../../weights/wjd-styles.safetensors");

/// The built-in models by name: `wjd` (the default), `wjd-styles` and `metheny`.
pub const BUILTIN_MODELS: [(&str, &[u8]); 3] = [
    ("wjd", DEFAULT_WEIGHTS),
    ("wjd-styles", STYLES_WEIGHTS),
    ("metheny", METHENY_WEIGHTS),
];

/// The embedded default model ([`DEFAULT_WEIGHTS`]). The file is checked by
/// the test suite, so loading it cannot fail in a built binary.
pub fn default_model() -> Model {
    load(DEFAULT_WEIGHTS).expect("the embedded weights are valid (checked by tests/weights.rs)")
}

/// The embedded seed model ([`METHENY_WEIGHTS`]), checked by the test suite like the default.
pub fn metheny_model() -> Model {
    load(METHENY_WEIGHTS).expect("the embedded weights are valid (checked by tests/weights.rs)")
}

/// The built-in model called `name` (`wjd`, `wjd-styles`, `metheny`; any case), if there is one.
pub fn builtin_model(name: &str) -> Option<Model> {
    BUILTIN_MODELS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .and_then(|(_, bytes)| load(bytes).ok())
}

/// Why a weights file cannot be used. Each variant names the first problem
/// found; `Display` gives a sentence a user can act on.
#[derive(Debug)]
pub enum WeightsError {
    /// Not a readable safetensors container (truncated, corrupt header...).
    Container(String),
    /// A required metadata key is missing.
    MissingMetadata(&'static str),
    /// The `format` tag is not [`FORMAT`].
    WrongFormat(String),
    /// A metadata value cannot be understood.
    BadMetadata { key: &'static str, reason: String },
    /// A vocabulary entry is not a grammar value (or is repeated).
    BadVocabEntry {
        index: usize,
        entry: String,
        reason: String,
    },
    /// A required tensor is missing.
    MissingTensor(String),
    /// A tensor that is not part of the format.
    UnexpectedTensor(String),
    /// A tensor is not `F32`.
    WrongDtype { tensor: String, dtype: String },
    /// A tensor's shape does not match the vocabulary size and `hidden`.
    WrongShape {
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor holds NaN or an infinity.
    NotFinite {
        tensor: String,
        index: usize,
        value: f32,
    },
    /// A tensor holds a number beyond [`MAX_WEIGHT`] in magnitude.
    TooLarge {
        tensor: String,
        index: usize,
        value: f32,
    },
    /// Reading or writing the file failed.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A problem with the contents of the named file.
    InFile {
        path: PathBuf,
        error: Box<WeightsError>,
    },
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WeightsError::*;
        match self {
            Container(why) => write!(
                f,
                "not a valid weights file: it is truncated or not in safetensors format ({why})"
            ),
            MissingMetadata(key) => write!(
                f,
                "not a jazz-synth weights file: metadata `{key}` is missing"
            ),
            WrongFormat(found) => write!(
                f,
                "unsupported weights format `{found}` (this version reads `{FORMAT}`, `{FORMAT_2}` \
                 and `{FORMAT_3}`)"
            ),
            BadMetadata { key, reason } => write!(f, "metadata `{key}` is invalid: {reason}"),
            BadVocabEntry {
                index,
                entry,
                reason,
            } => write!(
                f,
                "vocabulary entry {index} `{entry}` is not a grammar value: {reason}"
            ),
            MissingTensor(name) => write!(f, "tensor `{name}` is missing"),
            UnexpectedTensor(name) => write!(
                f,
                "tensor `{name}` is not part of format `{FORMAT}` (expected {})",
                TENSOR_NAMES.join(", ")
            ),
            WrongDtype { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` is stored as {dtype}; jazz-synth reads F32 weights only"
            ),
            WrongShape {
                tensor,
                found,
                expected,
            } => write!(
                f,
                "tensor `{tensor}` has shape {found:?}, expected {expected:?} \
                 for this vocabulary size and hidden size"
            ),
            NotFinite {
                tensor,
                index,
                value,
            } => write!(
                f,
                "tensor `{tensor}` holds {value} at flat index {index}; weights must be finite \
                 (the training run diverged?)"
            ),
            TooLarge {
                tensor,
                index,
                value,
            } => write!(
                f,
                "tensor `{tensor}` holds {value} at flat index {index}; weights must lie within \
                 ±{MAX_WEIGHT}, or the network's sums overflow (the file is damaged or the \
                 training run diverged)"
            ),
            Io { path, error } => write!(f, "{}: {error}", path.display()),
            InFile { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for WeightsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WeightsError::Io { error, .. } => Some(error),
            WeightsError::InFile { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// Reads a weights file from memory, checking everything (format tag,
/// metadata, every shape against the vocabulary size and `hidden`, every
/// number finite and within ±[`MAX_WEIGHT`] so a step cannot overflow, every
/// vocabulary entry a grammar value) before building the model. The first
/// problem found is returned.
pub fn load(bytes: &[u8]) -> Result<Model, WeightsError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Container(e.to_string()))?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Container(e.to_string()))?;
    let empty = Default::default();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    let get = |key: &'static str| meta.get(key).ok_or(WeightsError::MissingMetadata(key));

    let format = get("format")?;
    if format != FORMAT && format != FORMAT_2 && format != FORMAT_3 {
        return Err(WeightsError::WrongFormat(format.clone()));
    }
    let conditioned =
        format == FORMAT_2 || (format == FORMAT_3 && meta.contains_key("conditioning"));
    let layers = if format == FORMAT_3 {
        let text = get("layers")?;
        match text.trim().parse::<usize>() {
            Ok(l) if (2..=MAX_LAYERS).contains(&l) => l,
            _ => {
                return Err(WeightsError::BadMetadata {
                    key: "layers",
                    reason: format!(
                        "`{text}` is not a number of stacked LSTM layers from 2 to {MAX_LAYERS}"
                    ),
                })
            }
        }
    } else {
        1
    };
    let upper_names: Vec<[String; 3]> = (2..=layers)
        .map(|l| ["kernel", "recurrent_kernel", "bias"].map(|part| layer_tensor_name(l, part)))
        .collect();

    let vocab_texts: Vec<String> =
        serde_json::from_str(get("vocab")?).map_err(|e| WeightsError::BadMetadata {
            key: "vocab",
            reason: format!("expected a JSON array of strings ({e})"),
        })?;
    if vocab_texts.is_empty() {
        return Err(WeightsError::BadMetadata {
            key: "vocab",
            reason: "the vocabulary is empty".into(),
        });
    }
    let mut seen = HashSet::new();
    let mut vocab = Vec::with_capacity(vocab_texts.len());
    for (index, text) in vocab_texts.iter().enumerate() {
        let value = parse_vocab_entry(text).map_err(|reason| WeightsError::BadVocabEntry {
            index,
            entry: text.clone(),
            reason,
        })?;
        if !seen.insert(text.as_str()) {
            return Err(WeightsError::BadVocabEntry {
                index,
                entry: text.clone(),
                reason: "it appears twice".into(),
            });
        }
        vocab.push(value);
    }

    // `hidden` is optional: without it the recurrent kernel's shape `[H, 4H]` says it, and
    // with it every shape is checked against it.
    let hidden = match meta.get("hidden") {
        Some(hidden_text) => match hidden_text.trim().parse::<usize>() {
            Ok(h) if (1..=4096).contains(&h) => h,
            _ => {
                return Err(WeightsError::BadMetadata {
                    key: "hidden",
                    reason: format!("`{hidden_text}` is not a hidden size from 1 to 4096"),
                })
            }
        },
        None => {
            let view = st
                .tensor("lstm.recurrent_kernel")
                .map_err(|_| WeightsError::MissingTensor("lstm.recurrent_kernel".into()))?;
            match view.shape().first() {
                Some(&h) if (1..=4096).contains(&h) => h,
                _ => {
                    return Err(WeightsError::BadMetadata {
                        key: "hidden",
                        reason: format!(
                            "absent, and `lstm.recurrent_kernel` has shape {:?}, which gives \
                             no hidden size from 1 to 4096",
                            view.shape()
                        ),
                    })
                }
            }
        }
    };

    let mut provenance = read_provenance(meta)?;
    read_corpus_keys(&mut provenance, meta)?;

    let n = vocab.len();
    let expected_shapes: [Vec<usize>; 5] = [
        vec![n, 4 * hidden],
        vec![hidden, 4 * hidden],
        vec![4 * hidden],
        vec![hidden, n],
        vec![n],
    ];
    for (name, _) in st.iter() {
        let known = TENSOR_NAMES.contains(&name)
            || (conditioned && (name == COND_TENSOR || name == STYLE_DENSE_TENSOR))
            || upper_names.iter().flatten().any(|n| n == name);
        if !known {
            return Err(WeightsError::UnexpectedTensor(name.to_string()));
        }
    }
    let mut data: Vec<Vec<f32>> = Vec::with_capacity(5);
    for (&name, expected) in TENSOR_NAMES.iter().zip(&expected_shapes) {
        data.push(read_tensor(&st, name, expected)?);
    }
    let mut data = data.into_iter();
    let mut next = || data.next().unwrap_or_default();
    let mut upper = Vec::with_capacity(upper_names.len());
    for [kernel, recurrent, bias] in &upper_names {
        upper.push(LayerParams {
            kernel: read_tensor(&st, kernel, &[hidden, 4 * hidden])?,
            recurrent_kernel: read_tensor(&st, recurrent, &[hidden, 4 * hidden])?,
            bias: read_tensor(&st, bias, &[4 * hidden])?,
        });
    }
    let params = LstmParams {
        upper,
        n_values: n,
        hidden,
        kernel: next(),
        recurrent_kernel: next(),
        bias: next(),
        dense_kernel: next(),
        dense_bias: next(),
    };
    let conditioning = if conditioned {
        Some(read_conditioning(&st, meta, hidden, n)?)
    } else {
        None
    };
    // Everything Model::new checks was checked above with better messages;
    // this is a backstop.
    let model = Model::new(params, vocab, provenance)
        .map_err(|e| WeightsError::Container(e.to_string()))?;
    match conditioning {
        Some(c) => model
            .with_conditioning(c)
            .map_err(|e| WeightsError::BadMetadata {
                key: "conditioning",
                reason: e.to_string(),
            }),
        None => Ok(model),
    }
}

/// The tensor `name`: present, F32, of shape `expected`, every number finite and within
/// ±[`MAX_WEIGHT`]; the error names the first problem.
fn read_tensor(
    st: &SafeTensors<'_>,
    name: &str,
    expected: &[usize],
) -> Result<Vec<f32>, WeightsError> {
    let view = st
        .tensor(name)
        .map_err(|_| WeightsError::MissingTensor(name.into()))?;
    if view.dtype() != Dtype::F32 {
        return Err(WeightsError::WrongDtype {
            tensor: name.into(),
            dtype: view.dtype().to_string(),
        });
    }
    if view.shape() != expected {
        return Err(WeightsError::WrongShape {
            tensor: name.into(),
            found: view.shape().to_vec(),
            expected: expected.to_vec(),
        });
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(WeightsError::NotFinite {
            tensor: name.into(),
            index,
            value: values[index],
        });
    }
    if let Some(index) = values.iter().position(|v| v.abs() > MAX_WEIGHT) {
        return Err(WeightsError::TooLarge {
            tensor: name.into(),
            index,
            value: values[index],
        });
    }
    Ok(values)
}

/// The conditioning of a [`FORMAT_2`] file: its metadata and its tensor.
fn read_conditioning(
    st: &SafeTensors<'_>,
    meta: &std::collections::HashMap<String, String>,
    hidden: usize,
    n_values: usize,
) -> Result<Conditioning, WeightsError> {
    use crate::music::conditioning::{COND_SIZE, LAYOUT, LAYOUT_STYLED};
    #[derive(serde::Deserialize)]
    struct Meta {
        layout: String,
        size: usize,
        #[serde(default)]
        styles: Vec<String>,
    }
    let text = meta
        .get("conditioning")
        .ok_or(WeightsError::MissingMetadata("conditioning"))?;
    let m: Meta = serde_json::from_str(text).map_err(|e| WeightsError::BadMetadata {
        key: "conditioning",
        reason: format!(
            "expected {{\"layout\": name, \"size\": inputs, \"styles\": [names]}} ({e})"
        ),
    })?;
    let known = match m.layout.as_str() {
        l if l == LAYOUT => m.size == COND_SIZE && m.styles.is_empty(),
        l if l == LAYOUT_STYLED => m.size == COND_SIZE + m.styles.len() && !m.styles.is_empty(),
        _ => false,
    };
    if !known {
        return Err(WeightsError::BadMetadata {
            key: "conditioning",
            reason: format!(
                "layout `{}` with {} inputs and {} styles is not one this version plays (it \
                 knows `{LAYOUT}` with {COND_SIZE} and `{LAYOUT_STYLED}` with {COND_SIZE} plus \
                 one per style); a newer jazz-synth may play it",
                m.layout,
                m.size,
                m.styles.len()
            ),
        });
    }
    if !m.styles.is_empty() {
        crate::music::style::check_list(&m.styles).map_err(|reason| WeightsError::BadMetadata {
            key: "conditioning",
            reason,
        })?;
    }
    let kernel = read_tensor(st, COND_TENSOR, &[m.size, 4 * hidden])?;
    let style_dense = if st.names().contains(&STYLE_DENSE_TENSOR) {
        if m.styles.is_empty() {
            return Err(WeightsError::UnexpectedTensor(STYLE_DENSE_TENSOR.into()));
        }
        read_tensor(st, STYLE_DENSE_TENSOR, &[m.styles.len(), n_values])?
    } else {
        Vec::new()
    };
    Ok(Conditioning {
        layout: m.layout,
        size: m.size,
        kernel,
        styles: m.styles,
        style_dense,
    })
}

/// The provenance keys: each is optional (a model exported from Keras or PyTorch has none),
/// and each present one must be valid.
fn read_provenance(
    meta: &std::collections::HashMap<String, String>,
) -> Result<Provenance, WeightsError> {
    fn json<T: serde::de::DeserializeOwned>(
        key: &'static str,
        text: &str,
        what: &str,
    ) -> Result<T, WeightsError> {
        serde_json::from_str(text).map_err(|e| WeightsError::BadMetadata {
            key,
            reason: format!("expected {what} ({e})"),
        })
    }
    let finite_or_null = |key: &'static str| -> Result<Option<f32>, WeightsError> {
        let Some(text) = meta.get(key) else {
            return Ok(None);
        };
        let v: Option<f32> = json(key, text, "a number or null")?;
        match v {
            Some(x) if !x.is_finite() => Err(WeightsError::BadMetadata {
                key,
                reason: format!("{x} is not finite"),
            }),
            v => Ok(v),
        }
    };
    Ok(Provenance {
        training_files: match meta.get("training_files") {
            Some(text) => json(
                "training_files",
                text,
                "a JSON array of {\"name\", \"sha256\"} objects",
            )?,
            None => Vec::new(),
        },
        hyperparameters: match meta.get("hyperparameters") {
            Some(text) => json("hyperparameters", text, "a JSON object")?,
            None => BTreeMap::new(),
        },
        final_loss: finite_or_null("final_loss")?,
        final_accuracy: finite_or_null("final_accuracy")?,
        ..Provenance::default()
    })
}

/// The optional keys of what the trainer learned about its corpus: absent keys are `None`,
/// present ones must be valid.
fn read_corpus_keys(
    provenance: &mut Provenance,
    metadata: &std::collections::HashMap<String, String>,
) -> Result<(), WeightsError> {
    fn optional<T: serde::de::DeserializeOwned>(
        metadata: &std::collections::HashMap<String, String>,
        key: &'static str,
        what: &str,
    ) -> Result<Option<T>, WeightsError> {
        metadata
            .get(key)
            .map(|text| {
                serde_json::from_str(text).map_err(|e| WeightsError::BadMetadata {
                    key,
                    reason: format!("expected {what} ({e})"),
                })
            })
            .transpose()
    }
    provenance.intervals = optional(metadata, "intervals", "an interval profile object")?;
    if let Some(profile) = &provenance.intervals {
        profile
            .validate()
            .map_err(|reason| WeightsError::BadMetadata {
                key: "intervals",
                reason,
            })?;
    }
    provenance.corpus_stats = optional(metadata, "corpus_stats", "an object of corpus figures")?;
    provenance.validation = optional(metadata, "validation", "an object of validation figures")?;
    provenance.pitch_model = optional(metadata, "pitch_model", "a pitch model object")?;
    if let Some(model) = &provenance.pitch_model {
        model
            .validate()
            .map_err(|reason| WeightsError::BadMetadata {
                key: "pitch_model",
                reason,
            })?;
    }
    provenance.corpus = optional(metadata, "corpus", "a JSON object describing the corpus")?;
    Ok(())
}

/// What names the built-in model where a weights path is asked for (`--weights builtin`).
pub const BUILTIN: &str = "builtin";

/// The one place an optional weights path becomes a model: none (or [`BUILTIN`]) is the
/// default built-in model; the name of a built-in model ([`BUILTIN_MODELS`]: `wjd`,
/// `wjd-styles`, `metheny`) that is not also an existing file is that model; anything else a file read and
/// checked by [`load_file`], whose errors name the path.
pub fn resolve(path: Option<&Path>) -> Result<Model, WeightsError> {
    match path {
        Some(p) if p.as_os_str() != BUILTIN => match p.to_str().and_then(builtin_model) {
            Some(model) if !p.exists() => Ok(model),
            _ => load_file(p),
        },
        _ => Ok(default_model()),
    }
}

/// Reads and checks a weights file; errors name the path.
pub fn load_file(path: impl AsRef<Path>) -> Result<Model, WeightsError> {
    let path = path.as_ref();
    let io = |error| WeightsError::Io {
        path: path.to_path_buf(),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(WeightsError::InFile {
            path: path.to_path_buf(),
            error: Box::new(WeightsError::Container(format!(
                "{size} bytes is far larger than any jazz-synth weights file"
            ))),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    load(&bytes).map_err(|error| WeightsError::InFile {
        path: path.to_path_buf(),
        error: Box::new(error),
    })
}

/// The file contents for `model`: deterministic (sorted keys, tensors in
/// name order, header padded with spaces to a multiple of 8 bytes).
pub fn to_bytes(model: &Model) -> Vec<u8> {
    let params = model.params();
    let provenance = model.provenance();
    let mut metadata = BTreeMap::new();
    let conditioning = model.conditioning();
    let format = if params.layers() > 1 {
        FORMAT_3
    } else if conditioning.is_some() {
        FORMAT_2
    } else {
        FORMAT
    };
    metadata.insert("format", format.to_string());
    if params.layers() > 1 {
        metadata.insert("layers", params.layers().to_string());
    }
    if let Some(c) = conditioning {
        metadata.insert(
            "conditioning",
            if c.styles.is_empty() {
                json(&serde_json::json!({"layout": c.layout, "size": c.size}))
            } else {
                json(&serde_json::json!({"layout": c.layout, "size": c.size, "styles": c.styles}))
            },
        );
    }
    if let Some(pitch) = &provenance.pitch_model {
        metadata.insert("pitch_model", json(pitch));
    }
    if let Some(corpus) = &provenance.corpus {
        metadata.insert("corpus", json(corpus));
    }
    let vocab: Vec<String> = model.vocab().iter().map(vocab_entry_text).collect();
    metadata.insert("vocab", json(&vocab));
    metadata.insert("hidden", params.hidden.to_string());
    metadata.insert("training_files", json(&provenance.training_files));
    metadata.insert("hyperparameters", json(&provenance.hyperparameters));
    metadata.insert("final_loss", json(&provenance.final_loss));
    metadata.insert("final_accuracy", json(&provenance.final_accuracy));
    if let Some(intervals) = &provenance.intervals {
        metadata.insert("intervals", json(intervals));
    }
    if let Some(stats) = &provenance.corpus_stats {
        metadata.insert("corpus_stats", json(stats));
    }
    if let Some(validation) = &provenance.validation {
        metadata.insert("validation", json(validation));
    }

    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = params
        .tensors()
        .into_iter()
        .map(|(name, shape, data)| (name.to_string(), shape, data))
        .chain(params.upper_tensors())
        .collect();
    if let Some(c) = conditioning {
        tensors.push((
            COND_TENSOR.to_string(),
            vec![c.size, 4 * params.hidden],
            &c.kernel,
        ));
        if !c.style_dense.is_empty() {
            tensors.push((
                STYLE_DENSE_TENSOR.to_string(),
                vec![c.styles.len(), params.n_values],
                &c.style_dense,
            ));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));

    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(&metadata).unwrap_or_default(),
    );
    let mut offset = 0usize;
    for (name, shape, data) in &tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');

    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for (_, _, data) in &tensors {
        for x in data.iter() {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// JSON text of a metadata field; vectors, maps, strings and optional
/// numbers always serialise, so the fallback is never used.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Writes `model` to `path` atomically: the bytes go to a temporary file in
/// the same directory, are flushed to disk, and the temporary file is renamed
/// over `path`. An interrupted save leaves either the old file or the new
/// one, never a partial file.
pub fn save_atomic(model: &Model, path: impl AsRef<Path>) -> Result<(), WeightsError> {
    let path = path.as_ref();
    crate::files::write_atomic(path, &to_bytes(model)).map_err(|error| WeightsError::Io {
        path: path.to_path_buf(),
        error,
    })
}
