"""Run and build the book.

Chapters are jupytext MyST notebooks (``book/<chapter>.md``), each with one cell
tagged ``parameters`` that holds the chapter's defaults (``profile``, ``dataset``,
``seed``, ...). :func:`run_book` executes them with papermill and writes the executed
notebooks into a staging source tree, ``_build/src/`` (``_config.yml``, ``_toc.yml``,
``book/<chapter>.ipynb``); :func:`build_book` renders that tree with Jupyter Book 1,
warnings as errors, into ``_build/html``.

The chapters themselves (where they are, their paired notebooks, their parameters) are
:mod:`ist_core.chapters`.

Why a staging tree: the repository keeps, next to each ``.md``, its paired
output-free ``.ipynb`` (:func:`~ist_core.chapters.sync_notebooks`), because Colab opens only
``.ipynb`` files and the launch button links to ``{repo}/blob/{branch}/book/<chapter>.ipynb``.
Sphinx would see the two twins as one document found twice; the staging tree holds
only the executed ``.ipynb``, at the same relative path, so every launch link names
a notebook that exists in the repository.

Live runs: a chapter that re-trains a piece of the stored grid declares it in its
parameters (``live_methods`` at ``level``, ``fold`` and ``seed`` of ``dataset``, or of the
first of ``datasets``; ``live_networks``: methods whose per-fold generator the chapter uses
without their predictor). Before any chapter runs, :func:`run_book` trains the union of
these pieces as one grid (:func:`live_grid`): in parallel, one thread per run as ``make
results`` trains them, each shared run once, the longest chains first. The chapters then
find their runs, and the networks they share (the naive predictor, IST's encoder and
generator, StarGAN v2) trained as the stored grid trained them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .chapters import (URL_ENV, BookError, book_config, chapter_parameters, chapter_paths,
                       coerce_parameter, config_url, find_root, read_chapter, repository_url)

PROFILES = ("tiny", "quick", "paper")


def _build_dir(root: Path, out_dir) -> Path:
    return Path(out_dir).resolve() / "_build" if out_dir is not None else root / "_build"


def _select(paths: list[Path], chapters: Iterable[str] | None) -> list[Path]:
    if chapters is None:
        return paths
    by_name = {p.stem: p for p in paths}
    chosen = []
    for name in chapters:
        key = Path(str(name)).stem
        if key not in by_name:
            raise BookError(f"no chapter {name!r}; chapters: {list(by_name)}")
        chosen.append(by_name[key])
    return chosen


# ----------------------------------------------------------------------------- run and build


def _stage_static(root: Path, stage: Path, chapters: list[Path], profile: str | None = None) -> None:
    """Copy the book config (with the repository URL and a provenance footer) and the
    non-chapter files of the chapter folders."""
    import yaml

    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "_toc.yml", stage / "_toc.yml")
    config = book_config(root)
    if config_url(root) is not None or os.environ.get(URL_ENV):
        config.setdefault("repository", {})["url"] = repository_url(root)
    footer = footer_text(profile or _staged_profile(stage))
    config.setdefault("html", {})["extra_footer"] = f"<p>{footer}</p>"
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    sources = {p.resolve() for p in chapters} | {p.with_suffix(".ipynb").resolve() for p in chapters}
    for folder in sorted({p.parent for p in chapters}):
        for f in folder.rglob("*"):
            if f.is_file() and f.resolve() not in sources and ".ipynb_checkpoints" not in f.parts:
                dest = stage / f.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest)
    # executed notebooks of chapters since removed from the toc would be built as orphans
    keep = {(stage / p.relative_to(root)).with_suffix(".ipynb") for p in chapters}
    for old in stage.rglob("*.ipynb"):
        if old not in keep:
            old.unlink()


def run_book(
    profile: str = "quick",
    parameters: Mapping | None = None,
    chapters: Iterable[str] | None = None,
    build: bool = True,
    root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
) -> Path:
    """Execute the chapters with papermill, then (``build=True``) build the HTML book.

    ``profile`` (tiny/quick/paper) and ``parameters`` (name -> value, text values take
    the type of the chapter's default) are injected into every chapter whose
    parameters cell defines that name; ``chapters`` picks some by name. Output goes
    to ``<out_dir or root>/_build/``. Returns the HTML folder, or the staging source
    folder when ``build=False``.

    The chapters train in ``_build/runs/`` (unless ``$IST_RUNS_DIR`` is set): their own
    folder, shared between them, never the ``runs/`` of ``make results``, so a chapter's
    live re-run is trained here and not read back from the grid it checks.

    ``jobs`` chapters run at once (default: the chapters' ``workers``, the cores they
    train on; one on a GPU), after the live runs (:func:`live_grid`) have trained the
    networks they share, so that each chapter only reads them. A chapter whose network
    no live run trained (say, with ``live_methods=[]``) trains it in its own kernel; give
    ``jobs=1`` then, or two chapters that use it may both train it at once.
    """

    root = find_root(root)
    if profile not in PROFILES:
        raise BookError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    parameters = dict(parameters or {})
    if "profile" in parameters and parameters["profile"] != profile:
        raise BookError("give the profile once, as profile= (--profile), not as a parameter")
    parameters["profile"] = profile

    every = chapter_paths(root)
    selected = _select(every, chapters)
    defaults = {p: chapter_parameters(p) for p in selected}
    known = sorted({name for d in defaults.values() for name in d})
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        listing = "; ".join(f"{p.stem}: {', '.join(d)}" for p, d in defaults.items())
        raise BookError(f"unknown parameter(s) {unknown}; the chapters define {listing}")

    build_dir = _build_dir(root, out_dir)
    stage = build_dir / "src"
    executed = build_dir / "executed"
    _stage_static(root, stage, every, profile)
    (stage / "profile.txt").write_text(profile + "\n")

    total = time.perf_counter()
    own_runs = "IST_RUNS_DIR" not in os.environ
    if own_runs:
        os.environ["IST_RUNS_DIR"] = str(build_dir / "runs")
    try:
        resolved = {md: _resolved(md, parameters, defaults) for md in selected}
        lanes = _lanes(resolved, jobs)
        _train_live_runs(resolved)
        _execute(selected, root, resolved, executed, stage, lanes)
    finally:
        if own_runs:
            del os.environ["IST_RUNS_DIR"]

    for md in every:
        staged = stage / md.relative_to(root).with_suffix(".ipynb")
        if not staged.exists():
            # not run this time and never before: show its source without outputs
            import jupytext

            print(f"    {md.stem} not executed; the book shows it without outputs", flush=True)
            staged.parent.mkdir(parents=True, exist_ok=True)
            jupytext.write(read_chapter(md), staged, fmt="ipynb")
    print(f"ran {len(selected)} chapter(s) in {time.perf_counter() - total:.1f} s", flush=True)
    return build_book(root, out_dir=out_dir) if build else stage


def _resolved(md: Path, parameters: dict, defaults: dict) -> tuple[dict, dict]:
    """``(given, values)`` of chapter ``md``: the ``parameters`` it defines, coerced to its
    defaults' types, and every parameter's value in this run (defaults overridden)."""
    given = {k: coerce_parameter(k, v, defaults[md][k], md.stem) for k, v in parameters.items()
             if k in defaults[md]}
    return given, {**defaults[md], **given}


def live_grid(values: Iterable[Mapping]):
    """``(grid, networks)``: one grid of the live runs that chapters with these parameter
    ``values`` re-train (each chapter's ``live_methods`` at its ``level``, ``fold`` and
    ``seed`` of its ``dataset``, or of the first of its ``datasets``), each run once, and
    the runs whose per-fold networks the chapters use without their predictors
    (``live_networks``, e.g. the fold's StarGAN v2); None when no chapter declares any."""
    import dataclasses

    from .experiments import plan

    grids, networks = [], []
    for v in values:
        if not (v.get("live_methods") or v.get("live_networks")):
            continue
        dataset = v["dataset"] if "dataset" in v else v["datasets"][0]
        where = dict(levels=[v["level"]], folds=[v["fold"]], seeds=[v["seed"]],
                     profile=v["profile"])
        grids.append(plan(dataset, v.get("live_methods") or [], **where))
        if v.get("live_networks"):
            networks += plan(dataset, v["live_networks"], **where).runs
    if not grids:
        return None
    runs = tuple(dict.fromkeys(run for grid in grids for run in grid.runs))
    return dataclasses.replace(grids[0], runs=runs), tuple(dict.fromkeys(networks))


def _train_live_runs(resolved: dict) -> None:
    """Train :func:`live_grid` of the chapters about to run, before the first of them, on
    as many worker processes as the chapters' ``workers`` allow (one on a GPU)."""
    from .runner import run_grid
    from .train import pick_device

    values = [v for _, v in resolved.values()]
    live = live_grid(values)
    if live is None:
        return
    grid, networks = live
    workers = max(int(v.get("workers", 1)) for v in values)
    if pick_device().type != "cpu":
        workers = 1
    shared = f" and {len(networks)} network(s) they use" if networks else ""
    print(f"[0/{len(resolved)}] the chapters' live runs first: {len(grid.runs)} run(s){shared}, "
          f"{workers} worker(s) ...", flush=True)
    start = time.perf_counter()
    run_grid(grid, workers=workers, progress=False, log=None, networks=networks)
    print(f"    live runs done in {time.perf_counter() - start:.1f} s", flush=True)


def _lanes(resolved: dict, jobs: int | None) -> int:
    """How many chapters run at once: ``jobs``, or by default the largest ``workers`` the
    chapters give (the cores they train on), one on a GPU."""
    from .train import pick_device

    if jobs is not None:
        if int(jobs) < 1:
            raise BookError(f"jobs={jobs!r}: give 1 or more chapters to run at once")
        return int(jobs)
    if pick_device().type != "cpu":
        return 1
    return max([int(v.get("workers", 1)) for _, v in resolved.values()] + [1])


def _execute(selected, root: Path, resolved: dict, executed: Path, stage: Path,
             jobs: int = 1) -> None:
    """Run each ``selected`` chapter with papermill into ``executed`` and stage it, ``jobs``
    at a time in book order (each in a process of its own that waits on the chapter's
    kernel, whose BLAS and OpenMP then use one thread: two kernels of two threads each on
    two cores spin against each other, several times slower); ``resolved`` maps each to
    :func:`_resolved`'s ``(given, values)``. On a failure the chapters already running
    finish and no later one starts."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    tasks = []
    for i, md in enumerate(selected, 1):
        rel = md.relative_to(root)
        out = executed / rel.with_suffix(".ipynb")
        out.parent.mkdir(parents=True, exist_ok=True)
        tasks.append((i, md, rel, out, resolved[md][0]))

    def started(i, md, rel, given) -> float:
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
        print(f"[{i}/{len(selected)}] {md.stem} ({rel}) {shown} ...", flush=True)
        return time.perf_counter()

    def finished(md, rel, out, notes, start) -> None:
        for note in notes:
            print(f"    note: {md.stem} wrote to stderr: {note}", flush=True)
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out, stage / rel.with_suffix(".ipynb"))
        print(f"    {md.stem} done in {time.perf_counter() - start:.1f} s", flush=True)

    if jobs <= 1 or len(tasks) <= 1:
        for i, md, rel, out, given in tasks:
            start = started(i, md, rel, given)
            finished(md, rel, out, _run_chapter(md, rel, out, given), start)
        return
    running, failure = {}, None
    with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=_one_thread_kernels) as pool:
        queue = list(tasks)
        while queue or running:
            while queue and len(running) < jobs and failure is None:
                i, md, rel, out, given = queue.pop(0)
                start = started(i, md, rel, given)
                running[pool.submit(_run_chapter, md, rel, out, given)] = (md, rel, out, start)
            if not running:
                break
            ready, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ready:
                md, rel, out, start = running.pop(future)
                try:
                    notes = future.result()
                except BookError as err:
                    failure = failure or err
                    continue
                finished(md, rel, out, notes, start)
    if failure is not None:
        raise failure


def _one_thread_kernels() -> None:
    """In a process that runs chapters beside others: the kernels it starts inherit this."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"


def _run_chapter(md: Path, rel: Path, out: Path, given: dict) -> list[str]:
    """Execute chapter ``md`` with papermill into ``out``, parameters ``given``; the notes of
    what its cells wrote to stderr. A failing cell is a :class:`BookError` naming it."""
    import papermill

    try:
        nb = papermill.execute_notebook(
            read_chapter(md), str(out), parameters=given, cwd=str(md.parent),
            progress_bar=False, kernel_name=None,
            # the kernel's start-up warnings (e.g. about TCP transport) are noise here
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as err:
        raise BookError(
            f"chapter {md.stem!r} ({rel}) failed in cell [{err.exec_count}]"
            f"{_failing_source(out)}: {err.ename}: {err.evalue}\n"
            f"the executed notebook, with the traceback, is {out}"
        ) from None
    return _stderr_notes(nb)


def footer_text(profile: str | None) -> str:
    """What produced the pages: commit, date, profile and the machine that ran them."""
    from .results import commit_id, hardware

    ran = (f"chapters run at profile <code>{profile}</code> on {hardware()}" if profile
           else "chapters as last executed")
    return (f"Built from commit <code>{commit_id()}</code> on {time.strftime('%Y-%m-%d')}; "
            f"{ran}. Stored results name their own commit and hardware where they are shown.")


def _staged_profile(stage: Path) -> str | None:
    """The profile the staged chapters were executed with (read from their parameters)."""
    path = stage / "profile.txt"
    return path.read_text().strip() if path.exists() else None


def _failing_source(executed: Path) -> str:
    """The first line of the cell that raised, as `` (starting `...`)``, when it can be read."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:
        return ""
    for cell in nb.cells:
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            lines = [ln for ln in cell["source"].splitlines() if ln.strip()]
            return f" (starting `{lines[0][:80]}`)" if lines else ""
    return ""


def _stderr_notes(nb) -> list[str]:
    notes = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", "")).strip().splitlines()
                if text:
                    notes.append(f"cell {cell.get('execution_count')}: {text[-1][:160]}")
    return notes


def build_book(root: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None) -> Path:
    """Build the HTML book from the executed chapters in ``_build/src`` (run them first
    with :func:`run_book`), with Jupyter Book 1, warnings as errors. Returns ``_build/html``."""
    root = find_root(root)
    build_dir = _build_dir(root, out_dir)
    stage = build_dir / "src"
    every = chapter_paths(root)
    missing = [p.stem for p in every if not (stage / p.relative_to(root).with_suffix(".ipynb")).exists()]
    if missing:
        raise BookError(f"chapter(s) {missing} have not been run; run the book first (`ist book run`)")
    _stage_static(root, stage, every)
    cmd = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
        "build", str(stage), "--path-output", str(build_dir.parent),
        "--all", "-W", "-n", "--keep-going",
    ]
    print(f"building the book into {build_dir / 'html'} ...", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no terminal colours
    (build_dir / "build.log").write_text(log)
    if proc.returncode != 0:
        # name pages as they sit in the repository, not in the staging tree
        log = log.replace(f"{stage}{os.sep}", "")
        problems = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
        shown = "\n".join(problems[:30] or log.splitlines()[-30:])
        raise BookError(f"the book build failed (warnings are errors):\n{shown}\n"
                        f"full log: {build_dir / 'build.log'}")
    print(f"built the book in {time.perf_counter() - start:.1f} s: {build_dir / 'html' / 'index.html'}",
          flush=True)
    return build_dir / "html"
