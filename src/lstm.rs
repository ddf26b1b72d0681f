//! The inference LSTM: one-hot index in, softmax probabilities out, explicit
//! hidden and cell state. Keras layout, gate order input, forget, cell, output.
//!
//! CONTRACT (owned by the model helper):
//! - `Model` holds params (`LstmParams`), vocab `Vec<Value>`, metadata and its own state buffers.
//! - `Model::reset(&mut self)`, `Model::step(&mut self, input: Option<usize>) -> &[f32]`
//!   (probabilities, never allocates), `hidden() -> &[f32]`, `cell() -> &[f32]`, `n_values()`, `vocab()`.
//! - `sample(probs: &[f32], temperature: f32, rng: &mut impl rand::Rng) -> usize` (0 = argmax).
