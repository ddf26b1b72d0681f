//! The fused training kernel (`Kernel::Fused`, what `jazz-train` uses on collections) computes
//! the step-by-step kernel's loss and gradients: checked in f64 on stacks with and without
//! conditioning, on batches smaller than its buffers, and against finite differences; a run with
//! it on two threads gives the same weights every time and learns.

use jazz_synth::train::{
    forward_backward, forward_backward_fused, Batch, FusedWorkspace, Kernel, Network,
    NumpyRandomState, TrainConfig, Trainer,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;
use common::gradient::check_gradients;

fn walk(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut v = 0usize;
    (0..len)
        .map(|_| {
            v = (v + 1 + rng.random_range(0..3)) % n;
            v
        })
        .collect()
}

fn cond_numbers(len: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..len * size).map(|_| rng.random::<f32>()).collect()
}

/// A seeded network with every weight and bias away from zero; its last `styles` conditioning
/// inputs also feed the dense layer (style rows).
fn network(n: usize, h: usize, c: usize, layers: usize, styles: usize, seed: u32) -> Network<f64> {
    let mut rng = NumpyRandomState::seed(seed);
    let mut net = Network::<f64>::keras_init_layers(n, h, c, layers, &mut rng);
    net.style_dense = ndarray::Array2::zeros((styles, n));
    for buf in net.buffers_mut() {
        for x in buf.iter_mut() {
            *x = 1.4 * *x + 0.2 * rng.standard_normal();
        }
    }
    net
}

fn batch(corpus: &[usize], cond: &[f32], c: usize, starts: &[usize], tx: usize) -> Batch {
    let windows: Vec<&[usize]> = starts.iter().map(|&s| &corpus[s..s + tx]).collect();
    if c == 0 {
        Batch::from_windows(&windows)
    } else {
        Batch::from_windows_with(&windows, starts, c, |k| &cond[k * c..(k + 1) * c])
    }
}

#[test]
fn the_fused_kernel_gives_the_step_by_step_gradients() {
    for (layers, c, styles, h) in [(1, 0, 0, 5), (1, 4, 2, 6), (2, 3, 3, 4), (3, 0, 0, 3)] {
        let (n, tx) = (7, 9);
        let net = network(n, h, c, layers, styles, 10 + layers as u32);
        let corpus = walk(80, n, 1);
        let cond = cond_numbers(corpus.len(), c, 2);
        let mut ws = FusedWorkspace::default();
        // A full batch, then a smaller one in the same (larger) buffers.
        for starts in [&[0usize, 9, 31, 50, 3][..], &[12, 40][..]] {
            let b = batch(&corpus, &cond, c, starts, tx);
            let mut want = net.zeros_like();
            let reference = forward_backward(&net, &b, &mut want);
            let mut got = net.zeros_like();
            let fused = forward_backward_fused(&net, &b, &mut got, &mut ws);
            let case = format!(
                "{layers} layer(s), {c} conditioning inputs, batch {}",
                starts.len()
            );
            assert!(
                (fused.loss - reference.loss).abs() < 1e-12 * reference.loss,
                "{case}: loss {} vs {}",
                fused.loss,
                reference.loss
            );
            assert_eq!(fused.correct, reference.correct, "{case}");
            assert_eq!(fused.targets, reference.targets, "{case}");
            let (want, got) = (want.buffers(), got.buffers());
            assert_eq!(want.len(), got.len());
            for (k, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(w.len(), g.len(), "{case}: buffer {k}");
                let scale = w.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
                for (i, (a, b)) in w.iter().zip(g.iter()).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-10 * scale,
                        "{case}: buffer {k}[{i}]: step by step {a}, fused {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn fused_gradients_match_a_finite_difference() {
    let (n, h, c, styles, layers, tx) = (5, 3, 2, 1, 2, 6);
    let mut net = network(n, h, c, layers, styles, 3);
    let corpus = walk(40, n, 4);
    let cond = cond_numbers(corpus.len(), c, 5);
    let b = batch(&corpus, &cond, c, &[1, 14, 25], tx);
    let mut ws = FusedWorkspace::default();
    let mut grads = net.zeros_like();
    forward_backward_fused(&net, &b, &mut grads, &mut ws);
    let mut scratch = net.zeros_like();
    let (checked, _) = check_gradients(
        &mut net,
        &grads,
        |tensor| format!("buffer {tensor}"),
        |net| forward_backward_fused(net, &b, &mut scratch, &mut ws).loss,
    );
    let per_upper = 2 * h * 4 * h + 4 * h;
    assert_eq!(
        checked,
        n * 4 * h
            + h * 4 * h
            + 4 * h
            + h * n
            + n
            + c * 4 * h
            + (layers - 1) * per_upper
            + styles * n
    );
}

#[test]
fn a_fused_run_on_two_threads_is_repeatable_and_learns_as_the_stepwise_one() {
    let corpus = walk(600, 10, 8);
    let cond = cond_numbers(corpus.len(), 3, 9);
    let config = |kernel| TrainConfig {
        every_window: true,
        stride: 3,
        tx: 10,
        hidden: 16,
        layers: 2,
        lr: 0.02,
        decay: 0.0,
        epochs: 5,
        batch: 16,
        threads: 2,
        kernel,
        ..TrainConfig::default()
    };
    let run = |kernel| {
        let config = config(kernel);
        let mut trainer = Trainer::new_conditioned(&corpus, 10, &config, &cond, 3).unwrap();
        let losses: Vec<f64> = (0..config.epochs)
            .map(|_| trainer.epoch().unwrap().loss)
            .collect();
        (trainer.params(), losses)
    };
    let (a, fused) = run(Kernel::Fused);
    let (b, _) = run(Kernel::Fused);
    assert_eq!(a, b, "same seed and threads, same weights");
    let (_, stepwise) = run(Kernel::Stepwise);
    // The same arithmetic up to rounding: the epochs' losses agree closely.
    for (f, s) in fused.iter().zip(&stepwise) {
        assert!(
            (f - s).abs() < 1e-3 * s,
            "fused {fused:?}, stepwise {stepwise:?}"
        );
    }
    assert!(fused.last().unwrap() < &(0.8 * fused[0]), "{fused:?}");
}

#[test]
fn a_stop_request_ends_an_epoch_between_batches() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let corpus = walk(20_000, 10, 3);
    let config = TrainConfig {
        every_window: true,
        tx: 16,
        hidden: 32,
        epochs: 1,
        kernel: Kernel::Fused,
        ..TrainConfig::default()
    };
    let stop = AtomicBool::new(false);
    let mut trainer = Trainer::new(&corpus, 10, &config).unwrap();
    trainer.stop_when(&stop);
    let before = trainer.params();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            stop.store(true, Ordering::SeqCst);
        });
        // About 20,000 windows: far more than 100 ms of batches.
        let err = trainer.epoch().unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
    });
    assert_eq!(trainer.epochs_run(), 0);
    assert_ne!(
        trainer.params(),
        before,
        "the batches before the stop were applied"
    );
    // Cleared, the next epoch runs to its end.
    stop.store(false, Ordering::SeqCst);
    let mut short = Trainer::new(&corpus[..400], 10, &config).unwrap();
    short.stop_when(&stop);
    assert!(short.epoch().is_ok());
}

#[test]
fn the_fused_kernel_in_f32_agrees_with_f64_at_uneven_sizes() {
    // f32 takes the vectorised path (AVX2/FMA where the CPU has them): sizes that leave
    // partial panels (4H = 148 columns, not a multiple of 16) and partial row blocks (5 and 3
    // windows, not multiples of 4).
    let (n, h, c, layers, tx) = (23, 37, 5, 2, 12);
    let net = network(n, h, c, layers, 2, 77);
    let mut net32 =
        Network::<f32>::keras_init_layers(n, h, c, layers, &mut NumpyRandomState::seed(1));
    net32.style_dense = ndarray::Array2::zeros((2, n));
    for (dst, src) in net32.buffers_mut().into_iter().zip(net.buffers()) {
        for (d, &s) in dst.iter_mut().zip(src.iter()) {
            *d = s as f32;
        }
    }
    let corpus = walk(200, n, 5);
    let cond = cond_numbers(corpus.len(), c, 6);
    let mut ws32 = FusedWorkspace::default();
    for starts in [&[0usize, 17, 40, 88, 130][..], &[5, 60, 150][..]] {
        let b = batch(&corpus, &cond, c, starts, tx);
        let mut want = net.zeros_like();
        let reference = forward_backward(&net, &b, &mut want);
        let mut got = net32.zeros_like();
        let fused = forward_backward_fused(&net32, &b, &mut got, &mut ws32);
        let case = format!("batch {}", starts.len());
        let loss = f64::from(fused.loss);
        assert!(
            (loss - reference.loss).abs() < 1e-5 * reference.loss,
            "{case}: loss {loss} vs {}",
            reference.loss
        );
        assert_eq!(fused.targets, reference.targets, "{case}");
        for (k, (w, g)) in want.buffers().iter().zip(got.buffers()).enumerate() {
            let scale = w.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
            for (i, (a, b)) in w.iter().zip(g.iter()).enumerate() {
                assert!(
                    (a - f64::from(*b)).abs() < 1e-4 * scale,
                    "{case}: buffer {k}[{i}]: f64 {a}, f32 {b}"
                );
            }
        }
    }
}
