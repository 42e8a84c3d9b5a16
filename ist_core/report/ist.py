"""Figures and tables of the IST chapter: training curves, Fig. 4B/C, fidelity, OOD scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..fidelity import AGREEMENT_TARGET, JUDGED, LANDING_TARGET
from ..methods import METHODS, method_for
from .plotting import figure, scatter_groups, to_rgb, umap_model
from .tables import and_list

__all__ = [
    "network_table", "plot_losses", "plot_oe_umap", "plot_transfer_strip", "plot_fidelity_pairs",
    "BOUND_ROLES", "bound_rows", "ood_table", "plot_ood", "difference_table", "interval_text",
    "describe_bounds", "describe_targets", "describe_agreement", "describe_landing",
    "plot_feature_umap",
    "shortcut_table", "describe_ablation",
]

LEVEL_LABELS = {"iid": "IID", "1": "level 1\n(section out)", "2": "level 2\n(plate out)",
                "3": "level 3\n(series out)"}


def network_table(networks: dict) -> pd.DataFrame:
    """Trainable size of each network (name -> module)."""
    rows = [{"network": name, "parameters": sum(p.numel() for p in module.parameters())}
            for name, module in networks.items()]
    return pd.DataFrame(rows).set_index("network")


def plot_losses(run_folder, title: str = "", smooth: int = 3):
    """Each loss term of a run's ``losses.csv`` against the step, one panel per term."""
    log = pd.read_csv(Path(run_folder) / "losses.csv")
    terms = [c for c in log.columns if c not in ("step", "seconds", "total")]
    cols = min(3, len(terms))
    rows = -(-len(terms) // cols)
    fig, axes = figure(rows, cols, (8, 2.2 * rows))
    for ax, term in zip(axes.flat, terms):
        ax.plot(log["step"], log[term], color="0.75", lw=1)
        ax.plot(log["step"], log[term].rolling(smooth, min_periods=1).mean(), color="C0", lw=1.5)
        ax.set_title(term, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(terms):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_oe_umap(feats: dict, oes: dict, seed: int = 0, n_targets: int = 3):
    """Fig. 4B: a UMAP of the frozen encoder's features of real training images, coloured
    by OE, with re-rendered images placed by the same map. Left: the inputs, at their
    own OE; right: the outputs, coloured by the OE they were rendered into. Only the
    outputs aimed at ``n_targets`` OEs are drawn, so that each can be followed."""
    reducer = umap_model(random_state=seed)
    real = reducer.fit_transform(feats["real"])
    names = sorted(set(oes["real"]), key=str)
    colours = {n: f"C{i % 10}" for i, n in enumerate(names)}
    targets = pd.Series(oes["target"]).value_counts().index[:n_targets].tolist()
    chosen = np.isin(oes["target"], targets)
    inputs = reducer.transform(feats["input"][chosen])
    outputs = reducer.transform(feats["output"][chosen])
    fig, axes = figure(1, 2, (8, 4), sharex=True, sharey=True)
    axes = axes[0]
    for ax, pts, labels, title in ((axes[0], inputs, oes["input"][chosen], "inputs, at their own OE"),
                                   (axes[1], outputs, oes["target"][chosen],
                                    "outputs, coloured by target OE")):
        ax.scatter(real[:, 0], real[:, 1], s=3, c=[colours[o] for o in oes["real"]], alpha=0.25,
                   linewidths=0)
        ax.scatter(pts[:, 0], pts[:, 1], s=28, c=[colours[o] for o in labels], edgecolors="k",
                   linewidths=0.6, marker="o" if ax is axes[0] else "*")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [axes[1].scatter([], [], c=colours[t], s=30, marker="*", edgecolors="k",
                               label=f"target {t}") for t in targets]
    axes[1].legend(handles=handles, fontsize=7, loc="best", frameon=True)
    fig.tight_layout()
    return fig


def plot_transfer_strip(dataset, content: int, styles: list[int], truth: np.ndarray,
                        outputs: dict[str, np.ndarray]):
    """Fig. 4C: one cell (left) re-rendered into several OEs (columns, named by the style
    image's well): the style image, the true counterfactual, and each method's output."""
    x = np.asarray(dataset.images[[content]], np.float32)
    style_images = np.asarray(dataset.images[styles], np.float32)
    rows = {"style image": style_images, "true counterfactual": truth, **outputs}
    every = np.concatenate([x, *rows.values()])
    rgb = to_rgb(np.clip(every, 0, 1), dataset.channels, scale="global")
    ncols = len(styles) + 1
    fig, axes = figure(len(rows), ncols, (1.3 * ncols + 0.8, 1.35 * len(rows) + 0.3))
    wells = dataset.meta["well"].to_numpy()
    start = 1
    for r, (label, _) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
                if r == 0:
                    ax.imshow(rgb[0])
                    ax.set_title(f"input\n{wells[content]}", fontsize=7)
                else:
                    ax.axis("off")
                    ax.text(1.0, 0.5, label, fontsize=8, ha="right", va="center",
                            transform=ax.transAxes)
                continue
            ax.imshow(rgb[start + r * len(styles) + c - 1])
            if r == 0:
                ax.set_title(wells[styles[c - 1]], fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def plot_fidelity_pairs(dataset, pairs: dict, n: int = 6):
    """A few pairs side by side: content, style, truth (keep) and every method's output."""
    columns = {"content": pairs["x"], "style": pairs["style_images"], "truth (keep)": pairs["keep"],
               **pairs["outputs"]}
    columns.pop("input", None)
    n = min(n, len(pairs["x"]))
    names = list(columns)
    every = np.concatenate([np.clip(columns[k][:n], 0, 1) for k in names])
    rgb = to_rgb(every, dataset.channels, scale="global")
    fig, axes = figure(n, len(names), (1.25 * len(names), 1.25 * n + 0.3))
    for c, name in enumerate(names):
        for r in range(n):
            ax = axes[r, c]
            ax.imshow(rgb[c * n + r])
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(name, fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


# The rows that place a transfer between its bounds, in the order they are shown.
BOUND_ROLES = ("naive", "cheapest transfer", "proposed", "perfect transfer")


def bound_rows(scores: pd.DataFrame, levels=None) -> tuple[pd.DataFrame, list[str]]:
    """The macro-F1 rows of the methods that hold the :data:`BOUND_ROLES` (at ``levels``
    where given), and those methods' names in the order they are shown."""
    methods = [method_for(role) for role in BOUND_ROLES]
    keep = (scores["metric"] == "macro_f1") & scores["method"].isin(methods)
    if levels is not None:
        keep &= scores["level"].astype(str).isin([str(lv) for lv in levels])
    return scores[keep], methods


def ood_table(scores: pd.DataFrame, order=None) -> pd.DataFrame:
    """Macro-F1 per level (rows) and method (columns, in ``order`` where given, else in
    order of appearance) as 'mean ± sd' strings."""
    levels = [lvl for lvl in LEVEL_LABELS if lvl in set(scores["level"].astype(str))]
    grouped = scores.assign(level=scores["level"].astype(str)).groupby(["level", "method"])["value"]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()

    def cell(row):
        sd = "" if row["count"] < 2 else f" ± {row['std']:.3f}"
        return f"{row['mean']:.3f}{sd}"

    stats["macro-F1"] = stats.apply(cell, axis=1)
    table = stats.pivot(index="level", columns="method", values="macro-F1").reindex(levels)
    table.index = [LEVEL_LABELS[lvl].replace("\n", " ") for lvl in table.index]
    return table[_columns(scores["method"], order)]


def _columns(methods, order) -> list:
    present = list(dict.fromkeys(methods))
    return [m for m in order if m in present] + [m for m in present if m not in order] \
        if order is not None else present


def plot_ood(scores: pd.DataFrame, chance: float | None = None):
    """Grouped bars: mean macro-F1 per level, one bar per method (labelled by its display
    name where it is a registered method), seeds and folds as dots."""
    scores = scores.assign(level=scores["level"].astype(str))
    levels = [lvl for lvl in LEVEL_LABELS if lvl in set(scores["level"])]
    methods = list(dict.fromkeys(scores["method"]))
    width = 0.8 / len(methods)
    fig, axes = figure(1, 1, (7, 3))
    ax = axes[0, 0]
    for m, method in enumerate(methods):
        name = METHODS[method].label if method in METHODS else method
        for i, level in enumerate(levels):
            vals = scores[(scores["level"] == level) & (scores["method"] == method)]["value"]
            x = i + (m - (len(methods) - 1) / 2) * width
            ax.bar(x, vals.mean(), width * 0.9, color=f"C{m}", label=name if i == 0 else None)
            ax.scatter(np.full(len(vals), x), vals, s=10, color="k", zorder=3)
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(levels)), [LEVEL_LABELS[lvl] for lvl in levels], fontsize=8)
    ax.set_ylabel("macro-F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))  # clear of the bars
    fig.tight_layout()
    return fig


def interval_text(row) -> str:
    """One row of :func:`~ist_core.stats.paired_differences` as 'difference [low, high]',
    or 'difference (n=pairs)' where there is no interval."""
    if np.isnan(row["low"]):
        return f"{row['difference']:+.3f} (n={row['pairs']})"
    return f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"


def difference_table(differences: pd.DataFrame, order=None) -> pd.DataFrame:
    """:func:`~ist_core.stats.paired_differences` as a level x method table of
    'difference [low, high]' strings, a star on each interval that excludes 0; methods in
    ``order`` where given."""
    order_levels = [lvl for lvl in LEVEL_LABELS if lvl in set(differences["level"].astype(str))]

    def cell(row):
        star = " *" if row["resolved"] else ""
        return interval_text(row) + star

    table = (differences.assign(level=differences["level"].astype(str), cell=differences.apply(cell, axis=1))
             .pivot(index="level", columns="method", values="cell").reindex(order_levels))
    table.index = [LEVEL_LABELS[lvl].replace("\n", " ") for lvl in table.index]
    return table[_columns(differences["method"], order)]


def _label(method: str) -> str:
    """A method's display name without the mark of rows that are not in the paper."""
    return METHODS[method].label.rstrip("*") if method in METHODS else method


def describe_bounds(scores: pd.DataFrame, differences: pd.DataFrame,
                    method: str | None = None) -> str:
    """A few sentences on ``method`` (by default the proposed one) between its bounds: its
    paired change against the naive row out of distribution, next to the cheapest and the
    perfect transfer's, and which of them the intervals resolve (``scores`` tidy macro-F1,
    ``differences`` :func:`~ist_core.stats.paired_differences` against the naive row)."""
    method = method or method_for("proposed")
    cheap, perfect = method_for("cheapest transfer"), method_for("perfect transfer")
    ood = differences[differences["level"].astype(str) != "iid"]
    scored = set(ood.loc[ood["method"] == method, "level"].astype(str))
    if scored:  # every row on the levels where ``method`` was scored, or the means differ in kind
        ood = ood[ood["level"].astype(str).isin(scored)]
    mean = ood.groupby("method")["difference"].mean()
    over = ", ".join(LEVEL_LABELS[lv].split("\n")[0] for lv in sorted(scored))

    def resolved(m):
        rows = ood[(ood["method"] == m) & ood["resolved"]]
        name = {lv: LEVEL_LABELS[str(lv)].split("\n")[0] for lv in rows["level"]}
        up = [name[lv] for lv, d in zip(rows["level"], rows["difference"]) if d > 0]
        down = [name[lv] for lv, d in zip(rows["level"], rows["difference"]) if d < 0]
        parts = [f"{side} naive at {', '.join(lvs)}" for side, lvs in (("above", up), ("below", down))
                 if lvs]
        return "; ".join(parts) if parts else "no level resolved from naive"

    label = _label(method)
    text = [f"Out of distribution, paired on fold and seed, {label} "
            f"changes macro-F1 by {mean.get(method, np.nan):+.3f} on average over "
            f"{over or 'the levels'} ({resolved(method)})."]
    for other, what in ((cheap, f"{_label(cheap)}, the cheapest transfer,"),
                        (perfect, f"A perfect transfer ({_label(perfect).lower()})")):
        if other in mean:
            text.append(f"{what} changes it by {mean[other]:+.3f} ({resolved(other)}).")
    if perfect in mean and mean[perfect] > 0:
        text.append(f"So {label} takes "
                    f"{mean.get(method, np.nan) / mean[perfect]:.0%} of the room a perfect transfer shows.")
    on_iid = differences[differences["level"].astype(str) == "iid"].set_index("method")["difference"]
    if method in on_iid:
        text.append(f"On the IID split its change is {on_iid[method]:+.3f}.")
        if perfect in on_iid and on_iid[perfect] < 0:
            text.append(f"A perfect transfer's is {on_iid[perfect]:+.3f}: in distribution the "
                        "imaging still tells the cause apart, and a predictor that no longer "
                        "reads it gives that up, so this much of an IID cost is the price of "
                        "the intervention itself, not of an imperfect transfer.")
    n = scores.groupby(["level"])[["fold", "seed"]].apply(lambda d: len(d.drop_duplicates())).max()
    text.append(f"Intervals are 95% bootstrap intervals over up to {n} (fold, seed) pairs per level; "
                "a star marks those that exclude zero.")
    return " ".join(text)


def describe_agreement(scores: pd.DataFrame) -> str:
    """A sentence on the cause agreement in fidelity scores (:func:`~ist_core.fidelity.fold_fidelity`
    rows): IST's next to histogram matching's, which keeps every cell's shape, so that
    where both are low the judge (the frozen encoder) is seen to read the imaging too."""
    mean = scores[scores["metric"] == "cause agreement"].groupby("method")["value"].mean()
    ist, hist = mean.get("IST", np.nan), mean.get("histogram matching", np.nan)
    text = (f"The frozen encoder gives {ist:.0%} of IST's outputs the cause it gives their "
            f"input, and {hist:.0%} of histogram matching's.")
    if hist < AGREEMENT_TARGET:
        text += (" Histogram matching keeps every cell's shape and changes only its "
                 "intensities, yet the encoder changes its cause for "
                 f"{1 - hist:.0%} of them: trained on the confounded training images, it "
                 "reads the cause from intensities that carry the imaging as well as the "
                 "biology, so a low agreement here says as much about the judge as about "
                 "the transfer.")
    judged = scores[scores["metric"] == JUDGED].groupby("method")["value"].mean()
    if not judged.empty:
        text += (" The fold's oracle predictor, trained on true counterfactuals in every "
                 "training plate and so a reader of biology, finds the input's cause in "
                 f"{judged.get('IST', np.nan):.0%} of IST's outputs, "
                 f"{judged.get('histogram matching', np.nan):.0%} of histogram matching's "
                 f"and {judged.get('truth', np.nan):.0%} of the true counterfactuals, which "
                 "is what a perfect transfer scores. An output that changes less than the "
                 "truth can score more (the untouched input scores 100%), so this number "
                 "counts only beside the landing rate; the target "
                 f"({AGREEMENT_TARGET:.0%}) is judged by it.")
    return text


def describe_landing(scores: pd.DataFrame) -> str:
    """A sentence on the landing rate in fidelity scores (:func:`~ist_core.fidelity.fold_fidelity`
    rows, means over their folds): IST's outputs next to the untouched inputs and chance,
    and, where scored, the true counterfactuals, which show how much of the target
    (:data:`~ist_core.fidelity.LANDING_TARGET`) the landing test can grant at all."""
    mean = scores[scores["metric"] == "landing rate"].groupby("method")["value"].mean()
    folds = scores[scores["metric"] == "landing rate"][["level", "fold"]].drop_duplicates()
    text = (f"Averaged over {len(folds)} fold{'s' * (len(folds) != 1)}, the landing test "
            f"places {mean.get('IST', np.nan):.0%} of IST's outputs on their target plate, "
            f"{mean.get('input', np.nan):.0%} of the untouched inputs and "
            f"{mean.get('chance', np.nan):.0%} by chance.")
    if "truth" in mean:
        truth, ist = mean["truth"], mean.get("IST", np.nan)
        text += (f" The true counterfactuals land there {truth:.0%} of the time: what a "
                 f"perfect transfer scores, so IST reaches {ist / truth:.0%} of it")
        text += (f", and the {LANDING_TARGET:.0%} target is out of any transfer's reach on "
                 "this design: the frozen encoder cannot tell its plates apart well enough."
                 if truth < LANDING_TARGET else ".")
    return text


def describe_targets(targets: pd.DataFrame) -> str:
    """One or two sentences from :func:`~ist_core.calibration.bound_targets`: how many
    targets hold, and each missed one with its level, measured value and bound."""
    if targets.empty:
        return "No target could be checked: the stored results lack a level or a row."
    met = targets["met"]
    text = f"IST meets {int(met.sum())} of the {len(targets)} targets."
    missed = targets[~met]
    if len(missed):
        where = {lv: LEVEL_LABELS[str(lv)].split("\n")[0] for lv in missed["level"]}
        text += " It misses " + "; ".join(
            f"{where[r.level]}, {r.target}: {r.measured:+.3f} (bound {r.bound})"
            for r in missed.itertuples()) + "."
    return text


def plot_feature_umap(features: np.ndarray, meta: pd.DataFrame, by=("y_name", "plate"),
                      titles=("coloured by cause", "coloured by plate"), seed: int = 0):
    """One UMAP of ``features`` (N, D), drawn once per column of ``meta`` in ``by``."""
    xy = umap_model(random_state=seed).fit_transform(features)
    fig, axes = figure(1, len(by), (4 * len(by), 4))
    for ax, column, title in zip(axes[0], by, titles):
        scatter_groups(ax, xy, meta[column], title)
    fig.tight_layout()
    return fig


def shortcut_table(results: dict) -> pd.DataFrame:
    """Plate accuracy within each cause (check (a) of the data chapter) for several feature
    sets: name -> the records of :func:`ist_core.diagnostics.plate_within_cause`."""
    rows = []
    for name, records in results.items():
        frame = pd.DataFrame(records)
        rows.append({"features": name, "causes tested": len(frame),
                     "plate accuracy within cause": frame["accuracy"].mean(),
                     "chance": frame["chance"].mean()})
    return pd.DataFrame(rows).set_index("features").round(3)


def describe_ablation(wide: pd.DataFrame, tolerance_db: float = 0.2) -> str:
    """A few sentences on :func:`~ist_core.fidelity.ablation_table`: which loss terms'
    removal costs PSNR to the true counterfactual (by more than ``tolerance_db``), which
    removal gains it, and how the landing rate and cause agreement move."""
    full = wide.loc["full"]
    others = wide.drop(index="full")
    delta = others["PSNR"] - full["PSNR"]
    name = {v: v.removeprefix("without ") for v in others.index}
    worse = [f"{name[v]} ({delta[v]:+.2f} dB)" for v in delta.sort_values().index if delta[v] < -tolerance_db]
    better = [f"{name[v]} ({delta[v]:+.2f} dB)" for v in delta.sort_values(ascending=False).index
              if delta[v] > tolerance_db]
    text = [f"With the full objective IST's outputs have a PSNR of {full['PSNR']:.2f} dB to the "
            "true counterfactual."]
    text.append("Dropping " + and_list(worse) + " lowers it: those terms help fidelity."
                if worse else f"No single term's removal lowers it by more than {tolerance_db} dB.")
    if better:
        text.append("Dropping " + and_list(better) + " raises it: at this budget they pull "
                    "outputs away from the truth.")
    if "landing rate" in wide:
        land = others["landing rate"] - full["landing rate"]
        low, high = land.idxmin(), land.idxmax()
        text.append(f"The landing rate is {full['landing rate']:.0%} with every term; it falls most "
                    f"without {name[low]} ({land[low]:+.0%}) and rises most without {name[high]} "
                    f"({land[high]:+.0%}).")
    if "cause agreement" in wide:
        agree = others["cause agreement"]
        text.append(f"Cause agreement stays between {agree.min():.0%} and {agree.max():.0%} "
                    f"across the variants ({full['cause agreement']:.0%} with every term).")
    text.append("This is one fold and one seed: differences of the size of these are not "
                "separated from a change of seed.")
    return " ".join(text)
