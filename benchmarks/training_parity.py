"""Training parity figures: synced torch-vs-Keras losses and accuracies of the built-in twins.

    python benchmarks/training_parity.py [--threads 2] [--only default,sentiment,tagger]

Prints, per case, the per-epoch relative loss difference |torch - keras| / torch and both
frameworks' validation accuracy, plus the seconds each framework spent training. Not a test:
the bars from the issue are printed next to the figures (>= 5 epochs within 1e-3; >= 0.90 acc).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CASES = {
    # name: (twin, DataConfig kwargs, TrainRecipe kwargs, accuracy bar)
    "default": ("lstm", {}, {}, 0.75),
    "sentiment": ("lstm", {"source": "synthetic-sentiment", "size": 3000}, {"epochs": 10}, 0.90),
    "tagger": ("tagger", {"source": "synthetic-pos", "size": 1000}, {"epochs": 5, "lr": 1e-2}, 0.90),
}


def run_case(name: str, threads: int) -> None:
    from twinbench.models.data import DataConfig, load_data
    from twinbench.models.registry import get_twin
    from twinbench.models.train import TrainRecipe, train_twins

    twin_name, data_kw, recipe_kw, bar = CASES[name]
    splits = load_data(DataConfig(**data_kw))
    size_field = "num_tags" if splits.task == "tag" else "num_classes"
    twin = get_twin(twin_name, vocab_size=len(splits.vocab), **{size_field: splits.num_classes})
    recipe = TrainRecipe(**recipe_kw)
    t0 = time.perf_counter()
    result = train_twins(twin, splits, recipe, threads=threads)
    wall = time.perf_counter() - t0
    h, s = result.history, result.summary
    metric = "val_token_acc" if splits.task == "tag" else "val_acc"
    print(f"\n== {name}: twin {twin_name}, data {data_kw or 'DataConfig()'}, recipe {recipe_kw or 'TrainRecipe()'}")
    print(f"   train {len(splits.x_train)} / val {len(splits.x_val)}, vocab {len(splits.vocab)}, mode {recipe.mode}")
    print("   epoch  train_loss(torch)  train_loss(keras)  rel_diff   val_loss rel_diff  "
          f"{metric}(torch) {metric}(keras)")
    t, k = h[h.framework == "torch"].reset_index(), h[h.framework == "keras"].reset_index()
    for i in range(min(len(t), len(k))):
        print(f"   {int(t.epoch[i]):5d}  {t.train_loss[i]:17.6f}  {k.train_loss[i]:17.6f}  "
              f"{s['train_loss_rel_diff'][i]:8.1e}   {s['val_loss_rel_diff'][i]:8.1e}          "
              f"{t[metric][i]:.3f}          {k[metric][i]:.3f}")
    within = sum(1 for d in s["train_loss_rel_diff"] if d < 1e-3)
    print(f"   epochs with train-loss rel diff < 1e-3: {within}/{len(s['train_loss_rel_diff'])} (bar: >= 5)")
    final = {fw: float(h[h.framework == fw][metric].iloc[-1]) for fw in ("torch", "keras")}
    ok = all(v >= bar for v in final.values())
    print(f"   final {metric}: torch {final['torch']:.3f}, keras {final['keras']:.3f} (bar {bar:.2f}: "
          f"{'met' if ok else 'NOT met'}); prediction agreement {s['prediction_agreement']:.3f}")
    print(f"   seconds training: torch {s['seconds']['torch']:.1f}, keras {s['seconds']['keras']:.1f} "
          f"(wall incl. build/eval {wall:.1f}); {s.get('note', '')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    args = ap.parse_args()
    for name in args.only.split(","):
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r} (known: {', '.join(CASES)})")
        run_case(name, args.threads)


if __name__ == "__main__":
    main()
