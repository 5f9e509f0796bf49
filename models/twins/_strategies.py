"""Hypothesis strategies of config overrides for the built-in twins' property tests.

Hypothesis is a test dependency, so every function here imports it when called, never at import;
a twin passes one of these (or its own function) as `register_twin(name, configs=...)`.
"""

from __future__ import annotations

from typing import Any


def configs(*, rnn: bool = False, bidirectional: bool = False, head: bool = False, classes: bool = False,
            tags: bool = False, **fields: Any) -> Any:
    """Override dicts with small sizes: vocab_size and embed_dim always; hidden and num_layers with
    `rnn`; a bidirectional flag; a head ("logits" with 1-3 classes or "sigmoid" with one) with
    `head`; 1-3 classes with `classes`; 1-5 tags with `tags`; plus `fields` (field -> strategy)."""
    from hypothesis import strategies as st

    small = st.integers(1, 5)
    parts: dict[str, Any] = {"vocab_size": st.integers(2, 40), "embed_dim": small}
    if rnn:
        parts.update(hidden=small, num_layers=st.integers(1, 3))
    if bidirectional:
        parts["bidirectional"] = st.booleans()
    if classes:
        parts["num_classes"] = st.integers(1, 3)
    if tags:
        parts["num_tags"] = small
    parts.update(fields)
    base = st.fixed_dictionaries(parts)
    if not head:
        return base
    return st.tuples(base, head_choice()).map(lambda pair: {**pair[0], **pair[1]})


def head_choice() -> Any:
    """{"head": "logits", "num_classes": 1..3} or {"head": "sigmoid", "num_classes": 1}."""
    from hypothesis import strategies as st

    logits = st.fixed_dictionaries({"head": st.just("logits"), "num_classes": st.integers(1, 3)})
    return st.one_of(logits, st.just({"head": "sigmoid", "num_classes": 1}))


def recurrent() -> Any:
    """The recurrent classifiers (`bilstm`, `gru`): stacked, either direction, either head."""
    return configs(rnn=True, bidirectional=True, head=True)
