"""The oracle and IST predictors under swapped test-time corrections, on every fold of a grid.

Each fold's trained predictors (``oracle`` and ``ist`` by default, at one seed) are kept
fixed and tested with no correction, with the true re-rendering (the oracle's own), and
with the pixel transfers: histogram matching, per-channel moment matching and the fold's
IST generator (:mod:`ist_core.corrections`). Runs are loaded from the folder ``ist run``
trained them in (trained there when missing), so after

    ist run --methods baseline histmatch oracle ist --spread 2 --seeds 1 --runs R

this splits the oracle's room into what its training gives and what its test-time
correction gives:

    PYTHONPATH=. python3 benchmarks/corrections.py synthetic-grid --seed 1 --runs R --save

The tidy scores are stored as ``results/<dataset>/<profile>/corrections.csv``.
"""

from __future__ import annotations

import sys

import pandas as pd

from ist_core.corrections import MomentMatching, correction_scores, correction_table
from ist_core.methods import get_method
from ist_core.models.histmatch import HistogramMatching
from ist_core.results import code_hash, rerun_command, write_summary
from ist_core.train import setup_fold

from _grid import fold_parser, folds_by_level  # benchmarks/_grid.py, beside this script


def main() -> None:
    parser = fold_parser(__doc__, "corrections")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the predictors")
    parser.add_argument("--predictors", nargs="+", default=["oracle", "ist"])
    args = parser.parse_args()
    meta = setup_fold(args.dataset, "iid", 0, args.seed, args.profile, runs=args.runs).dataset.meta
    frames = []
    folds_run = folds_by_level(meta, args.levels, args.spread)
    for level, folds in folds_run.items():
        for fold in folds:
            setup = setup_fold(args.dataset, level, fold, args.seed, args.profile, runs=args.runs)
            methods = {name: get_method(name).fit(setup, progress=False) for name in args.predictors}
            ist = methods["ist"] if "ist" in methods else get_method("ist").fit(setup, progress=False)
            oracle = methods["oracle"] if "oracle" in methods else get_method("oracle").fit(setup, False)
            corrections = {"none": None, "true re-render": oracle.transfer,
                           "histogram matching": HistogramMatching(),
                           "moment matching": MomentMatching(), "IST generator": ist.transfer}
            for name, method in methods.items():
                scores = correction_scores(setup, method.model, corrections)
                frames.append(scores.assign(dataset=args.dataset, predictor=name, level=level,
                                            fold=int(fold), seed=args.seed))
                print(f"{level} fold {fold} {name}: " + ", ".join(
                    f"{c} {v:.3f}" for c, v in zip(scores["correction"], scores["macro_f1"])), flush=True)
    scores = pd.concat(frames, ignore_index=True)
    for name, part in scores.groupby("predictor", sort=False):
        print(f"\n{name} predictor, macro-F1 by test-time correction (mean ± sd over folds)")
        print(correction_table(part).to_string())
    if args.save:
        # the predictors and generators are scored by, and must be trained by, this code
        runs = len(scores[["predictor", "level", "fold"]].drop_duplicates())
        command = rerun_command("PYTHONPATH=. python3 benchmarks/corrections.py", sys.argv[1:])
        path = write_summary(scores.assign(profile=args.profile), args.dataset, args.profile,
                             "corrections", provenance={
                                 "command": command, "runs": runs, "code": {code_hash(): runs},
                                 "seeds": [args.seed], "folds": {args.dataset: folds_run}})
        print(f"stored {path}")


if __name__ == "__main__":
    main()
