"""Figures, tables and sentences of the IST chapter: training curves, Fig. 4B/C, fidelity
against the true counterfactuals, the loss-term ablation. IST between its bounds out of
distribution is :mod:`.bounds`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..fidelity import AGREEMENT_TARGET, JUDGED, LANDING_TARGET
from .plotting import figure, scatter_groups, to_rgb, umap_model
from .tables import and_list, signed

__all__ = [
    "network_table", "plot_losses", "plot_oe_umap", "plot_transfer_strip", "plot_fidelity_pairs",
    "describe_fidelity", "describe_agreement", "describe_landing", "describe_reading",
    "plot_feature_umap", "shortcut_table", "describe_ablation",
]


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


def _means(scores: pd.DataFrame) -> pd.Series:
    """Mean of tidy fidelity scores per (metric, method), over channels and pairs."""
    return scores.groupby(["metric", "method"])["value"].mean()


def describe_fidelity(scores: pd.DataFrame, method: str = "IST") -> str:
    """A few sentences on :func:`~ist_core.fidelity.evaluate_transfer`'s scores: ``method``'s
    mean PSNR and SSIM to the true counterfactual next to doing nothing and histogram
    matching, the closest of them, whether its outputs are closer to the ``keep`` than to
    the ``shift`` counterfactual, and its cause agreement."""
    mean = _means(scores)
    psnr, ssim = mean["PSNR"], mean["SSIM"]
    refs = ("input", "histogram matching")
    keep, shift = mean[("L1 to keep", method)], mean[("L1 to shift", method)]
    return (
        f"Mean PSNR over channels: {method} {psnr[method]:.2f} dB, doing nothing "
        f"{psnr['input']:.2f} dB, histogram matching {psnr['histogram matching']:.2f} dB "
        f"(SSIM {ssim[method]:.3f}, {ssim['input']:.3f}, {ssim['histogram matching']:.3f}). "
        f"The closest to the truth is **{psnr.idxmax()}**. {method} is "
        f"{signed(psnr[method] - psnr[refs[0]])} dB against doing nothing and "
        f"{signed(psnr[method] - psnr[refs[1]])} dB against histogram matching. Its outputs "
        f"are {'closer to' if keep < shift else 'not closer to'} the `keep` counterfactual "
        f"(L1 {keep:.4f}) than to the `shift` one ({shift:.4f}), and the encoder gives "
        f"{mean[('cause agreement', method)]:.0%} of them the cause it gives their input.")


def describe_reading(landing: dict, scores: pd.DataFrame | None = None, match: float | None = None,
                     method: str = "IST", moved_enough: float = 0.1) -> str:
    """What one fold's generator does for the predictor trained on its outputs, from
    :func:`~ist_core.fidelity.landing_rate` (``landing``) and, on synthetic data,
    :func:`~ist_core.fidelity.evaluate_transfer`'s ``scores``: outputs that stay where
    their inputs were (landing gain below ``moved_enough``) give the predictor the
    observational data again; outputs that move but away from the truth teach it variation
    no real plate shows. ``match`` is the class-matching weight, named when the outputs
    do not move."""
    moved = landing["outputs on target OE"] - landing["inputs on target OE"]
    text = [f"Here the outputs land on their target plate {moved:+.0%} more often than the inputs do."]
    gain_db = None
    if scores is not None:
        psnr = _means(scores)["PSNR"]
        gain_db = psnr[method] - psnr["input"]
        text.append(f"Against the true counterfactual {method} is {signed(gain_db)} dB from doing "
                    f"nothing, while histogram matching is "
                    f"{signed(psnr['histogram matching'] - psnr['input'])} dB from it.")
    if moved < moved_enough:
        text.append(
            "The generator barely moves images towards their target plates, so the predictor "
            "trained on its outputs sees nearly the observational data. The term that held outputs "
            "at their source in earlier versions was class matching (eq. 6): the frozen encoder's "
            "cause head also reads the OE's look, since cause and OE are confounded in its training "
            "images, so matching its prediction drags an output back towards the source OE."
            + (f" Its weight is {match:g} here (`--set match=...`)." if match is not None else ""))
    elif gain_db is not None and gain_db < 0:
        text.append(
            "So the generator moves images towards their target plates but also away from the "
            "truth: a style it has not tied to its target (the strip above shows it), or changes "
            "to the cells. A predictor trained on such images learns to ignore variation that real "
            "plates do not show, so a small or no gain out of distribution is what to expect.")
    else:
        text.append("The generator moves images towards their target OEs"
                    + (" and closer to the truth than doing nothing" if gain_db is not None else "")
                    + "; whether that helps out of distribution, and how far it is from what a "
                    "perfect transfer would do (the oracle row), is what the table above measures.")
    return " ".join(text)


def describe_agreement(scores: pd.DataFrame) -> str:
    """A sentence on the cause agreement in fidelity scores (:func:`~ist_core.fidelity.fold_fidelity`
    rows): IST's next to histogram matching's, which keeps every cell's shape. Where
    histogram matching's is low, the oracle predictor's reading (where scored) tells which
    case it is: a judge (the frozen encoder) that reads the imaging too, or a cause that
    lives partly in the intensities the transfer copies from another cell."""
    mean = scores[scores["metric"] == "cause agreement"].groupby("method")["value"].mean()
    ist, hist = mean.get("IST", np.nan), mean.get("histogram matching", np.nan)
    judged = scores[scores["metric"] == JUDGED].groupby("method")["value"].mean()
    judged_hist = judged.get("histogram matching", np.nan)
    text = (f"The frozen encoder gives {ist:.0%} of IST's outputs the cause it gives their "
            f"input, and {hist:.0%} of histogram matching's.")
    if hist < AGREEMENT_TARGET and not judged_hist < AGREEMENT_TARGET:
        text += (" Histogram matching keeps every cell's shape and changes only its "
                 "intensities, yet the encoder changes its cause for "
                 f"{1 - hist:.0%} of them: trained on the confounded training images, it "
                 "reads the cause from intensities that carry the imaging as well as the "
                 "biology, so a low agreement here says as much about the judge as about "
                 "the transfer.")
    if not judged.empty:
        text += (" The fold's oracle predictor, trained on true counterfactuals in every "
                 "training plate and so a reader of biology, finds the input's cause in "
                 f"{judged.get('IST', np.nan):.0%} of IST's outputs, "
                 f"{judged_hist:.0%} of histogram matching's "
                 f"and {judged.get('truth', np.nan):.0%} of the true counterfactuals, which "
                 "is what a perfect transfer scores. An output that changes less than the "
                 "truth can score more (the untouched input scores 100%), so this number "
                 "counts only beside the landing rate; the target "
                 f"({AGREEMENT_TARGET:.0%}) is judged by it.")
        if judged_hist < AGREEMENT_TARGET and hist < AGREEMENT_TARGET:
            text += (" The reader of biology, too, loses the cause in "
                     f"{1 - judged_hist:.0%} of histogram matching's outputs: part of the "
                     "cause lives in the cells' intensities, which histogram matching copies "
                     "from another cell, so an appearance transfer that matches one image's "
                     "statistics changes biology here, not only imaging.")
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
    """A few sentences on :func:`~ist_core.ablation.ablation_table`: which loss terms'
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
        least = "rises most" if land[high] > 0 else "falls least"
        text.append(f"The landing rate is {full['landing rate']:.0%} with every term; it falls most "
                    f"without {name[low]} ({100 * land[low]:+.0f} points) and {least} without "
                    f"{name[high]} ({100 * land[high]:+.0f}).")
    if "cause agreement" in wide:
        agree = others["cause agreement"]
        text.append(f"Cause agreement stays between {agree.min():.0%} and {agree.max():.0%} "
                    f"across the variants ({full['cause agreement']:.0%} with every term).")
    text.append("This is one fold and one seed: differences of the size of these are not "
                "separated from a change of seed.")
    return " ".join(text)
