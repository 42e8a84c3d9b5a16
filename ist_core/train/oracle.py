"""The oracle: a perfect style transfer, possible only where the truth is known.

On the synthetic benchmark every cell can be re-imaged in any well
(:mod:`ist_core.data.synthetic`). The oracle transfer does exactly that: called like
every transfer, ``transfer(content, style, style_oe)``, it returns each content cell
as it would have been imaged in the style image's well, its phenotype kept (the
``keep`` counterfactual). A predictor trained on it, with the same test-time
correction as IST, is the ceiling for any style transfer on a given dataset: what
IST would score if its generator were perfect. Not in the paper.

It needs cell identities, not pixels: it recognises an image of the dataset by its
exact pixels, and refuses anything else (an augmented or generated image). During
training it is therefore applied to the drawn cells before augmentation
(:meth:`OracleTransfer.training_batch`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from ..data.synthetic import clean_fluorescence, image_in_wells, require_counterfactuals
from .runtime import FoldImages, dihedral, to_tensor
from .setup import FoldSetup


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image, np.float32).tobytes(), digest_size=16).digest()


class OracleTransfer(nn.Module):
    """True counterfactuals of a fold's dataset, called as a transfer (see the module)."""

    def __init__(self, setup: FoldSetup):
        super().__init__()
        require_counterfactuals(setup.dataset)
        self.setup = setup
        self.wells = setup.dataset.meta["well"].to_numpy()
        self._index: dict[bytes, int] | None = None
        self._clean: dict[int, np.ndarray] = {}  # dataset index -> clean fluorescence

    def identify(self, images: torch.Tensor) -> np.ndarray:
        """Dataset indices of ``images`` (B, C, H, W), recognised by their exact pixels."""
        if self._index is None:
            self._index = {_digest(im): i for i, im in enumerate(np.asarray(self.setup.dataset.images))}
        found = [self._index.get(_digest(im)) for im in images.detach().float().cpu().numpy()]
        missing = [k for k, i in enumerate(found) if i is None]
        if missing:
            raise ValueError(
                f"the oracle knows only the dataset's own images; {len(missing)} of {len(found)} "
                "are not among them (augmented or generated?). Pass unmodified images of "
                f"{self.setup.dataset.name}")
        return np.array(found, dtype=np.int64)

    def render(self, indices: np.ndarray, wells: np.ndarray) -> torch.Tensor:
        """Cells ``indices`` imaged in ``wells``: (B, C, H, W) on the fold's device."""
        todo = [int(i) for i in dict.fromkeys(indices.tolist()) if int(i) not in self._clean]
        if todo:
            for i, clean in zip(todo, clean_fluorescence(self.setup.dataset, todo)):
                self._clean[i] = clean
        clean = np.stack([self._clean[int(i)] for i in indices])
        return to_tensor(image_in_wells(self.setup.dataset, clean, indices, wells), self.setup.device)

    @torch.no_grad()
    def forward(self, content: torch.Tensor, style: torch.Tensor,
                style_oe: torch.Tensor | None = None) -> torch.Tensor:
        """Each content cell re-imaged in the well of its style image (``style_oe`` ignored)."""
        if len(style) != len(content):
            raise ValueError(f"one style image per content image: {len(style)} for {len(content)}")
        target = self.wells[self.identify(style)]
        return self.render(self.identify(content), target).to(content.dtype)

    def training_batch(self, data: FoldImages, idx: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """A training batch for :func:`~ist_core.train.predictor.train_classifier`: the
        drawn training cells ``idx``, each re-imaged in the well of a training image drawn
        with OEs uniform (as IST's styles are), then augmented."""
        style = data.sample(len(idx), "oe", rng)
        train = self.setup.fold.train
        x = self.render(train[idx.numpy()], self.wells[train[style.numpy()]])
        return dihedral(x, rng)
