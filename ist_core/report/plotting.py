"""Plotting helpers every chapter's figures share: colour composites of multichannel
cells, closed figures at the book's resolution, natural ordering of OE names, UMAP and
grouped scatter plots.

Colour convention of the composites (:func:`to_rgb`): nucleus blue, mitochondria
green, actin / cytoskeleton red, membrane a dim grey on top, any other channel from
a fixed fallback palette.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CHANNEL_COLOURS", "DPI", "FALLBACK_COLOURS", "SCALINGS", "channel_colours", "to_rgb",
    "stretch", "natural_key", "figure", "umap_model", "scatter_groups",
]

# Channel name (lower case) -> RGB weight of that channel in a composite.
CHANNEL_COLOURS: dict[str, tuple[float, float, float]] = {
    "nucleus": (0.0, 0.0, 1.0),
    "dna": (0.0, 0.0, 1.0),
    "mitochondria": (0.0, 1.0, 0.0),
    "mito": (0.0, 1.0, 0.0),
    "actin": (1.0, 0.0, 0.0),
    "cytoskeleton": (1.0, 0.0, 0.0),
    "agp": (1.0, 0.0, 0.0),
    "membrane": (0.35, 0.35, 0.35),
}
# Figures are drawn at this resolution and sized to fit the book's text column
# (about 8 inches), so they appear at their natural size, labels readable.
DPI = 100
# For channels with other names, in order of appearance.
FALLBACK_COLOURS = [(1.0, 1.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (0.5, 0.5, 0.5)]
SCALINGS = ("global", "image", "none")


def channel_colours(channels: Sequence[str]) -> np.ndarray:
    """RGB weight of each channel, ``(C, 3)``, following :data:`CHANNEL_COLOURS`."""
    out, spare = [], iter(FALLBACK_COLOURS * len(channels))
    for name in channels:
        out.append(CHANNEL_COLOURS.get(str(name).lower()) or next(spare))
    return np.asarray(out, dtype=np.float32)


def to_rgb(
    images: np.ndarray,
    channels: Sequence[str],
    scale: str = "global",
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> np.ndarray:
    """Composite multichannel images ``(N, C, H, W)`` (or one ``(C, H, W)``) into RGB
    ``(N, H, W, 3)`` (or ``(H, W, 3)``) in [0, 1].

    ``scale`` sets how each channel is stretched before colouring: ``"global"`` maps the
    given percentiles of that channel over *all* images passed to 0 and 1, so brightness
    differences between images (e.g. between plates) stay visible; ``"image"`` does so
    per image, which shows shape best but hides intensity batch effects; ``"none"`` uses
    the stored values, already in [0, 1].
    """
    x = np.asarray(images, dtype=np.float32)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.shape[1] != len(channels):
        raise ValueError(f"{x.shape[1]} channels in the images but {len(channels)} names given")
    x = stretch(x, scale, percentiles)
    rgb = np.clip(np.einsum("nchw,ck->nhwk", x, channel_colours(channels)), 0.0, 1.0)
    return rgb[0] if single else rgb


def stretch(x: np.ndarray, scale: str = "global", percentiles=(0.5, 99.5)) -> np.ndarray:
    """Map each channel of ``x`` ``(N, C, H, W)`` to [0, 1] as described in :func:`to_rgb`."""
    if scale not in SCALINGS:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALINGS}")
    x = np.asarray(x, dtype=np.float32)
    if scale == "none":
        return np.clip(x, 0.0, 1.0)
    axes = (0, 2, 3) if scale == "global" else (2, 3)
    lo = np.percentile(x, percentiles[0], axis=axes, keepdims=True)
    hi = np.percentile(x, percentiles[1], axis=axes, keepdims=True)
    return np.clip((x - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)


def natural_key(name) -> list:
    """Sort key that orders ``plate2`` before ``plate10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def figure(nrows: int, ncols: int, figsize, **kw):
    """A closed figure and its (nrows, ncols) axes at :data:`DPI`: a notebook shows it once,
    as the value of the cell."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, dpi=DPI, **kw)
    plt.close(fig)  # shown once, as the cell's value, not again by the inline backend
    return fig, axes


def umap_model(**kw):
    """umap-learn's UMAP, imported here (it takes seconds) without the warning its tqdm
    import prints in notebooks that lack ipywidgets.

    numba's default OpenMP threads keep spinning after a UMAP fit and slow every later
    PyTorch step in the same process five- to forty-fold on two cores; its workqueue
    layer does not (set before numba starts its threads).
    """
    import warnings

    import numba

    numba.config.THREADING_LAYER = "workqueue"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import umap
    return umap.UMAP(n_neighbors=15, min_dist=0.3, n_jobs=1, **kw)


def scatter_groups(ax, xy: np.ndarray, labels, title: str, size: float = 4,
                   legend: bool = True) -> None:
    """Points ``xy`` (N, 2) coloured by ``labels`` (one colour per label, in natural
    order), without ticks; a legend when asked and there are at most 12 labels."""
    values = np.asarray(labels).astype(str)
    names = sorted(set(values), key=natural_key)
    for i, name in enumerate(names):
        pick = values == name
        ax.scatter(xy[pick, 0], xy[pick, 1], s=size, color=f"C{i % 10}", label=name,
                   linewidths=0, alpha=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend and len(names) <= 12:
        ax.legend(fontsize=6, markerscale=2.5, frameon=False, loc="best")
