import json

import pandas as pd
import pytest

from ist_core.cli import main


def test_describe_json(capsys):
    assert main(["data", "describe", "synthetic-lincs", "--size", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["causes"] == 9 and "section" not in info["oes_per_level"]
    assert 0 < info["sparsity"]["series"] < info["sparsity"]["plate"] < 1


def test_describe_knobs_reach_the_generator(capsys):
    assert main(["data", "describe", "synthetic-grid", "--size", "tiny", "--knob", "image_size=48",
                 "--knob", "channels=4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["image_size"] == [48, 48] and len(info["channels"]) == 4


def test_diagnose_text(capsys):
    assert main(["diagnose", "synthetic-grid", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "(a) plate from pixels, among the plates of the cell's own cause" in out
    assert "mean chance" in out and "(c) from latents" in out


def test_diagnose_json_has_check_a_per_cause(capsys):
    assert main(["diagnose", "synthetic-lincs", "--size", "tiny", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by_cause = result["plate_by_cause"]
    assert len(by_cause) == result["plate_causes"] == 9  # every compound is on several plates
    assert result["plate_accuracy_within_cause"] == pytest.approx(
        sum(r["accuracy"] for r in by_cause) / len(by_cause))


def test_splits_json(capsys):
    assert main(["splits", "synthetic-grid", "--size", "tiny", "--level", "3", "--json"]) == 0
    folds = json.loads(capsys.readouterr().out)
    assert [f["held_out"] for f in folds] == [["s1"], ["s2"]]
    assert all(f["n_test"] > 0 for f in folds)


@pytest.mark.parametrize("argv,message", [
    (["data", "describe", "mnist"], "unknown dataset 'mnist'"),
    (["data", "describe", "synthetic-grid", "--knob", "nuisance=abc"],
     "knob 'nuisance' expects a number (int or float), got 'abc'"),
    (["data", "describe", "synthetic-grid", "--knob", "image_size=40.5"],
     "knob 'image_size' expects an int, got 40.5"),
    (["diagnose", "synthetic-grid", "--knob", "confounding=2"], "valid knobs:"),
    (["splits", "synthetic-lincs", "--size", "tiny", "--level", "1"], "level 1"),
    (["data", "describe", "synthetic-grid", "--knob", "colour"], "KEY=VALUE"),
    (["splits", "synthetic-grid", "--size", "tiny", "--level", "7"], "unknown level"),
])
def test_bad_input_is_a_clear_error(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ist: error:") and message in err
    assert err.count("\n") == 1, "one line, no traceback"


def test_renamed_knob_points_to_oe_shift(capsys):
    assert main(["data", "describe", "synthetic-grid", "--size", "tiny", "--knob", "confounding=2"]) == 2
    err = capsys.readouterr().err
    assert "'confounding'" in err and "oe_shift" in err
    assert main(["data", "describe", "synthetic-grid", "--size", "tiny", "--knob", "oe_shift=2",
                 "--json"]) == 0


@pytest.mark.slow
def test_ablation_stores_each_variant_with_its_provenance(tmp_path, monkeypatch, capsys):
    from ist_core.results import code_hash, read_summary

    monkeypatch.setenv("IST_RESULTS_DIR", str(tmp_path / "results"))
    assert main(["ablation", "--dataset", "synthetic-grid", "--profile", "tiny", "--level", "2",
                 "--terms", "cycle", "--pairs", "8", "--runs", str(tmp_path / "runs"),
                 "--no-progress", "--save"]) == 0
    out = capsys.readouterr().out
    assert "loss-ablation.csv" in out and "without cycle" in out
    table, meta = read_summary("synthetic-grid", "tiny", "loss-ablation")
    assert list(table["variant"].unique()) == ["full", "without cycle"]
    assert table["level"].nunique() == 1 and (table["fold"] == 0).all() and (table["seed"] == 0).all()
    assert meta["folds"] == {"synthetic-grid": {"2": [0]}} and set(table["level"]) == {"2"}
    assert meta["seeds"] == [0] and meta["code"] == {code_hash(): 2} and meta["profile"] == "tiny"
    with pytest.raises(SystemExit):
        main(["ablation", "--terms", "gram"])


def test_run_add_joins_a_second_seed_to_the_stored_summary(tmp_path, monkeypatch, capsys):
    from ist_core.results import read_summary

    monkeypatch.setenv("IST_RESULTS_DIR", str(tmp_path / "results"))
    argv = ["run", "--dataset", "synthetic-grid", "--methods", "baseline", "--levels", "2",
            "--profile", "tiny", "--runs", str(tmp_path / "runs"), "--no-progress", "--save", "b"]
    assert main([*argv, "--seeds", "0"]) == 0
    first, _ = read_summary("synthetic-grid", "tiny", "b")
    assert main([*argv, "--seeds", "1", "--add"]) == 0
    table, meta = read_summary("synthetic-grid", "tiny", "b")
    assert meta["seeds"] == [0, 1] and meta["runs"] == 2 and meta["rows"] == len(table)
    kept = table[table["seed"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first)  # seed 0 as stored, seed 1 beside it
    assert set(table.loc[table["seed"] == 1, "metric"]) == set(first["metric"])
    capsys.readouterr()
    assert main([*argv, "--seeds", "2", "--add", "--knob", "nuisance=2"]) == 2
    out = capsys.readouterr()
    assert "settings" in out.err and "macro-F1" not in out.out  # refused before training
    assert not list((tmp_path / "runs").rglob("seed2"))
    assert main([*argv[:-2], "--add"]) == 2  # --add without --save
