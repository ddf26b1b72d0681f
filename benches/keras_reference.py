#!/usr/bin/env python3
"""The chord-aware model of `jazz-train --preset jazz`, trained in TensorFlow/Keras on the same
values, for a side-by-side measurement of epoch time and held-out loss.

Install (once, in a virtual environment outside the repository):

    pip install tensorflow-cpu numpy

Run (`jazz-train` built with `cargo build --release --bin jazz-train`):

    python benches/keras_reference.py solos/ --epochs 2 --hidden 256 --layers 1 --threads 2

It runs `jazz-train export-dataset` on the files given (or reads `--dataset FILE`, a file that
command wrote), trains, and prints one JSON line last on stdout:
{"seconds_per_epoch": ..., "heldout_nll": ..., ...}; the same keys as `jazz-train ... --report`.

What is the same as jazz-train, and how:
- data: the export is jazz-train's own reading of the collection (split by file hash, the
  training solos' vocabulary, the conditioning vectors). Windows as `--preset jazz` makes them:
  the training solos' values one after the other, a window of Tx values starting at every
  `stride`-th position (0, stride, 2·stride, ... below N − Tx; stride Tx/2 by default), all of
  them every epoch, shuffled. Step t of a window starting at s hears the previous value s+t
  (nothing at t = 0) and the conditioning of value s+t+1, and predicts value s+t+1; the last
  step has no target.
- network: the LSTM input is [one-hot previous value, conditioning]; its kernel is kept as two
  blocks, the previous value's rows (a lookup: one row per value, none at the first step) and
  the conditioning's rows (a matrix product), which is the same function as the product with
  the one-hot vector, without multiplying 1,700 zeros. Gates i, f, c, o with sigmoid and tanh
  (Keras's LSTMCell), then `--layers − 1` more Keras LSTM layers of the same width, then a
  Dense softmax. Keras's initialisation: Glorot-uniform kernels (each block on its own fan, as
  jazz-train draws them), orthogonal recurrent kernels, zero biases, forget-gate bias 1.
- loss: cross-entropy summed over the steps that have a target, averaged over the batch (Keras's
  sum over Tx outputs of the Coursera model), computed from the logits.
- optimiser: Adam (β1 0.9, β2 0.999, ε 1e-7) with the learning rate lr / (1 + decay · step),
  Keras 2's legacy decay, one step per batch of `--batch` windows (the last batch smaller).
- held-out loss: each validation solo from a zero state, the first step hearing no previous
  value, every value a target; the mean of −ln max(p, 1e-12) per value (nats), as jazz-train's
  validation computes it.
- threads: tf.config.threading intra- and inter-op parallelism both set to `--threads`.

`seconds_per_epoch` is the mean wall time of `fit`'s epochs after the first (the first also
builds TensorFlow's graph; all are in `epoch_seconds`; with one epoch, that one), the held-out
scoring after each epoch not counted (`validation_seconds`). `cpu_seconds_per_epoch` counts
the process's CPU time (every thread) the same way: on a machine others share, it measures the
work, which wall time does not. jazz-train's report counts both the same way.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(
        description="Train jazz-train's chord-aware model in Keras on the same data."
    )
    p.add_argument("files", nargs="*", help="the collection (files, folders), as for jazz-train")
    p.add_argument("--dataset", help="a file `jazz-train export-dataset` wrote, instead of files")
    p.add_argument(
        "--jazz-train",
        default=os.path.join("target", "release", "jazz-train"),
        help="the jazz-train binary that exports the files (default target/release/jazz-train)",
    )
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    p.add_argument("--tx", type=int, default=64)
    p.add_argument("--stride", type=int, help="window stride (default Tx / 2)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--decay", type=float, default=0.0001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", type=float, default=0.1)
    p.add_argument("--test", type=float, default=0.2)
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--report", help="also write the JSON object to this file")
    a = p.parse_args()
    if bool(a.files) == bool(a.dataset):
        p.error("give the collection's files or --dataset FILE (one of them)")
    for name in ("epochs", "hidden", "layers", "threads", "tx", "batch"):
        if getattr(a, name) < (2 if name == "tx" else 1):
            p.error(f"--{name} {getattr(a, name)} is too small")
    if a.stride is None:
        a.stride = max(a.tx // 2, 1)
    return a


def log(*xs):
    print(*xs, file=sys.stderr, flush=True)


def read_dataset(path, np):
    """The arrays and header of a `jazz-synth-dataset/1` file."""
    with open(path, "rb") as f:
        header = json.loads(f.readline())
        rest = f.read()
    if header.get("format") != "jazz-synth-dataset/1":
        raise SystemExit(f"{path}: not a jazz-synth dataset (format {header.get('format')!r})")
    arrays = {}
    for name, a in header["arrays"].items():
        count = 1
        for d in a["shape"]:
            count *= d
        arrays[name] = np.frombuffer(rest, a["dtype"], count, a["offset"]).reshape(a["shape"])
    return header, arrays


def export(args):
    out = os.path.join(tempfile.mkdtemp(prefix="keras-reference-"), "dataset.bin")
    cmd = [args.jazz_train, "export-dataset", *args.files, "--out", out]
    cmd += ["--validation", str(args.validation), "--test", str(args.test)]
    cmd += ["--min-count", str(args.min_count)]
    log("running", " ".join(cmd))
    try:
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    except FileNotFoundError:
        raise SystemExit(
            f"{args.jazz_train} not found: build it (cargo build --release --bin jazz-train) "
            "or give --jazz-train PATH"
        )
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"jazz-train export-dataset failed ({e.returncode})")
    return out


def main():
    args = parse_args()
    # Before TensorFlow starts its thread pools.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import tensorflow as tf
    import keras
    from keras import ops

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    path = args.dataset or export(args)
    header, arr = read_dataset(path, np)
    n = len(header["vocabulary"])
    cond_size = header["cond_size"]
    values = arr["train_values"].astype(np.int32)
    cond = arr["train_cond"]
    N = len(values)
    if N < args.tx + 1:
        raise SystemExit(f"the training part has {N} values; windows of {args.tx} need more")

    # The windows (see the docstring): starts 0, stride, ... below N − Tx.
    starts = np.arange(0, N - args.tx, args.stride)
    steps = np.arange(args.tx)
    at = starts[:, None] + steps[None, :]
    x_prev = values[at]
    x_prev[:, 0] = n  # "no previous value"
    x_cond = np.ascontiguousarray(cond[at + 1])
    y = values[at + 1].copy()
    y[:, -1] = -1  # the last step has no target
    log(
        f"{n} values, {cond_size} conditioning inputs, {N} training values: {len(starts)} windows "
        f"of {args.tx} (stride {args.stride}); hidden {args.hidden}, layers {args.layers}, "
        f"batch {args.batch}, {args.threads} thread(s); TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}"
    )

    h4 = 4 * args.hidden

    class PreviousValue(keras.layers.Layer):
        """The LSTM kernel's rows of the one-hot previous value: row `prev`, zero for `n`."""

        def build(self, input_shape):
            limit = (6.0 / (n + h4)) ** 0.5
            self.kernel = self.add_weight(
                shape=(n, h4),
                initializer=keras.initializers.RandomUniform(-limit, limit),
                name="kernel",
            )

        def call(self, prev):
            rows = ops.take(self.kernel, ops.minimum(prev, n - 1), axis=0)
            return rows * ops.expand_dims(ops.cast(prev < n, rows.dtype), -1)

    class ProjectedLSTMCell(keras.layers.Layer):
        """Keras's LSTMCell (gates i, f, c, o) fed x·W already computed."""

        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape):
            u = self.units
            self.recurrent_kernel = self.add_weight(
                shape=(u, 4 * u), initializer="orthogonal", name="recurrent_kernel"
            )

            def bias_init(shape, dtype=None):
                return ops.concatenate([ops.zeros((u,)), ops.ones((u,)), ops.zeros((2 * u,))])

            self.bias = self.add_weight(shape=(4 * u,), initializer=bias_init, name="bias")

        def call(self, inputs, states, training=False):
            h, c = states
            z = inputs + ops.matmul(h, self.recurrent_kernel) + self.bias
            i, f, g, o = ops.split(z, 4, axis=-1)
            c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
            h = ops.sigmoid(o) * ops.tanh(c)
            return h, [h, c]

    prev_in = keras.Input(shape=(None,), dtype="int32", name="previous_value")
    cond_in = keras.Input(shape=(None, cond_size), dtype="float32", name="conditioning")
    z = PreviousValue(name="lstm_kernel_values")(prev_in) + keras.layers.Dense(
        h4, use_bias=False, name="lstm_kernel_conditioning"
    )(cond_in)
    h = keras.layers.RNN(ProjectedLSTMCell(args.hidden), return_sequences=True, name="lstm_1")(z)
    for k in range(2, args.layers + 1):
        h = keras.layers.LSTM(args.hidden, return_sequences=True, name=f"lstm_{k}")(h)
    logits = keras.layers.Dense(n, name="dense")(h)
    model = keras.Model([prev_in, cond_in], logits)

    def summed_cross_entropy(y_true, y_pred):
        target = ops.cast(y_true, "int32")
        ce = ops.sparse_categorical_crossentropy(
            ops.maximum(target, 0), y_pred, from_logits=True
        )
        return ops.sum(ops.where(target >= 0, ce, 0.0), axis=-1)

    schedule = keras.optimizers.schedules.InverseTimeDecay(
        args.lr, decay_steps=1, decay_rate=args.decay
    )
    optimizer = keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    model.compile(optimizer=optimizer, loss=summed_cross_entropy)

    # Held-out scoring: whole validation solos, a few at a time, padded at the end.
    v_values = arr["validation_values"].astype(np.int32)
    v_cond = arr["validation_cond"]
    v_starts = arr["validation_starts"]
    solos = sorted(
        [(int(v_starts[k]), int(v_starts[k + 1])) for k in range(len(v_starts) - 1)],
        key=lambda s: s[1] - s[0],
    )
    solos = [s for s in solos if s[1] > s[0]]

    @tf.function(reduce_retracing=True)
    def target_log_probs(prev, cnd, target):
        lp = tf.nn.log_softmax(model([prev, cnd], training=False), axis=-1)
        return tf.gather(lp, target, axis=-1, batch_dims=2)

    def heldout_nll():
        total, count = 0.0, 0
        for g in range(0, len(solos), 4):
            group = solos[g : g + 4]
            length = max(b - a for a, b in group)
            prev = np.full((len(group), length), n, np.int32)
            cnd = np.zeros((len(group), length, cond_size), np.float32)
            target = np.zeros((len(group), length), np.int32)
            mask = np.zeros((len(group), length), bool)
            for r, (a, b) in enumerate(group):
                prev[r, 1 : b - a] = v_values[a : b - 1]
                cnd[r, : b - a] = v_cond[a:b]
                target[r, : b - a] = v_values[a:b]
                mask[r, : b - a] = True
            lp = target_log_probs(prev, cnd, target).numpy().astype(np.float64)
            total += float(-np.maximum(lp[mask], np.log(1e-12)).sum())
            count += int(mask.sum())
        return total / max(count, 1) if count else None

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.nll, self.validation_seconds, self.cpu = [], [], [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()
            self.began_cpu = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.began)
            self.cpu.append(time.process_time() - self.began_cpu)
            t = time.perf_counter()
            nll = heldout_nll()
            self.validation_seconds.append(time.perf_counter() - t)
            if nll is not None:
                self.nll.append(nll)
            per_value = logs["loss"] / (args.tx - 1)
            log(
                f"epoch {epoch + 1}/{args.epochs}: training {per_value:.3f}/value, "
                f"validation {nll if nll is None else round(nll, 3)}/value, "
                f"{self.seconds[-1]:.1f} s ({len(starts) / self.seconds[-1]:.0f} windows/s)"
            )

    clock = Clock()
    model.fit(
        [x_prev, x_cond],
        y,
        batch_size=args.batch,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[clock],
    )
    steady = clock.seconds[1:] or clock.seconds
    spe = sum(steady) / len(steady)
    steady_cpu = clock.cpu[1:] or clock.cpu
    report = {
        "program": "keras",
        "seconds_per_epoch": spe,
        "heldout_nll": clock.nll[-1] if clock.nll else None,
        "epochs": len(clock.seconds),
        "epoch_seconds": clock.seconds,
        "cpu_seconds_per_epoch": sum(steady_cpu) / len(steady_cpu),
        "epoch_cpu_seconds": clock.cpu,
        "heldout_nll_per_epoch": clock.nll,
        "validation_seconds": sum(clock.validation_seconds) / len(clock.validation_seconds),
        "windows_per_epoch": int(len(starts)),
        "windows_per_second": len(starts) / spe,
        "hidden": args.hidden,
        "layers": args.layers,
        "threads": args.threads,
        "tx": args.tx,
        "batch": args.batch,
        "config": {
            "lr": args.lr,
            "decay": args.decay,
            "stride": args.stride,
            "seed": args.seed,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    line = json.dumps(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
