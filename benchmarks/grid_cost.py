"""Where a trained grid's time went: training seconds of every network in a runs folder.

Each network's training log (``losses.csv``) records the wall seconds of every logging
interval; their sum is that network's training time, on the thread(s) it had. This
prints, per dataset and network, how many were trained and their median and total
minutes, then the totals per dataset and overall, and the overall total with each network
at its kind's median, spread over ``--workers`` one-thread workers. Scoring (features, LISI, kNN) is not in the logs, so the
grid's wall time is somewhat longer than the last line says.

    PYTHONPATH=. python3 benchmarks/grid_cost.py --runs runs --profile quick --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ist_core.train.setup import runs_dir


def network_seconds(runs: Path, profile: str) -> pd.DataFrame:
    """One row per trained network under ``runs/<dataset>/<profile>/<network>/<split>/
    seed<k>/``: dataset, network, split, seed, training seconds (its log's sum)."""
    rows = []
    for log in sorted(runs.glob(f"*/{profile}/*/*/seed*/losses.csv")):
        seed_dir = log.parent
        frame = pd.read_csv(log)
        if "seconds" not in frame.columns or frame.empty:
            continue
        rows.append({"dataset": seed_dir.parents[3].name, "network": seed_dir.parents[1].name,
                     "split": seed_dir.parent.name, "seed": seed_dir.name,
                     "seconds": float(frame["seconds"].sum())})
    return pd.DataFrame(rows, columns=["dataset", "network", "split", "seed", "seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=None, help="runs folder (default: the usual runs/)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", type=int, default=2,
                        help="one-thread workers the total is spread over (default 2)")
    args = parser.parse_args()
    runs = Path(args.runs) if args.runs else runs_dir()
    nets = network_seconds(runs, args.profile)
    if nets.empty:
        raise SystemExit(f"no training logs under {runs}/*/{args.profile}/: nothing trained there "
                         "at this profile (name the folder with --runs)")
    table = (nets.groupby(["dataset", "network"])["seconds"]
             .agg(trained="count", median_min=lambda s: s.median() / 60, total_min=lambda s: s.sum() / 60))
    print(table.round(1).to_string())
    per_dataset = nets.groupby("dataset")["seconds"].sum() / 60
    for dataset, minutes in per_dataset.items():
        print(f"{dataset}: {minutes:.0f} training minutes")
    total = nets["seconds"].sum() / 60
    typical = (table["median_min"] * table["trained"]).sum()
    print(f"all: {total:.0f} training minutes of {len(nets)} networks ({typical:.0f} if each took "
          f"its kind's median: a paused or slowed run inflates the sum); over {args.workers} "
          f"one-thread workers {typical / args.workers / 60:.1f} h")


if __name__ == "__main__":
    main()
