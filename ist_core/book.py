"""Run and build the book.

Chapters are jupytext MyST notebooks (``book/<chapter>.md``), each with one cell
tagged ``parameters`` that holds the chapter's defaults (``profile``, ``dataset``,
``seed``, ...). :func:`run_book` executes them with papermill and writes the executed
notebooks into a staging source tree, ``_build/src/`` (``_config.yml``, ``_toc.yml``,
``book/<chapter>.ipynb``); :func:`build_book` renders that tree with Jupyter Book 1,
warnings as errors, into ``_build/html``.

Why a staging tree: the repository keeps, next to each ``.md``, its paired
output-free ``.ipynb`` (:func:`sync_notebooks`), because Colab opens only
``.ipynb`` files and the launch button links to ``{repo}/blob/{branch}/book/<chapter>.ipynb``.
Sphinx would see the two twins as one document found twice; the staging tree holds
only the executed ``.ipynb``, at the same relative path, so every launch link names
a notebook that exists in the repository.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .values import typed

PROFILES = ("tiny", "quick", "paper")
CHAPTER_SUFFIX = ".md"
BOOK_FILES = ("_config.yml", "_toc.yml")


class BookError(RuntimeError):
    """The book cannot be run or built; the message says which chapter and why."""


# ----------------------------------------------------------------------------- layout


def find_root(root: str | os.PathLike | None = None) -> Path:
    """The book's root folder (holding ``_config.yml`` and ``_toc.yml``): ``root`` if
    given, else the current folder or its nearest parent that has both."""
    if root is not None:
        root = Path(root).resolve()
        missing = [f for f in BOOK_FILES if not (root / f).is_file()]
        if missing:
            raise BookError(f"{root} is not a book root: missing {missing}")
        return root
    here = Path.cwd().resolve()
    # the current folder and its parents, then the checkout this package runs from
    for folder in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if all((folder / f).is_file() for f in BOOK_FILES):
            return folder
    raise BookError(
        f"no {' and '.join(BOOK_FILES)} in {here} or its parents; run from the "
        "repository root or pass root="
    )


def chapter_paths(root: str | os.PathLike | None = None) -> list[Path]:
    """The chapter sources named in ``_toc.yml``, in reading order."""
    import yaml

    root = find_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    names.append(node[key])
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    paths = []
    for name in names:
        path = root / name
        if path.suffix != CHAPTER_SUFFIX:
            path = path.with_name(path.name + CHAPTER_SUFFIX)
        if not path.is_file():
            raise BookError(f"_toc.yml names {name!r} but {path.relative_to(root)} does not exist")
        paths.append(path)
    return paths


def _build_dir(root: Path, out_dir) -> Path:
    return Path(out_dir).resolve() / "_build" if out_dir is not None else root / "_build"


# ----------------------------------------------------------------------------- repository

URL_ENV = "IST_REPOSITORY_URL"
# the install cell of every chapter names the repository by this marker; the notebooks
# that sync and run write carry the configured URL in its place
URL_MARKER = "{repository_url}"


def book_config(root: str | os.PathLike | None = None) -> dict:
    """``_config.yml`` as a dict."""
    import yaml

    return yaml.safe_load((find_root(root) / "_config.yml").read_text())


def repository_url(root: str | os.PathLike | None = None, environ: Mapping | None = None) -> str:
    """The repository the book's launch buttons and install cells point at.

    ``$IST_REPOSITORY_URL`` if set; else, on GitHub Actions, the repository being built
    (``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY``), so that a fork publishes a book that
    points at the fork; else ``repository.url`` of ``_config.yml``, the one place it is
    written down.
    """
    env = os.environ if environ is None else environ
    if env.get(URL_ENV):
        return env[URL_ENV].rstrip("/")
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        return f"{env['GITHUB_SERVER_URL'].rstrip('/')}/{env['GITHUB_REPOSITORY']}"
    url = (book_config(root).get("repository") or {}).get("url")
    if not url:
        raise BookError("_config.yml has no repository.url; set it to the repository's URL")
    return str(url).rstrip("/")


# ----------------------------------------------------------------------------- notebooks


def read_chapter(path: str | os.PathLike, url: str | None = None):
    """A chapter ``.md`` as a notebook object (jupytext), with stable cell ids and the
    repository URL (``url``, default :func:`repository_url`) written into its install cell."""
    import jupytext

    path = Path(path)
    nb = jupytext.read(path)
    for i, cell in enumerate(nb.cells):
        # jupytext draws random ids; fixed ones keep the committed .ipynb stable
        cell["id"] = hashlib.sha1(f"{path.stem}:{i}".encode()).hexdigest()[:8]
        if cell["cell_type"] == "code" and URL_MARKER in cell["source"]:
            url = url if url is not None else repository_url(_root_of(path))
            cell["source"] = cell["source"].replace(URL_MARKER, url)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": "python3"})
    return nb


def _config_url(root) -> str | None:
    """``repository.url`` of ``_config.yml``, or None where the book names none."""
    url = (book_config(root).get("repository") or {}).get("url")
    return str(url).rstrip("/") if url else None


def _root_of(path: Path) -> Path | None:
    """The book root above a chapter file (None when the chapter stands alone)."""
    for folder in Path(path).resolve().parents:
        if all((folder / f).is_file() for f in BOOK_FILES):
            return folder
    return None


def _signature(nb) -> list:
    """What must agree between a chapter and its paired notebook: cells and kernel."""
    cells = []
    for cell in nb.cells:
        meta = {k: v for k, v in cell.get("metadata", {}).items() if k not in ("execution",)}
        cells.append((cell["cell_type"], cell["source"], json.dumps(meta, sort_keys=True)))
    return [nb.metadata.get("kernelspec", {}).get("name"), cells]


def sync_notebooks(root: str | os.PathLike | None = None, check: bool = False) -> list[Path]:
    """Write each chapter's paired, output-free ``.ipynb`` next to its ``.md``, with the
    repository URL of ``_config.yml`` in its install cell (what Colab runs).

    Returns the notebooks that were (``check=False``) or would be (``check=True``)
    rewritten; notebooks already in sync are left untouched.
    """
    import jupytext
    import nbformat

    changed = []
    for md in chapter_paths(root):
        twin = md.with_suffix(".ipynb")
        # the committed notebooks carry _config.yml's URL, whatever the environment says
        nb = read_chapter(md, _config_url(root))
        if twin.exists():
            try:
                if _signature(nbformat.read(twin, as_version=4)) == _signature(nb):
                    continue
            except Exception:  # unreadable twin: rewrite it
                pass
        changed.append(twin)
        if not check:
            jupytext.write(nb, twin, fmt="ipynb")
    return changed


def chapter_parameters(path: str | os.PathLike) -> dict:
    """Names and default values of the chapter's ``parameters`` cell, as papermill reads
    them (:func:`papermill.inspect_notebook`); a default that is not a literal is None
    (any value is accepted)."""
    import tempfile

    import jupytext
    import papermill

    path = Path(path)
    nb = read_chapter(path)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise BookError(
            f"chapter {path.stem!r} ({path.name}) needs exactly one cell tagged 'parameters', "
            f"found {len(cells)}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        twin = Path(tmp) / f"{path.stem}.ipynb"
        jupytext.write(nb, twin, fmt="ipynb")
        found = papermill.inspect_notebook(str(twin))
    params = {}
    for name, spec in found.items():
        try:
            params[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            params[name] = None
    if "profile" not in params:
        raise BookError(f"chapter {path.stem!r}: its parameters cell must define `profile`")
    return params


def _coerce(name: str, value, default, chapter: str):
    """A value given as text (command line) takes the type of the chapter's default."""
    try:
        return typed(name, value, default, "parameter", parse=True)
    except ValueError:
        raise BookError(
            f"parameter {name}={value!r}: chapter {chapter!r} expects "
            f"{type(default).__name__} (default {default!r})"
        ) from None


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
    if _config_url(root) is not None or os.environ.get(URL_ENV):
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
) -> Path:
    """Execute the chapters with papermill, then (``build=True``) build the HTML book.

    ``profile`` (tiny/quick/paper) and ``parameters`` (name -> value, text values take
    the type of the chapter's default) are injected into every chapter whose
    parameters cell defines that name; ``chapters`` picks some by name. Output goes
    to ``<out_dir or root>/_build/``. Returns the HTML folder, or the staging source
    folder when ``build=False``.
    """
    import papermill

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
    for i, md in enumerate(selected, 1):
        rel = md.relative_to(root)
        given = {k: _coerce(k, v, defaults[md][k], md.stem) for k, v in parameters.items()
                 if k in defaults[md]}
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
        print(f"[{i}/{len(selected)}] {md.stem} ({rel}) {shown} ...", flush=True)
        start = time.perf_counter()
        out = executed / rel.with_suffix(".ipynb")
        out.parent.mkdir(parents=True, exist_ok=True)
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
        for note in _stderr_notes(nb):
            print(f"    note: {md.stem} wrote to stderr: {note}", flush=True)
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out, stage / rel.with_suffix(".ipynb"))
        print(f"    {md.stem} done in {time.perf_counter() - start:.1f} s", flush=True)

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
