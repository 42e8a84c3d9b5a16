"""The Table 1 registry: every method fits, embeds and predicts at ``tiny``; none but
MixStyle-DA touches a test image in training; MixStyle is the identity at evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ist_core.methods import METHODS, dr_search, get_method
from ist_core.models import MixStylePredictor, Predictor
from ist_core.train import NonFiniteLoss, setup_fold


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def _setup(runs, **kw):
    return setup_fold("synthetic-grid", level=kw.pop("level", 2), fold=0, seed=0, profile="tiny",
                      device="cpu", runs=runs, **kw)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_fits_embeds_and_predicts(name, runs):
    setup = _setup(runs)
    method = get_method(name).fit(setup, progress=False)
    images = setup.dataset.images[setup.fold.test[:40]]
    features, predicted = method.outputs(images)
    assert features.shape[0] == 40 and features.ndim == 2 and np.isfinite(features).all()
    assert predicted.shape == (40,)
    assert set(predicted) <= set(range(setup.n_causes))
    train = method.train_embedding()
    assert train.shape[1] == features.shape[1]


def test_unknown_method_and_setting_are_named():
    with pytest.raises(ValueError, match="choose from .*baseline"):
        get_method("resnet")
    with pytest.raises(ValueError, match="valid: .*alpha"):
        get_method("dr", lamda=1.0)


@pytest.mark.parametrize("name", list(METHODS))
def test_no_test_image_reaches_training(name, tmp_path):
    """The test images are replaced by NaN: a method that trains on any of them hits a
    non-finite loss. Only MixStyle-DA, which borrows test-OE styles by design, must."""
    setup = _setup(tmp_path)
    images = np.array(setup.dataset.images, dtype=np.float32)
    images[setup.fold.test] = np.nan
    setup.dataset = dataclasses.replace(setup.dataset, images=images)
    method = get_method(name)
    if method.sees_test_images:
        with pytest.raises(NonFiniteLoss):
            method.fit(setup, progress=False)
    else:
        method.fit(setup, progress=False)
    assert [m for m in METHODS if METHODS[m].sees_test_images] == ["mixstyle-da"]


def test_mixstyle_predictor_is_the_plain_predictor_at_evaluation():
    torch.manual_seed(0)
    mixed = MixStylePredictor(3, 4, width=8, image_size=32, p=1.0)
    plain = Predictor(3, 4, width=8, image_size=32)
    plain.load_state_dict({k: v for k, v in mixed.state_dict().items() if not k.startswith("mixers")})
    x = torch.randn(6, 3, 32, 32) * torch.rand(6, 1, 1, 1) * 3
    mixed.eval(), plain.eval()
    assert torch.equal(mixed(x), plain(x))
    mixed.train(), plain.train()
    assert not torch.allclose(mixed(x), plain(x))  # p = 1: training always mixes


def test_dr_search_picks_the_best_scoring_alpha(runs):
    setup = _setup(runs)
    table = dr_search(setup, (0.0625, 4.0), progress=False)
    assert list(table["alpha"]) == [0.0625, 4.0]
    assert np.allclose(table["score"], table["cause_f1"] - (table["oe_accuracy"] - table["chance"]).clip(0))
    dr = get_method("dr", alphas=(0.0625, 4.0)).fit(setup, progress=False)
    assert dr.alpha == table.loc[table["score"].idxmax(), "alpha"]
    fixed = get_method("dr", alpha=0.5).fit(setup, progress=False)
    assert fixed.alpha == 0.5 and fixed.model.reverse.alpha == 0.5


def test_dr_oe_head_is_trained_through_reversed_gradients():
    """The OE head's own weights descend its loss; the trunk receives the reversed gradient."""
    from ist_core.models import DRPredictor

    torch.manual_seed(0)
    model = DRPredictor(3, 4, n_oes=3, width=8, image_size=32, alpha=1.0)
    x, oe = torch.randn(8, 3, 32, 32), torch.randint(0, 3, (8,))
    _, oe_logits = model.forward_both(x)
    torch.nn.functional.cross_entropy(oe_logits, oe).backward()
    reversed_grad = [p.grad.clone() for p in model.trunk.parameters()]
    head_grad = model.oe_head.weight.grad.clone()
    model.zero_grad()
    z = model.forward_features(x)
    torch.nn.functional.cross_entropy(model.oe_head(z), oe).backward()
    assert torch.allclose(model.oe_head.weight.grad, head_grad)
    for rev, plain in zip(reversed_grad, model.trunk.parameters()):
        assert torch.allclose(rev, -plain.grad, atol=1e-6)


def test_a_new_row_is_one_class_that_ist_run_trains_scores_and_names(tmp_path, monkeypatch, capsys):
    """Adding a Table 1 row: one registered class, nothing else. The grid runs it through
    ``ist run``, the cost and display name come from the class, and Table 1 shows it."""
    import numpy as np
    from ist_core import experiments
    from ist_core.cli import main
    from ist_core.methods import METHODS, Method
    from ist_core.report import tables

    class Majority(Method):
        """Predicts the most frequent training cause; features are channel means."""

        name, label, cost, in_paper = "majority", "Majority*", 0.01, False

        def fit(self, setup, progress=True):
            self.setup = setup
            y = setup.dataset.meta["y"].to_numpy()[setup.fold.train]
            self.cause = np.bincount(y).argmax()
            return self

        def embed(self, images):
            return np.asarray(images, dtype=np.float32).mean(axis=(2, 3))

        def predict(self, images):
            return np.full(len(images), self.cause)

    monkeypatch.setitem(METHODS, "majority", Majority)
    assert main(["run", "--dataset", "synthetic-grid", "--profile", "tiny", "--methods",
                 "majority", "--levels", "iid", "2", "--runs", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 run(s)" in out and "majority" in out
    grid = experiments.plan("synthetic-grid", ["majority"], ["iid", "2"], profile="tiny",
                            runs=tmp_path)
    scores = experiments.collect(grid)
    f1 = scores[scores["metric"] == "macro_f1"]["value"]
    assert set(scores["method"]) == {"majority"} and len(f1) == 2
    assert (f1 < 0.3).all()  # one cause of several: chance-like macro-F1
    from ist_core import runner

    jobs = runner._jobs(grid)
    assert [job.cost for job, _ in jobs] == [0.01, 0.01]
    table = tables.table1(scores)
    assert "Majority*" in table.index and tables.NOT_IN_PAPER["majority"] == "Majority*"


def test_roles_name_the_rows_the_comparison_is_made_against(monkeypatch):
    """The report finds the naive row, the proposed method and a transfer's two bounds by
    role, so a role held by two methods is an error, not a silent pick."""
    from ist_core.methods import METHODS, IST, method_for
    from ist_core.report.benchmark import row_style

    assert [method_for(r) for r in ("naive", "proposed", "cheapest transfer", "perfect transfer")] \
        == ["baseline", "ist", "histmatch", "oracle"]
    # a calibration row named by its role is drawn like the method behind it; rivals differ
    assert row_style("naive") == row_style("baseline") != row_style("dr")
    with pytest.raises(ValueError, match="no single method has the role 'rival'"):
        method_for("rival")

    class Challenger(IST):
        name = "challenger"

    monkeypatch.setitem(METHODS, "challenger", Challenger)
    with pytest.raises(ValueError, match="no single method has the role 'proposed'"):
        method_for("proposed")
