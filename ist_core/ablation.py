"""Which terms of IST's objective matter? IST trained with its whole loss (eq. 7) and
without each term in turn, every variant scored against the true counterfactuals with
:mod:`ist_core.fidelity` (beyond the paper; ``ist ablation``)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from .fidelity import evaluate_transfer, fold_fidelity

LOSS_TERMS = ("adv", "style", "cycle", "content", "match")


def loss_term_ablation(setup, terms=LOSS_TERMS, encoder=None, n_pairs: int = 64, seed: int = 0,
                       landing: bool = True, progress: bool = False) -> pd.DataFrame:
    """IST with its full objective (eq. 7) and without each of ``terms`` in turn (its
    weight set to 0), trained on ``setup``'s fold and scored on the same pairs.

    Every variant shares the fold's frozen encoder (``encoder``, else trained or loaded
    for ``setup``) and gets its own generator run folder (its settings differ). Each
    trains a full generator of the profile's ``ist_steps``: at ``quick`` about 40 s per
    variant on one CPU thread, and half a minute more to score it. Returns tidy rows (variant, weights, channel, metric,
    value) with :func:`~ist_core.fidelity.evaluate_transfer`'s scores of IST and, with ``landing``, the
    share of outputs on their target OE (:func:`~ist_core.fidelity.landing_rate`).
    """
    from .train import train_encoder, train_ist

    unknown = sorted(set(terms) - set(LOSS_TERMS))
    if unknown:
        raise ValueError(f"unknown loss term(s) {unknown}; choose from {list(LOSS_TERMS)}")
    encoder = encoder if encoder is not None else train_encoder(setup, progress)
    variants = {"full": setup.ist}
    variants.update({f"without {t}": dataclasses.replace(setup.ist, **{t: 0.0}) for t in terms})
    frames = []
    for name, ist in variants.items():
        variant = dataclasses.replace(setup, ist=ist, device=setup.device, amp=setup.amp)
        model = train_ist(variant, encoder, progress)
        scores = (fold_fidelity(variant, model, n_pairs, seed) if landing else
                  evaluate_transfer(variant, {"IST": model}, n_pairs=n_pairs, seed=seed)[0])
        scores = scores[scores["method"] == "IST"].drop(columns="method")
        weights = ", ".join(f"{t}={getattr(ist, t):g}" for t in LOSS_TERMS)
        frames.append(scores.assign(variant=name, weights=weights))
    columns = ["variant", "weights", "channel", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[columns]


def ablation_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`loss_term_ablation`'s rows as one row per variant (in the order trained):
    PSNR and SSIM averaged over channels, L1 to the ``keep`` counterfactual, cause
    agreement and, where scored, the landing rate."""
    per_channel = table[table["channel"] != "all"].groupby(["variant", "metric"], sort=False)["value"].mean()
    overall = table[table["channel"] == "all"].set_index(["variant", "metric"])["value"]
    wide = pd.concat([per_channel, overall]).unstack("metric")
    order = list(dict.fromkeys(table["variant"]))
    columns = [c for c in ("PSNR", "SSIM", "L1 to keep", "cause agreement", "landing rate")
               if c in wide.columns]
    return wide.loc[order, columns].rename_axis(index="variant", columns=None)
