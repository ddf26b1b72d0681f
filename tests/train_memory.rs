//! Memory of training on a large corpus: 100,000 values with a 750-value vocabulary (Tx 30, two
//! threads), the run the trainer's speed targets are set for. Its heap must stay under 100 MB
//! at its peak. A counting allocator (this test binary's own) measures the live heap; the one
//! test in this binary keeps other tests' allocations out of the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use jazz_synth::train::{NumpyRandomState, TrainConfig, Trainer};

mod common;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn synthetic_corpus(len: usize, n: usize) -> Vec<usize> {
    let mut rng = NumpyRandomState::seed(11);
    let riff = [0, 3, 5, 3, 7, 5, 3, 0, 10, 7, 5, 3];
    (0..len)
        .map(|i| {
            if rng.choice(10) == 0 {
                rng.choice(n)
            } else {
                (riff[i % riff.len()] + i / 48) % n
            }
        })
        .collect()
}

#[test]
fn training_a_100k_value_corpus_stays_under_100_mb() {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let corpus = synthetic_corpus(100_000, 750);
    // Every window of the corpus, as jazz-train trains by default: its window list is built.
    let every = TrainConfig {
        every_window: true,
        threads: 2,
        epochs: 1,
        ..TrainConfig::default()
    };
    let all = Trainer::new(&corpus, 750, &every).expect("valid setup");
    drop(all);
    // An epoch's batches, Adam and the two threads' buffers, on 512 of those windows.
    let some = TrainConfig {
        windows: 512,
        threads: 2,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&corpus, 750, &some).expect("valid setup");
    trainer.epoch().expect("a finite loss");
    let model_peak = PEAK.load(Ordering::Relaxed) - before;
    let mb = model_peak as f64 / (1024.0 * 1024.0);
    common::summary::note(&format!(
        "train: peak heap of training a 100k-value corpus (vocabulary 750, Tx 30, 2 threads): \
         {mb:.1} MB"
    ));
    assert!(mb <= 100.0, "peak heap {mb:.1} MB");
}
