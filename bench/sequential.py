"""Group-sequential designs: look at a comparison again after more processes without raising the
false-positive rate above alpha.

A gate that measures 3 processes a side, finds the answer INCONCLUSIVE and measures more would,
if it tested each look at alpha, have as many chances to cry wolf as it has looks. Here the looks
are planned (`schedule`: 3, 5, 8, 12 processes a side by default) and alpha is *spent* over them
with a Lan-DeMets spending function: look k may use alpha(t_k) - alpha(t_{k-1}) of it, t_k being
the share of the planned processes measured by then. The boundaries c_k are the z values whose
crossing probabilities, under no change, are exactly those increments: the joint law of the
looks' z statistics is that of Brownian motion sampled at t_k, and the recursive numerical
integration of Armitage, McPherson and Rowe (1969) gives it. Each look's nominal two-sided level
p_k = 2 (1 - Phi(c_k)) is then applied to that look's Welch t test, as Jennison and Turnbull
(2000, section 3.8) recommend for t statistics; the interval built at 1 - p_k/2 is a *repeated
confidence interval*: all of them cover the true ratio together with probability about 1 - alpha,
so every verdict read off them (REGRESSION, IMPROVEMENT, SAME) is protected at once. Stopping
early without a decision (budget spent) only lowers the error rates. benchmarks/calibration.py
checks all of it by simulation at the suite's process counts, where t and z differ most.

Why O'Brien-Fleming-type spending is the default: it spends almost nothing early (2.6e-7 of
alpha 0.01 at a quarter of the processes), so its last look is nearly the fixed-sample test, and
the last looks are where the gate's hard cells (spreads of 1.5-5%) are decided. The first look at
3 + 3 processes can then decide nothing, which costs little: at 3 processes a side hardly any cell
is decidable anyway. Simulated at the suite's spreads (benchmarks/calibration.py), it says SAME
for an unchanged 2%-spread cell 3.5x as often as Pocock-type spending and catches +10% at a 5%
spread in 95% instead of 89% of cells, at the cost of one more look for large changes; Bonferroni
(alpha / K at every look) is never better than Pocock. docs/measurement.md has the tables.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twinbench.core.errors import ConfigError

#: Spending rules: two Lan-DeMets functions, and Bonferroni (alpha / looks at every look) for comparison.
SPENDING = ("pocock", "obrien-fleming", "bonferroni")
#: Each planned look has at least this many more processes a side than the one before, and at
#: least GROWTH times as many: few looks (each costs alpha), and the last ones worth their processes.
MIN_STEP, GROWTH = 2, 1.5
#: Grid points per look of the numerical integration (odd, for Simpson's rule): boundaries to 1e-6.
GRID = 801


def schedule(start: int, max_n: int) -> tuple[int, ...]:
    """Processes a side at each planned look: `start`, then growing by at least MIN_STEP and by the
    factor GROWTH, the last one `max_n` (3, 5, 8, 12 for 3 and 12)."""
    looks = [start]
    while looks[-1] < max_n:
        looks.append(min(max_n, max(looks[-1] + MIN_STEP, math.ceil(looks[-1] * GROWTH))))
    return tuple(looks)


def spent(t: float, alpha: float, spending: str) -> float:
    """Alpha spent by information fraction `t` (0 < t <= 1), two-sided."""
    from scipy.special import ndtr, ndtri

    if spending == "pocock":
        return alpha * math.log1p((math.e - 1.0) * t)
    if spending == "obrien-fleming":
        return float(2.0 - 2.0 * ndtr(ndtri(1.0 - alpha / 2.0) / math.sqrt(t)))
    raise ConfigError(f"spending: unknown rule {spending!r} (known: {', '.join(SPENDING)})")


def _simpson(n: int) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / 3.0


def crossing_probabilities(bounds: list[float], fractions: list[float]) -> list[float]:
    """P(the z statistic first leaves (-c_k, c_k) at look k) under no change, for each look:
    Brownian motion W sampled at the information fractions, Z_k = W(t_k) / sqrt(t_k)."""
    return _recursion(bounds, fractions, None)[0]


def _recursion(bounds: list[float], fractions: list[float], targets: list[float] | None) -> tuple[list[float], list[float]]:
    """(crossing probability per look, boundary per look). With `targets` the boundary of each
    look after the first is solved for so that its crossing probability is the target; without,
    `bounds` are taken as given."""
    from scipy.optimize import brentq
    from scipy.special import ndtr, ndtri

    crossed: list[float] = []
    out: list[float] = []
    grid = dens = weights = None
    for k, t in enumerate(fractions):
        if k == 0:
            c = bounds[0] if targets is None else float(ndtri(1.0 - targets[0] / 2.0)) if targets[0] > 0 else math.inf
            crossed.append(float(2.0 * ndtr(-c)))
            b = c * math.sqrt(t)
            if math.isfinite(b):
                grid = np.linspace(-b, b, GRID)
                weights = _simpson(GRID) * (grid[1] - grid[0])
                dens = np.exp(-grid * grid / (2 * t)) / math.sqrt(2 * math.pi * t)
            out.append(c)
            continue
        s = math.sqrt(t - fractions[k - 1])
        mass = dens * weights if grid is not None else None

        def cross(b: float) -> float:
            if mass is None:  # no boundary so far: W(t_k) is plain normal
                return float(2.0 * ndtr(-b / math.sqrt(t)))
            return float(np.sum(mass * (ndtr((-b - grid) / s) + ndtr((grid - b) / s))))

        if targets is None:
            b = bounds[k] * math.sqrt(t)
        elif targets[k] <= 1e-15:
            b = math.inf
        else:
            hi = (float(np.max(np.abs(grid))) if grid is not None else 0.0) + 40.0 * max(s, math.sqrt(t))
            b = brentq(lambda x: cross(x) - targets[k], 1e-12, hi, xtol=1e-12, rtol=1e-12)
        crossed.append(cross(b) if math.isfinite(b) else 0.0)
        out.append(b / math.sqrt(t))
        if math.isfinite(b):
            new = np.linspace(-b, b, GRID)
            kernel = np.exp(-((new[:, None] - grid[None, :]) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi)) \
                if grid is not None else None
            dens = kernel @ mass if kernel is not None else np.exp(-new * new / (2 * t)) / math.sqrt(2 * math.pi * t)
            grid, weights = new, _simpson(GRID) * (new[1] - new[0])
    return crossed, out


@functools.lru_cache(maxsize=64)
def boundaries(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    """Two-sided z boundaries c_k at the looks' information fractions (the last one 1) that spend
    `alpha` by the rule `spending`; Bonferroni's are z at alpha / (2 K)."""
    from scipy.special import ndtri

    if spending == "bonferroni":
        return tuple(float(ndtri(1.0 - alpha / (2.0 * len(fractions)))) for _ in fractions)
    cumulative = [spent(t, alpha, spending) for t in fractions]
    targets = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:])]
    return tuple(_recursion([], list(fractions), targets)[1])


@dataclass(frozen=True)
class SequentialDesign:
    """Looks at `start`, ..., `max_n` processes a side (`schedule`), alpha spent over them by
    `spending`. `levels[k]` is the nominal two-sided level look k+1's test uses."""

    alpha: float = 0.01
    start: int = 3
    max_n: int = 12
    spending: str = "obrien-fleming"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha: must be in (0, 1), got {self.alpha}")
        if isinstance(self.start, bool) or not isinstance(self.start, int) or self.start < 2:
            raise ConfigError(f"processes at the first look: must be an integer >= 2, got {self.start!r}")
        if isinstance(self.max_n, bool) or not isinstance(self.max_n, int) or self.max_n < self.start:
            raise ConfigError(f"--max-repeats: must be an integer >= the first look's {self.start} processes, "
                              f"got {self.max_n!r}")
        if self.spending not in SPENDING:
            raise ConfigError(f"spending: unknown rule {self.spending!r} (known: {', '.join(SPENDING)})")

    @property
    def looks(self) -> tuple[int, ...]:
        return schedule(self.start, self.max_n)

    @property
    def levels(self) -> tuple[float, ...]:
        from scipy.special import ndtr

        looks = self.looks
        if len(looks) == 1:
            return (self.alpha,)
        bounds = boundaries(tuple(n / self.max_n for n in looks), self.alpha, self.spending)
        return tuple(float(2.0 * ndtr(-c)) for c in bounds)

    def look_of(self, n: int) -> int:
        """The look (1-based) that `n` processes a side have reached; 1 below the first."""
        return max(1, sum(1 for m in self.looks if m <= n))

    def level(self, look: int) -> float:
        levels = self.levels
        return levels[min(max(look, 1), len(levels)) - 1]

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "start": self.start, "max_n": self.max_n, "spending": self.spending,
                "looks": list(self.looks), "levels": [float(f"{x:.4g}") for x in self.levels]}
