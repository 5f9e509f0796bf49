"""One module per command: `run` (with --check and --resume), `parity` (with --onnx), `bench`
(and `compare --remeasure`). The CLI (twinbench/cli.py) and the Python API (twinbench/api.py)
call these; each composes the shared stages (twinbench/stages/)."""
