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
    "machine_fingerprint",  # the fingerprint of the machine that measured the row (core/machine.py)
]

#: repeats.csv / .parquet: one row per cell x worker process (the per-process figures).
REPEATS_COLUMNS = RESULTS_COLUMNS + ["repeat", "fast_p50_ms", "rounds"]

#: rounds.csv / .parquet: one row per timed round of a process, with the machine-state probe.
ROUNDS_COLUMNS = KEY + ["machine", "repeat", "round", "probe_py_us", "probe_np_us", "count", "p50_ms", "fast"]

#: parity.csv / parity.parquet: one row per cell x output x eval set.
PARITY_COLUMNS = ["run_id", "twin", "artifact", "exporter", "precision", "runtime", "device",
                  "profile", "inputs", "n", "max_abs", "max_rel", "mean_abs", "rmse", "cosine",
                  "argmax_agree", "worst_index", "atol", "rtol", "verdict", "first_divergent_layer",
                  "error", "profile_reason",
                  "machine"]  # the kind of machine (executor tag) the outputs came from; "" locally

#: training.csv / training.parquet: one row per twin x framework x epoch.
TRAINING_COLUMNS = ["run_id", "twin", "framework", "mode", "epoch", "train_loss", "val_loss",
                    "val_acc", "val_token_acc", "seconds"]

#: One row per twin x Keras layer (plus torch-only rows and a `total` row): models/params.py.
PARAMS_COLUMNS = ["run_id", "twin", "layer", "torch", "keras", "difference", "why"]

#: load.csv / load.parquet: one row per MLPerf LoadGen run of a Server or Offline cell (bench/load/),
#: plus one `failed` row for a cell that could not finish. `batch` is the most samples per inference
#: call (Server: 1; Offline: the run's max batch). Meanings in docs/schema.md.
LOAD_COLUMNS = KEY + [
    "scenario",          # server | offline
    "step",              # server: search | target | curve; offline: sweep | rerun
    "run_index",         # order of the LoadGen run within its cell
    "streams",           # concurrency: sessions (or OpenVINO infer requests) serving at once
    "target_qps",        # server: Poisson arrival rate asked; offline: the expected QPS LoadGen sized from
    "achieved_qps",      # server: completed samples/s; offline: samples/s
    "scheduled_qps",     # server: arrival rate LoadGen achieved
    "queries", "samples",  # queries LoadGen issued (Offline: 1) and samples they held
    "duration_s", "min_queries",  # the run's minimum duration (s) and query count
    "latency_bound_ms", "percentile",
    "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
    "valid",             # bool: LoadGen's verdict is VALID
    "loadgen_result",    # VALID | INVALID
    "loadgen_reason",    # the checks that failed and LoadGen's recommendation
    "early_stopping_met", "early_stopping", "overlatency_queries",
    "headline",          # bool: the cell's figure (server: highest VALID QPS; offline: best samples/s)
    "search_stop",       # server: why the max-QPS search stopped
    "status", "error",   # ok | failed (a failed row carries the reason)
    "runtime_settings",  # JSON: concurrency and runtime settings in effect
    "log_dir",           # LoadGen's summary and detail logs of this run, relative to the run directory
]

VERDICTS = ("PASS", "FAIL", "ERROR", "SKIP")

#: Every table the run directory holds, with its schema columns (extra columns are kept after them).
TABLE_COLUMNS: dict[str, list[str]] = {
    "results": RESULTS_COLUMNS, "parity": PARITY_COLUMNS, "training": TRAINING_COLUMNS, "params": PARAMS_COLUMNS,
    "repeats": REPEATS_COLUMNS, "rounds": ROUNDS_COLUMNS, "load": LOAD_COLUMNS,
}

#: Column types ("string", "int", "float", "bool") written into every table file, so a column that
#: is empty in one run (all null) keeps its type and two runs' tables concatenate and compare.
#: Columns not listed are floats; the per-table entries win over the shared ones.
_STRINGS = ("run_id", "twin", "artifact", "exporter", "source", "precision", "runtime", "device", "status", "error",
            "runtime_settings", "samples_file", "headline", "machine", "machine_info", "machine_fingerprint",
            "profile", "inputs", "verdict", "first_divergent_layer", "profile_reason", "framework", "mode",
            "layer", "why", "scenario", "step", "loadgen_result", "loadgen_reason", "early_stopping", "search_stop",
            "log_dir")
_INTS = ("batch", "seq_len", "threads", "iterations", "warmup_iters", "threads_actual", "repeats", "repeat",
         "rounds", "round", "count", "epoch", "n", "worst_index", "run_index", "streams", "queries", "samples",
         "min_queries", "overlatency_queries", "torch", "keras", "difference")
_BOOLS = ("io_in_timing", "fast", "valid", "early_stopping_met")
COLUMN_TYPES: dict[str, str] = {**{c: "string" for c in _STRINGS}, **{c: "int" for c in _INTS},
                                **{c: "bool" for c in _BOOLS}}
TABLE_TYPES: dict[str, dict[str, str]] = {"load": {"headline": "bool"}}


def column_type(table: str, column: str) -> str:
    """The declared type of `column` in `table` (see COLUMN_TYPES)."""
    return TABLE_TYPES.get(table, {}).get(column) or COLUMN_TYPES.get(column, "float")
