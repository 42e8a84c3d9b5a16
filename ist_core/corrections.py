"""How much of the perfect transfer's room is its test-time correction? (beyond the paper)

The ``oracle`` row (:class:`~ist_core.methods.Oracle`) does two things no real transfer
can both do: it trains on true counterfactuals, and at test time it re-images each test
cell in training wells starting from the cell's clean fluorescence, so whatever the
held-out OE's imaging destroyed (saturation, blur, noise) comes back. A transfer works on
pixels and cannot recover that. :func:`correction_scores` keeps a fold's trained
predictor fixed and swaps its test-time correction: none, the true re-rendering, and
transfers that work on pixels (histogram matching, per-channel moment matching, IST's
generator). The oracle predictor scored with a pixel transfer in place of the true
re-rendering is the part of the oracle's room that no transfer can take; scored with no
correction, it is what training on the interventional distribution alone gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .experiments import test_macro_f1
from .train.predictor import predict_proba


class MomentMatching(nn.Module):
    """Per-channel moment matching as a transfer, ``transfer(content, style, style_oe)``:
    each channel of the content image given the spatial mean and standard deviation of
    the style image's (the IST generator's starting point, without its network)."""

    @torch.no_grad()
    def forward(self, content: torch.Tensor, style: torch.Tensor,
                style_oe: torch.Tensor | None = None) -> torch.Tensor:
        mean, std = content.mean(dim=(2, 3), keepdim=True), content.std(dim=(2, 3), keepdim=True)
        return ((content - mean) / (std + 1e-5) * style.std(dim=(2, 3), keepdim=True)
                + style.mean(dim=(2, 3), keepdim=True))


def correction_scores(setup, predictor: nn.Module, corrections: dict) -> pd.DataFrame:
    """Test macro-F1 of ``predictor`` on ``setup``'s fold under each test-time correction
    (name -> a transfer, or None for the test images as they are), each re-rendering into
    random training images averaged over the fold's ``test_styles`` views as in every run.
    Tidy rows: correction, macro_f1."""
    images = setup.dataset.images[setup.fold.test]
    rows = []
    for name, transfer in corrections.items():
        probs = predict_proba(setup, predictor, images, transfer)
        rows.append({"correction": name, "macro_f1": test_macro_f1(setup, probs.argmax(1))})
    return pd.DataFrame(rows)


def correction_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd of :func:`correction_scores` rows gathered over folds (with ``level``
    and ``fold`` columns): levels as rows, corrections as columns, in stored order."""
    stats = scores.groupby(["level", "correction"], sort=False)["macro_f1"].agg(["mean", "std"])
    cells = stats.apply(lambda r: f"{r['mean']:.3f}" + ("" if np.isnan(r["std"]) else
                                                       f" ± {r['std']:.3f}"), axis=1)
    table = cells.unstack("correction")
    return table[list(dict.fromkeys(scores["correction"]))]
