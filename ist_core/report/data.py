"""Figures and tables of the data chapter: cells, channels, designs (Fig. 3) and
counterfactuals, built from a dataset (or stored results), never from state left in a
notebook.

Every plotting function returns a :class:`matplotlib.figure.Figure` that is already
closed in pyplot: a notebook shows it once, as the value of the cell, and a script can
``fig.savefig(...)`` it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.store import OE_LEVELS, Dataset
from .plotting import DPI, channel_colours, figure, natural_key, stretch, to_rgb

__all__ = [
    "ordered_oes",
    "plot_cell_grid",
    "plot_channels",
    "design_table",
    "plot_design_matrix",
    "plot_designs",
    "occupancy_table",
    "summarize",
    "plot_counterfactuals",
    "profile_table",
]



def _group_order(dataset: Dataset, by: str) -> list:
    """Groups of column ``by`` in display order: causes by code, OEs by series then name."""
    meta = dataset.meta
    if by not in meta.columns:
        choices = ["y_name", "y", dataset.unit, *dataset.oe_levels]
        raise ValueError(f"cannot group by {by!r}; choose one of {choices}")
    if by in ("y", "y_name"):
        return meta.sort_values("y")[by].drop_duplicates().tolist()
    if by in OE_LEVELS:
        return ordered_oes(dataset, by)
    return sorted(meta[by].unique(), key=natural_key)


def ordered_oes(dataset: Dataset, level: str) -> list[str]:
    """OE names at ``level`` ordered coarse to fine: by series, then plate, ... then name."""
    if level not in dataset.oe_levels:
        raise ValueError(
            f"{dataset.name} has no OE level {level!r}; choose one of {dataset.oe_levels}"
        )
    parents = list(dataset.oe_levels[: dataset.oe_levels.index(level) + 1])
    pairs = dataset.meta[parents].drop_duplicates(subset=[level])
    rows = sorted(pairs.itertuples(index=False), key=lambda r: [natural_key(v) for v in r])
    return [str(r[-1]) for r in rows]


def plot_cell_grid(
    dataset: Dataset,
    by: str = "y_name",
    n_per_group: int = 6,
    seed: int = 0,
    groups: Sequence | None = None,
    max_groups: int = 12,
    scale: str = "global",
    cell_size: float = 0.85,
):
    """A grid of example cells: one row per group of column ``by`` (a cause, an OE level,
    the biological unit), ``n_per_group`` random cells per row, the group name on the left.

    With ``scale="global"`` all cells in the grid share one intensity scale, so rows can
    be compared (see :func:`to_rgb`). At most ``max_groups`` rows unless ``groups`` names them.
    """
    order = _group_order(dataset, by)
    if groups is None:
        shown = order[:max_groups]
    else:
        unknown = [g for g in groups if g not in set(order)]
        if unknown:
            raise ValueError(f"no {by} named {unknown}; the dataset has {order}")
        shown = list(groups)
    rng = np.random.default_rng(seed)
    picks = []
    for g in shown:
        idx = np.flatnonzero(dataset.meta[by].to_numpy() == g)
        picks.append(np.sort(rng.choice(idx, size=min(n_per_group, len(idx)), replace=False)))
    flat = np.concatenate(picks)
    rgb = to_rgb(np.asarray(dataset.images[flat]), dataset.channels, scale=scale)
    fig, axes = figure(
        len(shown), n_per_group, (cell_size * n_per_group + 1.6, cell_size * len(shown) + 0.5)
    )
    k = 0
    for row, (g, idx) in enumerate(zip(shown, picks)):
        for col in range(n_per_group):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if col < len(idx):
                ax.imshow(rgb[k], interpolation="nearest")
                k += 1
        axes[row, 0].set_ylabel(str(g), rotation=0, ha="right", va="center", fontsize=10)
    title = f"Example cells by {'cause' if by in ('y', 'y_name') else by}"
    if len(shown) < len(order):
        title += f" ({len(shown)} of {len(order)} shown)"
    fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=1.5 / fig.get_figwidth(), right=0.99, bottom=0.01,
                        top=1 - 0.45 / fig.get_figheight(), wspace=0.04, hspace=0.04)
    return fig


def _readable(rgb) -> tuple:
    """A colour for text on white: pure green and grey darkened."""
    return tuple(float(v) * 0.75 for v in rgb)


def plot_channels(dataset: Dataset, index: int | None = None, seed: int = 0, scale: str = "image"):
    """One cell shown channel by channel (each in its composite colour) and as the composite."""
    if index is None:
        index = int(np.random.default_rng(seed).integers(len(dataset)))
    image = np.asarray(dataset.images[index])  # (C, H, W)
    n = len(dataset.channels)
    fig, axes = figure(1, n + 1, (min(2.0 * (n + 1), 8.4), 2.4))
    colours = channel_colours(dataset.channels)
    for c, name in enumerate(dataset.channels):
        # one channel alone in grey, easier to read than dark pure blue; its name in its colour
        grey = stretch(image[None, c : c + 1], scale)[0, 0]  # (H, W)
        axes[0, c].imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0, c].set_title(name, fontsize=10, color=_readable(colours[c]))
    axes[0, n].imshow(to_rgb(image, dataset.channels, scale=scale), interpolation="nearest")
    axes[0, n].set_title("composite", fontsize=10)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    row = dataset.meta.iloc[index]
    where = ", ".join(f"{lvl} {row[lvl]}" for lvl in dataset.oe_levels)
    fig.suptitle(f"cell {index}: {row['y_name']} ({where})", fontsize=10)
    fig.tight_layout()
    return fig


def design_table(dataset: Dataset, level: str = "plate") -> pd.DataFrame:
    """Cell counts, causes (rows, in code order) x OEs at ``level`` (columns, by series
    then plate ...): the data behind the paper's Fig. 3 B/C."""
    from ..data.design import cause_oe_matrix

    table = cause_oe_matrix(dataset.meta, level)
    return table.reindex(index=dataset.cause_names, columns=ordered_oes(dataset, level), fill_value=0)


def plot_design_matrix(dataset: Dataset, level: str = "plate", ax=None, held_out: Sequence[str] | None = None,
                       log: bool = False):
    """Heatmap of cell counts per cause x OE (paper Fig. 3 B/C). White: the cause was
    never observed in that OE. Columns are ordered by series, thin lines separate series.
    ``held_out`` (OE names at any level) outlines the columns a fold would hold out."""
    import matplotlib
    from matplotlib.colors import ListedColormap, LogNorm, Normalize
    from matplotlib.patches import Rectangle

    table = design_table(dataset, level)
    counts = table.to_numpy().astype(float)
    n_rows, n_cols = counts.shape
    if ax is None:
        width = min(3.0 + 0.25 * n_cols, 8.4)
        height = min(1.6 + 0.22 * n_rows, 9.0)
        fig, axes = figure(1, 1, (width, height), layout="constrained")
        ax = axes[0, 0]
    fig = ax.figure
    shown = np.ma.masked_equal(counts, 0)
    top_count = max(counts.max(), 2)
    norm = LogNorm(vmin=1, vmax=top_count) if log else Normalize(0, top_count)
    # the light end of Blues is cut off so that one cell still stands out from white (absent)
    cmap = ListedColormap(matplotlib.colormaps["Blues"](np.linspace(0.3, 1.0, 256))).with_extremes(bad="white")
    im = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm)
    bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label("cells", fontsize=8)
    bar.ax.tick_params(labelsize=7)

    series_of = _series_of(dataset, level, table.columns)
    starts = [0] + [j for j in range(1, n_cols) if series_of[j] != series_of[j - 1]]
    for j in starts[1:]:
        ax.axvline(j - 0.5, color="black", lw=1.2)
    if level != "series":
        ends = starts[1:] + [n_cols]
        top = ax.secondary_xaxis("top")
        top.set_xticks([(s + e - 1) / 2 for s, e in zip(starts, ends)])
        top.set_xticklabels([series_of[s] for s in starts], fontsize=8)
        top.tick_params(length=0)
    if held_out is not None:
        cols = _held_out_columns(dataset, level, held_out, table.columns)
        for j in cols:
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, n_rows, fill=False, edgecolor="red", lw=2))
    # too many causes or OEs to name: leave the axis unlabelled rather than illegible
    if n_rows <= 40:
        ax.set_yticks(range(n_rows))
        ax.set_yticklabels(table.index, fontsize=8 if n_rows <= 20 else 6)
    else:
        ax.set_yticks([])
    if n_cols <= 60:
        ax.set_xticks(range(n_cols))
        ax.set_xticklabels(table.columns, rotation=90 if n_cols > 6 else 0,
                           fontsize=8 if n_cols <= 30 else 6)
    else:
        ax.set_xticks([])
    ax.set_xlabel(level if n_cols <= 60 else f"{level} ({n_cols})", fontsize=9)
    ax.set_ylabel("cause" if n_rows <= 40 else f"cause ({n_rows})", fontsize=9)
    ax.set_title(f"{dataset.name}: causes x {level}", fontsize=10, pad=16 if level != "series" else 6)
    return fig


def _series_of(dataset: Dataset, level: str, oes) -> list[str]:
    if level == "series":
        return list(oes)
    first = dataset.meta.drop_duplicates(subset=[level]).set_index(level)["series"]
    return [str(first[oe]) for oe in oes]


def _held_out_columns(dataset: Dataset, level: str, held_out, oes) -> list[int]:
    held = set(map(str, held_out))
    mask = np.zeros(len(dataset.meta), bool)
    for lvl in dataset.oe_levels:
        mask |= dataset.meta[lvl].astype(str).isin(held).to_numpy()
    if not mask.any():
        raise ValueError(f"no OE named {sorted(held)} at levels {dataset.oe_levels}")
    chosen = set(dataset.meta.loc[mask, level])
    return [j for j, oe in enumerate(oes) if oe in chosen]


def plot_designs(datasets: Sequence[Dataset], levels: Sequence[str] = ("plate", "series")):
    """Fig. 3 B/C for several datasets: one row per dataset, one panel per OE level, panel
    widths following the number of OEs."""
    import matplotlib.pyplot as plt

    heights = [1.4 + 0.2 * min(ds.n_causes, 40) for ds in datasets]
    fig = plt.figure(figsize=(8.4, sum(heights)), dpi=DPI, layout="constrained")
    plt.close(fig)
    rows = fig.subfigures(len(datasets), 1, height_ratios=heights, squeeze=False)[:, 0]
    for sub, ds in zip(rows, datasets):
        widths = [min(max(ds.meta[level].nunique(), 3), 24) + 4 for level in levels]
        axes = sub.subplots(1, len(levels), width_ratios=widths, squeeze=False)[0]
        for ax, level in zip(axes, levels):
            plot_design_matrix(ds, level=level, ax=ax)
    return fig


def occupancy_table(dataset: Dataset) -> pd.DataFrame:
    """Per OE level: how many OEs, causes per OE, OEs per cause, and the share of the
    cause x OE matrix that holds any cell (1.0 = every cause seen in every OE)."""
    from ..data.design import cause_oe_matrix

    rows = []
    for level in dataset.oe_levels:
        present = cause_oe_matrix(dataset.meta, level).to_numpy() > 0
        rows.append({
            "level": level,
            "OEs": present.shape[1],
            "causes per OE": present.sum(0).mean(),
            "OEs per cause": present.sum(1).mean(),
            "filled share": present.mean(),
        })
    return pd.DataFrame(rows).set_index("level").round(2)


def summarize(dataset: Dataset) -> pd.DataFrame:
    """One-column overview of a dataset: size, image shape, channels, causes, OEs per level."""
    from ..data.design import describe

    d = describe(dataset)
    info = {
        "dataset": d["name"],
        "images": d["images"],
        "image size": "{} x {} px".format(*d["image_size"]),
        "channels": ", ".join(d["channels"]),
        "causes": d["causes"],
        d["unit"].replace("_", " ") + "s": d["units"],
    }
    for level, count in d["oes_per_level"].items():
        info[f"{level}s" if level != "series" else "series"] = count
    return pd.DataFrame({"value": [str(v) for v in info.values()]}, index=list(info))


COUNTERFACTUAL_ROWS = {
    "keep": "same phenotype,\nnew imaging",
    "shift": "phenotype shifted\ntoo: do(C)",
}


def plot_counterfactuals(
    dataset: Dataset,
    index: int | None = None,
    level: str = "plate",
    n_targets: int = 7,
    seed: int = 0,
    scale: str = "global",
    phenotype: str = "keep",
):
    """One cell as observed, then the same cell rendered in other OEs at ``level``: the
    true counterfactuals that only the synthetic benchmark can provide.

    ``phenotype`` is ``"keep"`` (the cell's phenotype as observed, only the target OE's
    imaging: what a style transfer should produce), ``"shift"`` (the target OE's shift of
    the phenotype too: the full do(C)) or ``"both"`` (one labelled row each, same targets).
    See :func:`ist_core.data.synthetic.render_counterfactual`.
    """
    from ..data.synthetic import PHENOTYPES, render_counterfactual

    modes = list(PHENOTYPES) if phenotype == "both" else [phenotype]
    if any(m not in PHENOTYPES for m in modes):
        raise ValueError(f"unknown phenotype {phenotype!r}; choose one of {[*PHENOTYPES, 'both']}")
    rng = np.random.default_rng(seed)
    if index is None:
        index = int(rng.integers(len(dataset)))
    own = str(dataset.meta[level].iloc[index])
    others = [oe for oe in ordered_oes(dataset, level) if oe != own]
    targets = [others[i] for i in sorted(rng.choice(len(others), min(n_targets, len(others)), replace=False))]
    observed = np.asarray(dataset.images[index])
    stack = []
    for mode in modes:
        stack += [observed] + [np.asarray(render_counterfactual(dataset, [index], oe, phenotype=mode,
                                                                 seed=seed))[0] for oe in targets]
    rgb = to_rgb(np.stack(stack), dataset.channels, scale=scale)  # one scale for every panel
    n_cols = len(targets) + 1
    label_width = 1.3 if len(modes) > 1 else 0.0
    fig, axes = figure(len(modes), n_cols, (min(1.2 * n_cols + label_width, 8.4),
                                              0.4 + 1.6 * len(modes)))
    for row, mode in enumerate(modes):
        for j, oe in enumerate([own, *targets]):
            ax = axes[row, j]
            ax.imshow(rgb[row * n_cols + j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(("observed\n" if j == 0 else "rendered in\n") + oe, fontsize=8)
            if j == 0:
                for side in ax.spines.values():
                    side.set_edgecolor("red")
                    side.set_linewidth(2)
        if len(modes) > 1:
            axes[row, 0].set_ylabel(COUNTERFACTUAL_ROWS[mode], rotation=0, ha="right",
                                    va="center", fontsize=8)
    what = {"keep": "its phenotype kept", "shift": "its phenotype shifted by each OE"}
    subtitle = "" if len(modes) > 1 else f", {what[modes[0]]}"
    fig.suptitle(f"cell {index} ({dataset.meta['y_name'].iloc[index]}) in other {level}s{subtitle}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def profile_table() -> pd.DataFrame:
    """Size of the synthetic datasets under each profile, from the generator's configs
    (nothing is rendered)."""
    from ..data import synthetic

    rows = []
    for name, design in synthetic.DESIGN_OF.items():
        for size in synthetic.SIZES[design]:
            cfg = synthetic.config_for(name, size)
            cells, _ = synthetic.cell_table(cfg)
            rows.append({
                "profile": size,
                "dataset": name,
                "images": len(cells),
                "image size": f"{cfg.image_size} px",
                "causes": cells["y"].nunique(),
                "series": cells["series"].nunique(),
                "plates": cells["plate"].nunique(),
            })
    order = {p: i for i, p in enumerate(("tiny", "quick", "paper"))}
    table = pd.DataFrame(rows).sort_values("profile", key=lambda s: s.map(order), kind="stable")
    return table.set_index(["profile", "dataset"])
