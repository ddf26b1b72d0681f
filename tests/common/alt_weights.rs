//! A valid weights file whose model differs from the embedded one.

use jazz_synth::model::lstm::{Model, Provenance};
use jazz_synth::model::weights;

/// Writes a valid weights file whose model differs from the embedded one: the embedded
/// vocabulary under a small random network.
pub fn write_alternative_weights(path: &std::path::Path) {
    let vocab = weights::default_model().vocab().to_vec();
    let params = super::random_params(vocab.len(), 16, 0x9E37_79B9, super::LIVELY);
    let model = Model::new(params, vocab, Provenance::default()).expect("a valid model");
    weights::save_atomic(&model, path).expect("weights written");
}
