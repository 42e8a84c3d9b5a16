"""Small committed result summaries: ``results/<dataset>/<profile>/<name>.csv`` and a
``<name>.json`` beside it naming the commit, the hardware, the date and the command
that produced them. Chapters read them when a run is too big for book time.

Each run also records :func:`code_hash`, a hash of the source that decides its numbers
(:data:`TRAINING_CODE`: data, models, losses, training, methods, profiles, seeds, splits,
metrics, scoring; not the runner, the command line, the report or the book), and a
summary records how many of its runs each hash trained. :func:`stale_summaries` lists
the summaries trained by other code than the checkout's (``ist run --check``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(__file__).resolve().parent
# the source that decides a run's numbers, relative to the package (folders: every .py in them)
TRAINING_CODE = ("data", "models", "train", "experiments.py", "integration.py", "losses.py",
                 "methods.py", "metrics.py", "profiles.py", "seeding.py", "splits.py", "values.py")


def training_files(package: Path = PACKAGE) -> list[Path]:
    """The files of :data:`TRAINING_CODE` in ``package``, sorted."""
    files = []
    for name in TRAINING_CODE:
        path = package / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return sorted(files)


def code_hash(package: Path = PACKAGE) -> str:
    """12 hex digits of sha256 over the names and bytes of :func:`training_files`: equal
    for two checkouts exactly when the code that trains and scores a run is the same."""
    digest = hashlib.sha256()
    for path in training_files(package):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def results_dir() -> Path:
    """``$IST_RESULTS_DIR`` when set; else the repository's ``results/`` folder in a
    checkout; where the package is installed from a wheel (e.g. from git on Colab), the
    copy shipped inside it (``ist_core.stored``)."""
    import os

    if os.environ.get("IST_RESULTS_DIR"):
        return Path(os.environ["IST_RESULTS_DIR"])
    if (REPO / "pyproject.toml").is_file() and (REPO / "results").is_dir():
        return REPO / "results"
    from importlib.resources import files

    return Path(str(files("ist_core.stored")))


def cpu_name(cpuinfo: str) -> str | None:
    """The first processor's model name in ``/proc/cpuinfo`` text, with its family and model
    numbers where given: a virtual machine may show one name ("AMD EPYC") for processor
    generations whose arithmetic differs in the last digits."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block ends here
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name")
    if name and "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def hardware() -> str:
    """The GPU's name when torch sees one, else the CPU's (:func:`cpu_name`), with the core
    count."""
    import os

    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (1 GPU)"
    except ImportError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        cpu = cpu_name(Path("/proc/cpuinfo").read_text()) or cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, no GPU"


def commit_id() -> str:
    """``$IST_COMMIT`` when set (for a copied tree whose git metadata may be stale or
    absent), else the checked-out commit (short hash, "+changes" when tracked files
    other than the stored summaries under ``results/`` differ: storing a summary does not
    make its own commit dirty), else "unknown"."""
    import os

    if os.environ.get("IST_COMMIT"):
        return os.environ["IST_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":(exclude)results"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if out.returncode == 0:
            return out.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def rerun_command(prefix: str, argv: list[str]) -> str:
    """The command as a reader re-runs it: ``prefix`` and ``argv`` without ``--runs``
    (a folder of the machine that ran it) and ``--no-train`` (which only collected)."""
    kept, words = [], iter(argv)
    for word in words:
        if word == "--runs":
            next(words, None)
        elif not word.startswith("--runs=") and word != "--no-train":
            kept.append(word)
    return " ".join([prefix, *kept])


def write_summary(frame: pd.DataFrame, dataset: str, profile: str, name: str,
                  folder: Path | None = None, provenance: dict | None = None) -> Path:
    """Write ``frame`` and its provenance; returns the CSV's path. ``provenance`` adds to or
    replaces the defaults (commit, hardware and date of this process), e.g. the hardware
    that trained runs summarised elsewhere."""
    folder = (folder or results_dir()) / dataset / profile
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    tmp = path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    meta = {"commit": commit_id(), "hardware": hardware(), "date": time.strftime("%Y-%m-%d"),
            "command": rerun_command("ist", sys.argv[1:]), "rows": int(len(frame)),
            **(provenance or {})}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def code_status(meta: dict, current: str | None = None) -> dict:
    """How a summary's runs relate to the checkout's code: of its ``runs``, how many were
    trained at today's :func:`code_hash` (``current``), by other code (``changed``) or
    by code that was not recorded (``unknown``: trained before hashes were; a summary
    with no record at all counts as unknown throughout, ``runs`` None)."""
    current = current or code_hash()
    codes = meta.get("code")
    if codes is None:
        return {"runs": None, "current": 0, "changed": 0, "unknown": None}
    counted = sum(n for code, n in codes.items() if code != "unknown")
    now = int(codes.get(current, 0))
    return {"runs": int(sum(codes.values())), "current": now, "changed": counted - now,
            "unknown": int(codes.get("unknown", 0))}


def is_stale(status: dict) -> bool:
    """Some runs of the summary were not trained by today's code (or nobody knows)."""
    return status["runs"] is None or status["current"] < status["runs"]


def stale_summaries(folder: Path | None = None) -> list[tuple[Path, dict]]:
    """Every stored summary under ``folder`` (default :func:`results_dir`) that
    :func:`is_stale`, with its :func:`code_status`."""
    current = code_hash()
    out = []
    for path in sorted((folder or results_dir()).glob("*/*/*.json")):
        status = code_status(json.loads(path.read_text()), current)
        if is_stale(status):
            out.append((path.with_suffix(".csv"), status))
    return out


def describe_status(status: dict) -> str:
    """One sentence on :func:`code_status` for ``ist run --check`` and the book."""
    if status["runs"] is None:
        return "no code hash recorded (stored before runs recorded one)"
    parts = [f"{status['current']} of {status['runs']} runs trained by today's code"]
    if status["changed"]:
        parts.append(f"{status['changed']} by code that has changed since")
    if status["unknown"]:
        parts.append(f"{status['unknown']} by unrecorded code (trained before runs recorded "
                     "a code hash)")
    return "; ".join(parts)


def read_summary(dataset: str, profile: str, name: str,
                 folder: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """A stored summary and its provenance, or None when there is none."""
    path = (folder or results_dir()) / dataset / profile / f"{name}.csv"
    if not path.exists():
        return None
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return pd.read_csv(path, dtype={"level": str}), meta


RUN_KEY = ["dataset", "profile", "method", "level", "fold", "seed"]


def run_settings(knob: list[str] | None, ist: list[str] | None) -> dict:
    """The ``--knob`` and ``--set`` pairs of a grid command: what, besides code, profile,
    data seed, seed and fold, decides a run's numbers (stored as a summary's "settings")."""
    from .values import parse_pairs

    return json.loads(json.dumps({"knob": parse_pairs(knob, "--knob"),
                                  "set": parse_pairs(ist, "--set")}))


def _settings(meta: dict) -> dict:
    """A summary's :func:`run_settings`; read from its command when it predates them."""
    import shlex

    if "settings" in meta:
        return meta["settings"]
    found: dict[str, list[str]] = {"--knob": [], "--set": []}
    words = shlex.split(meta.get("command", ""))
    for word, value in zip(words, words[1:] + [""]):
        name, _, inline = word.partition("=")
        if name in found:
            found[name].append(inline or value)
    return run_settings(found["--knob"], found["--set"])


def _joined(*values) -> str:
    """Distinct "; "-separated parts of ``values``, in first-seen order."""
    parts: list[str] = []
    for value in values:
        for part in str(value or "").split("; "):
            if part and part not in parts:
                parts.append(part)
    return "; ".join(parts)


def check_addable(dataset: str, profile: str, name: str, provenance: dict,
                  folder: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """The stored summary ``name`` that runs with ``provenance`` (code, profile, data seed,
    "settings") may join, None when there is none. Raises ValueError, naming the fix, when
    they were not trained alike: the summary by other code than the checkout's (stale), the
    runs by other code, or another profile, data seed or settings. ``ist run --add`` asks
    before it trains anything, and again before it stores."""
    stored = read_summary(dataset, profile, name, folder)
    if stored is None:
        return None
    meta = stored[1]
    where = f"results/{dataset}/{profile}/{name}.csv"
    current = code_hash()
    if is_stale(code_status(meta, current)):
        raise ValueError(f"{where} was trained by other code than this checkout's "
                         f"({describe_status(code_status(meta, current))}); adding runs of "
                         "today's code would mix the two: re-run its runs (same command "
                         "without --add) or --save under another name")
    codes = provenance.get("code", {})
    if set(codes) - {current}:
        raise ValueError(f"the new runs were trained by code {sorted(set(codes) - {current})}, "
                         f"not this checkout's ({current}): re-train them before adding "
                         f"them to {where}")
    for key in ("profile", "data_seed"):
        if key in meta and key in provenance and meta[key] != provenance[key]:
            raise ValueError(f"{where} has {key} {meta[key]!r}, the new runs {provenance[key]!r}: "
                             "runs of another configuration cannot join it; --save under "
                             "another name")
    if _settings(meta) != _settings(provenance):
        raise ValueError(f"{where} was trained with settings {_settings(meta)}, the new runs "
                         f"with {_settings(provenance)}: runs of another configuration cannot "
                         "join it; --save under another name")
    return stored


def add_to_summary(frame: pd.DataFrame, provenance: dict, dataset: str, profile: str, name: str,
                   folder: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """``frame`` (runs of ``dataset`` with their ``provenance``) joined to the stored summary
    ``name``, so that seeds and folds trained on several days or machines make one summary
    (``ist run --save NAME --add``). ``provenance`` carries the new runs' "settings" (see
    :func:`run_settings`; else its "command" is read for them). A stored run that ``frame``
    trains again is replaced. Refused as :func:`check_addable` says."""
    stored = check_addable(dataset, profile, name, provenance, folder)
    if stored is None:
        return frame, provenance
    old, meta = stored
    current = code_hash()
    command = provenance.get("command") or rerun_command("ist", sys.argv[1:])
    key = [k for k in RUN_KEY if k in frame.columns and k in old.columns]
    new = frame.astype({"level": str})
    replaced = old.merge(new[key].drop_duplicates(), on=key, how="left", indicator=True)
    kept = old[(replaced["_merge"] == "left_only").to_numpy()]
    merged = (pd.concat([kept, new], ignore_index=True)
              .sort_values(["method", "level", "fold", "seed", "metric"], kind="stable")
              .reset_index(drop=True))
    folds: dict = {}
    for source in (meta.get("folds", {}), provenance.get("folds", {})):
        for data, levels in source.items():
            for level, held in levels.items():
                have = folds.setdefault(data, {}).setdefault(level, [])
                have += [f for f in held if f not in have]
    runs = int(len(merged[key].drop_duplicates()))
    # "rows", "commit" and "hardware" are this store's own, as for any summary
    out = {**{k: v for k, v in meta.items() if k not in ("rows", "commit", "hardware")},
           **provenance,
           "trained_on": _joined(meta.get("trained_on"), provenance.get("trained_on")),
           "trained_at_commit": _joined(meta.get("trained_at_commit"),
                                        provenance.get("trained_at_commit")),
           "date": _joined(meta.get("date"), time.strftime("%Y-%m-%d")),
           "command": _joined(meta.get("command"), command),
           "runs": runs, "code": {current: runs},
           "seeds": sorted(set(meta.get("seeds", [])) | set(provenance.get("seeds", []))),
           "folds": folds}
    return merged, out
