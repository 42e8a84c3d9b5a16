"""Real datasets GRID and LINCS-SC: download from Zenodo, verify, extract safely, convert.

The data of Pernice et al. (2023) are published on Zenodo, doi:10.5281/zenodo.7830240.
:func:`fetch_dataset` asks the record (through pooch's DOI support) for its file names and
checksums, downloads the dataset's archive into the data directory (:func:`data_dir`),
verifies it, extracts it without letting any member escape the target folder
(:func:`safe_extract`, :mod:`.archives`) and converts it (:mod:`.convert`) into a store (``ist_core.data.store``) at
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

import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests

from .archives import ARCHIVE_SUFFIXES, ArchiveError, UnsafeArchiveError, safe_extract
from .convert import COLUMN_ALIASES, COMPOUND_ALIASES, LayoutError, build_dataset
from .store import OE_LEVELS, Dataset, MetadataError, data_dir, load_store, save_store

DOI = "10.5281/zenodo.7830240"
DOI_URL = f"doi:{DOI}/"
RECORD_PAGE = f"https://doi.org/{DOI}"
ENV_URL = "IST_DATA_URL"
REGISTRY_FILE = "registry.txt"  # pooch format: "<file name> <alg:hash>" per line
RETRIES = 1  # one more download attempt after a failed or corrupt one
class DataUnavailableError(OSError):
    """A real dataset could not be obtained: offline, server unreachable or not fetched yet."""


class CorruptDownloadError(DataUnavailableError):
    """A downloaded archive does not match the checksum the record lists for it."""


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
        cause_aliases=("y_name", "cause") + COMPOUND_ALIASES,
        unit_aliases=COMPOUND_ALIASES,
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
        dataset = build_dataset(spec, extracted, images_tmp, progress)
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
