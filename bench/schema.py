"""The contract between the engine and the reports: column names of every results table.

Bump SCHEMA_VERSION on any change of meaning; reports refuse run directories of another version.
Times are milliseconds unless the name says otherwise; samples on disk are int64 nanoseconds.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

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
    "throughput_sps",    # samples (sequences) per second = batch / mean latency
    "peak_rss_mb", "gpu_peak_mb",
    "flops", "gflops_per_s",
    "io_in_timing",      # bool: host<->device copies inside the timed call?
    "threads_actual",    # what the runtime reports back
    "runtime_settings",  # JSON: settings in effect (e.g. OpenVINO inference precision)
    "samples_file",      # relative path of the .npy of per-iteration ns
]

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
