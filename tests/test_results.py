"""Stored result summaries and their provenance (ist_core.results)."""

import sys

import pandas as pd

from ist_core.results import read_summary, rerun_command, write_summary


def test_rerun_command_leaves_out_this_machines_folders_and_collect_only_flags():
    argv = ["run", "--dataset", "synthetic-grid", "--runs", "/scratch/x", "--runs=/y",
            "--no-train", "--save", "bounds"]
    assert rerun_command("ist", argv) == "ist run --dataset synthetic-grid --save bounds"


def test_a_summary_comes_back_with_its_provenance(tmp_path, monkeypatch):
    frame = pd.DataFrame({"method": ["baseline", "ist"], "level": ["2", "iid"], "value": [0.3, 0.6]})
    monkeypatch.setattr(sys, "argv", ["ist", "run", "--runs", "/scratch/x", "--save", "bounds"])
    path = write_summary(frame, "synthetic-grid", "quick", "bounds", folder=tmp_path,
                         provenance={"trained_on": "a GPU"})
    assert path == tmp_path / "synthetic-grid" / "quick" / "bounds.csv"
    back, meta = read_summary("synthetic-grid", "quick", "bounds", folder=tmp_path)
    pd.testing.assert_frame_equal(back, frame)  # levels stay text: "2", not 2
    assert meta["command"] == "ist run --save bounds" and meta["rows"] == 2
    assert meta["trained_on"] == "a GPU" and {"commit", "hardware", "date"} <= set(meta)
    assert read_summary("synthetic-grid", "quick", "nothing", folder=tmp_path) is None


def test_commit_id_is_dirty_for_changed_code_but_not_for_stored_summaries(tmp_path, monkeypatch):
    import subprocess

    from ist_core import results

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table1.csv").write_text("a\n1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.delenv("IST_COMMIT", raising=False)
    monkeypatch.setattr(results, "REPO", tmp_path)
    clean = results.commit_id()
    assert len(clean) >= 7 and "+" not in clean
    (tmp_path / "results" / "table1.csv").write_text("a\n2\n")  # a summary just stored
    assert results.commit_id() == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert results.commit_id() == clean + "+changes"
