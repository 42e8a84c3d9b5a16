"""The one training loop: checkpoints, resume, loss log, progress bar, NaN stop.

Each network (encoder, generator and critic, predictor) supplies a ``step(step)``
function that runs one optimisation step and returns its loss terms as tensors;
:func:`fit` does everything around it. A run lives in its own folder:

- ``config.json``: the resolved configuration (a resumed run must match it);
- ``checkpoint.pt``: weights, optimiser states, step and loss log, written atomically
  every ``checkpoint_every`` steps and at the end; it loads with ``weights_only=True``;
- ``losses.csv``: the mean of every loss term over each ``log_every`` steps;
- ``done.json``: written last; a finished run is loaded, not trained again.

Batches are drawn from generators seeded by the step number, so a run killed at any
point and started again continues from its last checkpoint and, on the CPU, ends
with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

CHECKPOINT, LOG, CONFIG, DONE = "checkpoint.pt", "losses.csv", "config.json", "done.json"


class TrainingError(RuntimeError):
    """A run cannot go on; the message says why and what was kept."""


class NonFiniteLoss(TrainingError):
    """A loss became NaN or infinite."""


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data) -> None:
    """Write JSON atomically."""
    _atomic_write(Path(path), lambda p: p.write_text(json.dumps(data, indent=2, default=str)))


def _write_log(path: Path, rows: list[dict]) -> None:
    def write(p: Path):
        with open(p, "w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    _atomic_write(path, write)


def is_done(folder: str | os.PathLike) -> bool:
    return (Path(folder) / DONE).exists()


def load_modules(folder: str | os.PathLike, modules: dict[str, torch.nn.Module],
                 map_location="cpu") -> dict:
    """Load the weights of a run's last checkpoint into ``modules``; returns the checkpoint."""
    path = Path(folder) / CHECKPOINT
    if not path.exists():
        raise TrainingError(f"no checkpoint in {folder}; train the run first")
    state = torch.load(path, map_location=map_location, weights_only=True)
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    return state


def fit(
    folder: str | os.PathLike,
    config: dict,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    step: Callable[[int], dict[str, torch.Tensor]],
    steps: int,
    checkpoint_every: int,
    log_every: int = 10,
    progress: bool = True,
    desc: str = "training",
) -> list[dict]:
    """Run ``step(i)`` for i = 1..``steps`` in ``folder``, resuming from its checkpoint.

    Returns the loss log (one dict per ``log_every`` steps). A finished run (``done.json``)
    is loaded and not trained again. A NaN or infinite loss stops the run with
    :class:`NonFiniteLoss`; the last checkpoint written before it is kept.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(config, default=str))  # plain values only
    check_config(folder, config)
    start, rows = 0, []
    if (folder / CHECKPOINT).exists():
        state = load_modules(folder, modules, map_location=_device_of(modules))
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        start, rows = int(state["step"]), list(state["log"])
        if is_done(folder) and start >= steps:
            return rows
        _write_log(folder / LOG, rows)
    write_json(folder / CONFIG, config)

    for module in modules.values():
        module.train()
    bar = None
    if progress and start < steps:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=start, desc=desc, unit="step", file=sys.stderr,
                   dynamic_ncols=True, leave=True)
    sums: dict[str, torch.Tensor] = {}
    count, tick = 0, time.perf_counter()
    last_good = start
    try:
        for i in range(start + 1, steps + 1):
            parts = step(i)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
            count += 1
            if i % log_every == 0 or i % checkpoint_every == 0 or i == steps:
                means = {k: float(v) / count for k, v in sums.items()}
                bad = [k for k, v in means.items() if not math.isfinite(v)]
                if bad:
                    raise NonFiniteLoss(
                        f"{desc}: loss term(s) {bad} became {means[bad[0]]} by step {i}; "
                        f"the last good checkpoint (step {last_good}) is kept in {folder}. "
                        "Lower the learning rate or the loss weights, or use fp32 (amp off), "
                        "and run again: it resumes from that checkpoint"
                    )
                elapsed = time.perf_counter() - tick
                rows.append({"step": i, **means, "seconds": elapsed})
                _append_row(folder / LOG, rows)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in means.items() if k != "total"},
                                    refresh=False)
                sums, count, tick = {}, 0, time.perf_counter()
            if bar is not None:
                bar.update(1)
            if i % checkpoint_every == 0 or i == steps:
                _save_checkpoint(folder, i, modules, optimizers, rows, config)
                last_good = i
    finally:
        if bar is not None:
            bar.close()
    for module in modules.values():
        module.eval()
    write_json(folder / DONE, {"steps": steps, "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    return rows


def _device_of(modules: dict) -> torch.device:
    for module in modules.values():
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def check_config(folder: Path, config: dict) -> None:
    """Refuse a run folder whose stored configuration differs from ``config``."""
    config = json.loads(json.dumps(config, default=str))
    path = folder / CONFIG
    if not path.exists():
        return
    stored = json.loads(path.read_text())
    if stored != config:
        changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
        raise TrainingError(
            f"{folder} holds a run with another configuration (differs in {changed}); "
            "delete the folder to start again, or choose another run folder"
        )


def _append_row(path: Path, rows: list[dict]) -> None:
    if not path.exists() or len(rows) == 1:
        _write_log(path, rows)
        return
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(rows[-1])


def _save_checkpoint(folder: Path, step: int, modules, optimizers, rows, config) -> None:
    state = {
        "step": step,
        "modules": {name: m.state_dict() for name, m in modules.items()},
        "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
        "log": rows,
        "config": config,
    }
    _atomic_write(folder / CHECKPOINT, lambda p: torch.save(state, p))
    _write_log(folder / LOG, rows)
