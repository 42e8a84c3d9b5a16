"""Figures, tables and sentences of the StarGAN v2 chapter: the two generators' sizes,
Fig. 2 measured against the true counterfactual, the predictors trained on each
generator's images, Fig. 5 (predictor features and their mixing), and the generators'
training rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import lisi
from .plotting import figure, scatter_groups, to_rgb, umap_model

__all__ = ["plot_counterfactual_differences", "plot_predictor_umaps", "rate_table",
           "describe_sizes", "describe_generators", "describe_stargan_iid", "mixing_table",
           "describe_mixing", "describe_rates", "training_seconds", "describe_budgets"]

# The networks a re-rendering from a reference image runs, per method, and those its
# adversarial training updates, as named in the chapter's network table.
IST_RENDER = ("IST: encoder (pretrained, then frozen)", "IST: generator")
IST_ADVERSARIAL = ("IST: generator", "IST: critic (training only)")
STARGAN_RENDER = ("StarGAN v2: generator", "StarGAN v2: style encoder")


def plot_counterfactual_differences(dataset, pairs: dict, methods=("IST", "StarGAN v2"), n: int = 4):
    """Fig. 2, measured: for ``n`` pairs (rows), the content and style images, the true
    counterfactual (``keep``), then each method's output beside its per-pixel difference
    from the truth (absolute difference summed over channels, one colour scale for the
    whole figure, so darker is closer to the truth)."""
    n = min(n, len(pairs["x"]))
    outputs = pairs["outputs"]
    missing = [m for m in methods if m not in outputs]
    if missing:
        raise ValueError(f"no outputs for {missing}; the pairs hold {list(outputs)}")
    truth = pairs["keep"][:n]
    images = {"content": pairs["x"][:n], "style": pairs["style_images"][:n], "truth (keep)": truth}
    diffs = {}
    for m in methods:
        out = np.clip(outputs[m][:n], 0, 1)
        images[m] = out
        diffs[m] = np.abs(out - truth).sum(axis=1)  # (n, H, W)
    rgb = to_rgb(np.concatenate([np.clip(v, 0, 1) for v in images.values()]), dataset.channels,
                 scale="global")
    top = max(float(np.percentile(np.concatenate([d.ravel() for d in diffs.values()]), 99.5)), 1e-6)
    columns = ["content", "style", "truth (keep)"]
    for m in methods:
        columns += [m, f"|{m} − truth|"]
    fig, axes = figure(n, len(columns), (1.3 * len(columns) + 0.6, 1.3 * n + 0.4))
    shown = None
    for c, name in enumerate(columns):
        for r in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if name in images:
                ax.imshow(rgb[list(images).index(name) * n + r])
            else:
                method = name[1:].split(" − ")[0]
                shown = ax.imshow(diffs[method][r], cmap="magma", vmin=0, vmax=top)
                ax.set_xlabel(f"L1 {diffs[method][r].mean():.3f}", fontsize=7, labelpad=1)
        axes[0, c].set_title(name, fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 0.93, 1))
    bar = fig.colorbar(shown, cax=fig.add_axes((0.945, 0.15, 0.012, 0.7)))
    bar.set_label("|output − truth|, summed over channels", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def plot_predictor_umaps(features: dict, meta: pd.DataFrame, by=("y_name", "plate"),
                         titles=("cause", "plate"), seed: int = 0):
    """Fig. 5: one UMAP per predictor (rows, ``features``: name -> (N, D) features of the
    same N training images, rows of ``meta``), coloured by each column of ``meta`` in
    ``by`` (columns)."""
    names = list(features)
    lengths = {len(f) for f in features.values()}
    if lengths != {len(meta)}:
        raise ValueError(f"every feature set needs one row per row of meta ({len(meta)}); got "
                         f"{sorted(lengths)}")
    fig, axes = figure(len(names), len(by), (3.6 * len(by), 3.4 * len(names)))
    for r, name in enumerate(names):
        xy = umap_model(random_state=seed).fit_transform(np.asarray(features[name], np.float32))
        for c, (column, title) in enumerate(zip(by, titles)):
            scatter_groups(axes[r, c], xy, meta[column], f"{name}: coloured by {title}", size=3,
                           legend=r == 0)
    fig.tight_layout()
    return fig


def rate_table(rates: dict) -> pd.DataFrame:
    """Training rates (name -> images/s) with each one's ratio to the slowest."""
    frame = pd.DataFrame({"images/s": pd.Series(rates, dtype=float)})
    frame["× slowest"] = frame["images/s"] / frame["images/s"].min()
    return frame.round({"images/s": 1, "× slowest": 2})


def describe_sizes(sizes: pd.DataFrame) -> str:
    """A sentence on :func:`~ist_core.report.network_table` of both generators' networks
    (named as :data:`IST_RENDER`, :data:`IST_ADVERSARIAL` and :data:`STARGAN_RENDER`):
    what re-rendering one image runs, and what adversarial training updates."""
    n = sizes["parameters"]
    stargan = n[[k for k in n.index if k.startswith("StarGAN")]].sum()
    return (f"To re-render an image from a reference, IST runs its encoder and generator "
            f"({n[list(IST_RENDER)].sum():,} parameters) and StarGAN v2 its style encoder and "
            f"generator ({n[list(STARGAN_RENDER)].sum():,}). In adversarial training IST updates "
            f"its generator and critic ({n[list(IST_ADVERSARIAL)].sum():,}; the encoder is trained "
            f"beforehand, as a classifier), StarGAN v2 all four networks ({stargan:,}) and keeps "
            "averaged copies of three. How the parameters are split depends on the widths of "
            "this profile; what a step costs is measured at the end of the chapter.")


def describe_generators(scores: pd.DataFrame, stargan_steps: int, margin: float = 0.05) -> str:
    """A few sentences on :func:`~ist_core.fidelity.evaluate_transfer`'s scores of IST and
    StarGAN v2 (methods ``IST`` and ``StarGAN v2``): PSNR and SSIM to the true
    counterfactual beside doing nothing and histogram matching, the frozen encoder's cause
    agreement (which of the two keeps the cause better, beyond ``margin``), and what it
    means when StarGAN v2 is further from the truth than the input after ``stargan_steps``
    iterations, or histogram matching loses the cause."""
    mean = scores.groupby(["metric", "method"])["value"].mean().unstack()
    psnr, ssim, agree = mean.loc["PSNR"], mean.loc["SSIM"], mean.loc["cause agreement"]
    text = [
        f"Averaged over the channels, the outputs are {psnr['StarGAN v2']:.1f} dB (StarGAN v2) and "
        f"{psnr['IST']:.1f} dB (IST) from the true counterfactual, against {psnr['input']:.1f} dB "
        f"for the untouched input and {psnr['histogram matching']:.1f} dB for histogram matching; "
        f"SSIM is {ssim['StarGAN v2']:.2f}, {ssim['IST']:.2f}, {ssim['input']:.2f} and "
        f"{ssim['histogram matching']:.2f}. The closest to the truth here is **{psnr.idxmax()}**.",
        f"The frozen encoder sees the input's cause in {agree['StarGAN v2']:.0%} of StarGAN v2's "
        f"outputs and {agree['IST']:.0%} of IST's ({agree['histogram matching']:.0%} after "
        f"histogram matching).",
    ]
    if agree["StarGAN v2"] < agree["IST"] - margin:
        text.append("So StarGAN v2's outputs lose more of what the encoder reads as the cause "
                    "than IST's do: it changes what the cell shows, not only how it is imaged, "
                    "the paper's reading of its Fig. 2.")
    elif agree["StarGAN v2"] > agree["IST"] + margin:
        text.append("Here StarGAN v2 keeps the cause better than IST, unlike what the paper "
                    "reports; the difference maps show whether its outputs are closer to the "
                    "truth or simply closer to the input.")
    else:
        text.append("By this measure the two keep the cause about equally well.")
    if psnr["StarGAN v2"] < psnr["input"] - 3:
        text.append(
            f"StarGAN v2's outputs are further from the truth than the untouched inputs "
            f"({psnr['input'] - psnr['StarGAN v2']:.1f} dB): after {stargan_steps} iterations "
            f"it has not yet learned to redraw a given cell, and the difference maps show whole "
            f"cells replaced rather than the local edits of the paper's Fig. 2, whose StarGAN v2 "
            f"made convincing images. That is a stronger failure than the paper's, after far "
            f"shorter training (the paper ran 75,000 iterations); whether longer training brings "
            f"it to the paper's convincing-but-altered images is for a `paper`-profile run on a "
            f"GPU to show.")
    if agree["histogram matching"] < 0.8:
        text.append(
            f"Histogram matching is close to the truth pixel by pixel, yet the encoder changes its "
            f"call for {1 - agree['histogram matching']:.0%} of its outputs: copying a whole "
            f"intensity distribution from another cell also copies the part of that cell's "
            f"phenotype that lives in its intensities, and the encoder reads it.")
    return " ".join(text)


def describe_stargan_iid(scores: pd.DataFrame, chance: float) -> str:
    """A sentence on the IID macro-F1 of the predictors trained on real images
    (``baseline``), on StarGAN v2's (``stargan2``) and on IST's (``ist``) renderings, and
    whether the paper's IID collapse of StarGAN v2's predictor shows; empty when one of
    the three was not scored on the IID split."""
    iid = scores[scores["level"].astype(str) == "iid"].groupby("method")["value"].mean()
    if not {"baseline", "stargan2", "ist"} <= set(iid.index):
        return ""
    base, sg, ours = (iid[m] for m in ("baseline", "stargan2", "ist"))
    verdict = ("far below" if sg < base - 0.1 else "below" if sg < base - 0.03 else
               "about level with" if abs(sg - base) <= 0.03 else "above")
    return (f"On the IID split the predictor trained on StarGAN v2's images scores {sg:.2f}, "
            f"{verdict} the naive predictor's {base:.2f}; IST's scores {ours:.2f} (chance is "
            f"{chance:.2f}). " + ("As in the paper, re-rendering with StarGAN v2 costs the "
                                 "predictor much of what it could learn about the causes."
                                 if sg < base - 0.1 else
                                 "The paper's IID collapse does not show at this profile."))


def mixing_table(features: dict, meta: pd.DataFrame, oe_level: str) -> pd.DataFrame:
    """Mean LISI of each feature set (name -> (N, D), rows of ``meta``) over the OEs of
    ``oe_level`` and over the causes: the effective number of each among an image's
    neighbours (rows: OE, cause; columns: the feature sets)."""
    oes, causes = meta[oe_level].to_numpy(), meta["y"].to_numpy()
    return pd.DataFrame({
        name: {f"LISI over {oe_level}s (of {meta[oe_level].nunique()})": float(np.mean(lisi(f, oes))),
               f"LISI over causes (of {meta['y'].nunique()})": float(np.mean(lisi(f, causes)))}
        for name, f in features.items()}).round(2)


def describe_mixing(mixing: pd.DataFrame, margin: float = 0.1) -> str:
    """A sentence on :func:`mixing_table` for the naive predictor (first column) and IST
    (second): do IST's features mix the OEs more, by more than ``margin``, as the paper's
    Fig. 5 shows?"""
    naive, ist = mixing.columns[:2]
    oe_row, cause_row = mixing.index
    oe_name = oe_row.split()[2]
    more = mixing.loc[oe_row, ist] > mixing.loc[oe_row, naive] + margin
    return (f"Among its neighbours in the naive predictor's features an image finds on average "
            f"{mixing.loc[oe_row, naive]:.2f} {oe_name} and {mixing.loc[cause_row, naive]:.2f} "
            f"causes; in IST's, {mixing.loc[oe_row, ist]:.2f} {oe_name} and "
            f"{mixing.loc[cause_row, ist]:.2f} causes. "
            + (f"IST's features mix the {oe_name} more, as the paper's Fig. 5 shows." if more else
               f"IST's features do not mix the {oe_name} more than the naive predictor's here, "
               "unlike the paper's Fig. 5."))


def describe_rates(rates: dict, where: str) -> str:
    """A sentence on :func:`~ist_core.speed.generator_rates` (``IST generator`` and
    ``StarGAN v2``, images/s) measured ``where`` (hardware, profile, image size, batch)."""
    ist, sg = rates["IST generator"], rates["StarGAN v2"]
    return (f"On {where}, IST's generator trains at {ist:.0f} images/s and StarGAN v2 at "
            f"{sg:.0f}: IST is **{ist / sg:.1f} times** as fast. The difference comes from what "
            "one StarGAN v2 iteration holds: two discriminator and two generator updates, each "
            "generator update rendering three images and reading styles with the style encoder, "
            "against IST's one update of each network.")


def training_seconds(run_folder) -> float:
    """Seconds of training that a network's ``losses.csv`` records (its logged intervals
    added up; a resumed run counts only what it trained)."""
    return float(pd.read_csv(Path(run_folder) / "losses.csv")["seconds"].sum())


def describe_budgets(profile: str, prof, paper_steps: int, seconds: dict) -> str:
    """The two generators' training budgets at ``profile`` (``prof``: its
    :class:`~ist_core.profiles.Profile`) and at ``paper`` (``paper_steps``), with the
    seconds their logs record (``seconds``: ``StarGAN v2``, ``IST generator``, ``IST
    encoder``: :func:`training_seconds`)."""
    sg, gen, enc = seconds["StarGAN v2"], seconds["IST generator"], seconds["IST encoder"]
    return (f"At the `{profile}` profile StarGAN v2 trains for {prof.stargan_steps} iterations "
            f"and IST's generator for {prof.ist_steps} steps, both at batch {prof.batch_size}. "
            "Each StarGAN v2 iteration holds two discriminator and two generator updates "
            f"against IST's one of each. Their training logs record {sg:.0f} s for StarGAN v2 "
            f"and {gen:.0f} s for IST's generator plus {enc:.0f} s for its encoder, so StarGAN "
            f"v2 took {sg / (gen + enc):.1f} times as long (as these runs were trained, on their "
            "machine and threads; the speed section below compares the two on equal terms). "
            f"The `paper` profile gives both {paper_steps} steps; the paper trained StarGAN v2 "
            "for 75,000 iterations.")
