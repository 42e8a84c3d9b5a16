"""Real-data path: download, checksum, safe extraction and conversion, end to end.

Small GRID-like and LINCS-like archives are built here and served from a real HTTP server on
127.0.0.1; pooch and requests run unmodified. No test contacts any other host.
"""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ist_core.data import zenodo
from ist_core.data.zenodo import (
    ArchiveError,
    CorruptDownloadError,
    DataUnavailableError,
    LayoutError,
    UnsafeArchiveError,
    fetch_dataset,
    load_real,
    safe_extract,
)

GRID_ARCHIVE = "GRID_subset.tar.gz"
LINCS_ARCHIVE = "LINCS-SC_subset.zip"
DISEASE = {"L1": "MELAS", "L2": "healthy", "L3": "LHON"}
PLATE_LINES = {"P1": ("L1", "L2"), "P2": ("L2", "L3")}  # sections share their plate's lines


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No mirror or data-dir settings from the caller, and no proxy between us and 127.0.0.1."""
    for var in ("IST_DATA_URL", "IST_DATA_DIR", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on an ephemeral port serving ``tmp_path/served``; counts GETs."""
    root = tmp_path / "served"
    root.mkdir()
    hits = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep pytest output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}/", dir=root, hits=hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def no_retry(monkeypatch):
    """Skip pooch's second attempt (and its 1 s pause) where the retry is not under test."""
    monkeypatch.setattr(zenodo, "RETRIES", 0)


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pack(src: Path, out: Path) -> Path:
    """Archive the folder ``src`` (its name as top-level folder) as .tar.gz or .zip."""
    if out.name.endswith(".zip"):
        with zipfile.ZipFile(out, "w") as zf:
            for path in sorted(src.rglob("*")):
                zf.write(path, path.relative_to(src.parent).as_posix())
    else:
        with tarfile.open(out, "w:gz") as tar:
            tar.add(src, arcname=src.name)
    return out


def make_grid(tmp_path: Path, drop=None, unlisted=0) -> tuple[Path, pd.DataFrame, list]:
    """A GRID-like archive: 2 series x 2 plates x 2 sections x 2 wells x 2 cells, .npy images.

    ``drop`` removes a table column; ``unlisted`` deletes that many listed image files.
    """
    src = tmp_path / "src" / "GRID"
    (src / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, images = [], []
    for series in ("S1", "S2"):
        for plate, lines in PLATE_LINES.items():
            for section in ("1", "2"):
                for well, line in zip(("A01", "A02"), lines):
                    for _ in range(2):
                        img = rng.integers(0, 4096, size=(2, 6, 6), dtype=np.uint16)
                        rel = f"images/cell_{len(rows):03d}.npy"
                        np.save(src / rel, img)
                        rows.append({"Series": series, "Plate": plate, "Section": section,
                                     "Well": well, "Cell Line": line, "Disease": DISEASE[line],
                                     "image_path": rel, "dose": "1.0"})
                        images.append(img)
    table = pd.DataFrame(rows)
    for rel in table["image_path"][:unlisted]:
        (src / rel).unlink()
    table.drop(columns=[drop] if drop else []).to_csv(src / "metadata.csv", index=False)
    return pack(src, tmp_path / GRID_ARCHIVE), table, images


def make_lincs(tmp_path: Path, odd: str = "nocodazole") -> tuple[Path, pd.DataFrame, list]:
    """A LINCS-like zip without sections: RGB .png cells; ``odd`` names one compound."""
    src = tmp_path / "src" / "lincs"
    (src / "png").mkdir(parents=True)
    rng = np.random.default_rng(1)
    compounds = {"plate1": ("DMSO", "taxol", odd), "plate2": ("DMSO", odd, "taxol")}
    rows, images = [], []
    for series in ("A", "B"):
        for plate, wells in compounds.items():
            for well, compound in zip(("B02", "B03", "B04"), wells):
                for _ in range(2):
                    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
                    rel = f"png/{len(rows)}.png"
                    Image.fromarray(hwc).save(src / rel)
                    rows.append({"series": series, "plate_id": plate, "well": well,
                                 "compound": compound, "file": rel})
                    images.append(hwc.transpose(2, 0, 1))
    table = pd.DataFrame(rows)
    table.to_csv(src / "cells_metadata.csv", index=False)
    (src / "channels.txt").write_text("DNA\nRNA\nMito\n")
    return pack(src, tmp_path / LINCS_ARCHIVE), table, images


def serve(server, archive: Path, name: str | None = None) -> dict:
    """Put ``archive`` on the server; return the registry entry for it."""
    target = server.dir / (name or archive.name)
    target.write_bytes(archive.read_bytes())
    return {target.name: sha256(archive)}


# --------------------------------------------------------------------------- end to end


def test_grid_end_to_end_then_second_call_is_skipped(tmp_path, server):
    archive, table, images = make_grid(tmp_path)
    data = tmp_path / "data"
    store = fetch_dataset("grid", data, base_url=server.url, registry=serve(server, archive),
                          progress=False)
    assert store == data / "grid" / "store"
    ds = load_real("grid", data)

    np.testing.assert_array_equal(np.asarray(ds.images), np.stack(images))
    assert ds.unit == "cell_line" and ds.oe_levels == ("series", "plate", "section", "well")
    assert ds.meta["y_name"].tolist() == table["Disease"].tolist()
    assert ds.meta["cell_line"].tolist() == table["Cell Line"].tolist()
    assert ds.cause_names == sorted(DISEASE.values())  # y numbers the names in sorted order
    # plate P1 exists in both series and well A01 on every section: names must become global
    assert ds.meta["plate"].nunique() == 4 and ds.meta["well"].nunique() == 16
    assert ds.meta.loc[0, "well"] == "S1/P1/1/A01"
    assert (ds.meta["dose"].astype(float) == 1.0).all()  # extra annotations survive
    assert (data / GRID_ARCHIVE).is_file() and not (data / "grid" / "extracted").exists()

    hits, stamp = len(server.hits), (store / "dataset.json").stat().st_mtime_ns
    assert fetch_dataset("grid", data, base_url=server.url, registry=serve(server, archive),
                         progress=False) == store
    assert len(server.hits) == hits and (store / "dataset.json").stat().st_mtime_ns == stamp


def test_lincs_from_mirror_env_with_served_registry(tmp_path, server, monkeypatch):
    archive, table, images = make_lincs(tmp_path)
    registry = serve(server, archive)
    (server.dir / "registry.txt").write_text(
        "".join(f"{name} {digest}\n" for name, digest in registry.items()) + "README.md sha256:00\n"
    )
    monkeypatch.setenv("IST_DATA_URL", server.url.rstrip("/"))
    data = tmp_path / "data"
    fetch_dataset("lincs-sc", data, progress=False)
    ds = load_real("lincs-sc", data)

    np.testing.assert_array_equal(np.asarray(ds.images), np.stack(images))
    assert ds.channels == ("DNA", "RNA", "Mito")
    assert "section" not in ds.meta.columns and ds.unit == "compound"
    assert ds.meta["compound"].tolist() == table["compound"].tolist()
    assert ds.cause_names == ["DMSO", "nocodazole", "taxol"]
    assert LINCS_ARCHIVE in (data / "registry.txt").read_text()  # kept for offline re-use


def test_compound_named_NA_is_kept_as_a_name(tmp_path):
    archive, table, _ = make_lincs(tmp_path, odd="NA")
    store = zenodo.convert_archive(archive, "lincs-sc", tmp_path / "data", progress=False)
    written = pd.read_csv(store / "metadata.csv", dtype=str, keep_default_na=False)
    assert written["compound"].tolist() == table["compound"].tolist()
    assert sorted(written["y_name"].unique()) == ["DMSO", "NA", "taxol"]


def test_compound_named_NA_survives_load(tmp_path):
    archive, table, _ = make_lincs(tmp_path, odd="NA")
    zenodo.convert_archive(archive, "lincs-sc", tmp_path / "data", progress=False)
    assert load_real("lincs-sc", tmp_path / "data").cause_names == ["DMSO", "NA", "taxol"]


# --------------------------------------------------------------------------- checksums


def test_corrupted_cache_is_downloaded_again(tmp_path, server):
    archive, _, images = make_grid(tmp_path)
    data, registry = tmp_path / "data", serve(server, archive)
    store = fetch_dataset("grid", data, base_url=server.url, registry=registry, progress=False)
    cached = data / GRID_ARCHIVE
    cached.write_bytes(b"garbage" + cached.read_bytes()[7:])
    zenodo.shutil.rmtree(store)  # force a new conversion, which must go through the checksum

    before = len(server.hits)
    fetch_dataset("grid", data, base_url=server.url, registry=registry, progress=False)
    assert len(server.hits) == before + 1
    assert sha256(cached) == registry[GRID_ARCHIVE]
    np.testing.assert_array_equal(np.asarray(load_real("grid", data).images), np.stack(images))


def test_wrong_bytes_from_server_fail_cleanly(tmp_path, server):
    archive, _, _ = make_grid(tmp_path)
    registry = serve(server, archive)
    (server.dir / GRID_ARCHIVE).write_bytes(archive.read_bytes()[:-100])  # truncated download
    data = tmp_path / "data"
    with pytest.raises(CorruptDownloadError, match=f"{GRID_ARCHIVE}.*removed.*next call"):
        fetch_dataset("grid", data, base_url=server.url, registry=registry, progress=False)
    assert server.hits.count(f"/{GRID_ARCHIVE}") == 2  # retried once before giving up
    assert not (data / GRID_ARCHIVE).exists()
    assert not (data / "grid" / "store").exists()
    assert not list(data.glob("tmp*"))  # pooch's temporary download is gone too


def test_stale_cache_and_bad_server_copy_leave_nothing_behind(tmp_path, server, no_retry):
    archive, _, _ = make_grid(tmp_path)
    data, registry = tmp_path / "data", serve(server, archive)
    store = fetch_dataset("grid", data, base_url=server.url, registry=registry, progress=False)
    zenodo.shutil.rmtree(store)
    (data / GRID_ARCHIVE).write_bytes(b"stale")
    (server.dir / GRID_ARCHIVE).write_bytes(b"also wrong")
    with pytest.raises(CorruptDownloadError, match="removed"):
        fetch_dataset("grid", data, base_url=server.url, registry=registry, progress=False)
    assert not (data / GRID_ARCHIVE).exists() and not store.exists()


# --------------------------------------------------------------------------- unsafe archives


def _tar(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("grid/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        for m in members:
            tar.addfile(m, io.BytesIO(b"evil") if m.isfile() else None)
    return path


def _member(name, kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


def _zip(path: Path, name: str, symlink_to: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("grid/ok.txt", "ok")
        info = zipfile.ZipInfo(name)
        if symlink_to is not None:
            info.external_attr = 0o120777 << 16
        zf.writestr(info, symlink_to or "evil")
    return path


UNSAFE = {
    "tar-dotdot": lambda d, out: _tar(d / "a.tar.gz", _member("../evil.txt")),
    "tar-symlink-out": lambda d, out: _tar(
        d / "a.tar.gz", _member("grid/link", tarfile.SYMTYPE, "../../outside"),
        _member("grid/link/evil.txt")),
    "tar-symlink-abs": lambda d, out: _tar(
        d / "a.tar.gz", _member("grid/l", tarfile.SYMTYPE, str(out))),
    "tar-hardlink-out": lambda d, out: _tar(
        d / "a.tar.gz", _member("grid/h", tarfile.LNKTYPE, "../x")),
    "zip-dotdot": lambda d, out: _zip(d / "a.zip", "../evil.txt"),
    "zip-absolute": lambda d, out: _zip(d / "a.zip", str(out / "evil.txt")),
    "zip-symlink-out": lambda d, out: _zip(d / "a.zip", "grid/link", symlink_to="../../outside"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_members_are_refused(tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = UNSAFE[case](tmp_path, outside)
    dest = tmp_path / "work" / "extracted"
    with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
        safe_extract(archive, dest)
    assert not dest.exists() and not dest.with_name("extracted.partial").exists()
    assert not list(tmp_path.rglob("evil*")) and not list(outside.iterdir())


def test_an_absolute_tar_member_lands_inside_the_target_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _tar(tmp_path / "a.tar.gz", _member(str(outside / "evil.txt")))
    dest = safe_extract(archive, tmp_path / "work" / "extracted")
    assert not list(outside.iterdir())
    inside = list(dest.rglob("evil.txt"))
    assert len(inside) == 1 and inside[0].read_bytes() == b"evil"


def test_unsafe_archive_through_fetch_writes_nothing(tmp_path, server):
    archive = _tar(tmp_path / GRID_ARCHIVE, _member("../evil.txt"))
    data = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil\.txt'"):
        fetch_dataset("grid", data, base_url=server.url, registry=serve(server, archive),
                      progress=False)
    assert not list(tmp_path.rglob("evil*"))
    assert not (data / "grid" / "store").exists()


def test_safe_extract_keeps_ordinary_content(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", _member("grid/sub/x.txt"),
                   _member("grid/alias", tarfile.SYMTYPE, "sub/x.txt"))
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "grid" / "ok.txt").read_bytes() == b"ok"
    assert (dest / "grid" / "alias").read_bytes() == b"evil"


def test_damaged_archive_is_named(tmp_path):
    archive = make_grid(tmp_path)[0]
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=f"{GRID_ARCHIVE}.*damaged or incomplete"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- layout checks


def test_missing_column_names_what_was_found(tmp_path, server):
    archive, _, _ = make_grid(tmp_path, drop="Section")
    data = tmp_path / "data"
    with pytest.raises(LayoutError) as err:
        fetch_dataset("grid", data, base_url=server.url, registry=serve(server, archive),
                      progress=False)
    message = str(err.value)
    assert "no column for section" in message and "plate_section" in message
    assert "'Cell Line'" in message and "'image_path'" in message  # the columns found
    assert not (data / "grid" / "store").exists()


def test_listed_image_absent_is_named(tmp_path, server):
    archive, table, _ = make_grid(tmp_path, unlisted=1)
    data = tmp_path / "data"
    with pytest.raises(LayoutError, match=table["image_path"][0]) as err:
        fetch_dataset("grid", data, base_url=server.url, registry=serve(server, archive),
                      progress=False)
    assert "1 of 32" in str(err.value) and "holds 31 image files" in str(err.value)
    assert not (data / "grid" / "store").exists()


def test_record_without_matching_archive_lists_its_files(tmp_path, server):
    listed = r"'grid'.*files listed: \['LINCS_all\.zip', 'README\.md'\]"
    with pytest.raises(ArchiveError, match=listed):
        fetch_dataset("grid", tmp_path / "data", base_url=server.url,
                      registry={"README.md": "sha256:00", "LINCS_all.zip": "sha256:00"})


# --------------------------------------------------------------------------- offline


def test_offline_error_names_the_manual_download_folder(tmp_path, no_retry):
    data = tmp_path / "data"
    with pytest.raises(DataUnavailableError) as err:
        fetch_dataset("grid", data, base_url=f"http://127.0.0.1:{closed_port()}/",
                      registry={GRID_ARCHIVE: "sha256:" + "0" * 64}, progress=False)
    message = str(err.value)
    assert f"put it in the folder {data}" in message and "zenodo.7830240" in message
    assert not (data / "grid" / "store").exists()


def test_offline_uses_a_manually_placed_archive(tmp_path, no_retry):
    archive, table, _ = make_grid(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "my-grid-download.tar.gz").write_bytes(archive.read_bytes())
    url = f"http://127.0.0.1:{closed_port()}/"
    # with a known checksum the hand-placed file is verified; without one a warning says so
    fetch_dataset("grid", data, base_url=url, registry={GRID_ARCHIVE: sha256(archive)},
                  progress=False)
    assert load_real("grid", data).meta["y_name"].tolist() == table["Disease"].tolist()

    zenodo.shutil.rmtree(data / "grid")
    with pytest.warns(UserWarning, match="without verifying"):
        fetch_dataset("grid", data, base_url=url, progress=False)
    assert len(load_real("grid", data)) == len(table)


def test_offline_manual_archive_with_wrong_checksum_is_refused(tmp_path, no_retry):
    data = tmp_path / "data"
    data.mkdir()
    (data / "grid.zip").write_bytes(b"not the archive")
    with pytest.raises(ArchiveError, match="does not match the checksum"):
        fetch_dataset("grid", data, base_url=f"http://127.0.0.1:{closed_port()}/",
                      registry={GRID_ARCHIVE: "sha256:" + "0" * 64}, progress=False)


# --------------------------------------------------------------------------- names and folders


def test_unknown_name_and_missing_store(tmp_path):
    with pytest.raises(ValueError, match=r"\['grid', 'lincs-sc'\]"):
        fetch_dataset("cifar", tmp_path)
    with pytest.raises(DataUnavailableError, match="ist data fetch lincs-sc"):
        load_real("lincs-sc", tmp_path)


def test_data_dir_env_and_checkout_default(tmp_path, monkeypatch):
    repo = Path(zenodo.__file__).resolve().parents[2]
    assert zenodo.data_dir() == repo / "data"  # tests run from the source checkout
    monkeypatch.setenv("IST_DATA_DIR", str(tmp_path / "elsewhere"))
    assert zenodo.data_dir() == tmp_path / "elsewhere"
    assert zenodo.store_path("GRID") == tmp_path / "elsewhere" / "grid" / "store"
