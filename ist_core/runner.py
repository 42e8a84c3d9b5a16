"""Running a grid of :mod:`ist_core.experiments`: its jobs in dependency order, on several
worker processes, one progress bar over the whole grid, and shards of it for several
machines (``ist run --shard K/N``).

A job is either one run or a network that a method shares between the seeds of a fold
(IST's generator, StarGAN v2, DR's search); a run waits for the networks it uses and
for the run it reads features from (``after``). A shard is a set of whole folds (every
method and seed of a dataset's level and fold), so no job waits on another shard; folds
are dealt out to shards longest first, each to the least loaded one, which depends on
the grid alone: every machine that is given the same command and ``K/N`` computes the
same part. Shards write disjoint run folders, so copying them into one ``--runs``
folder merges them; ``ist run ... --no-train --save`` then summarises the whole grid.
Nothing here changes a number: it only decides what trains when and where.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from dataclasses import dataclass

import pandas as pd

from .experiments import Grid, Run, collect, pending, run_one
from .methods import get_method


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) as the pair (K, N), with an error that shows the form."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: give K/N with 1 <= K <= N, e.g. --shard 2/3 for "
                         "the second of three parts")
    return k, n


def _fold_key(run: Run) -> tuple:
    return (run.dataset, run.level, run.fold)


def shard(grid: Grid, k: int, n: int) -> Grid:
    """The ``k``-th (1-based) of ``n`` deterministic parts of ``grid``: whole folds, dealt
    out longest first to the least loaded part (ties: the lower part, then grid order)."""
    parse_shard(f"{k}/{n}")
    costs: dict[tuple, float] = {}
    for run in grid.runs:
        costs[_fold_key(run)] = costs.get(_fold_key(run), 0.0) + get_method(run.method).cost
    order = sorted(costs, key=lambda key: -costs[key])  # stable: grid order among equals
    load, owner = [0.0] * n, {}
    for key in order:
        part = min(range(n), key=lambda i: (load[i], i))
        owner[key] = part
        load[part] += costs[key]
    runs = tuple(run for run in grid.runs if owner[_fold_key(run)] == k - 1)
    return dataclasses.replace(grid, runs=runs)


@dataclass(frozen=True)
class _Job:
    kind: str  # "run", or the name of a network a method shares between a fold's seeds
    run: Run  # for a shared network: the fold's run with method "-" and seed 0
    owner: str = dataclasses.field(default="", compare=False)  # the method that trains it
    cost: float = dataclasses.field(default=1.0, compare=False)


def _fold_network(run: Run) -> _Job | None:
    shared = get_method(run.method).fold_network()
    if shared is None:
        return None
    kind, cost = shared
    return _Job(kind, dataclasses.replace(run, method="-", seed=0), run.method, cost)


def _jobs(grid: Grid, networks: tuple[Run, ...] = ()) -> list[tuple[_Job, tuple[_Job, ...]]]:
    """Every job with the jobs it waits for, most urgent first: a job's urgency is its cost
    plus that of the longest chain of jobs waiting on it, so a shared network, and then
    the run that waits for it, start before jobs that hold nothing up. ``networks``: runs
    whose method's per-fold network is trained too, without the run itself."""
    jobs: dict[_Job, tuple[_Job, ...]] = {}
    for run in networks:
        job = _fold_network(run)
        if job is None:
            raise ValueError(f"{run.method} shares no per-fold network to train on its own")
        jobs.setdefault(job, ())
    for run in grid.runs:
        method = get_method(run.method)
        deps = [job for job in [_fold_network(run)] if job is not None]
        if method.after is not None:
            first = dataclasses.replace(run, method=method.after)
            deps.append(_Job("run", first, cost=get_method(method.after).cost))
        for dep in deps:
            jobs.setdefault(dep, ())
        jobs[_Job("run", run, cost=method.cost)] = tuple(deps)
    waiting: dict[_Job, list[_Job]] = {job: [] for job in jobs}
    for job, deps in jobs.items():
        for dep in deps:
            waiting[dep].append(job)
    urgency: dict[_Job, float] = {}

    def chain(job: _Job) -> float:
        if job not in urgency:
            urgency[job] = job.cost + max((chain(after) for after in waiting[job]), default=0.0)
        return urgency[job]

    # dependencies are always more urgent than what waits on them (costs are positive),
    # so in this order every job comes after the jobs it waits for
    return sorted(jobs.items(), key=lambda item: -chain(item[0]))


def _do(grid: Grid, job: _Job, progress: bool = False, train: bool = True):
    if job.kind == "run":
        return run_one(grid, job.run, progress, train)
    if not train:
        return None
    get_method(job.owner).train_fold_network(grid.setup(job.run), progress=progress)
    return None


@contextlib.contextmanager
def _cpu_threads(grid: Grid, threads: int = 1):
    """Train this process's runs of ``grid`` on ``threads`` CPU threads (then restore the
    count). A network's numbers depend on how many threads add up its sums (at ``tiny``,
    two threads instead of one moved a naive IID macro-F1 from 0.59 to 0.50), so on the
    CPU every run trains on one thread, whether a worker or this process trains it: a
    run's numbers do not depend on the scheduling, the number of cores or
    ``$OMP_NUM_THREADS``, and on the same processor and library versions a chapter's live
    re-run gives its stored twin's number. On a GPU the count is left alone."""
    import torch

    from .train.runtime import pick_device

    if pick_device(grid.device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker when the process that started it is gone (killed by a signal or
    by ``kill -9``, which no handler sees): a worker is re-parented, so ``getppid``
    changes. Without it, a killed grid leaves its workers training on, sharing the cores
    with the next run. Their checkpoints stay, so the next ``ist run`` resumes them."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _worker_init(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        _exit_with_parent(parent)


def _worker(grid: Grid, job: _Job):
    import warnings

    warnings.filterwarnings("ignore")
    return _do(grid, job, progress=False)


def run_grid(grid: Grid, workers: int = 1, progress: bool = True, log=print,
             train: bool = True, networks=()) -> pd.DataFrame:
    """Run every job of ``grid`` (finished runs are skipped, broken ones resume) and return
    the tidy scores of all its runs. ``networks`` (runs, e.g. of another :func:`plan`) adds
    the per-fold network each of their methods shares (a generator), without their runs:
    trained beside the grid for a reader that uses the network itself. ``workers`` > 1
    trains that many jobs at once in separate processes with one thread each (on a CPU
    with few cores this beats one process with several threads); with one run left to
    train it trains here. On the CPU
    every run trains on one thread (:func:`_cpu_threads`). On a GPU keep 1. ``log`` gets
    one line per finished run.
    ``train=False`` trains nothing and only completes what stored features allow (see
    :func:`run_one`)."""
    networks = tuple(networks)
    jobs = _jobs(grid, networks)
    if workers > 1 and train and len(_to_train(grid)) + len(networks) <= 1:
        workers = 1  # one run to train: here, on one thread like a worker, without starting one
    total = sum(job.cost for job, _ in jobs)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=round(total, 1), desc="grid", unit="cost", file=sys.stderr,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} [{elapsed}<{remaining}]")
    done: set[_Job] = set()
    started = time.perf_counter()

    def finished(job: _Job, result) -> None:
        done.add(job)
        if bar is not None:
            bar.update(job.cost)
        if job.kind == "run" and log is not None and result is not None:
            f1 = next((r["value"] for r in result["rows"] if r["metric"] == "macro_f1"), None)
            note = f"macro-F1 {f1:.3f}" if f1 is not None else ", ".join(result["pending"])
            log(f"{job.run.dataset} {job.run.method} {job.run.split} seed {job.run.seed}: {note} "
                f"({time.perf_counter() - started:.0f} s)")

    try:
        if workers <= 1 or not train:
            with _cpu_threads(grid):
                for job, _ in jobs:  # sorted so that dependencies come first
                    finished(job, _do(grid, job, progress=False, train=train))
        else:
            _run_parallel(grid, jobs, workers, finished, done)
    finally:
        if bar is not None:
            bar.close()
    return collect(grid)


def _to_train(grid: Grid) -> list:
    """The runs of ``grid`` that have not finished training (not those that only wait for
    a metric)."""
    return [run for run, what in pending(grid).items() if what == ["not run"]]


def _run_parallel(grid, jobs, workers, finished, done) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending = dict(jobs)
    running = {}
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(1, os.getpid())) as pool:
        while pending or running:
            for job, deps in list(pending.items()):
                if len(running) >= workers:
                    break
                if all(d in done for d in deps):
                    running[pool.submit(_worker, grid, job)] = job
                    del pending[job]
            if not running:
                raise RuntimeError(f"grid jobs wait on each other: {list(pending)[:3]}")
            ready, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ready:
                job = running.pop(future)
                finished(job, future.result())


