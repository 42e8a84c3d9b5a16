"""Real datasets GRID and LINCS-SC: download from Zenodo, verify, extract safely, convert.

The data of Pernice et al. (2023) are published on Zenodo, doi:10.5281/zenodo.7830240.
:func:`fetch_dataset` asks the record (through pooch's DOI support) for its file names and
checksums, downloads the dataset's archive into the data directory (:func:`data_dir`),
verifies it, extracts it without letting any member escape the target folder
(:func:`safe_extract`) and converts it into a store (``ist_core.data.store``) at
``<data dir>/<name>/store``. :func:`load_real` reads that store.

Archive assumption. The record's layout could not be inspected when this was written, so the
converter follows a stated assumption and checks it, naming what it found when it fails:

1. The record holds one archive per dataset (.zip or .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz)
   whose file name contains ``grid`` (GRID) or ``lincs`` (LINCS-SC), case-insensitively.
2. Somewhere inside is one metadata table (.csv, or .tsv; with several tables, the only one
   whose name contains ``meta``) holding one row per single-cell image, plus the images.
3. Table columns, matched ignoring case, spaces and punctuation (first alias found wins), are
   listed in :data:`COLUMN_ALIASES` and in each :class:`RealSpec`: the image file (a path
   relative to the table's folder or the archive root), the cause (GRID: disease; LINCS-SC:
   compound), the OE levels series, plate, section (GRID only) and well, and the biological
   unit (GRID: cell line; LINCS-SC: compound).
4. Images are .npy arrays ``(C, H, W)`` or ``(H, W)``, or .tif/.tiff (one page per channel, or
   one ``(H, W, C)`` page) or .png read with Pillow; all of one shape and one kind of dtype.
5. Optionally a ``channels.txt`` next to the table names the channels, one per line.

``y`` numbers the cause names in sorted order and ``y_name`` keeps the names. OE names that
repeat under different parents (well ``A01`` on every plate) are prefixed with their parent
(``P1/A01``) so that every OE name is global, as the store requires.

Environment: ``IST_DATA_DIR`` moves the data directory; ``IST_DATA_URL`` points downloads at
a mirror that serves the record's files (and a pooch ``registry.txt`` unless one is given).
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import posixpath
import re
import shutil
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import requests
from tqdm import tqdm

from .store import OE_LEVELS, Dataset, MetadataError, data_dir, load_store, save_store

DOI = "10.5281/zenodo.7830240"
DOI_URL = f"doi:{DOI}/"
RECORD_PAGE = f"https://doi.org/{DOI}"
ENV_URL = "IST_DATA_URL"
REGISTRY_FILE = "registry.txt"  # pooch format: "<file name> <alg:hash>" per line
RETRIES = 1  # one more download attempt after a failed or corrupt one
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
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
_COMPOUND = ("compound", "compound_name", "treatment", "perturbation", "pert_iname", "drug")


class DataUnavailableError(OSError):
    """A real dataset could not be obtained: offline, server unreachable or not fetched yet."""


class CorruptDownloadError(DataUnavailableError):
    """A downloaded archive does not match the checksum the record lists for it."""


class ArchiveError(ValueError):
    """An archive cannot be read, or the record holds no archive for the dataset."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the extraction folder."""


class LayoutError(MetadataError):
    """The extracted archive does not follow the documented layout assumption."""


class _Unreachable(Exception):
    """Internal: the list of files and checksums could not be read from the server."""


@dataclass(frozen=True)
class RealSpec:
    """What one real dataset looks like: archive name pattern, OE levels and column aliases."""

    name: str  # "grid" or "lincs-sc"
    title: str  # as the paper writes it
    pattern: str  # lower-case substring of the archive's file name
    unit: str  # biological unit column of the store
    oe_levels: tuple[str, ...]
    cause_aliases: tuple[str, ...]
    unit_aliases: tuple[str, ...]

    def aliases(self) -> dict[str, tuple[str, ...]]:
        """Accepted table column names for every field this dataset needs."""
        fields = {"image": COLUMN_ALIASES["image"], "cause": self.cause_aliases}
        fields.update({level: COLUMN_ALIASES[level] for level in self.oe_levels})
        fields[self.unit] = self.unit_aliases
        return fields


SPECS = {
    "grid": RealSpec(
        name="grid",
        title="GRID",
        pattern="grid",
        unit="cell_line",
        oe_levels=OE_LEVELS,
        cause_aliases=("y_name", "cause", "disease", "diagnosis", "disease_category"),
        unit_aliases=("cell_line", "patient", "patient_id", "line"),
    ),
    # LINCS-SC's cause is the compound itself (paper Sec. 5.1), so both fields may share it.
    "lincs-sc": RealSpec(
        name="lincs-sc",
        title="LINCS-SC",
        pattern="lincs",
        unit="compound",
        oe_levels=("series", "plate", "well"),
        cause_aliases=("y_name", "cause") + _COMPOUND,
        unit_aliases=_COMPOUND,
    ),
}
NAMES = tuple(SPECS)


# --------------------------------------------------------------------------- locations


def store_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted store of dataset ``name`` lives."""
    return _root(data_dir) / _spec(name).name / "store"


def _root(path: str | os.PathLike | None) -> Path:
    """The data directory to use: ``path`` when given, else :func:`data_dir`."""
    return Path(path).expanduser() if path is not None else data_dir()


def _spec(name: str) -> RealSpec:
    """The spec of a real dataset; unknown names list the valid ones."""
    key = str(name).lower()
    if key not in SPECS:
        raise ValueError(f"unknown real dataset {name!r}; choose one of {list(NAMES)}")
    return SPECS[key]


# --------------------------------------------------------------------------- public API


def fetch_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    registry: dict[str, str] | str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Download, verify, extract and convert a real dataset; return its store path.

    ``base_url`` (or ``$IST_DATA_URL``) and ``registry`` (file name -> ``"sha256:..."``, or a
    pooch registry file) replace the Zenodo DOI, e.g. for a mirror. A finished store is reused.
    """
    spec = _spec(name)
    root = _root(data_dir)
    store = root / spec.name / "store"
    if (store / "dataset.json").is_file():  # save_store is atomic: present means complete
        return store
    archive = _obtain_archive(spec, root, base_url, registry, progress)
    return convert_archive(archive, spec.name, data_dir=root, progress=progress)


def load_real(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a converted real dataset (memory-mapped); run ``ist data fetch NAME`` first."""
    spec = _spec(name)
    store = _root(data_dir) / spec.name / "store"
    if not (store / "dataset.json").is_file():
        raise DataUnavailableError(
            f"{spec.title} has not been downloaded yet (no store at {store}); run "
            f"`ist data fetch {spec.name}` once with network access, then load it again"
        )
    return load_store(store)


def convert_archive(
    archive: str | os.PathLike,
    name: str,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Extract a local archive of dataset ``name`` and write its store; return the store path."""
    spec = _spec(name)
    archive = Path(archive)
    work = _root(data_dir) / spec.name
    work.mkdir(parents=True, exist_ok=True)
    extracted = safe_extract(archive, work / "extracted", progress=progress)
    images_tmp = work / ".images.partial.npy"
    try:
        dataset = _build_dataset(spec, extracted, images_tmp, progress)
        dataset.info.update(
            doi=DOI, archive=archive.name, archive_sha256=pooch.file_hash(str(archive))
        )
        store = save_store(dataset, work / "store")
    except MetadataError as err:
        # keep the extracted files so the mismatch can be inspected
        raise LayoutError(f"{err} (archive {archive.name}, extracted in {extracted})") from None
    finally:
        images_tmp.unlink(missing_ok=True)
    shutil.rmtree(extracted)  # the store holds everything; the archive stays in the cache
    return store


# --------------------------------------------------------------------------- download


def _obtain_archive(spec, root, base_url, registry, progress) -> Path:
    """The verified archive in the cache (downloaded if needed), or a manually placed one."""
    url = base_url or os.environ.get(ENV_URL) or DOI_URL
    url = url if url.endswith("/") else url + "/"
    pup = pooch.create(path=root, base_url=url, registry=None, retry_if_failed=RETRIES)
    try:
        source = _load_registry(pup, root, registry)
    except _Unreachable as err:
        return _manual_archive(spec, root, str(err), known=None)
    fname = _pick_archive(spec, pup.registry, source)
    try:
        return Path(pup.fetch(fname, progressbar=progress))
    except requests.exceptions.RequestException as err:
        reason = f"downloading {fname} from {url} failed: {err}"
        return _manual_archive(spec, root, reason, known=(fname, pup.registry[fname]))
    except ValueError as err:
        if "hash" not in str(err).lower():  # e.g. the record does not serve that file
            return _manual_archive(spec, root, f"{fname}: {err}", known=None)
        # pooch deletes a bad download but keeps a stale cached copy; drop both
        (root / fname).unlink(missing_ok=True)
        raise CorruptDownloadError(
            f"{fname} from {url} does not match its checksum {pup.registry[fname]} after "
            f"{RETRIES + 1} attempt(s), so it was removed from {root} and will be downloaded "
            f"again on the next call; if this persists the server's copy is damaged ({err})"
        ) from None


def _load_registry(pup: pooch.Pooch, root: Path, registry) -> str:
    """Fill ``pup.registry`` from the argument, a pinned registry file or the server; say which."""
    if registry is not None:
        if isinstance(registry, dict):
            pup.registry.update({str(k): str(v).lower() for k, v in registry.items()})
            return "the registry passed in"
        pup.load_registry(str(registry))
        return str(registry)
    pinned = root / REGISTRY_FILE
    if pinned.is_file():  # written on the first lookup; lets a cached archive verify offline
        pup.load_registry(str(pinned))
        return str(pinned)
    where = f"the Zenodo record doi:{DOI}" if pup.base_url.startswith("doi:") else pup.base_url
    try:
        if pup.base_url.startswith("doi:"):
            pup.load_registry_from_doi()
        else:
            response = requests.get(pup.base_url + REGISTRY_FILE, timeout=30)
            response.raise_for_status()
            pup.load_registry(io.StringIO(response.text))
    except (requests.exceptions.RequestException, ValueError) as err:
        raise _Unreachable(f"reading the file list of {where} failed: {err}") from err
    _save_registry(pup.registry, pinned, where)
    return where


def _save_registry(registry: dict[str, str], path: Path, where: str) -> None:
    """Write the looked-up checksums as a pooch registry file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# file checksums read from {where}"]
    lines += [f"{name} {checksum}" for name, checksum in sorted(registry.items())]
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def _is_archive_name(name: str) -> bool:
    """Whether a file name has one of the archive suffixes."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _pick_archive(spec: RealSpec, registry: dict, source: str) -> str:
    """The one registry entry that is this dataset's archive."""
    names = sorted(registry)
    hits = [n for n in names if _is_archive_name(n) and spec.pattern in n.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ArchiveError(
            f"none of the files listed by {source} looks like the {spec.title} archive (a name "
            f"containing '{spec.pattern}' ending in one of {ARCHIVE_SUFFIXES}); "
            f"files listed: {names}"
        )
    raise ArchiveError(
        f"several files listed by {source} look like the {spec.title} archive: {hits}; "
        f"pass registry={{name: checksum}} with the one to use"
    )


def _manual_archive(spec: RealSpec, root: Path, reason: str, known) -> Path:
    """An archive placed by hand in ``root``, checked against ``known`` = (name, hash) if given."""
    candidates = []
    if root.is_dir():
        candidates = [
            p
            for p in sorted(root.iterdir())
            if p.is_file()
            and _is_archive_name(p.name)
            and spec.pattern in p.name.lower()
            and (known is None or p.name != known[0])  # that one already failed pooch's check
        ]
    if not candidates:
        raise DataUnavailableError(
            f"Could not get the {spec.title} archive ({reason}); download it by hand from "
            f"{RECORD_PAGE} and put it in the folder {root} (keep '{spec.pattern}' in its file "
            f"name), then run `ist data fetch {spec.name}` again."
        )
    if len(candidates) > 1:
        raise ArchiveError(
            f"several hand-placed {spec.title} archives in {root}: "
            f"{[p.name for p in candidates]}; keep only one"
        )
    path = candidates[0]
    if known is None:
        warnings.warn(
            f"using {path}, placed by hand, without verifying it: no checksum could be read "
            f"({reason})",
            stacklevel=3,
        )
        return path
    fname, checksum = known
    alg = checksum.split(":")[0] if ":" in checksum else "sha256"
    if pooch.file_hash(str(path), alg=alg) != checksum.split(":")[-1]:
        raise ArchiveError(
            f"the hand-placed {path} does not match the checksum of {fname} ({checksum}); it is "
            "incomplete or a different file: replace it with a complete download"
        )
    return path


# --------------------------------------------------------------------------- extraction


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, progress: bool = False
) -> Path:
    """Extract a zip or tar archive into ``dest`` (replaced), refusing members that leave it.

    Absolute paths, ``..`` components, links pointing outside and device files are refused
    before anything is written; the extraction goes to ``dest.partial`` and is renamed when done.
    """
    archive, dest = Path(archive), Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, partial, progress)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, partial, progress)
        else:
            raise ArchiveError(
                f"{archive} is neither a zip nor a tar archive; supported: {ARCHIVE_SUFFIXES}"
            )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile,
            lzma.LZMAError) as err:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(err, tarfile.FilterError):  # tarfile's own check caught a link trick
            raise UnsafeArchiveError(f"refusing to extract {archive.name}: {err}") from None
        raise ArchiveError(
            f"cannot read {archive} ({type(err).__name__}: {err}); it is damaged or incomplete: "
            "delete it and fetch it again"
        ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    partial.rename(dest)
    return dest


def _unsafe_name(name: str) -> str | None:
    """Why a zip member name may not be extracted, or None when it is safe (zipfile would
    silently strip what is refused here; tar members go through tarfile's own filter)."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]+", name):
        return "climbs out of the target folder with '..'"
    return None


def _unsafe_link(name: str, target: str) -> str | None:
    """Why a zip member ``name`` stored as a symbolic link to ``target`` is unsafe, or None."""
    if target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target):
        return f"is a link to the absolute path {target!r}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"is a link pointing outside the archive ({target!r})"
    return None


def _refuse(archive: Path, member: str, why: str):
    """Raise the error for an unsafe member; nothing has been extracted at this point."""
    raise UnsafeArchiveError(
        f"refusing to extract {archive.name}: member {member!r} {why}; the archive is corrupt "
        "or malicious, so nothing was extracted"
    )


def _extract_tar(archive: Path, dest: Path, progress: bool) -> None:
    """Check every tar member with tarfile's own 'data' filter (absolute names are made
    relative; members or links that leave the folder, device files and pipes are
    refused), then extract them through the same filter."""
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError("extracting the archive safely needs tarfile's data filter: "
                           "Python >= 3.10.12, 3.11.4 or 3.12")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            try:
                tarfile.data_filter(m, str(dest))
            except tarfile.FilterError as err:
                _refuse(archive, m.name, f"is refused by tarfile's data filter ({err})")
        bar = tqdm(members, desc=f"extracting {archive.name}", unit="file", disable=not progress)
        tar.extractall(dest, members=bar, filter="data")


def _extract_zip(archive: Path, dest: Path, progress: bool) -> None:
    """Check every zip member, then extract them; links are refused (zipfile cannot make them)."""
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            why = _unsafe_name(info.filename)
            if why is None and (info.external_attr >> 16) & 0o170000 == 0o120000:
                target = zf.read(info).decode("utf-8", "replace")
                why = _unsafe_link(info.filename, target) or f"is a symbolic link ({target!r})"
            if why:
                _refuse(archive, info.filename, why)
        bar = tqdm(infos, desc=f"extracting {archive.name}", unit="file", disable=not progress)
        for info in bar:
            zf.extract(info, dest)


# --------------------------------------------------------------------------- conversion


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


def _build_dataset(spec: RealSpec, root: Path, images_path: Path, progress: bool) -> Dataset:
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


__all__ = [
    "DOI",
    "NAMES",
    "SPECS",
    "ArchiveError",
    "CorruptDownloadError",
    "DataUnavailableError",
    "LayoutError",
    "UnsafeArchiveError",
    "convert_archive",
    "data_dir",
    "fetch_dataset",
    "load_real",
    "safe_extract",
    "store_path",
]
