"""Archives extracted without letting any member escape the target folder: tar members
through tarfile's own ``data`` filter, zip members checked by name and link target; the
extraction goes to a ``.partial`` folder renamed when complete, so a refused or damaged
archive leaves nothing behind."""

from __future__ import annotations

import gzip
import lzma
import os
import posixpath
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class ArchiveError(ValueError):
    """An archive cannot be read, or the record holds no archive for the dataset."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the extraction folder."""


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, progress: bool = False
) -> Path:
    """Extract a zip or tar archive into ``dest`` (replaced), refusing members that leave it.

    Members that would leave it (zip names with ``..`` or an absolute path, links pointing
    outside, device files) are refused before anything is written; tar members pass
    tarfile's ``data`` filter, which also makes absolute names relative. The extraction
    goes to ``dest.partial`` and is renamed when done.
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
