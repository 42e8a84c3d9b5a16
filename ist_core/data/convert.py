"""From an extracted archive of GRID or LINCS-SC to a store: the metadata table found and
its columns mapped (:data:`COLUMN_ALIASES`), OE names made global, the images read and
copied into one array (the layout assumption is in :mod:`ist_core.data.zenodo`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from .store import Dataset, MetadataError

if TYPE_CHECKING:
    from .zenodo import RealSpec

IMAGE_SUFFIXES = (".npy", ".tif", ".tiff", ".png")
TABLE_SUFFIXES = (".csv", ".tsv")

# Accepted table column names per store field, in order of preference.
COLUMN_ALIASES = {
    "image": ("image", "image_path", "image_file", "file_name", "file", "path", "file_path"),
    "series": ("series", "series_id", "series_name"),
    "plate": ("plate", "plate_id", "plate_name", "plate_barcode", "barcode"),
    "section": ("section", "section_id", "plate_section"),
    "well": ("well", "well_id", "well_name", "well_position"),
}
COMPOUND_ALIASES = ("compound", "compound_name", "treatment", "perturbation", "pert_iname", "drug")


class LayoutError(MetadataError):
    """The extracted archive does not follow the documented layout assumption."""


def _visible_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``root`` with one of ``suffixes``, skipping hidden and macOS resource files."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(p.startswith(".") or p == "__MACOSX" for p in rel):
            continue
        if path.is_file() and path.name.lower().endswith(suffixes):
            found.append(path)
    return found


def _find_table(root: Path) -> Path:
    """The one metadata table in the extracted archive."""
    tables = _visible_files(root, TABLE_SUFFIXES)
    if len(tables) > 1:
        tables = [t for t in tables if "meta" in t.name.lower()] or tables
    if len(tables) == 1:
        return tables[0]
    listing = _listing(root)
    if not tables:
        raise LayoutError(
            f"the archive holds no metadata table ({' or '.join(TABLE_SUFFIXES)}); expected one "
            f"row per single-cell image (see data/README.md); files found: {listing}"
        )
    raise LayoutError(
        f"the archive holds several metadata tables {[str(t.relative_to(root)) for t in tables]}; "
        "expected one (or exactly one whose name contains 'meta')"
    )


def _listing(root: Path, limit: int = 15) -> str:
    """A short listing of the files under ``root`` for error messages."""
    files = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file()]
    more = f" and {len(files) - limit} more" if len(files) > limit else ""
    return f"{files[:limit]}{more}"


def _norm(column: str) -> str:
    """Column key for matching: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(column).lower())


def _map_columns(table: pd.DataFrame, spec: RealSpec, path: Path) -> dict[str, str]:
    """The table column of each field; raise naming the missing fields and the columns found."""
    by_key: dict[str, str] = {}
    for col in table.columns:
        by_key.setdefault(_norm(col), col)
    mapping, missing = {}, []
    for field, aliases in spec.aliases().items():
        col = next((by_key[_norm(a)] for a in aliases if _norm(a) in by_key), None)
        if col is None:
            missing.append(f"{field} (accepted names: {', '.join(aliases)})")
        else:
            mapping[field] = col
    if missing:
        raise LayoutError(
            f"{path.name} has no column for {'; '.join(missing)}; columns found: "
            f"{list(table.columns)}"
        )
    for field, col in mapping.items():
        values = table[col].astype(str).str.strip()
        blank = np.flatnonzero(values.eq("").to_numpy())
        if len(blank):
            raise LayoutError(
                f"{path.name}: column {col!r} ({field}) is empty in {len(blank)} row(s), e.g. "
                f"on line(s) {(blank[:5] + 2).tolist()}; every image needs a {field}"
            )
    return mapping


def _qualify(meta: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    """Prefix OE names that repeat under different parents (``A01`` -> ``P1/A01``)."""
    for parent, child in zip(levels, levels[1:]):
        if meta.groupby(child)[parent].nunique().max() > 1:
            meta[child] = meta[parent] + "/" + meta[child]
    return meta


def _image_paths(table: pd.DataFrame, column: str, table_path: Path, root: Path) -> list[Path]:
    """Resolve every listed image inside the extracted archive; raise naming the missing ones."""
    bases = (table_path.parent, root)
    inside = root.resolve()
    paths, missing = [], []
    for rel in table[column].astype(str).str.strip().str.replace("\\", "/", regex=False):
        found = next((b / rel for b in bases if (b / rel).is_file()), None)
        if found is None or not found.resolve().is_relative_to(inside):
            missing.append(rel)
        else:
            paths.append(found)
    if missing:
        images = _visible_files(root, IMAGE_SUFFIXES)
        examples = [str(p.relative_to(root)) for p in images[:5]]
        raise LayoutError(
            f"{table_path.name} lists {len(missing)} of {len(table)} image file(s) that are not "
            f"in the archive, e.g. {missing[:5]}; the archive holds {len(images)} image files "
            f"({', '.join(IMAGE_SUFFIXES)}), e.g. {examples}"
        )
    return paths


def _read_image(path: Path) -> np.ndarray:
    """One image file as an array ``(C, H, W)``."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise LayoutError(
            f"{path.name}: unsupported image type {suffix!r}; use one of {IMAGE_SUFFIXES}"
        )
    try:
        arr = np.load(path, allow_pickle=False) if suffix == ".npy" else _read_pillow(path)
    except (OSError, ValueError) as err:
        raise LayoutError(f"cannot read image {path.name}: {err}") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise LayoutError(f"{path.name}: image of shape {arr.shape}; expected (C, H, W) or (H, W)")
    return arr


def _read_pillow(path: Path) -> np.ndarray:
    """A .tif/.png as ``(C, H, W)`` or ``(H, W)``: TIFF pages are channels, colour bands too."""
    from PIL import Image

    with Image.open(path) as img:
        pages = []
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            pages.append(np.array(img))
    if len(pages) > 1:
        return np.stack(pages)
    arr = pages[0]
    return arr.transpose(2, 0, 1) if arr.ndim == 3 else arr


def _store_dtype(dtype: np.dtype) -> np.dtype:
    """The store dtype for images of ``dtype``: integers as uint8/uint16, floats as float16/32."""
    if dtype == np.bool_ or dtype == np.uint8:
        return np.dtype(np.uint8)
    if dtype.kind in "iu":
        return np.dtype(np.uint16)  # values are range-checked while copying
    if dtype == np.float16:
        return np.dtype(np.float16)
    if dtype.kind == "f":
        return np.dtype(np.float32)
    raise LayoutError(f"images of dtype {dtype} cannot be stored; use integer or float pixels")


def _copy_images(paths: list[Path], out_path: Path, progress: bool, title: str) -> np.ndarray:
    """Read every image into one memory-mapped ``(N, C, H, W)`` array, checking shape and dtype."""
    first = _read_image(paths[0])
    dtype = _store_dtype(first.dtype)
    shape = (len(paths),) + first.shape  # (N, C, H, W)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=dtype, shape=shape)
    bar = tqdm(paths, desc=f"converting {title}", unit="img", disable=not progress)
    for i, path in enumerate(bar):
        arr = first if i == 0 else _read_image(path)
        if arr.shape != first.shape or _store_dtype(arr.dtype) != dtype:
            raise LayoutError(
                f"image {path.name} has shape {arr.shape} and dtype {arr.dtype}, but "
                f"{paths[0].name} has {first.shape} and {first.dtype}; all images must match"
            )
        widened = dtype == np.uint16 and arr.dtype != np.uint16 and arr.size
        if widened and (arr.min() < 0 or arr.max() > 65535):
            raise LayoutError(
                f"image {path.name} has values in [{arr.min()}, {arr.max()}], outside 0..65535; "
                "store integer images as uint8/uint16 or as floats"
            )
        out[i] = arr
    out.flush()
    return out


def _channel_names(table_path: Path, n: int) -> list[str]:
    """Channel names from ``channels.txt`` beside the table, else ``ch0 .. ch{n-1}``."""
    path = table_path.parent / "channels.txt"
    if not path.is_file():
        return [f"ch{i}" for i in range(n)]
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(names) != n:
        raise LayoutError(f"{path.name} names {len(names)} channels but the images have {n}")
    return names


def build_dataset(spec: RealSpec, root: Path, images_path: Path, progress: bool) -> Dataset:
    """Turn an extracted archive into a Dataset, checking the layout assumption on the way."""
    table_path = _find_table(root)
    sep = "\t" if table_path.suffix.lower() == ".tsv" else ","
    # strings only, and no NA guessing: a compound called "NA" must stay a name
    table = pd.read_csv(table_path, sep=sep, dtype=str, keep_default_na=False)
    if table.empty:
        raise LayoutError(f"{table_path.name} has no rows; columns found: {list(table.columns)}")
    cols = _map_columns(table, spec, table_path)
    paths = _image_paths(table, cols["image"], table_path, root)

    meta = pd.DataFrame({level: table[cols[level]].str.strip() for level in spec.oe_levels})
    meta = _qualify(meta, spec.oe_levels)
    meta[spec.unit] = table[cols[spec.unit]].str.strip()
    causes = table[cols["cause"]].str.strip()
    codes = {cause: i for i, cause in enumerate(sorted(causes.unique()))}
    meta.insert(0, "y", causes.map(codes).astype(np.int64))
    meta.insert(1, "y_name", causes)
    meta["source_file"] = [p.relative_to(root).as_posix() for p in paths]
    used = set(cols.values())
    for col in table.columns:  # keep extra annotations (dose, moa, ...) that clash with nothing
        if col not in used and col not in meta.columns:
            meta[col] = table[col]

    images = _copy_images(paths, images_path, progress, spec.title)
    return Dataset(
        name=spec.name,
        images=images,
        meta=meta,
        channels=_channel_names(table_path, images.shape[1]),
        unit=spec.unit,
        info={"table": table_path.relative_to(root).as_posix(), "columns": cols},
    )
