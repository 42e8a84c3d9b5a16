"""The experiment grid behind Table 1: dataset x method x level x fold x seed (``ist run``).

Each run lives in ``<runs>/<dataset>/<profile>/<method>/<split>/seed<k>/`` and holds

- ``config.json``: the resolved configuration (method settings, fold, profile, IST setting);
- ``embeddings.npz``: features of a sample of the training images and of the test images;
- ``metrics.json``: tidy rows (metric, value) and the metrics still ``pending`` because a
  library they need (harmonypy for LISI, symphonypy) is not installed here.

Files are written atomically and ``metrics.json`` last: a run with it is finished and
skipped, one without it is trained again, and its networks resume from their own
checkpoints. Runs that need the same network share it: the fold's encoder and
generator (every IST run of the fold), its StarGAN v2, the baseline predictor (its kNN
rows), DR's grid search. The grid runs on a bare GPU machine with torch, numpy, pandas, scipy and
scikit-learn only; LISI and Symphony are then completed on a machine that has them
from the stored embeddings (run the same command there).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import METHODS, get_method
from .results import code_hash, commit_id, hardware
from .splits import LEVEL_COLUMN, parse_level, spread_folds

EMBED_SAMPLE = 5000  # training images whose features are stored (and used for LISI, kNN)
LISI_PERPLEXITY = 30
METRICS, EMBEDDINGS = "metrics.json", "embeddings.npz"

@dataclass(frozen=True)
class Run:
    """One cell of the grid."""

    dataset: str
    method: str
    level: str
    fold: int
    seed: int

    @property
    def split(self) -> str:
        return "iid" if self.level == "iid" else f"level{self.level}-fold{self.fold}"


@dataclass(frozen=True)
class Grid:
    """A validated grid: every run, and what they share."""

    runs: tuple[Run, ...]
    profile: str
    ist: dict
    knobs: dict
    device: str | None = None
    runs_dir: str | None = None
    data_seed: int = 0

    def setup(self, run: Run):
        from .train import setup_fold

        return setup_fold(run.dataset, run.level, run.fold, run.seed, self.profile, dict(self.ist),
                          device=self.device, runs=self.runs_dir, data_seed=self.data_seed,
                          **self.knobs)

    def folder(self, run: Run, setup=None) -> Path:
        setup = setup or self.setup(run)
        return setup.run_dir(run.method, ist_dependent=METHODS[run.method].ist_dependent)


def plan(datasets, methods, levels=None, folds=(0,), seeds=(0,),
         profile: str = "quick", ist: dict | None = None, device=None, runs=None,
         spread: int | None = None, data_seed: int = 0, **knobs) -> Grid:
    """Check the whole grid before anything trains: unknown methods, datasets, profiles or
    IST settings, a level a dataset does not have (level 1 without sections), a fold out
    of range. ``levels=None`` means every level each dataset has (LINCS-like designs have
    no level 1: the paper's NA); a level given explicitly must exist. ``folds`` applies to
    every level, or is a dict level -> folds; ``spread=k`` instead takes ``k`` folds per
    level spread evenly over each dataset's design (:func:`~ist_core.splits.spread_folds`).
    ``data_seed`` draws the synthetic datasets (the generator's seed; the run seeds are
    ``seeds``)."""
    from .data import load_dataset
    from .data import SYNTHETIC
    from .profiles import get_profile, ist_config
    from .train.setup import get_fold

    prof = get_profile(profile)
    ist_config(**(ist or {}))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    given = None if levels is None else [parse_level(level) for level in levels]
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    cells, errors = [], []
    for name in datasets:
        size = prof.data_size if name in SYNTHETIC else "quick"
        data = load_dataset(name, size=size, seed=data_seed, **knobs)
        truthless = [m for m in methods if METHODS[m].synthetic_only and name not in SYNTHETIC]
        if truthless:
            errors.append(f"{name}: {truthless} need true counterfactuals, which only the "
                          f"synthetic datasets {list(SYNTHETIC)} have; leave them out for {name}")
        levels = given or ["iid"] + [str(k) for k, col in LEVEL_COLUMN.items()
                                     if col in data.meta.columns]
        for level in levels:
            if spread is not None:
                level_folds = spread_folds(data.meta, level, spread)
            elif isinstance(folds, dict):
                level_folds = folds.get(parse_level(level), ())
            else:
                level_folds = folds
            for fold in level_folds:
                try:
                    get_fold(data, level, fold)
                except ValueError as err:
                    errors.append(f"{name}: {err}")
                    continue
                for method in dict.fromkeys(methods):
                    for seed in seeds:
                        cells.append(Run(name, method, level, 0 if level == "iid" else fold, seed))
    if errors:
        raise ValueError("the grid is not valid; nothing was trained:\n  " + "\n  ".join(
            dict.fromkeys(errors)))
    return Grid(tuple(dict.fromkeys(cells)), prof.name, dict(ist or {}), dict(knobs), device,
                None if runs is None else str(runs), int(data_seed))


def read_metrics(folder: Path) -> dict | None:
    path = Path(folder) / METRICS
    return json.loads(path.read_text()) if path.exists() else None


def _sample(n: int, cap: int, seed: int) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def run_one(grid: Grid, run: Run, progress: bool = False, train: bool = True) -> dict | None:
    """Train (or load) one run's method, score it, store its files; returns metrics.json.

    With ``train=False`` nothing is trained: a finished run only has its pending metrics
    completed from its stored features, Symphony kNN is computed where the baseline's
    features are stored, and any other unfinished run is left alone (None).
    """
    from .metrics import knn_batch_cv
    from .train.loop import write_json

    setup = grid.setup(run)
    folder = grid.folder(run, setup)
    done = read_metrics(folder)
    if done is not None and not done["pending"]:
        return done
    method = get_method(run.method)
    if not train:
        if method.from_features:  # needs only the stored features of the run it reads
            if read_metrics(grid.folder(dataclasses.replace(run, method=method.after), setup)) is None:
                return None
        elif done is None or any(p.startswith("needs ") for p in done["pending"]):
            return None
    if done is None or any(p.startswith("needs ") for p in done["pending"]):
        folder.mkdir(parents=True, exist_ok=True)
        missing = [lib for lib in method.requires if not _available(lib)]
        if missing:
            done = {"rows": [], "pending": [f"needs {lib}" for lib in missing]}
            write_json(folder / METRICS, done)
            return done
        started = time.perf_counter()
        meta = setup.dataset.meta
        fold = setup.fold
        if method.from_features:
            stored = _stored_features(grid, dataclasses.replace(run, method=method.after), setup)
            train_index = stored["train_index"]
            train_features, test_features, predicted = method.score_features(
                setup, train_index, stored["train_features"].astype(np.float32),
                stored["test_features"].astype(np.float32))
            keep = np.arange(len(train_index))
        else:
            method.fit(setup, progress=progress)
            test_features, predicted = method.outputs(setup.dataset.images[fold.test])
            train_features = method.train_embedding()
            keep = _sample(len(fold.train), EMBED_SAMPLE, run.seed)
            train_index = fold.train
        rows = [_row(run, grid, setup, "macro_f1", test_macro_f1(setup, predicted))]
        if run.level == "iid":
            features = np.concatenate([train_features, test_features])
            sub = meta.iloc[np.concatenate([train_index, fold.test])].reset_index(drop=True)
            n = len(train_index)
            value = knn_batch_cv(features, sub, np.arange(n, len(sub)), np.arange(n),
                                 level=setup.ist.oe_level)
            rows.append(_row(run, grid, setup, "knn_batch_cv", value))
        np_save = {"train_index": train_index[keep], "train_features": train_features[keep].astype(np.float16),
                   "test_index": fold.test, "test_features": test_features.astype(np.float16)}
        _save_npz(folder / EMBEDDINGS, np_save)
        config = setup.config(run.method, 0)
        config.update({"method": run.method, **method.record(),
                       "seconds": round(time.perf_counter() - started, 1),
                       "hardware": hardware(), "commit": commit_id(), "code": code_hash()})
        write_json(folder / "config.json", config)
        done = {"rows": rows, "pending": ["lisi"] if run.level == "iid" else []}
        if not done["pending"]:
            write_json(folder / METRICS, done)
    if "lisi" in done["pending"] and _available("harmonypy"):
        done["rows"] += _lisi_rows(grid, run, setup, folder)
        done["pending"].remove("lisi")
    write_json(folder / METRICS, done)
    return done


def test_macro_f1(setup, predicted) -> float:
    """Macro-F1 of ``predicted`` causes on the fold's test images: the one score of every
    run, of ``ist run``, ``ist train`` and the chapters alike."""
    from .metrics import macro_f1

    return macro_f1(setup.dataset.meta["y"].to_numpy()[setup.fold.test], predicted)


def _stored_features(grid: Grid, run: Run, setup):
    """The stored features of ``run`` (trained first if it is not finished)."""
    folder = grid.folder(run, setup)
    if read_metrics(folder) is None:
        run_one(grid, run)
    return np.load(folder / EMBEDDINGS)


def _available(lib: str) -> bool:
    try:
        return importlib.util.find_spec(lib) is not None
    except (ImportError, ValueError):
        return False


def _lisi_rows(grid, run, setup, folder) -> list[dict]:
    """LISI over causes and over OEs on the stored training features (paper Sec. 5.3)."""
    from .metrics import lisi

    stored = np.load(folder / EMBEDDINGS)
    meta = setup.dataset.meta.iloc[stored["train_index"]]
    features = stored["train_features"].astype(np.float32)
    cause = float(np.mean(lisi(features, meta["y"].to_numpy(), LISI_PERPLEXITY)))
    oe = float(np.mean(lisi(features, meta[setup.ist.oe_level].to_numpy(), LISI_PERPLEXITY)))
    return [_row(run, grid, setup, "lisi_cause", cause), _row(run, grid, setup, "lisi_oe", oe),
            _row(run, grid, setup, "lisi_ratio", oe / cause)]


def _row(run: Run, grid: Grid, setup, metric: str, value: float) -> dict:
    return {"dataset": run.dataset, "profile": grid.profile, "method": run.method,
            "level": run.level, "fold": run.fold, "held_out": ",".join(setup.fold.held_out),
            "seed": run.seed, "metric": metric, "value": float(value)}


def _save_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def collect(grid: Grid) -> pd.DataFrame:
    """The tidy scores of every finished run of ``grid`` (unfinished runs are left out)."""
    rows = []
    for run in grid.runs:
        stored = read_metrics(grid.folder(run))
        if stored is not None:
            rows += stored["rows"]
    columns = ["dataset", "profile", "method", "level", "fold", "held_out", "seed", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def provenance(grid: Grid, dataset: str | None = None) -> dict:
    """Where, from which commit and by which code (:func:`~ist_core.results.code_hash`,
    runs per hash; "unknown" for runs trained before runs recorded one) the finished runs
    of ``grid`` (of ``dataset`` alone, if given) were trained, with the profile, seeds and
    folds per dataset and level."""
    seen = {"trained_on": set(), "trained_at_commit": set()}
    codes: dict[str, int] = {}
    folds: dict[str, dict[str, list]] = {}
    runs = [run for run in grid.runs if dataset in (None, run.dataset)]
    for run in runs:
        path = grid.folder(run) / "config.json"
        if path.exists() and read_metrics(path.parent) is not None:
            config = json.loads(path.read_text())
            seen["trained_on"].add(config.get("hardware", "unknown"))
            seen["trained_at_commit"].add(config.get("commit", "unknown"))
            code = config.get("code", "unknown")
            codes[code] = codes.get(code, 0) + 1
            held = folds.setdefault(run.dataset, {}).setdefault(run.level, [])
            if run.fold not in held:
                held.append(run.fold)
    out = {k: "; ".join(sorted(v)) for k, v in seen.items() if v}
    return {**out, "profile": grid.profile, "runs": sum(codes.values()), "code": codes,
            "seeds": sorted({run.seed for run in runs}), "folds": folds,
            "data_seed": grid.data_seed}


def pending(grid: Grid) -> dict:
    """Runs of ``grid`` that are unfinished or still miss a metric, with what they miss."""
    out = {}
    for run in grid.runs:
        stored = read_metrics(grid.folder(run))
        if stored is None or stored["pending"]:
            out[run] = stored["pending"] if stored else ["not run"]
    return out


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of each metric per dataset, method and level (the grid's closing table)."""
    if scores.empty:
        return pd.DataFrame()
    table = scores.groupby(["dataset", "metric", "level", "method"], sort=False)["value"].agg(
        ["mean", "std", "count"])
    return table.round(3)
