"""The results pipeline end to end at ``tiny``: the grid as ``make results`` runs it (``ist
run ... --save``), in one process, as 3 shards on separate run folders merged afterwards,
and killed part-way then resumed; all three store the same summary. And a stored summary
whose training code has changed since is reported by ``ist run --check``."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ist_core import experiments, runner
from ist_core.methods import METHODS
from ist_core.results import PACKAGE, code_hash, code_status, is_stale, stale_summaries

REPO = Path(__file__).resolve().parents[1]
# make results' command on a smaller grid: 3 folds (IID, one of level 2 and of level 3),
# a predictor and a method that reads its features, 2 seeds
GRID = ["--dataset", "synthetic-grid", "--methods", "baseline", "baseline-knn",
        "--levels", "iid", "2", "3", "--spread", "1", "--seeds", "0", "1", "--profile", "tiny"]
N_RUNS = 12


def _ist(*args, results: Path, pythonpath: Path = REPO, wait: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "IST_RESULTS_DIR": str(results),
           "PYTHONPATH": str(pythonpath)}
    command = [sys.executable, "-m", "ist_core", "run", *args, "--no-progress"]
    if not wait:
        return subprocess.Popen(command, env=env, cwd=pythonpath, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(command, env=env, cwd=pythonpath, capture_output=True, text=True,
                          timeout=600)


def _summary(results: Path) -> pd.DataFrame:
    frame = pd.read_csv(results / "synthetic-grid" / "tiny" / "table1.csv", dtype={"level": str})
    return frame.sort_values(["method", "level", "fold", "seed", "metric"]).reset_index(drop=True)


def _finished(runs: Path) -> int:
    return len(list(runs.rglob(experiments.METRICS)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid in one uninterrupted process: its runs folder and results folder."""
    root = tmp_path_factory.mktemp("reference")
    done = _ist(*GRID, "--runs", str(root / "runs"), "--save", results=root / "results")
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.slow
def test_one_process_stores_every_run_with_its_code(reference):
    frame = _summary(reference / "results")
    f1 = frame[frame["metric"] == "macro_f1"]
    assert len(f1) == N_RUNS and set(f1["method"]) == {"baseline", "baseline-knn"}
    meta = json.loads((reference / "results" / "synthetic-grid" / "tiny" / "table1.json").read_text())
    assert meta["code"] == {code_hash(): N_RUNS} and meta["runs"] == N_RUNS
    assert meta["seeds"] == [0, 1] and set(meta["folds"]["synthetic-grid"]) == {"iid", "2", "3"}
    assert "--runs" not in meta["command"] and "--spread 1" in meta["command"]


@pytest.mark.slow
def test_three_shards_merged_store_what_one_process_stores(reference, tmp_path):
    grid = experiments.plan("synthetic-grid", ["baseline", "baseline-knn"], ["iid", "2", "3"],
                            seeds=(0, 1), profile="tiny", spread=1)
    parts = [runner.shard(grid, k, 3).runs for k in (1, 2, 3)]
    assert sorted(sum(parts, ()), key=str) == sorted(grid.runs, key=str)  # each run once
    assert all(len({(r.level, r.fold) for r in part}) == 1 for part in parts)  # whole folds
    shards = [_ist(*GRID, "--shard", f"{k}/3", "--runs", str(tmp_path / f"machine{k}"),
                   results=tmp_path / "unused", wait=False) for k in (1, 2, 3)]
    assert [shard.wait(timeout=600) for shard in shards] == [0, 0, 0]
    assert sorted(_finished(tmp_path / f"machine{k}") for k in (1, 2, 3)) == [4, 4, 4]
    for k in (1, 2, 3):  # what a scheduler's machines hand back, gathered in one folder
        shutil.copytree(tmp_path / f"machine{k}", tmp_path / "runs", dirs_exist_ok=True)
    merged = _ist(*GRID, "--runs", str(tmp_path / "runs"), "--no-train", "--save",
                  results=tmp_path / "results")
    assert merged.returncode == 0, merged.stderr
    assert not (tmp_path / "unused").exists()
    pd.testing.assert_frame_equal(_summary(tmp_path / "results"), _summary(reference / "results"))


@pytest.mark.slow
def test_a_killed_grid_resumes_and_stores_what_an_uninterrupted_one_stores(reference, tmp_path):
    runs = tmp_path / "runs"
    process = _ist(*GRID, "--runs", str(runs), "--save", results=tmp_path / "results", wait=False)
    deadline = time.time() + 300
    while _finished(runs) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= _finished(runs) < N_RUNS, "the grid was not killed part-way"
    assert not (tmp_path / "results").exists()
    resumed = _ist(*GRID, "--runs", str(runs), "--save", results=tmp_path / "results")
    assert resumed.returncode == 0, resumed.stderr
    pd.testing.assert_frame_equal(_summary(tmp_path / "results"), _summary(reference / "results"))


@pytest.mark.slow
def test_check_reports_a_summary_whose_training_code_changed(reference, tmp_path):
    results = reference / "results"
    fresh = _ist("--check", results=results)
    assert fresh.returncode == 0 and "every stored summary" in fresh.stdout
    assert stale_summaries(results) == []
    # the same checkout with one line added to a training module: the summary is stale
    changed = tmp_path / "checkout"
    shutil.copytree(PACKAGE, changed / "ist_core", ignore=shutil.ignore_patterns("__pycache__"))
    with open(changed / "ist_core" / "methods.py", "a") as f:
        f.write("# a change\n")
    assert code_hash(changed / "ist_core") != code_hash()
    stale = _ist("--check", results=results, pythonpath=changed)
    assert stale.returncode == 1
    assert "table1.csv" in stale.stdout and f"0 of {N_RUNS} runs" in stale.stdout
    assert f"{N_RUNS} by code that has changed since" in stale.stdout
    # a change outside the training code (the report) leaves the runs current
    shutil.rmtree(changed)
    shutil.copytree(PACKAGE, changed / "ist_core", ignore=shutil.ignore_patterns("__pycache__"))
    with open(changed / "ist_core" / "report" / "tables.py", "a") as f:
        f.write("# a change\n")
    assert code_hash(changed / "ist_core") == code_hash()


def test_code_status_counts_current_changed_and_unrecorded_runs():
    now = code_hash()
    status = code_status({"code": {now: 5, "abc": 2, "unknown": 3}}, now)
    assert status == {"runs": 10, "current": 5, "changed": 2, "unknown": 3} and is_stale(status)
    assert not is_stale(code_status({"code": {now: 4}}, now))
    assert is_stale(code_status({"rows": 8}, now))  # stored before runs recorded a code hash


def test_training_code_covers_every_module_a_run_imports():
    """A module that trains or scores a run but is left out of the hash would let a changed
    result pass as current."""
    probe = ("import sys, ist_core.experiments, ist_core.runner, ist_core.train, ist_core.data\n"
             "from ist_core.methods import METHODS\n"
             "from ist_core.train.stargan import train_stargan\n"
             "from ist_core.train.oracle import OracleTransfer\n"
             "print('\\n'.join(m.__file__ for n, m in sys.modules.items()\n"
             "                 if n.startswith('ist_core') and getattr(m, '__file__', None)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    from ist_core.results import training_files

    covered = {str(p) for p in training_files()}
    outside = sorted(Path(f).relative_to(PACKAGE).as_posix() for f in out if f not in covered)
    assert outside == ["__init__.py", "results.py", "runner.py"]  # scheduling and records only


def test_a_shard_must_be_k_of_n():
    assert runner.parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "3", "a/b"):
        with pytest.raises(ValueError, match="K/N"):
            runner.parse_shard(bad)


def test_one_run_left_to_train_trains_in_this_process_more_go_to_workers(tmp_path, monkeypatch):
    grid = experiments.plan("synthetic-grid", ["baseline"], ["iid"], seeds=(0, 1), profile="tiny",
                            runs=tmp_path)
    calls = []
    monkeypatch.setattr(runner, "_run_parallel", lambda *args: calls.append(len(args[1])))
    runner.run_grid(grid, workers=2, progress=False, log=None)
    assert calls == [2]  # two runs to train: handed to the workers (stubbed here, so none trains)
    assert len(runner._to_train(grid)) == 2
    one = dataclasses.replace(grid, runs=grid.runs[:1])
    scores = runner.run_grid(one, workers=2, progress=False, log=None)
    assert calls == [2] and set(scores["seed"]) == {0}  # trained here, not by a worker
    assert runner._to_train(grid) == [grid.runs[1]]


def test_jobs_start_with_the_longest_chain_and_never_before_what_they_wait_for():
    grid = experiments.plan("synthetic-grid", ["baseline", "baseline-knn", "mixstyle", "ist"],
                            ["2"], profile="tiny")
    jobs = runner._jobs(grid)
    order = [(job.kind, job.run.method) for job, _ in jobs]
    # IST's generator and then IST's run (their chain is the longest) before the rest,
    # even though the run waits for the generator and the others wait for nothing
    assert order[:2] == [("generator", "-"), ("run", "ist")]
    assert set(order[2:]) == {("run", "baseline"), ("run", "baseline-knn"), ("run", "mixstyle")}
    position = {job: i for i, (job, _) in enumerate(jobs)}
    assert all(position[dep] < position[job] for job, deps in jobs for dep in deps)


def test_networks_are_trained_without_their_runs(tmp_path, monkeypatch):
    grid = experiments.plan("synthetic-grid", ["baseline"], ["iid"], profile="tiny",
                            runs=tmp_path)
    generators = experiments.plan("synthetic-grid", ["stargan2"], ["2"], profile="tiny")
    trained = []
    monkeypatch.setattr(METHODS["stargan2"], "train_fold_network",
                        lambda self, setup, progress=True: trained.append(setup.split))
    scores = runner.run_grid(grid, workers=1, progress=False, log=None,
                             networks=generators.runs)
    assert trained == ["level2-fold0"]
    assert set(scores["method"]) == {"baseline"}  # StarGAN v2's predictor was not trained
    with pytest.raises(ValueError, match="baseline shares no per-fold network"):
        runner._jobs(grid, networks=grid.runs)


def _naive_iid(runs: Path, threads: int):
    """Train the naive predictor of the IID fold, seed 0, at tiny in this process after
    setting torch to ``threads`` threads; its losses, its scores and the thread count
    afterwards."""
    import torch

    grid = experiments.plan("synthetic-grid", ["baseline"], ["iid"], seeds=(0,), profile="tiny",
                            runs=runs, device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        scores = runner.run_grid(grid, workers=1, progress=False, log=None)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    losses = next(runs.rglob("predictor-naive/**/losses.csv"))
    return pd.read_csv(losses)["cause"].tolist(), scores, after


def test_a_run_trains_on_one_cpu_thread_whatever_the_process_has(tmp_path):
    one, scores_one, _ = _naive_iid(tmp_path / "one", threads=1)
    two, scores_two, after = _naive_iid(tmp_path / "two", threads=2)
    assert two == one  # on two threads the first losses already differ in their last digits
    pd.testing.assert_frame_equal(scores_two, scores_one)
    assert after == 2  # the process gets its own count back


@pytest.mark.slow
def test_a_worker_ends_when_the_grid_that_started_it_is_killed(tmp_path):
    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "grid.py"  # a file: spawned workers import the job from it
    script.write_text(
        "import multiprocessing as mp, os, sys, time\n"
        "from ist_core import runner\n"
        "def job(path):\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    pool = mp.get_context('spawn').Pool(\n"
        "        1, initializer=runner._worker_init, initargs=(1, os.getpid()))\n"
        "    pool.apply_async(job, (sys.argv[1],))\n"
        "    time.sleep(120)\n")
    parent = subprocess.Popen(
        [sys.executable, str(script), str(pid_file)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert _alive(worker)
        parent.kill()  # SIGKILL: no handler of the parent runs
        parent.wait()
        for _ in range(100):
            if not _alive(worker):
                break
            time.sleep(0.1)
        assert not _alive(worker), "the worker trains on after its grid was killed"
    finally:
        parent.kill()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_grid_cost_counts_every_network_the_grid_trained(reference, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("grid_cost", REPO / "benchmarks" / "grid_cost.py")
    grid_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid_cost)
    nets = grid_cost.network_seconds(reference / "runs", "tiny")
    # the baseline's predictor at 3 folds x 2 seeds; Baseline kNN trains nothing
    assert list(nets["network"]) == ["predictor-naive"] * 6
    assert sorted(set(nets["split"])) == ["iid", "level2-fold0", "level3-fold0"]
    assert (nets["seconds"] > 0).all()
    monkeypatch.setattr(sys, "argv", ["grid_cost.py", "--runs", str(reference / "runs"),
                                      "--profile", "tiny"])
    grid_cost.main()
    assert "of 6 networks" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["grid_cost.py", "--runs", str(reference / "runs"),
                                      "--profile", "quick"])
    with pytest.raises(SystemExit, match="nothing trained there at this profile"):
        grid_cost.main()
