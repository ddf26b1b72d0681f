//! The finite-difference check of a network's gradients, shared by the step-by-step trainer's,
//! the stacked layers' and the fused kernel's tests.
#![allow(dead_code)] // Only the binaries that check gradients use it.

use jazz_synth::train::Network;

/// Checks every entry of `grads`, the analytic gradient of `loss` at `net`, against the central
/// difference (loss(w + ε) − loss(w − ε)) / 2ε with ε = 1e-5: equal within 1e-9 where both are
/// below 1e-7 (a weight the batch never reaches), else a relative error below 1e-4.
/// `name(buffer)` names a buffer of [`Network::buffers`] in a failure. Each weight is put back
/// after its check. Returns how many entries were checked and the worst relative error.
pub fn check_gradients(
    net: &mut Network<f64>,
    grads: &Network<f64>,
    name: impl Fn(usize) -> String,
    mut loss: impl FnMut(&Network<f64>) -> f64,
) -> (usize, f64) {
    let eps = 1e-5;
    let (mut checked, mut worst) = (0, 0.0f64);
    for tensor in 0..net.buffers().len() {
        for k in 0..net.buffers()[tensor].len() {
            let original = net.buffers()[tensor][k];
            net.buffers_mut()[tensor][k] = original + eps;
            let plus = loss(net);
            net.buffers_mut()[tensor][k] = original - eps;
            let minus = loss(net);
            net.buffers_mut()[tensor][k] = original;
            let numeric = (plus - minus) / (2.0 * eps);
            let analytic = grads.buffers()[tensor][k];
            let scale = numeric.abs().max(analytic.abs());
            if scale < 1e-7 {
                assert!(
                    (numeric - analytic).abs() < 1e-9,
                    "{}[{k}]: analytic {analytic}, numeric {numeric}",
                    name(tensor)
                );
            } else {
                let rel = (numeric - analytic).abs() / scale;
                worst = worst.max(rel);
                assert!(
                    rel < 1e-4,
                    "{}[{k}]: analytic {analytic}, numeric {numeric}, relative error {rel}",
                    name(tensor)
                );
            }
            checked += 1;
        }
    }
    (checked, worst)
}
