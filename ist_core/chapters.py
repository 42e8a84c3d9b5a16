"""The book's chapters: where they are (``_toc.yml``), their paired output-free notebooks
with the repository's URL in the install cell (what Colab opens), and their parameters
as papermill reads them. Running and building the book is :mod:`ist_core.book`."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from .values import typed

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


def config_url(root) -> str | None:
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
        nb = read_chapter(md, config_url(root))
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


def coerce_parameter(name: str, value, default, chapter: str):
    """A value given as text (command line) takes the type of the chapter's default."""
    try:
        return typed(name, value, default, "parameter", parse=True)
    except ValueError:
        raise BookError(
            f"parameter {name}={value!r}: chapter {chapter!r} expects "
            f"{type(default).__name__} (default {default!r})"
        ) from None
