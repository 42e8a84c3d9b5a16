"""Differences between rows of Table 1 that a reader can trust: each method against the
naive predictor, paired on the same dataset, level, fold and seed (the same held-out OE,
the same initial weights and batches), with a bootstrap interval over those pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

PAIR = ["dataset", "level", "fold", "seed"]


def fewest_pairs(confidence: float = 0.95) -> int:
    """The fewest pairs that could ever show a difference at ``confidence``: under "no
    difference" each pair's sign is a coin flip, and the most extreme of the 2**n sign
    patterns (all one way, two-sided) has probability 2 / 2**n, which falls to 1 -
    ``confidence`` only from this n on (6 at 95%). Over fewer pairs a percentile bootstrap
    still returns an interval (over 2 pairs, their range), but it resolves nothing."""
    n = 1
    while 2 * 0.5 ** n > 1 - confidence:
        n += 1
    return n


def paired_differences(scores: pd.DataFrame, against: str = "baseline", confidence: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per dataset, level and method: the mean of ``method - against`` over the (fold, seed)
    pairs both have, its bootstrap ``confidence`` interval (percentile, ``resamples`` draws;
    NaN with fewer than 2 pairs), the number of pairs, and whether it is resolved: the
    interval excludes 0 and rests on at least :func:`fewest_pairs` pairs.

    ``scores`` is tidy (``dataset, method, level, fold, seed, value``; one metric). The pairs
    are not independent draws (the folds of a level share most of their training images),
    so the interval describes these folds and seeds, not every possible held-out OE."""
    if scores.duplicated(PAIR + ["method"]).any():
        raise ValueError("scores hold more than one value per method, dataset, level, fold and "
                         "seed; select one metric first (e.g. scores[scores.metric == 'macro_f1'])")
    if against not in set(scores["method"]):
        raise ValueError(f"no {against!r} rows to compare with; methods here: "
                         f"{sorted(set(scores['method']))}")
    wide = scores.pivot_table(index=PAIR, columns="method", values="value")
    rows, enough = [], fewest_pairs(confidence)
    for method in [m for m in dict.fromkeys(scores["method"]) if m != against]:
        diff = (wide[method] - wide[against]).dropna()
        for (dataset, level), d in diff.groupby(level=["dataset", "level"], sort=False):
            d = d.to_numpy()
            low = high = np.nan
            if len(d) >= 2 and np.ptp(d) > 0:
                ci = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples,
                               method="percentile", random_state=seed).confidence_interval
                low, high = float(ci.low), float(ci.high)
            elif len(d) >= 2:  # every pair differs by the same amount
                low = high = float(d[0])
            rows.append({"dataset": dataset, "level": str(level), "method": method,
                         "difference": float(d.mean()), "low": low, "high": high, "pairs": len(d),
                         "resolved": bool(len(d) >= enough and (low > 0 or high < 0))})
    return pd.DataFrame(rows, columns=["dataset", "level", "method", "difference", "low", "high",
                                       "pairs", "resolved"])


def spot_check(stored: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Live re-runs next to the stored runs of the same dataset, method, level, fold and
    seed: both values, their difference, the stored seeds' spread on that fold (sd over
    seeds) and whether the difference exceeds it (``differs``). A run trained on the same
    code, data and hardware gives the same number; another machine or library version may
    move it by about the seeds' spread, not more."""
    keys = ["dataset", "method", "level", "fold", "seed"]
    stored = stored.assign(level=stored["level"].astype(str))
    live = live.assign(level=live["level"].astype(str))
    spread = (stored.groupby(["dataset", "method", "level", "fold"])["value"].std()
              .rename("seeds' sd").reset_index())
    both = live[keys + ["value"]].merge(stored[keys + ["value"]], on=keys, how="left",
                                        suffixes=(" live", " stored"))
    both = both.merge(spread, on=["dataset", "method", "level", "fold"], how="left")
    both["difference"] = both["value live"] - both["value stored"]
    differs = both["difference"].abs() > both["seeds' sd"].fillna(0)
    both["differs"] = differs.astype(object).where(both["value stored"].notna(), None)
    return both[keys + ["value stored", "value live", "difference", "seeds' sd", "differs"]]
