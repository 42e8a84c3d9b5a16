"""The synthetic benchmark's reference rows for given generator knobs, per level.

Prints naive / oracle / histogram matching / no nuisance / true latents macro-F1 per
level (mean ± sd over folds and seeds, and each level as a share of its row's IID
score); see :mod:`ist_core.calibration`. The defaults are calibrated on the naive and
oracle rows only.

    PYTHONPATH=. python3 benchmarks/calibrate.py synthetic-grid --folds 2 --seeds 0 1 --workers 2
    PYTHONPATH=. python3 benchmarks/calibrate.py synthetic-lincs --knob degradation=0 --save
    PYTHONPATH=. python3 benchmarks/calibrate.py synthetic-grid --levels 2 \
        --sweep degradation=0,0.5,1,2 --save calibration_sweep
    PYTHONPATH=. python3 benchmarks/calibrate.py synthetic-grid --folds 1 --rows naive oracle \
        --setting effect=2 --setting effect=2.5,well_scale=0 --save calibration_search
    PYTHONPATH=. python3 benchmarks/calibrate.py synthetic-grid --levels iid 1 --rows naive \
        --data-seeds 0 1 2 --setting section_scale=1.6 --save level1_search
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import pandas as pd

from ist_core.calibration import calibrate, calibration_table, knob_settings
from ist_core.cli import parse_knobs
from ist_core.results import rerun_command, write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["synthetic-grid", "synthetic-lincs"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--levels", nargs="+", default=None)
    parser.add_argument("--folds", type=int, default=2, help="folds per OOD level, spread")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[0],
                        help="generator seeds: each draws the dataset anew")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--rows", nargs="+", default=["naive", "oracle", "histmatch", "no nuisance",
                                                      "latents"])
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="run once per value of a knob (repeatable: one knob at a time)")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=V,KEY=V",
                        help="run once with these knobs on top of --knob (repeatable)")
    parser.add_argument("--runs", default=None)
    parser.add_argument("--save", nargs="?", const="calibration", default=None, metavar="NAME",
                        help="store the scores as results/<dataset>/<profile>/NAME.csv")
    args = parser.parse_args()
    knobs = parse_knobs(args.knob)
    settings = knob_settings(knobs, args.sweep, args.setting)
    frames, codes = [], Counter()
    for knob, value, setting in settings:
        scores = calibrate(args.dataset, args.profile, args.levels, args.folds, args.seeds,
                           args.workers, args.runs, progress=False, log=None,
                           rows=tuple(args.rows), data_seeds=tuple(args.data_seeds), **setting)
        print(f"{args.dataset} at {args.profile}, knobs {setting or 'default'}:")
        print(calibration_table(scores).to_string(), flush=True)
        frames.append(scores.assign(knob=knob, knob_value=value))
        codes.update(scores.attrs["code"])
    scores = pd.concat(frames, ignore_index=True)
    groups = scores[scores["group"] != "all"]
    if not groups.empty:
        print(groups.groupby(["row", "group"])["value"].agg(["mean", "std", "count"]).round(2))
    if args.save:
        command = rerun_command("PYTHONPATH=. python3 benchmarks/calibrate.py", sys.argv[1:])
        print("stored", write_summary(scores, args.dataset, args.profile, args.save,
                                      provenance={"knobs": knobs, "command": command,
                                                  "runs": sum(codes.values()), "code": dict(codes)}))


if __name__ == "__main__":
    main()
