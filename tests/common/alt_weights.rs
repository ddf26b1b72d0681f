//! A valid weights file whose model differs from the embedded one.

/// Writes a valid weights file whose model differs from the embedded one: the embedded
/// vocabulary under a small random network.
pub fn write_alternative_weights(path: &std::path::Path) {
    use jazz_synth::model::lstm::{LstmParams, Model, Provenance};
    let vocab = jazz_synth::model::weights::default_model().vocab().to_vec();
    let (n, h) = (vocab.len(), 16);
    let mut params = LstmParams::zeros(n, h);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut fill = |v: &mut Vec<f32>, scale: f32| {
        for x in v.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *x = ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
        }
    };
    fill(&mut params.kernel, 1.0);
    fill(&mut params.recurrent_kernel, 0.5);
    fill(&mut params.bias, 0.2);
    fill(&mut params.dense_kernel, 2.0);
    fill(&mut params.dense_bias, 0.5);
    let model = Model::new(params, vocab, Provenance::default()).expect("a valid model");
    jazz_synth::model::weights::save_atomic(&model, path).expect("weights written");
}
