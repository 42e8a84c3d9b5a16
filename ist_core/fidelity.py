"""How faithful is a style transfer? Scored against the synthetic benchmark's true counterfactuals.

For a content cell ``x_a`` and a style image ``x_b`` from another well, the truth is
the same cell re-imaged in ``x_b``'s well with its phenotype kept
(``render_counterfactual(..., phenotype="keep")``): what a style transfer can be asked
to produce. Every method gets the same pairs:

- ``input``: the untouched content image (doing nothing);
- ``histogram matching``: each channel's histogram matched to the style image's
  (scikit-image), the classic appearance-only transfer;
- ``IST``: ``G(E(x_a), v(x_b))``; other transfers (StarGAN v2) can be passed by name.

Scores (tidy rows): PSNR and SSIM per channel against the ``keep`` counterfactual;
for content preservation, the share of outputs to which the frozen encoder gives the
cause it gives the input (``cause agreement``), and the mean L1 distance of the output
to the ``keep`` and to the ``shift`` counterfactual (the same cell with the target OE's
biology too). The frozen encoder learnt the cause from confounded images and reads it
partly from the imaging, so :func:`fold_fidelity` also judges the cause with a reader
of biology (:func:`oracle_judge`: ``cause agreement, oracle judge``), the true
counterfactual included as the method ``truth``: what a perfect transfer scores.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .data.store import Dataset


def true_counterfactuals(dataset: Dataset, content, style, phenotype: str = "keep") -> np.ndarray:
    """Each ``content`` cell (index) re-rendered in the well of its ``style`` cell (index):
    what a perfect transfer of the pair outputs (``phenotype="keep"``), or the full
    intervention (``"shift"``); (N, C, H, W)."""
    from .data.synthetic import render_counterfactual

    wells = dataset.meta["well"].to_numpy()
    return np.stack([render_counterfactual(dataset, [c], wells[s], phenotype=phenotype)[0]
                     for c, s in zip(content, style)])


def fidelity_pairs(dataset: Dataset, content: np.ndarray, style_pool: np.ndarray,
                   seed: int = 0) -> dict:
    """Content images ``content`` (indices), each paired with a random style image from
    ``style_pool`` (indices) imaged through other OE draws than its own (another section
    where wells draw nothing, :func:`~ist_core.data.synthetic.imaging_groups`), and the
    true counterfactuals of each pair.

    Returns a dict of arrays: ``content``, ``style`` (indices), ``x`` (content images),
    ``style_images``, ``keep`` and ``shift`` (true counterfactuals), all (N, C, H, W).
    """
    from .data.synthetic import imaging_groups

    rng = np.random.default_rng(seed)
    groups = imaging_groups(dataset)
    content = np.asarray(content)
    style = np.empty_like(content)
    for i, idx in enumerate(content):
        others = style_pool[groups[style_pool] != groups[idx]]
        style[i] = rng.choice(others)
    keep = true_counterfactuals(dataset, content, style, "keep")
    shift = true_counterfactuals(dataset, content, style, "shift")
    return {
        "content": content, "style": style,
        "x": np.asarray(dataset.images[content], np.float32),
        "style_images": np.asarray(dataset.images[style], np.float32),
        "keep": keep, "shift": shift,
    }


def histogram_matching(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Match each channel's histogram of every content image to its style image's."""
    from skimage.exposure import match_histograms

    return np.stack([match_histograms(x, s, channel_axis=0) for x, s in zip(content, style)])


def moment_matching(content: np.ndarray, style: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Give each channel of every content image (N, C, H, W) the spatial mean and standard
    deviation of its style image's: what an untrained IST generator returns."""
    content, style = np.asarray(content, np.float64), np.asarray(style, np.float64)
    mean_x, std_x = content.mean(axis=(2, 3), keepdims=True), content.std(axis=(2, 3), keepdims=True)
    mean_s, std_s = style.mean(axis=(2, 3), keepdims=True), style.std(axis=(2, 3), keepdims=True)
    return ((content - mean_x) / np.sqrt(std_x**2 + eps) * np.sqrt(std_s**2 + eps)
            + mean_s).astype(np.float32)


def fit_to_counterfactuals(encoder, generator, pairs: dict, steps: int = 900, batch_size: int = 16,
                           lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Train ``generator`` in place on true counterfactuals: the L1 distance of
    ``G(E(x), v(x_style))`` to the ``keep`` counterfactual, Adam, the encoder frozen.

    Not IST's training (no critic, no eq. 7): a diagnostic of what the generator can
    express when it is told the answer, the ceiling for the adversarial training.
    ``pairs`` as from :func:`fidelity_pairs` (``x``, ``style_images``, ``keep``).
    Returns the loss of every step; the generator is left in evaluation mode.
    """
    import torch

    from .models import style_code

    device = next(generator.parameters()).device
    tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)  # noqa: E731
    x, style, truth = tensor(pairs["x"]), tensor(pairs["style_images"]), tensor(pairs["keep"])
    encoder.eval()
    with torch.no_grad():  # the encoder is frozen: features and style codes once for all pairs
        feats = encoder.features(x)
        codes = style_code(encoder.features(style)[:generator.style_layers])
    opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.99))
    rng = torch.Generator().manual_seed(seed)
    generator.train()
    history = []
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=rng).to(device)
        out = generator([f[idx] for f in feats], codes[idx])
        loss = (out - truth[idx]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    generator.eval()
    return history


def score_outputs(outputs: np.ndarray, pairs: dict, channels, method: str,
                  cause_of: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """Tidy rows (method, channel, metric, value), means over the pairs."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    truth = pairs["keep"]
    out = np.clip(np.asarray(outputs, np.float32), 0, 1)
    rows = []
    for c, name in enumerate(channels):
        psnr = [peak_signal_noise_ratio(t[c], o[c], data_range=1.0) for t, o in zip(truth, out)]
        ssim = [structural_similarity(t[c], o[c], data_range=1.0, win_size=7)
                for t, o in zip(truth, out)]
        rows += [{"method": method, "channel": name, "metric": "PSNR", "value": float(np.mean(psnr))},
                 {"method": method, "channel": name, "metric": "SSIM", "value": float(np.mean(ssim))}]
    l1 = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    rows += [{"method": method, "channel": "all", "metric": "L1 to keep", "value": l1(out, truth)},
             {"method": method, "channel": "all", "metric": "L1 to shift",
              "value": l1(out, pairs["shift"])}]
    if cause_of is not None:
        agree = float(np.mean(cause_of(out) == cause_of(pairs["x"])))
        rows.append({"method": method, "channel": "all", "metric": "cause agreement", "value": agree})
    return pd.DataFrame(rows)


def fidelity_table(scores: pd.DataFrame) -> pd.DataFrame:
    """(metric, channel) as rows, one column per method (narrow enough for a page)."""
    table = scores.pivot_table(index=["metric", "channel"], columns="method", values="value",
                               sort=False)
    return table.round(3)


def encoder_causes(setup, encoder) -> Callable[[np.ndarray], np.ndarray]:
    """A function: images -> the frozen encoder's predicted cause (E_cls)."""
    import torch

    from .train.runtime import to_tensor

    @torch.no_grad()
    def cause_of(images: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(images), setup.profile.eval_batch):
            x = to_tensor(images[start:start + setup.profile.eval_batch], setup.device)
            out.append(encoder.cause_logits(encoder.features(x)).argmax(1).cpu().numpy())
        return np.concatenate(out)

    return cause_of


def evaluate_transfer(setup, transfers: dict, n_pairs: int = 64, seed: int = 0,
                      content_from: str = "train", encoder=None) -> tuple[pd.DataFrame, dict]:
    """Score ``input``, ``histogram matching`` and each of ``transfers`` (name ->
    :class:`~ist_core.models.StyleTransfer`, or a StarGAN v2) on the same ``n_pairs``
    pairs of the fold.

    Content images come from the fold's training (``content_from="train"``) or test
    images, style images from its training images (so from training OEs only). Cause
    agreement is judged by ``encoder``, by default the first transfer's frozen encoder.
    Returns the tidy scores and the pairs with every method's outputs (``pairs["outputs"]``).
    """
    from .train import transfer as run_transfer

    if content_from not in ("train", "test"):
        raise ValueError(f"content_from must be 'train' or 'test', got {content_from!r}")
    rng = np.random.default_rng(seed)
    pool = setup.fold.train if content_from == "train" else setup.fold.test
    content = rng.choice(pool, min(n_pairs, len(pool)), replace=False)
    pairs = fidelity_pairs(setup.dataset, content, setup.fold.train, seed=seed)
    outputs = {"input": pairs["x"], "histogram matching": histogram_matching(pairs["x"],
                                                                             pairs["style_images"])}
    style_oe = setup.oe_codes(pairs["style"])
    for name, model in transfers.items():
        outputs[name] = run_transfer(setup, model, pairs["x"], pairs["style_images"], style_oe)
    if encoder is None:
        encoder = next((getattr(m, "encoder") for m in transfers.values() if hasattr(m, "encoder")),
                       None)
    cause_of = encoder_causes(setup, encoder) if encoder is not None else None
    scores = pd.concat([score_outputs(out, pairs, setup.dataset.channels, name, cause_of)
                        for name, out in outputs.items()], ignore_index=True)
    pairs["outputs"] = outputs
    return scores, pairs


def transfer_strip(setup, transfer, n_styles: int = 5, seed: int = 0):
    """Fig. 4C on a synthetic fold: a random training cell, one style image from each of up
    to ``n_styles`` other training plates, the cell's true counterfactual under each style
    image's well, and the outputs of IST (``transfer``) and of histogram matching. Returns
    ``(content, styles, truth, outputs)``, the arguments of
    :func:`ist_core.report.plot_transfer_strip` after the dataset."""
    from .train import transfer as restyle

    ds = setup.dataset
    rng = np.random.default_rng(seed)
    train = setup.fold.train
    plate = ds.meta["plate"].to_numpy()
    content = int(rng.choice(train))
    others = [p for p in dict.fromkeys(plate[train]) if p != plate[content]][:n_styles]
    styles = [int(rng.choice(train[plate[train] == p])) for p in others]
    truth = true_counterfactuals(ds, [content] * len(styles), styles)
    x = np.repeat(np.asarray(ds.images[[content]]), len(styles), axis=0)
    style_images = np.asarray(ds.images[styles])
    outputs = {"IST": restyle(setup, transfer, x, style_images),
               "histogram matching": histogram_matching(x, style_images)}
    return content, styles, truth, outputs


def landing_rate(feats: dict, oes: dict, neighbours: int = 15) -> dict:
    """Do outputs land on their target OE? (paper Fig. 4B, as a number.)

    Takes :func:`oe_landmarks`' features and labels. A kNN classifier of the OE is
    fitted on the frozen encoder's features of real training images; returns the share
    of outputs it assigns to their target OE, next to the share of the untouched
    inputs it assigns to that target (what doing nothing scores), and chance. Where
    ``feats`` hold the true counterfactuals (``"truth"``, synthetic data), also the
    share of those it assigns to their target: what a perfect transfer scores, below 1
    where the OEs look alike to the classifier.
    """
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(neighbours).fit(feats["real"], oes["real"])
    target = oes["target"]
    out = {
        "outputs on target OE": float(np.mean(knn.predict(feats["output"]) == target)),
        "inputs on target OE": float(np.mean(knn.predict(feats["input"]) == target)),
    }
    if "truth" in feats:
        out["truth on target OE"] = float(np.mean(knn.predict(feats["truth"]) == target))
    return {**out, "chance": float(1 / len(np.unique(oes["real"]))), "pairs": int(len(target))}


def oe_landmarks(setup, transfer, n: int = 200, seed: int = 0):
    """Encoder features (pooled u^L) of real training images, of ``n`` content images and
    of their outputs re-rendered into another training OE (each into the OE of a style
    image drawn from it); on synthetic data also of the true ``keep`` counterfactuals
    into the style image's well (``"truth"``). With the OE labels."""
    import torch

    from .models import ResNetIN
    from .train import transfer as run_transfer
    from .train.runtime import to_tensor

    rng = np.random.default_rng(seed)
    train = setup.fold.train
    level = setup.ist.oe_level
    oe_of = setup.dataset.meta[level].to_numpy()
    real = rng.choice(train, min(len(train), 1500), replace=False)
    content = rng.choice(train, min(n, len(train)), replace=False)
    style = np.array([rng.choice(train[oe_of[train] != oe_of[c]]) for c in content])
    outputs = run_transfer(setup, transfer, setup.dataset.images[content], setup.dataset.images[style],
                           setup.oe_codes(style))

    @torch.no_grad()
    def encode(images):
        x = to_tensor(images, setup.device)
        return ResNetIN.pool(transfer.encoder.features(x)).float().cpu().numpy()

    feats = {"real": encode(setup.dataset.images[real]), "input": encode(setup.dataset.images[content]),
             "output": encode(outputs)}
    if "config" in setup.dataset.info:
        feats["truth"] = encode(true_counterfactuals(setup.dataset, content, style))
    oes = {"real": oe_of[real], "input": oe_of[content], "target": oe_of[style]}
    return feats, oes, content, style, outputs


# What IST's outputs are held to (issue targets on the synthetic benchmark): closer to the
# true counterfactual than histogram matching on every channel, most outputs placed on
# their target OE, and the cause kept.
LANDING_TARGET = 0.7
AGREEMENT_TARGET = 0.9


JUDGED = "cause agreement, oracle judge"


def oracle_judge(setup) -> Callable[[np.ndarray], np.ndarray]:
    """A function: images -> the cause that ``setup``'s fold's oracle predictor reads in
    them. That predictor trained on true counterfactuals, every training cell re-imaged
    in the wells of every training OE, so it reads a cell's biology and not its imaging:
    a judge of whether a transfer kept the cause, where the frozen encoder (trained on
    confounded images) also reads the imaging. Loaded from the runs folder where ``ist
    run --methods oracle`` trained it, or trained there (synthetic data only)."""
    from .methods import get_method
    from .train import predict_proba

    predictor = get_method("oracle").fit(setup, progress=False).model

    def cause_of(images: np.ndarray) -> np.ndarray:
        return predict_proba(setup, predictor, np.clip(images, 0, 1)).argmax(1)

    return cause_of


def judged_agreement(pairs: dict, cause_of: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """:data:`JUDGED` rows: for each of ``pairs["outputs"]`` and for the true ``keep``
    counterfactual (method ``truth``), the share of pairs to which ``cause_of`` gives the
    cause it gives the input. The truth's share is what a perfect transfer scores (below
    1 where the judge errs); an output that changes the input less than the truth does
    can score more, the untouched input 1, so read it beside the landing rate."""
    reference = cause_of(pairs["x"])
    outputs = {**pairs["outputs"], "truth": pairs["keep"]}
    return pd.DataFrame([{"method": name, "channel": "all", "metric": JUDGED,
                          "value": float(np.mean(cause_of(out) == reference))}
                         for name, out in outputs.items()])


def fold_fidelity(setup, transfer, n_pairs: int = 64, seed: int = 0,
                  judge: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
    """:func:`evaluate_transfer`'s scores of ``transfer`` (as "IST") on ``setup``'s fold,
    with its landing rate (:func:`landing_rate`: outputs, inputs, true counterfactuals
    and chance, as the methods "IST", "input", "truth" and "chance") and, given a ``judge`` (e.g.
    :func:`oracle_judge`), its :func:`judged_agreement`."""
    scores, pairs = evaluate_transfer(setup, {"IST": transfer}, n_pairs=n_pairs, seed=seed)
    rate = landing_rate(*oe_landmarks(setup, transfer, seed=seed)[:2])
    rows = [{"method": method, "channel": "all", "metric": "landing rate", "value": rate[key]}
            for method, key in (("IST", "outputs on target OE"), ("input", "inputs on target OE"),
                                ("truth", "truth on target OE"), ("chance", "chance"))
            if key in rate]
    frames = [scores, pd.DataFrame(rows)]
    if judge is not None:
        frames.append(judged_agreement(pairs, judge))
    return pd.concat(frames, ignore_index=True)


def fidelity_targets(scores: pd.DataFrame, method: str = "IST") -> pd.DataFrame:
    """``method``'s fidelity against its targets, on the means over whatever folds
    ``scores`` (:func:`fold_fidelity` rows) hold: PSNR above histogram matching's on each
    channel, landing rate at least :data:`LANDING_TARGET`, cause agreement at least
    :data:`AGREEMENT_TARGET` (judged by the oracle predictor where ``scores`` hold
    :data:`JUDGED`, else by the frozen encoder). One row per target: measured, bound, met."""
    mean = scores.groupby(["metric", "channel", "method"])["value"].mean()
    out = []
    psnr = mean["PSNR"].unstack("method")
    for channel, ahead in (psnr[method] - psnr["histogram matching"]).items():
        out.append({"target": f"PSNR - histogram matching's, {channel} (dB)",
                    "measured": ahead, "bound": "> 0", "met": ahead > 0})
    agreement = JUDGED if (JUDGED, "all", method) in mean.index else "cause agreement"
    for metric, bound in (("landing rate", LANDING_TARGET), (agreement, AGREEMENT_TARGET)):
        value = mean.get((metric, "all", method), np.nan)
        out.append({"target": metric, "measured": value, "bound": f">= {bound:g}",
                    "met": bool(value >= bound)})
    table = pd.DataFrame(out, columns=["target", "measured", "bound", "met"])
    return table.assign(measured=table["measured"].astype(float).round(3), met=table["met"].astype(bool))
