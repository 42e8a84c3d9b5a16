"""Stored result summaries and their provenance (ist_core.results)."""

import sys

import pandas as pd
import pytest

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


def _stored(tmp_path, monkeypatch, code=None, command="ist run --dataset synthetic-grid --seeds 0"):
    from ist_core.results import code_hash

    frame = pd.DataFrame({"dataset": "synthetic-grid", "profile": "quick", "method": "baseline",
                          "level": ["2", "2"], "fold": [0, 5], "held_out": ["a", "b"],
                          "seed": 0, "metric": "macro_f1", "value": [0.3, 0.4]})
    monkeypatch.setattr(sys, "argv", command.split())
    write_summary(frame, "synthetic-grid", "quick", "bounds", folder=tmp_path,
                  provenance={"trained_on": "machine A", "trained_at_commit": "aaa",
                              "profile": "quick", "data_seed": 0, "runs": 2,
                              "code": {code or code_hash(): 2}, "seeds": [0],
                              "folds": {"synthetic-grid": {"2": [0, 5]}}})


def _new_runs(seed=1, value=0.5):
    from ist_core.results import code_hash

    frame = pd.DataFrame({"dataset": "synthetic-grid", "profile": "quick", "method": "baseline",
                          "level": ["2"], "fold": [0], "held_out": ["a"], "seed": [seed],
                          "metric": "macro_f1", "value": [value]})
    return frame, {"trained_on": "machine B", "trained_at_commit": "bbb", "profile": "quick",
                   "data_seed": 0, "runs": 1, "code": {code_hash(): 1}, "seeds": [seed],
                   "folds": {"synthetic-grid": {"2": [0], "iid": [0]}}}


def test_add_joins_new_seeds_to_a_stored_summary_and_replaces_retrained_runs(tmp_path, monkeypatch):
    from ist_core.results import add_to_summary, code_hash

    _stored(tmp_path, monkeypatch)
    monkeypatch.setattr(sys, "argv", "ist run --dataset synthetic-grid --seeds 1 --add".split())
    frame, meta = add_to_summary(*_new_runs(), "synthetic-grid", "quick", "bounds", folder=tmp_path)
    assert sorted(zip(frame["fold"], frame["seed"], frame["value"])) == [
        (0, 0, 0.3), (0, 1, 0.5), (5, 0, 0.4)]
    assert meta["runs"] == 3 and meta["code"] == {code_hash(): 3} and meta["seeds"] == [0, 1]
    assert meta["folds"] == {"synthetic-grid": {"2": [0, 5], "iid": [0]}}
    assert meta["trained_on"] == "machine A; machine B" and meta["trained_at_commit"] == "aaa; bbb"
    assert "--seeds 0" in meta["command"] and "--seeds 1" in meta["command"]
    assert "rows" not in meta  # the store counts the joined rows itself
    # the same seed again replaces the stored run instead of counting it twice
    frame, meta = add_to_summary(*_new_runs(seed=0, value=0.9), "synthetic-grid", "quick",
                                 "bounds", folder=tmp_path)
    assert sorted(zip(frame["fold"], frame["seed"], frame["value"])) == [(0, 0, 0.9), (5, 0, 0.4)]
    assert meta["runs"] == 2
    # nothing stored yet: the new runs are the summary
    frame, meta = add_to_summary(*_new_runs(), "synthetic-grid", "quick", "other", folder=tmp_path)
    assert len(frame) == 1 and meta["runs"] == 1


def test_settings_of_an_older_summary_are_read_from_its_command():
    from ist_core.results import _settings

    command = "ist run --knob nuisance=2 --set=style=3 --knob oe_shift=1.5 --seeds 0"
    assert _settings({"command": command}) == {"knob": {"nuisance": 2, "oe_shift": 1.5},
                                               "set": {"style": 3}}
    assert _settings({"command": command, "settings": {"knob": {}, "set": {}}}) == {
        "knob": {}, "set": {}}


@pytest.mark.parametrize("change, message", [
    ("stale", "trained by other code"),
    ("profile", "profile"),
    ("knob", "settings"),
    ("new code", "not this checkout's"),
])
def test_add_refuses_runs_that_were_not_trained_alike(tmp_path, monkeypatch, change, message):
    from ist_core.results import add_to_summary

    _stored(tmp_path, monkeypatch, code="0123456789ab" if change == "stale" else None)
    frame, meta = _new_runs()
    if change == "profile":
        meta["profile"] = "paper"
    if change == "new code":
        meta["code"] = {"0123456789ab": 1}
    if change == "knob":  # read from the stored command, given with the new runs
        meta["settings"] = {"knob": {"nuisance": 2}, "set": {}}
    with pytest.raises(ValueError, match=message):
        add_to_summary(frame, meta, "synthetic-grid", "quick", "bounds", folder=tmp_path)


def test_cpu_name_tells_processor_generations_apart_that_share_a_name():
    from ist_core.results import cpu_name

    block = "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {m}\n" \
            "model name\t: AMD EPYC\nflags\t\t: fpu avx2\n"
    text = block.format(n=0, m=17) + "\n" + block.format(n=1, m=1)
    assert cpu_name(text) == "AMD EPYC (family 25, model 17)"  # the first processor's
    assert cpu_name(block.format(n=0, m=1)) != cpu_name(text)
    assert cpu_name("model name\t: Some CPU\n") == "Some CPU"
    assert cpu_name("") is None
