"""Seeded generators: sentiment with negation and intensifiers, and POS-tagged sentences.

Both are tiny grammars, so any size can be drawn from a seed and the labels are exactly right.
Negation ("not good"), contrast ("X but Y" takes Y's polarity) and "did not hate" make word order
matter, so a bag-of-words model cannot solve them and an LSTM has something to learn.
"""

from __future__ import annotations

import numpy as np

SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the story", "the ending",
            "the soundtrack", "the cast", "the script", "the dialogue")
POSITIVE_ADJ = ("good", "great", "wonderful", "brilliant", "enjoyable", "moving", "funny", "charming")
NEGATIVE_ADJ = ("bad", "boring", "awful", "dull", "terrible", "predictable", "clumsy", "weak")
#: (past, base) forms: "i loved it" / "i did not love it".
POSITIVE_VERBS = (("loved", "love"), ("liked", "like"), ("enjoyed", "enjoy"), ("adored", "adore"))
NEGATIVE_VERBS = (("hated", "hate"), ("disliked", "dislike"), ("regretted", "regret"), ("resented", "resent"))
INTENSIFIERS = ("very", "really", "truly", "quite", "extremely")
COPULAS = ("was", "is", "seemed")
LABEL_NAMES = ("negative", "positive")


def _adj(rng: np.random.Generator, polarity: int) -> str:
    words = POSITIVE_ADJ if polarity else NEGATIVE_ADJ
    return words[rng.integers(len(words))]


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[rng.integers(len(words))]


def _clause(rng: np.random.Generator) -> tuple[str, int]:
    """One clause and its polarity (1 positive, 0 negative)."""
    base = int(rng.integers(2))
    negated = bool(rng.random() < 0.5)
    label = base ^ int(negated)
    if rng.random() < 0.7:
        parts = [_pick(rng, SUBJECTS), _pick(rng, COPULAS)]
        if negated:
            parts.append("not")
        if rng.random() < 0.4:
            parts.append(_pick(rng, INTENSIFIERS))
        parts.append(_adj(rng, base))
    else:
        verbs = POSITIVE_VERBS if base else NEGATIVE_VERBS
        past, stem = verbs[rng.integers(len(verbs))]
        parts = ["i", "did", "not", stem, "it"] if negated else ["i", past, "it"]
        if rng.random() < 0.3:
            parts.insert(len(parts) - 2, "really")
    return " ".join(parts), label


def sentiment(n: int, seed: int = 1337) -> tuple[list[str], np.ndarray]:
    """`n` sentences with labels (int64, 1 = positive), balanced to within one."""
    if n < 1:
        raise ValueError(f"size: must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    want = [n // 2 + n % 2, n // 2]  # positive gets the odd one
    have = [0, 0]
    while len(texts) < n:
        text, label = _clause(rng)
        if rng.random() < 0.3:  # contrast: the clause after "but" decides
            second, label = _clause(rng)
            text = f"{text} but {second}"
        slot = 0 if label == 1 else 1
        if have[slot] >= want[slot]:
            continue
        have[slot] += 1
        texts.append(text)
        labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


# -- part-of-speech tagging ------------------------------------------------------------------------

_DET = ("the", "a", "every", "this")
_ADJ = ("big", "small", "old", "red", "happy", "quiet")
_NOUN = ("dog", "cat", "book", "park", "man", "woman", "fly", "run", "plant", "watch")
_PROPN = ("anna", "paris", "john", "berlin")
_PRON = ("she", "he", "they", "we")
_VERB = ("sees", "reads", "likes", "finds", "watch", "plant", "book", "run", "fly")
_INTRANS = ("sleeps", "runs", "flies", "waits", "smiles")
_ADV = ("quickly", "often", "slowly", "today")
_ADP = ("in", "near", "with", "under")
_AUX = ("will", "can", "must")
_CCONJ = ("and", "but")


def _np(rng: np.random.Generator) -> list[tuple[str, str]]:
    r = rng.random()
    if r < 0.15:
        return [(_pick(rng, _PRON), "PRON")]
    if r < 0.3:
        return [(_pick(rng, _PROPN), "PROPN")]
    out = [(_pick(rng, _DET), "DET")]
    if rng.random() < 0.4:
        out.append((_pick(rng, _ADJ), "ADJ"))
    out.append((_pick(rng, _NOUN), "NOUN"))
    return out


def _vp(rng: np.random.Generator) -> list[tuple[str, str]]:
    r = rng.random()
    if r < 0.35:
        out = [(_pick(rng, _AUX), "AUX"), (_pick(rng, _VERB[-5:]), "VERB")] + _np(rng)
    elif r < 0.7:
        out = [(_pick(rng, _VERB[:4]), "VERB")] + _np(rng)
    else:
        out = [(_pick(rng, _INTRANS), "VERB")]
    if rng.random() < 0.3:
        out.append((_pick(rng, _ADV), "ADV"))
    if rng.random() < 0.3:
        out += [(_pick(rng, _ADP), "ADP")] + _np(rng)
    return out


def pos_sentences(n: int, seed: int = 1337) -> list[list[tuple[str, str]]]:
    """`n` sentences as [(word, UPOS tag), ...]. Words like 'fly', 'book', 'watch' are nouns after
    a determiner and verbs after an auxiliary, so the tag depends on context."""
    if n < 1:
        raise ValueError(f"size: must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sent = _np(rng) + _vp(rng)
        if rng.random() < 0.2:
            sent += [(_pick(rng, _CCONJ), "CCONJ")] + _np(rng) + _vp(rng)
        out.append(sent)
    return out
