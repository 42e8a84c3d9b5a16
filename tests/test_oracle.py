"""The oracle transfer: true counterfactuals, by cell identity, and nothing else."""

import dataclasses

import numpy as np
import pytest
import torch

from ist_core.data.synthetic import render_counterfactual
from ist_core.methods import get_method
from ist_core.train import setup_fold
from ist_core.train.oracle import OracleTransfer
from ist_core.train.runtime import generator


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return setup_fold("synthetic-grid", level=2, fold=0, seed=0, profile="tiny", device="cpu",
                      runs=tmp_path_factory.mktemp("runs"))


def test_renders_each_content_cell_in_its_style_images_well(setup):
    data = setup.dataset
    content, style = setup.fold.test[:5], setup.fold.train[[3, 50, 90, 120, 200]]
    oracle = OracleTransfer(setup)
    out = oracle(torch.tensor(np.asarray(data.images[content])),
                 torch.tensor(np.asarray(data.images[style])))
    wells = data.meta["well"].to_numpy()
    truth = np.stack([render_counterfactual(data, [c], wells[s])[0] for c, s in zip(content, style)])
    np.testing.assert_allclose(out.numpy(), truth, atol=1e-5)
    assert np.abs(truth - data.images[content]).mean() > 1e-3  # they did move


def test_refuses_images_it_cannot_identify(setup):
    oracle = OracleTransfer(setup)
    x = torch.tensor(np.asarray(setup.dataset.images[:4]))
    with pytest.raises(ValueError, match="4 of 4 are not among them"):
        oracle(x.flip(-1), x)
    with pytest.raises(ValueError, match="one style image per content image"):
        oracle(x, x[:1])


def test_training_batches_are_counterfactuals_of_the_drawn_cells_in_training_wells(setup):
    oracle = OracleTransfer(setup)
    data = setup.images()
    idx = data.sample(16, "y", generator(0, "t"))
    x = oracle.training_batch(data, idx, generator(1, "t"))
    cells = setup.fold.train[idx.numpy()]
    # dihedral augmentation keeps each channel's pixel multiset: compare sorted pixels
    # with the cell's counterfactual in every training well, the closest must match
    wells = setup.dataset.meta["well"].to_numpy()
    train_wells = sorted(set(wells[setup.fold.train]))
    held_out = sorted(set(wells[setup.fold.test]))
    for k, cell in enumerate(cells[:4]):
        sorted_x = np.sort(x[k].numpy().reshape(len(x[k]), -1), axis=1)
        gap = lambda w: np.abs(np.sort(render_counterfactual(setup.dataset, [cell], w)[0]  # noqa: E731
                                       .reshape(len(x[k]), -1), axis=1) - sorted_x).max()
        assert min(gap(w) for w in train_wells) < 1e-5
        assert min(gap(w) for w in held_out) > 1e-3


def test_needs_the_synthetic_ground_truth(setup):
    info = {k: v for k, v in setup.dataset.info.items() if k != "config"}
    real = dataclasses.replace(setup, dataset=dataclasses.replace(setup.dataset, info=info))
    with pytest.raises(ValueError, match="only synthetic-grid and synthetic-lincs"):
        get_method("oracle").fit(real, progress=False)
