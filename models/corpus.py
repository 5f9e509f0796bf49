"""The built-in sentiment corpus: 960 short movie-review sentences made from our own templates.

Every template is listed below with the rule that labels it, so the corpus is exact and needs no
download. Half the templates negate ("was not good", "i did not hate it", "never") or contrast
("X but Y": Y decides), so word order matters. The sentences are enumerated in a fixed order and a
fixed-seed permutation picks 480 per class: the same corpus on every machine and every run.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from twinbench.models.synthetic import (LABEL_NAMES, NEGATIVE_ADJ, NEGATIVE_VERBS, POSITIVE_ADJ,
                                        POSITIVE_VERBS, SUBJECTS)

SIZE = 960
_SELECT_SEED = 20261123

#: (template, flips the adjective's polarity?) - {s} subject, {a} adjective.
ADJ_TEMPLATES = (
    ("{s} was {a}", False),
    ("{s} is really {a}", False),
    ("i thought {s} was {a}", False),
    ("{s} was not {a}", True),
    ("{s} was never {a}", True),
    ("i did not think {s} was {a}", True),
)
#: (template, flips?) - {p} past form, {b} base form of a verb.
VERB_TEMPLATES = (
    ("i {p} it", False),
    ("i really {p} it", False),
    ("i did not {b} it", True),
    ("nobody {p} it", True),
)
#: Contrast: the clause after "but" decides the label.
CONTRAST_TEMPLATES = (
    "{s} was {a} but {s2} was {a2}",
    "{s} was not {a} but {s2} was {a2}",
    "{s} was {a} but {s2} was not {a2}",
)


def _adjectives() -> list[tuple[str, int]]:
    return [(a, 1) for a in POSITIVE_ADJ] + [(a, 0) for a in NEGATIVE_ADJ]


def _enumerate() -> list[tuple[str, int]]:
    """Every sentence the templates make, in a fixed order (subjects rotate to keep it small)."""
    out: list[tuple[str, int]] = []
    adjs = _adjectives()
    for t, (template, flip) in enumerate(ADJ_TEMPLATES):
        for i, (adj, pol) in enumerate(adjs):
            for k in range(3):
                s = SUBJECTS[(i + 3 * k + t) % len(SUBJECTS)]
                out.append((template.format(s=s, a=adj), pol ^ int(flip)))
    verbs = [(v, 1) for v in POSITIVE_VERBS] + [(v, 0) for v in NEGATIVE_VERBS]
    for (template, flip), ((past, base), pol) in itertools.product(VERB_TEMPLATES, verbs):
        out.append((template.format(p=past, b=base), pol ^ int(flip)))
    for t, template in enumerate(CONTRAST_TEMPLATES):
        for i, ((a, pa), (a2, pa2)) in enumerate(itertools.product(adjs, adjs)):
            s, s2 = SUBJECTS[i % len(SUBJECTS)], SUBJECTS[(i // 7 + 1) % len(SUBJECTS)]
            second_negated = "was not {a2}" in template
            out.append((template.format(s=s, a=a, s2=s2, a2=a2), pa2 ^ int(second_negated)))
    return out


@lru_cache(maxsize=1)
def builtin_corpus() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(texts, labels) of the built-in corpus: SIZE sentences, exactly balanced, no duplicates."""
    sentences = list(dict.fromkeys(_enumerate()))  # drop exact duplicates, keep order
    order = np.random.default_rng(_SELECT_SEED).permutation(len(sentences))
    per_class = SIZE // 2
    picked: list[tuple[str, int]] = []
    counts = [0, 0]
    for idx in order:
        text, label = sentences[idx]
        if counts[label] < per_class:
            counts[label] += 1
            picked.append((text, label))
    if counts != [per_class, per_class]:  # a template edit that breaks the balance is a bug
        raise AssertionError(f"built-in corpus is unbalanced: {counts}")
    texts, labels = zip(*picked)
    return tuple(texts), tuple(labels)


def label_names() -> list[str]:
    return list(LABEL_NAMES)
