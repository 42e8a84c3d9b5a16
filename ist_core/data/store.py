"""On-disk dataset format and the metadata checks every dataset passes through.

A store is a folder holding

- ``images.npy``: the single-cell images, ``(N, C, H, W)``, read memory-mapped;
- ``metadata.csv``: one row per image (columns below);
- ``dataset.json``: name, channel names, the biological-unit column, generator info;
- ``latents.npy`` (optional): true phenotype latents ``(N, D)``, synthetic data only.

Metadata columns: ``y`` (int cause), ``y_name``, the observational-environment (OE)
hierarchy ``series > plate > section > well`` (``section`` may be absent, as in
LINCS-SC) and the biological unit (``cell_line`` for GRID-like data, ``compound``
for LINCS-like data). OE names are globally unique strings.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

OE_LEVELS = ("series", "plate", "section", "well")
UNIT_COLUMNS = ("cell_line", "compound")
IMAGE_DTYPES = ("uint8", "uint16", "float16", "float32")
ENV_DIR = "IST_DATA_DIR"


class MetadataError(ValueError):
    """A dataset's metadata or images do not follow the store format."""


@dataclass
class Dataset:
    """Images, their metadata table and (for synthetic data) the true latents."""

    name: str
    images: np.ndarray  # (N, C, H, W)
    meta: pd.DataFrame
    channels: tuple[str, ...]
    unit: str  # "cell_line" or "compound"
    latents: np.ndarray | None = None  # (N, D) true phenotype Z
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.meta = validate(self.images, self.meta, self.unit)
        self.channels = tuple(self.channels)
        if len(self.channels) != self.images.shape[1]:
            raise MetadataError(
                f"{self.name}: {len(self.channels)} channel names for images with "
                f"{self.images.shape[1]} channels; give one name per channel"
            )
        if self.latents is not None and len(self.latents) != len(self.meta):
            raise MetadataError(
                f"{self.name}: {len(self.latents)} latent rows for {len(self.meta)} images"
            )

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def oe_levels(self) -> tuple[str, ...]:
        """The OE levels this dataset records, coarse to fine."""
        return tuple(c for c in OE_LEVELS if c in self.meta.columns)

    @property
    def cause_names(self) -> list[str]:
        """Cause names indexed by ``y``."""
        pairs = self.meta[["y", "y_name"]].drop_duplicates().sort_values("y")
        return pairs["y_name"].tolist()

    @property
    def n_causes(self) -> int:
        return int(self.meta["y"].nunique())


def validate(images: np.ndarray, meta: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Check images and metadata against the store format; return a clean copy of ``meta``.

    Raises :class:`MetadataError` naming the problem and how to fix it.
    """
    if unit not in UNIT_COLUMNS:
        raise MetadataError(f"unknown biological unit {unit!r}; choose one of {UNIT_COLUMNS}")
    if not hasattr(images, "ndim") or images.ndim != 4:
        shape = getattr(images, "shape", None)
        raise MetadataError(
            f"images must be an array of shape (N, C, H, W), got shape {shape}; "
            "stack single-cell crops channel-first"
        )
    if str(images.dtype) not in IMAGE_DTYPES:
        raise MetadataError(
            f"images have dtype {images.dtype}; use one of {IMAGE_DTYPES}"
        )
    required = ["y", "y_name", "series", "plate", "well", unit]
    missing = [c for c in required if c not in meta.columns]
    if missing:
        raise MetadataError(
            f"metadata is missing column(s) {missing}; required: {required}, "
            "plus 'section' where the plates were imaged in sections"
        )
    if len(images) != len(meta):
        raise MetadataError(
            f"{len(images)} images but {len(meta)} metadata rows; "
            "there must be exactly one row per image, in the same order"
        )
    meta = meta.reset_index(drop=True).copy()
    label_cols = required + (["section"] if "section" in meta.columns else [])
    for col in label_cols:
        bad = meta.index[meta[col].isna() | (meta[col].astype(str).str.strip() == "")]
        if len(bad):
            raise MetadataError(
                f"metadata column {col!r} has no label in {len(bad)} row(s) "
                f"(first rows: {bad[:5].tolist()}); fill them or drop those images"
            )
    try:
        y = pd.to_numeric(meta["y"], errors="raise")
    except (TypeError, ValueError) as err:
        raise MetadataError(f"column 'y' must hold integer cause codes: {err}") from None
    if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0:
        raise MetadataError("column 'y' must hold non-negative integer cause codes 0..K-1")
    meta["y"] = y.astype(np.int64)
    for col in label_cols[1:]:
        meta[col] = meta[col].astype(str)
    names = meta.groupby("y")["y_name"].nunique()
    if (names > 1).any():
        raise MetadataError(
            f"cause code(s) {names.index[names > 1].tolist()} carry several names in 'y_name'; "
            "each y must map to one name"
        )
    causes_per_well = meta.groupby("well")["y"].nunique()
    mixed = causes_per_well.index[causes_per_well > 1]
    if len(mixed):
        raise MetadataError(
            f"well(s) {mixed[:5].tolist()} hold more than one cause; a well is one condition "
            "in one OE: give wells globally unique names (e.g. prefix the plate)"
        )
    return meta


def checkout_root() -> Path | None:
    """The repository this package runs from, or None when it is installed elsewhere."""
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "ist_core").is_dir():
        return repo
    return None


def data_dir() -> Path:
    """Where downloads and cached stores live: ``$IST_DATA_DIR``, else a checkout's ``data/``,
    else a user cache folder."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    if checkout_root() is not None:
        return checkout_root() / "data"
    import pooch  # imported here: it pulls tqdm.auto, which warns inside notebooks

    return Path(pooch.os_cache("ist-core"))


def _aside(path: Path) -> Path:
    """Where :func:`save_store` parks the store it replaces while the new one moves in."""
    return path.with_name(f".{path.name}.replaced")


def save_store(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` as a store folder at ``path``, atomically.

    The new store is written beside ``path``, then swapped in by two renames (old store
    to an aside name, new store to ``path``), and only then is the old one deleted. A
    crash at any step leaves the old or the new store loadable at ``path``: between the
    two renames :func:`load_store` reads the aside copy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    aside = _aside(path)
    moved = False
    try:
        np.save(tmp / "images.npy", np.asarray(dataset.images))
        dataset.meta.to_csv(tmp / "metadata.csv", index=False)
        if dataset.latents is not None:
            np.save(tmp / "latents.npy", np.asarray(dataset.latents))
        header = {
            "name": dataset.name,
            "channels": list(dataset.channels),
            "unit": dataset.unit,
            "info": dataset.info,
        }
        (tmp / "dataset.json").write_text(json.dumps(header, indent=2, default=str))
        if path.exists():
            if aside.exists():  # left by an earlier save that stopped after its swap
                shutil.rmtree(aside)
            os.rename(path, aside)
            moved = True
        elif aside.exists():
            # an earlier save stopped between its renames: the aside copy is the store
            # readers see until the new one is in place; keep it there until then
            moved = True
        os.rename(tmp, path)
    except BaseException:
        if moved and not path.exists() and aside.exists():
            os.rename(aside, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if moved:
        # the new store is in place; an aside copy that cannot be deleted now is
        # deleted by the next save to this path
        shutil.rmtree(aside, ignore_errors=True)
    return path


def store_path(path: str | os.PathLike) -> Path | None:
    """The folder holding the store saved at ``path``: ``path`` itself, or, if a save
    stopped between its two renames, the old store's aside copy; None if neither holds one."""
    path = Path(path)
    for folder in (path, _aside(path)):
        if (folder / "dataset.json").is_file():
            return folder
    return None


def load_store(path: str | os.PathLike, mmap: bool = True) -> Dataset:
    """Read a store folder; images are memory-mapped unless ``mmap=False``."""
    path = Path(path)
    path = store_path(path) or path
    needed = ["images.npy", "metadata.csv", "dataset.json"]
    absent = [n for n in needed if not (path / n).exists()]
    if absent:
        raise MetadataError(
            f"{path} is not a dataset store: missing {absent}; "
            "create it with ist_core.data.store.save_store or `ist data fetch`"
        )
    header = json.loads((path / "dataset.json").read_text())
    images = np.load(path / "images.npy", mmap_mode="r" if mmap else None)
    # Labels such as a compound called "NA" must stay text, not become missing values.
    text = {c: str for c in (*OE_LEVELS, "y_name", *UNIT_COLUMNS)}
    meta = pd.read_csv(path / "metadata.csv", dtype=text, keep_default_na=False, na_values=[""])
    latents = np.load(path / "latents.npy") if (path / "latents.npy").exists() else None
    return Dataset(
        name=header["name"],
        images=images,
        meta=meta,
        channels=tuple(header["channels"]),
        unit=header["unit"],
        latents=latents,
        info=header.get("info", {}),
    )
