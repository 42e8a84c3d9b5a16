"""Run the committed notebooks as a fresh Colab runtime would: a new virtual environment
holding only what Colab brings (PyTorch and the scientific stack, linked from the running
environment rather than copied, and a Jupyter kernel) plus what the install cell adds (this package with its ``notebook`` extra, from the working tree in place of the git
URL), every ``book/*.ipynb`` executed top to bottom at ``tiny`` by papermill's command line,
from a folder outside the repository, with a fresh home folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


# what a Colab runtime has preinstalled that the package needs: PyTorch and the scientific
# stack (not umap-learn, harmonypy, symphonypy or daft, which the install cell brings)
COLAB_PREINSTALLED = ("torch", "torchvision", "numpy", "pandas", "scipy", "scikit-learn",
                      "matplotlib", "seaborn", "scikit-image", "numba")


def colab_base(folder: Path, packages=COLAB_PREINSTALLED) -> Path:
    """What a Colab runtime brings preinstalled, without copying gigabytes: a folder of links
    to the running environment's copies of ``packages`` and every distribution they
    require."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    base = folder / "colab-base"
    base.mkdir()
    todo, seen = list(packages), set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for top in {f.parts[0] for f in dist.files or ()} - {"..", "__pycache__"}:
            source, link = Path(dist.locate_file(top)), base / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return base


def make_runtime(folder: Path) -> tuple[Path, dict]:
    """The simulated runtime: its python, and the environment papermill needs to reach it."""
    venv = folder / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    # Colab's own PyTorch: on the path of the new environment, visible to pip as installed
    (Path(site.stdout.strip()) / "colab-base.pth").write_text(f"{colab_base(folder)}\n")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "ipykernel"])
    _run([*pip, f"{ROOT}[notebook]"])  # the install cell, with the tree in place of git+URL
    kernels = folder / "kernels"
    _run([python, "-m", "ipykernel", "install", "--prefix", str(kernels),
          "--name", "colab-sim", "--display-name", "simulated Colab"])
    home = folder / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IST_", "VIRTUAL_ENV", "PYTHON", "JUPYTER", "MPL"))}
    env.update({"HOME": str(home), "JUPYTER_PATH": str(kernels / "share" / "jupyter")})
    return venv / "bin" / "python", env


def run_chapters(folder: Path, chapters: list[Path], profile: str = "tiny",
                 extra: dict[str, dict] | None = None) -> Path:
    """Execute each committed notebook with papermill's command line in the simulated
    runtime, with ``extra`` parameters per chapter name; returns the folder of executed
    notebooks (``<name>.ipynb``)."""
    python, env = make_runtime(folder)
    work, out = folder / "work", folder / "executed"
    work.mkdir()
    out.mkdir()
    for nb in chapters:
        params = [f"-y{json.dumps({k: v})}" for k, v in (extra or {}).get(nb.stem, {}).items()]
        _run([sys.executable, "-m", "papermill", str(nb), str(out / nb.name), "-p", "profile",
              profile, *params, "-k", "colab-sim", "--cwd", str(work), "--no-progress-bar"],
             cwd=work, env=env, timeout=900)
    # the package the kernel imported came from the runtime, not from the checkout
    probe = _run([str(python), "-c", "import ist_core, json; print(json.dumps(ist_core.__file__))"],
                 cwd=work, env=env)
    (folder / "imported_from.txt").write_text(json.loads(probe.stdout))
    return out
