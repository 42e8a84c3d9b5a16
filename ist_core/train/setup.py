"""What a training run needs to know: dataset, fold, profile, seed, device; and where it lives.

A :class:`FoldSetup` is built once per (dataset, level, fold, seed, profile) and passed
to every trainer, so that the encoder, the generator and the predictors of one fold
agree on the training images, the OE codes and the run folders. Every network of a
fold is trained on that fold's training images only: no held-out OE reaches it.

Run folders: ``<runs>/<dataset>/<profile>/<component>/<split>/seed<seed>/`` with
``<runs>`` = ``$IST_RUNS_DIR``, else a checkout's ``runs/``, else a user cache folder.
A component whose IST settings differ from the defaults gets a hash suffix, so runs
with other loss weights never collide with the default ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import load_dataset
from ..data.store import Dataset, checkout_root
from ..profiles import ISTConfig, Profile, get_profile, ist_config
from ..splits import Fold, make_folds, parse_level
from .runtime import FoldImages, pick_device, use_amp

RUNS_ENV = "IST_RUNS_DIR"
FOLD_SEED = 0  # the seed of the per-fold networks (encoder, generator) whatever the run's seed


def runs_dir() -> Path:
    """Where runs live: ``$IST_RUNS_DIR``, else the checkout's ``runs/``, else a cache folder."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    if checkout_root() is not None:
        return checkout_root() / "runs"
    return Path.home() / ".cache" / "ist-core" / "runs"


def get_fold(dataset: Dataset, level, fold: int = 0, seed: int = 0) -> Fold:
    """Fold number ``fold`` of ``level`` (``iid`` has one fold), with a clear error out of range."""
    folds = make_folds(dataset.meta, level, seed=seed)
    if not 0 <= fold < len(folds):
        raise ValueError(f"{dataset.name} has {len(folds)} fold(s) at level {parse_level(level)}; "
                         f"choose --fold 0..{len(folds) - 1}, got {fold}")
    return folds[fold]


@dataclass
class FoldSetup:
    """One fold of one dataset under one profile and seed."""

    dataset: Dataset
    fold: Fold
    profile: Profile
    seed: int = 0
    ist: ISTConfig = field(default_factory=ISTConfig)
    device: str | None = None
    amp: bool | None = None
    runs: Path | None = None
    data_seed: int = 0

    def __post_init__(self):
        self.device = pick_device(self.device)
        self.amp = use_amp(self.device, self.amp)
        self.runs = Path(self.runs) if self.runs is not None else runs_dir()
        if self.ist.oe_level not in self.dataset.meta.columns:
            raise ValueError(f"{self.dataset.name} has no OE level {self.ist.oe_level!r}; "
                             f"choose one of {list(self.dataset.oe_levels)}")
        self._images = None

    @property
    def split(self) -> str:
        """``iid`` or ``level<L>-fold<F>``."""
        return "iid" if self.fold.level == "iid" else f"level{self.fold.level}-fold{self.fold.fold}"

    @property
    def n_causes(self) -> int:
        return int(self.dataset.meta["y"].max()) + 1

    @property
    def predictor_steps(self) -> int:
        """Every predictor's step count on this fold (the profile's epochs of its training set)."""
        return self.profile.steps_for(len(self.fold.train))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.dataset.images.shape[1:])

    def images(self) -> FoldImages:
        """The fold's training images, codes and samplers, on the device (built once)."""
        if self._images is None:
            meta = self.dataset.meta.iloc[self.fold.train]
            oes = meta[self.ist.oe_level].to_numpy()
            names = list(dict.fromkeys(oes))  # training OEs in design order
            lookup = {name: code for code, name in enumerate(names)}
            codes = np.array([lookup[oe] for oe in oes], dtype=np.int64)
            self._images = FoldImages(self.dataset.images[self.fold.train], meta["y"].to_numpy(),
                                      codes, names, self.device)
        return self._images

    def oe_codes(self, indices) -> np.ndarray:
        """The codes (as in :meth:`images`) of the OEs of the dataset's images ``indices``,
        which must belong to training OEs."""
        names = self.images().oe_names
        lookup = {name: code for code, name in enumerate(names)}
        oes = self.dataset.meta[self.ist.oe_level].to_numpy()[np.asarray(indices, dtype=np.int64)]
        unknown = sorted({str(oe) for oe in oes if oe not in lookup})
        if unknown:
            raise ValueError(f"images of {self.ist.oe_level} {unknown} are not from a training OE "
                             f"of this fold; style images must come from {names}")
        return np.array([lookup[oe] for oe in oes], dtype=np.int64)

    def fold_level(self) -> "FoldSetup":
        """This setup at seed 0, sharing its images: the encoder and the generator are trained
        once per training fold and shared by every seed and every run that needs them."""
        if self.seed == FOLD_SEED:
            return self
        shared = dataclasses.replace(self, seed=FOLD_SEED, device=self.device, amp=self.amp)
        shared._images = self._images
        return shared

    def run_dir(self, component: str, ist_dependent: bool = True) -> Path:
        """The folder of ``component`` (encoder, generator, predictor-naive, ...) for this fold."""
        if ist_dependent and self._training_ist() != _training_fields(ISTConfig()):
            digest = hashlib.sha1(json.dumps(self._training_ist(), sort_keys=True).encode())
            component = f"{component}-{digest.hexdigest()[:8]}"
        return (self.runs / self.dataset.name / self.profile.name / component / self.split
                / f"seed{self.seed}")

    def config(self, component: str, steps: int) -> dict:
        """The resolved configuration a run of ``component`` stores and checks on resume."""
        return {
            "component": component,
            "dataset": self.dataset.name,
            "dataset_info": self.dataset.info.get("config", {}),
            "level": self.fold.level,
            "fold": self.fold.fold,
            "held_out": list(self.fold.held_out),
            "n_train": int(len(self.fold.train)),
            "seed": self.seed,
            "steps": steps,
            "profile": dataclasses.asdict(self.profile),
            "ist": self._training_ist(),
        }

    def _training_ist(self) -> dict:
        return _training_fields(self.ist)


def _training_fields(ist: ISTConfig) -> dict:
    """The IST settings that shape trained weights (``test_styles`` acts at test time only)."""
    fields = dataclasses.asdict(ist)
    fields.pop("test_styles")
    return fields


def setup_fold(dataset: str | Dataset = "synthetic-grid", level="iid", fold: int = 0,
               seed: int = 0, profile: str | Profile = "quick", ist: ISTConfig | dict | None = None,
               device=None, amp=None, runs=None, data_seed: int = 0, **knobs) -> FoldSetup:
    """Load the dataset for ``profile`` and pick the fold: the one call before training."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    if isinstance(ist, dict):
        ist = ist_config(**ist)
    if isinstance(dataset, str):
        from ..data import SYNTHETIC

        size = profile.data_size if dataset in SYNTHETIC else "quick"
        dataset = load_dataset(dataset, size=size, seed=data_seed, **knobs)
    chosen = get_fold(dataset, level, fold, seed=data_seed)
    return FoldSetup(dataset, chosen, profile, seed, ist or ISTConfig(), device, amp, runs, data_seed)
