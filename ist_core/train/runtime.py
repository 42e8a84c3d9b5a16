"""Device, precision, seeds and the training images of a fold, handled in one place.

- :func:`pick_device`: CUDA when there is one, else the CPU (``IST_DEVICE`` overrides).
- :func:`autocast`: bf16 autocast on CUDA, nothing on the CPU unless asked for (the
  CPU path of bf16 exists so that it can be tested without a GPU).
- :func:`generator`: a torch generator keyed on names (:mod:`ist_core.seeding`, the
  package's one seed scheme), so changing how batches are drawn never changes the
  initial weights, and a run resumed at step k draws exactly the batches an
  uninterrupted run would.
- :class:`FoldImages`: a fold's training images as one tensor on the device (on a GPU
  when they fit, so no image crosses from the host per step), with the samplers the
  paper asks for: balanced over causes, balanced over OEs.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from ..seeding import keyed_seed

# share of the free GPU memory the images of a fold may take before they stay on the host
GPU_DATA_SHARE = 0.4


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``$IST_DEVICE``, else CUDA when available, else the CPU."""
    name = device or os.environ.get("IST_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r}: {err}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch finds no CUDA GPU; use cpu")
    return device


def use_amp(device: torch.device, amp: bool | None) -> bool:
    """bf16 autocast: on by default on CUDA, off by default on the CPU."""
    return device.type == "cuda" if amp is None else bool(amp)


def autocast(device: torch.device, amp: bool):
    """The one mixed-precision context every forward pass runs in."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def generator(*key) -> torch.Generator:
    """A CPU torch generator seeded by :func:`~ist_core.seeding.keyed_seed`."""
    return torch.Generator().manual_seed(keyed_seed(*key))


def to_tensor(images, device: torch.device) -> torch.Tensor:
    """(N, C, H, W) images as float32 on ``device`` (uint8/16 scaled to [0, 1])."""
    array = np.asarray(images)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32)).to(device)


class FoldImages:
    """Training images with their cause and OE codes, and balanced samplers.

    ``oe_codes`` index ``oe_names`` (the training OEs at the chosen level). The images
    live on ``device`` when they fit in a share of the free GPU memory, else on the
    host, and each batch is copied over.
    """

    def __init__(self, images, y, oe_codes, oe_names, device: torch.device):
        self.device = device
        nbytes = np.asarray(images).shape[0] * np.prod(np.asarray(images).shape[1:]) * 4
        on_device = device.type != "cuda" or nbytes < GPU_DATA_SHARE * torch.cuda.mem_get_info(device)[0]
        self.images = to_tensor(images, device if on_device else torch.device("cpu"))
        if not on_device:
            self.images = self.images.pin_memory()
        self.y = torch.tensor(np.array(y), dtype=torch.long)  # a copy: metadata may be read-only
        self.oe = torch.tensor(np.array(oe_codes), dtype=torch.long)
        self.oe_names = list(oe_names)
        self._groups = {"y": _groups(self.y), "oe": _groups(self.oe)}

    def __len__(self) -> int:
        return len(self.y)

    def sample(self, n: int, by: str | None, gen: torch.Generator) -> torch.Tensor:
        """``n`` indices (CPU, long): uniform over images (``by=None``), or with the cause
        (``by="y"``) or the OE (``by="oe"``) drawn uniformly first."""
        if by is None:
            return torch.randint(len(self), (n,), generator=gen)
        order, starts, counts = self._groups[by]
        group = torch.randint(len(counts), (n,), generator=gen)
        offset = (torch.rand(n, generator=gen) * counts[group]).long()
        return order[starts[group] + offset]

    def sample_in(self, codes: torch.Tensor, by: str, gen: torch.Generator) -> torch.Tensor:
        """One random image index per entry of ``codes``, drawn among the images with that
        cause (``by="y"``) or OE (``by="oe"``) code."""
        order, starts, counts = self._groups[by]
        present = torch.unique(self.y if by == "y" else self.oe)
        slot = torch.searchsorted(present, codes.cpu())
        offset = (torch.rand(len(codes), generator=gen) * counts[slot]).long()
        return order[starts[slot] + offset]

    def batch(self, idx: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """The images at ``idx`` on the device, randomly flipped and rotated by 90 degrees
        when ``gen`` is given (the same augmentation for every predictor and for IST)."""
        x = self.images[idx.to(self.images.device)].to(self.device, non_blocking=True)
        return x if gen is None else dihedral(x, gen)

    def labels(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cause, OE) codes of ``idx`` on the device."""
        return self.y[idx].to(self.device), self.oe[idx].to(self.device)


def _groups(codes: torch.Tensor):
    """Indices sorted by code, where each code starts, and how many each has (present codes only)."""
    order = torch.argsort(codes, stable=True)
    _, counts = torch.unique_consecutive(codes[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return order, starts, counts.float()


def dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each square image of (B, C, H, W) flipped and transposed at random (8 symmetries)."""
    flips = torch.rand(3, x.shape[0], generator=gen).lt(0.5).to(x.device)[:, :, None, None, None]
    x = torch.where(flips[0], x.flip(-1), x)
    x = torch.where(flips[1], x.flip(-2), x)
    return torch.where(flips[2], x.transpose(-1, -2), x)


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode, no gradients for its weights (gradients still flow through it)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
