"""IST's fidelity on every fold of a grid, against the synthetic benchmark's true
counterfactuals: PSNR per channel (IST, histogram matching, doing nothing), the share
of outputs that land on their target OE, and the cause agreement judged by the frozen
encoder and by the fold's oracle predictor (a reader of biology, the true
counterfactuals' agreement beside it: what a perfect transfer scores).

Each fold's encoder, generator and oracle predictor (seed 0) are loaded from the runs
folder where ``ist run`` trained them (or trained there when missing), so after

    ist run --methods baseline histmatch oracle ist --spread 2 --runs R --save ist_bounds

this scores the generators that the stored comparison used:

    PYTHONPATH=. python3 benchmarks/fidelity.py synthetic-grid --spread 2 --runs R --save

It prints each fold's and the mean's targets (:func:`ist_core.fidelity.fidelity_targets`)
and stores the tidy scores as ``results/<dataset>/<profile>/fidelity.csv``.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from ist_core.cli import parse_knobs
from ist_core.fidelity import fidelity_table, fidelity_targets, fold_fidelity, oracle_judge
from ist_core.results import code_hash, rerun_command, write_summary
from ist_core.splits import spread_folds
from ist_core.train import setup_fold, train_encoder, train_ist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["synthetic-grid", "synthetic-lincs"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--levels", nargs="+", default=["iid", "1", "2", "3"])
    parser.add_argument("--spread", type=int, default=2, help="folds per OOD level, spread")
    parser.add_argument("--n-pairs", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="seed of the pairs drawn")
    parser.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", default=None, help="run folder (default: the usual runs/)")
    parser.add_argument("--save", action="store_true",
                        help="store the scores as results/<dataset>/<profile>/fidelity.csv")
    args = parser.parse_args()
    knobs = parse_knobs(args.knob)
    meta = setup_fold(args.dataset, "iid", 0, 0, args.profile, runs=args.runs, **knobs).dataset.meta
    frames = []
    for level in args.levels:
        try:
            folds = spread_folds(meta, level, args.spread)
        except ValueError as err:  # e.g. level 1 on a design without sections
            print(f"level {level} skipped: {err}")
            continue
        for fold in folds:
            setup = setup_fold(args.dataset, level, fold, 0, args.profile, runs=args.runs, **knobs)
            encoder = train_encoder(setup, progress=False)
            scores = fold_fidelity(setup, train_ist(setup, encoder, progress=False),
                                   args.n_pairs, args.seed, judge=oracle_judge(setup))
            frames.append(scores.assign(dataset=args.dataset, profile=args.profile, level=level,
                                        fold=fold, held_out=",".join(setup.fold.held_out)))
            print(setup.split, fidelity_targets(scores).to_string(index=False), sep="\n", flush=True)
    scores = pd.concat(frames, ignore_index=True)
    print(f"{args.dataset} at {args.profile}, mean over {len(frames)} folds:")
    print(fidelity_table(scores).to_string())
    print(fidelity_targets(scores).to_string(index=False))
    if args.save:  # the folds' networks are scored by, and must be trained by, this code
        command = rerun_command("PYTHONPATH=. python3 benchmarks/fidelity.py", sys.argv[1:])
        provenance = {"command": command, "runs": len(frames), "code": {code_hash(): len(frames)}}
        print("stored", write_summary(scores, args.dataset, args.profile, "fidelity",
                                      provenance=provenance))


if __name__ == "__main__":
    main()
