"""Parameter counts of a twin, layer by layer, torch next to Keras, with every difference explained.

Which torch parameters feed which Keras layer is found by probing the twin's own `torch_to_keras`:
fill the torch model with zeros except one parameter, transfer, and see which Keras layer moved.
So the table needs no per-twin knowledge and works for user twins too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from twinbench.models.registry import Twin

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["layer", "torch", "keras", "difference", "why"]


def param_table(twin: Twin) -> "pd.DataFrame":
    """One row per Keras layer with weights (plus torch-only parameters, if any) and a total row.

    `difference` is torch minus Keras; `why` explains it (torch's second recurrent bias: torch
    keeps `bias_ih` and `bias_hh`, Keras only their sum)."""
    import pandas as pd

    tm, km = twin.build_torch(twin.config), twin.build_keras(twin.config)
    owners = _owners(twin, tm, km)
    rows = []
    params = dict(tm.named_parameters())
    for layer in km.layers:
        if not layer.weights:
            continue
        names = [n for n, owner in owners.items() if layer.name in owner]
        torch_count = sum(params[n].numel() for n in names if len(owners[n]) == 1)
        keras_count = int(layer.count_params())
        rows.append(_row(layer.name, torch_count, keras_count, names, params))
    orphans = [n for n, owner in owners.items() if not owner]
    if orphans:
        count = sum(params[n].numel() for n in orphans)
        rows.append(_row("(torch only)", count, 0, orphans, params, why="not transferred to Keras: " + ", ".join(orphans)))
    shared = [n for n, owner in owners.items() if len(owner) > 1]
    if shared:
        count = sum(params[n].numel() for n in shared)
        rows.append(_row("(shared)", count, 0, shared, params, why="feeds several Keras layers: " + ", ".join(shared)))
    torch_total = sum(p.numel() for p in params.values())
    keras_total = int(km.count_params())
    diff_rows = [r for r in rows if r["difference"]]
    if any(r["why"].startswith(("unexplained", "not transferred", "feeds")) for r in diff_rows):
        why = "; ".join(r["why"] for r in diff_rows)
    elif diff_rows:
        why = f"torch's second LSTM bias (bias_hh) in {len(diff_rows)} layer(s); Keras keeps bias_ih + bias_hh"
    else:
        why = ""
    rows.append({"layer": "total", "torch": torch_total, "keras": keras_total,
                 "difference": torch_total - keras_total, "why": why})
    return pd.DataFrame(rows, columns=COLUMNS)


def _owners(twin: Twin, tm: Any, km: Any) -> dict[str, list[str]]:
    """torch parameter name -> names of the Keras layers it lands in through `torch_to_keras`."""
    import torch

    params = dict(tm.named_parameters())
    weighted = [layer for layer in km.layers if layer.weights]
    owners: dict[str, list[str]] = {}
    with torch.no_grad():
        for probe in params:
            for name, p in params.items():
                p.fill_(1.0 if name == probe else 0.0)
            for layer in weighted:  # a layer the transfer skips must not keep stale values
                layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
            twin.torch_to_keras(tm, km)
            owners[probe] = [layer.name for layer in weighted if any(np.any(w) for w in layer.get_weights())]
    return owners


def _row(layer: str, torch_count: int, keras_count: int, names: list[str], params: dict[str, Any],
         why: str | None = None) -> dict[str, Any]:
    diff = torch_count - keras_count
    if why is None:
        why = ""
        extra = [n for n in names if "bias_hh" in n and _is_lstm_bias(n, params)]
        extra_count = sum(params[n].numel() for n in extra)
        if diff and diff == extra_count:
            why = f"torch keeps bias_ih and bias_hh per LSTM direction ({extra_count} extra); Keras keeps their sum"
        elif diff:
            why = f"unexplained: torch params {', '.join(names)} vs Keras layer {layer}"
    return {"layer": layer, "torch": torch_count, "keras": keras_count, "difference": diff, "why": why}


def _is_lstm_bias(name: str, params: dict[str, Any]) -> bool:
    """LSTM biases are [4H]; GRU's [3H] have a Keras counterpart (its bias is [2, 3H])."""
    weight = params.get(name.replace("bias_hh", "weight_hh"))
    return weight is not None and weight.shape[0] == 4 * weight.shape[1]
