"""One module per command, each over the shared stages (twinbench/stages/) and reports:

| module | command | Python API (twinbench/api.py) |
| --- | --- | --- |
| `run.py` | `twinbench run` (`--check`, `--resume`) | `api.run` |
| `bench.py` | `twinbench bench`, and the copies `gate` measures | `api.bench` |
| `parity.py` | `twinbench parity` (`--onnx` judges a file) | `api.parity`, `api.judge` |
| `compare.py` | `twinbench compare` (`--remeasure`: through `gate.py`) | `api.compare`, `api.has_regression` |
| `gate.py` | `twinbench gate`: sequential, interleaved re-measurement and its verdicts | `api.gate` |
| `report.py` | `twinbench report` (`--baseline`, `--summary`) | `api.report`, `api.summary` |
| `hardware.py` | `twinbench hardware` | `api.hardware` |
| `history.py` | `twinbench history` | `api.history`, `api.steps` |
| `export.py` | `twinbench export` | `api.export` |
| `check_system.py` | `twinbench check-system` | `api.check_system` |
| `list.py` | `twinbench list` | `api.listing` |

Each module holds the command's work as plain functions (what the API calls) and `main(...)`, the
command line's body: it takes the parsed options and returns a `summary.Answer` (exit code, the
`--json` object, the text). twinbench/cli.py only declares options and calls `main`; a new option is
one declaration there and one keyword here. `progress.py` is the progress bar on stderr.
"""
