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

import sys

import pandas as pd

from ist_core.cli import parse_knobs
from ist_core.fidelity import fidelity_table, fidelity_targets, fold_fidelity, oracle_judge
from ist_core.results import code_hash, rerun_command, write_summary
from ist_core.train import setup_fold, train_encoder, train_ist

from _grid import fold_parser, folds_by_level  # benchmarks/_grid.py, beside this script


def main() -> None:
    parser = fold_parser(__doc__, "fidelity")
    parser.add_argument("--n-pairs", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="seed of the pairs drawn")
    parser.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    knobs = parse_knobs(args.knob)
    meta = setup_fold(args.dataset, "iid", 0, 0, args.profile, runs=args.runs, **knobs).dataset.meta
    frames = []
    for level, folds in folds_by_level(meta, args.levels, args.spread).items():
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
