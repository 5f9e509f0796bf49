"""The contract between the engine and the reports: column names of every results table.

Bump SCHEMA_VERSION on any change of meaning; reports refuse run directories of another version.
Times are milliseconds unless the name says otherwise; samples on disk are int64 nanoseconds.
"""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: repeats across processes (docs/schema.md, "Version 2")

#: Identifies one benchmark cell (one row of results).
KEY = ["run_id", "twin", "artifact", "exporter", "source", "precision", "runtime", "device",
       "batch", "seq_len", "threads"]

#: results.csv / results.parquet: one row per cell.
RESULTS_COLUMNS = KEY + [
    "status",            # ok | failed | skipped | invalid
    "error",             # one line; empty when ok
    "iterations", "measured_s", "warmup_iters",
    "cold_load_ms", "cold_first_run_ms",
    "min_ms", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "cv",
    "spread",            # IQR / median of the samples (the validity rule; robust to a preempted call)
    "throughput_sps",    # samples (sequences) per second = batch / mean latency
    "peak_rss_mb", "gpu_peak_mb",
    "flops", "gflops_per_s",
    "io_in_timing",      # bool: host<->device copies inside the timed call?
    "threads_actual",    # what the runtime reports back
    "runtime_settings",  # JSON: settings in effect (e.g. OpenVINO inference precision)
    "samples_file",      # relative path of the .npy of per-iteration ns
    "repeats",           # worker processes that measured the cell (valid ones counted in the figures)
    "between_spread",    # robust relative spread of the processes' figures (1.4826 MAD / median)
    "mde",               # minimum detectable effect of a compare of two such runs (relative, e.g. 0.03)
    "state_fast",        # fraction of rounds that ran in the machine's fast state (bench/probe.py)
    "headline",          # how p50_ms was formed, e.g. "median of 5 process medians, fast state"
    "machine",           # the machine kind (executor resource tag, e.g. "hw:cpu-a") the cell ran on; "" locally
    "machine_info",      # JSON: the node's rundir.machine_info() (+ node id/ip) where an executor ran it remotely
]

#: repeats.csv / .parquet: one row per cell x worker process (the per-process figures).
REPEATS_COLUMNS = RESULTS_COLUMNS + ["repeat", "fast_p50_ms", "rounds"]

#: rounds.csv / .parquet: one row per timed round of a process, with the machine-state probe.
ROUNDS_COLUMNS = KEY + ["repeat", "round", "probe_py_us", "probe_np_us", "count", "p50_ms", "fast"]

#: parity.csv / parity.parquet: one row per cell x output x eval set.
PARITY_COLUMNS = ["run_id", "twin", "artifact", "exporter", "precision", "runtime", "device",
                  "profile", "inputs", "n", "max_abs", "max_rel", "mean_abs", "rmse", "cosine",
                  "argmax_agree", "worst_index", "atol", "rtol", "verdict", "first_divergent_layer",
                  "error", "profile_reason"]

#: training.csv / training.parquet: one row per twin x framework x epoch.
TRAINING_COLUMNS = ["run_id", "twin", "framework", "mode", "epoch", "train_loss", "val_loss",
                    "val_acc", "val_token_acc", "seconds"]

#: One row per twin x Keras layer (plus torch-only rows and a `total` row): models/params.py.
PARAMS_COLUMNS = ["run_id", "twin", "layer", "torch", "keras", "difference", "why"]

STATUSES = ("ok", "failed", "skipped", "invalid")
VERDICTS = ("PASS", "FAIL", "ERROR", "SKIP")
