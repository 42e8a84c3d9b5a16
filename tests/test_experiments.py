"""The Table 1 grid runner (``ist run``): checked before training, finished runs skipped,
broken ones redone, metrics that need a missing library completed later."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ist_core import experiments
from ist_core.experiments import pending, plan, read_metrics
from ist_core.runner import run_grid
from ist_core.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory):
    """Every method at tiny, one fold and seed each, two worker processes (as the
    evaluation chapter runs it on a CPU): IID on both synthetic designs, level 1 (section
    out) on GRID and level 2 on LINCS, where a plate out is its own kind (a plate of a
    replicated series or of the single-copy one). Level 3 (series out) holds out a group
    of plates as level 2 does; the runner's tests (``test_runner.py``) train it."""
    runs = tmp_path_factory.mktemp("runs")
    grids = [plan(name, list(METHODS), levels=levels.split(), profile="tiny", device="cpu",
                  runs=runs) for name, levels in GRID_LEVELS]
    grid = dataclasses.replace(grids[0], runs=grids[0].runs + grids[1].runs)
    scores = run_grid(grid, workers=2, progress=False, log=None)
    return grid, scores


GRID_LEVELS = [("synthetic-grid", "iid 1"), ("synthetic-lincs", "iid 2")]


@pytest.mark.slow
def test_grid_scores_every_method_level_and_metric(grid_runs):
    grid, scores = grid_runs
    f1 = scores[scores["metric"] == "macro_f1"]
    got = set(zip(f1["dataset"], f1["method"], f1["level"]))
    want = {(d, m, lv) for d, levels in GRID_LEVELS for m in METHODS for lv in levels.split()}
    assert got == want
    iid = scores[scores["level"] == "iid"]
    for metric in ("knn_batch_cv", "lisi_cause", "lisi_oe", "lisi_ratio"):
        assert len(iid[iid["metric"] == metric]) == 2 * len(METHODS)
    ratio = iid.pivot_table(index=["dataset", "method"], columns="metric", values="value")
    assert np.allclose(ratio["lisi_ratio"], ratio["lisi_oe"] / ratio["lisi_cause"])
    shares = scores[scores["metric"].isin(["macro_f1", "knn_batch_cv"])]["value"]
    assert shares.between(0, 1).all()
    # LISI counts labels per neighbourhood: from 1 to the number of causes (OEs)
    for name, (_, data) in zip(("synthetic-grid", "synthetic-lincs"), grid_datasets(grid)):
        part = iid[iid["dataset"] == name].set_index("metric")["value"]
        assert part["lisi_cause"].between(1, data.n_causes).all()
        assert part["lisi_oe"].between(1, data.meta["plate"].nunique()).all()
    assert not pending(grid)


def grid_datasets(grid):
    return [(name, grid.setup(next(r for r in grid.runs if r.dataset == name)).dataset)
            for name in ("synthetic-grid", "synthetic-lincs")]


@pytest.mark.slow
def test_run_folders_hold_config_metrics_and_embeddings(grid_runs):
    grid, _ = grid_runs
    run = next(r for r in grid.runs if r.method == "dr" and r.level == "2")
    folder = grid.folder(run)
    assert folder.parent.parent.name == "dr" and folder.parent.name == "level2-fold0"
    assert folder.name == "seed0" and folder.parent.parent.parent.name == "tiny"
    config = json.loads((folder / "config.json").read_text())
    assert config["method"] == "dr" and config["settings"]["alpha"] in (0.0625, 0.25, 1.0)
    assert len(config["dr_search"]) == 3
    stored = np.load(folder / "embeddings.npz")
    setup = grid.setup(run)
    assert np.array_equal(stored["test_index"], setup.fold.test)
    assert set(stored["train_index"]) <= set(setup.fold.train)


@pytest.mark.slow
def test_a_finished_run_is_skipped_and_a_broken_one_redone(grid_runs, monkeypatch):
    grid, scores = grid_runs
    run = next(r for r in grid.runs if r.method == "baseline" and r.level == "1")
    folder = grid.folder(run)
    before = read_metrics(folder)
    calls = []
    real_fit = METHODS["baseline"].fit
    monkeypatch.setattr(METHODS["baseline"], "fit",
                        lambda self, *a, **k: calls.append(1) or real_fit(self, *a, **k))
    assert experiments.run_one(grid, run) == before and not calls  # finished: not even fitted
    (folder / "metrics.json").unlink()  # as if killed before its last write
    again = experiments.run_one(grid, run)
    assert calls == [1]  # fitted again (its network loads from the finished checkpoint)
    assert again["rows"] == before["rows"]


def test_lisi_waits_for_harmonypy_and_is_completed_later(tmp_path, monkeypatch):
    grid = plan("synthetic-grid", ["baseline"], levels=["iid"], profile="tiny", device="cpu",
                runs=tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "harmonypy" else real(name, *a))
    scores = run_grid(grid, progress=False, log=None)
    assert set(scores["metric"]) == {"macro_f1", "knn_batch_cv"}
    assert list(pending(grid).values()) == [["lisi"]]
    monkeypatch.setattr(importlib.util, "find_spec", real)
    scores = run_grid(grid, progress=False, log=None)
    assert {"lisi_cause", "lisi_oe", "lisi_ratio"} <= set(scores["metric"]) and not pending(grid)


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": ["baseline", "resnet"]}, "unknown method.*choose from"),
    ({"datasets": "synthetic-lincs", "levels": ["1"]}, "level 1 .*not defined"),
    ({"folds": [99]}, "choose --fold 0.."),
    ({"profile": "huge"}, "unknown profile.*tiny"),
    ({"datasets": "cifar"}, "unknown dataset"),
    ({"ist": {"styel": 2}}, "unknown IST setting"),
])
def test_configuration_errors_come_before_any_training(kwargs, message, tmp_path):
    args = {"datasets": "synthetic-grid", "methods": ["baseline"], "levels": ["2"],
            "profile": "tiny", "runs": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message):
        plan(**args)
    assert not any(tmp_path.iterdir())


def test_spread_plans_k_folds_per_level_over_each_design(tmp_path):
    from ist_core.data import load_dataset
    from ist_core.splits import make_folds

    grid = plan(["synthetic-grid", "synthetic-lincs"], ["baseline"], profile="tiny",
                runs=tmp_path, spread=2, seeds=(0, 1))
    for name in ("synthetic-grid", "synthetic-lincs"):
        meta = load_dataset(name, size="tiny").meta
        for level in ("2", "3"):
            folds = sorted({r.fold for r in grid.runs if r.dataset == name and r.level == level})
            n = len(make_folds(meta, level))
            assert folds == [0, n - 1], (name, level)  # both ends of the design
    iid = [r for r in grid.runs if r.level == "iid"]
    assert sorted((r.dataset, r.seed) for r in iid) == [
        ("synthetic-grid", 0), ("synthetic-grid", 1), ("synthetic-lincs", 0), ("synthetic-lincs", 1)]


def test_ist_run_on_a_bare_machine_leaves_symphony_for_later(tmp_path):
    """``python -m ist_core run`` with only torch, numpy, pandas, scipy, scikit-learn and tqdm
    (as on the GPU image): it trains, and names what it left pending."""
    blocker = tmp_path / "block" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocked = ["harmonypy", "symphonypy", "scanpy", "anndata", "umap", "pooch", "skimage",
               "matplotlib", "seaborn", "jupyter_book", "papermill", "daft"]
    blocker.write_text(
        "import importlib.abc, sys\n"
        f"BLOCKED = {blocked!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not installed here')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker.parent}{os.pathsep}{ROOT}",
           "IST_RUNS_DIR": str(tmp_path / "runs")}
    out = subprocess.run([sys.executable, "-m", "ist_core", "run", "--profile", "tiny",
                          "--methods", "baseline", "symphony-knn", "--levels", "iid", "2",
                          "--no-progress", "--device", "cpu"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "wait for: lisi, needs symphonypy" in out.stdout
    assert "baseline iid seed 0: macro-F1" in out.stdout


def test_no_train_completes_stored_runs_and_trains_nothing(tmp_path, monkeypatch):
    """As after a GPU machine: the baseline finished without harmonypy and symphonypy;
    ``train=False`` completes LISI and Symphony kNN from the stored features only."""
    grid = plan("synthetic-grid", ["baseline", "symphony-knn", "mixstyle"], levels=["iid"],
                profile="tiny", device="cpu", runs=tmp_path)
    real = importlib.util.find_spec
    bare = lambda name, *a: None if name in ("harmonypy", "symphonypy") else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", bare)
    base = next(r for r in grid.runs if r.method == "baseline")
    experiments.run_one(grid, base)
    monkeypatch.setattr(importlib.util, "find_spec", real)
    for name in ("baseline", "mixstyle"):  # nothing may train from here on
        monkeypatch.setattr(METHODS[name], "fit", lambda *a, **k: pytest.fail("trained"))
    scores = run_grid(grid, progress=False, log=None, train=False)
    assert set(scores["method"]) == {"baseline", "symphony-knn"}
    assert {"lisi_ratio", "knn_batch_cv", "macro_f1"} <= set(scores[scores["method"] == "baseline"]["metric"])
    assert set(pending(grid)) == {r for r in grid.runs if r.method == "mixstyle"}
