"""The naive (and oracle) predictor's macro-F1 against its training budget, IID and out
of distribution.

Where the curves flatten is where ``Profile.predictor_epochs`` belongs. Writes
``results/<dataset>/<profile>/learning_curve.csv`` (with its provenance) and prints
each curve and the budget from which it stays within 0.02 of its best at larger ones.
Each budget is a run of its own (the learning rate follows a cosine over the budget).

    PYTHONPATH=. python3 benchmarks/learning_curve.py --profile quick --budgets 6 12 24 48 --oracle
"""

from __future__ import annotations

import argparse

import pandas as pd

from ist_core.cli import parse_knobs
from ist_core.convergence import learning_curve, plateau_epoch
from ist_core.results import write_summary
from ist_core.train import setup_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--datasets", nargs="+", default=["synthetic-grid", "synthetic-lincs"])
    parser.add_argument("--levels", nargs="+", default=["iid", "2", "3"])
    parser.add_argument("--budgets", type=float, nargs="+", default=[6, 12, 24, 48],
                        help="training budgets in epochs, one run each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle", action="store_true", help="the oracle's predictor too")
    parser.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", default=None, help="run folder (default: the usual runs/)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    for dataset in args.datasets:
        curves = []
        for level in args.levels:
            setup = setup_fold(dataset, level, 0, args.seed, args.profile, runs=args.runs,
                               **parse_knobs(args.knob))
            for oracle in (False, True) if args.oracle else (False,):
                curve = learning_curve(setup, args.budgets, oracle=oracle, progress=False)
                curves.append(curve)
                print(f"{dataset} {setup.split} {curve['row'].iloc[0]}: flat from "
                      f"{plateau_epoch(curve):g} epochs")
                print(curve[["epochs", "steps", "macro_f1"]].round(3).to_string(index=False),
                      flush=True)
        if not args.no_save:
            path = write_summary(pd.concat(curves, ignore_index=True), dataset, args.profile,
                                 "learning_curve")
            print(f"stored {path}")


if __name__ == "__main__":
    main()
