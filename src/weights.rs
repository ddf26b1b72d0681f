//! The weights file (safetensors, f32) and the embedded default model.
//!
//! CONTRACT (owned by the model helper):
//! - `load(bytes: &[u8]) -> Result<Model, WeightsError>`, `load_file(path)`, `save_atomic(&Model, path)`.
//! - `default_model() -> Model` from `include_bytes!("../weights/metheny.safetensors")`.
