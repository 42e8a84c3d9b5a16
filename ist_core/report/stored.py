"""Stored results in the book: reading them, saying where they come from (and warning when
the code that trained them has changed), the paper's claims checked against them with
paired intervals, and a live re-run set beside its stored twin."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..methods import method_for
from ..results import code_status, describe_status, is_stale, read_summary
from ..stats import fewest_pairs, paired_differences
from .bounds import interval_text
from .tables import DATASET_NAMES, METHOD_NAMES, and_list, paper_table1_numbers

__all__ = ["stored_scores", "stored_summary", "lisi_table", "chance_levels", "provenance_html", "uneven_rows", "live_check_table", "live_check_text", "describe_differences",
           "paper_claims", "claims_text", "missing_results_text"]

_LEVEL = {"iid": "IID", "1": "Level-1", "2": "Level-2", "3": "Level-3"}
_PAPER = {"synthetic-grid": "GRID", "synthetic-lincs": "LINCS-SC", "grid": "GRID",
          "lincs-sc": "LINCS-SC"}


def stored_scores(datasets: Sequence[str], profile: str, name: str = "table1"):
    """The stored summaries ``name`` of ``datasets`` at ``profile``, concatenated (tidy), and
    their provenance by dataset; an empty frame and ``{}`` where none is stored."""
    frames, metas = [], {}
    for dataset in datasets:
        found = read_summary(dataset, profile, name)
        if found is not None:
            frames.append(found[0])
            metas[dataset] = found[1]
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "profile", "method", "level", "fold", "held_out", "seed", "metric",
                 "value"])
    return scores, metas



def stored_summary(dataset: str, profile: str, name: str, make: str):
    """One stored summary and what a page shows above it: ``(scores, html)``, the html
    its :func:`provenance_html` (with the stale warning where the code has changed), or
    ``(None, html)`` saying that none is stored and that the command ``make`` stores it."""
    found = read_summary(dataset, profile, name)
    if found is None:
        return None, (f"<p>No stored <code>{html.escape(name)}</code> summary for "
                      f"{html.escape(DATASET_NAMES.get(dataset, dataset))} at the "
                      f"<code>{html.escape(profile)}</code> profile; make it with "
                      f"<code>{html.escape(make)}</code>.</p>")
    return found[0], provenance_html({dataset: found[1]})

def lisi_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The raw LISI values behind Table 1's ratio (IID training images), method x
    (dataset, LISI over causes / over OEs), in Table 1's row order."""
    lisi = scores[scores["metric"].isin(["lisi_cause", "lisi_oe"])]
    if lisi.empty:
        return pd.DataFrame()
    table = lisi.pivot_table(index="method", columns=["dataset", "metric"], values="value")
    table = table.reindex([m for m in METHOD_NAMES if m in table.index])
    return table.rename(index=METHOD_NAMES, columns={
        "lisi_cause": "LISI over causes", "lisi_oe": "LISI over OEs", **DATASET_NAMES}).round(2)


def chance_levels(datasets: Sequence[str], profile: str) -> dict[str, float]:
    """1 / number of causes of each dataset at ``profile``'s size: chance macro-F1."""
    from ..data import SYNTHETIC, load_dataset
    from ..profiles import get_profile

    size = get_profile(profile).data_size
    return {name: 1 / load_dataset(name, size=size if name in SYNTHETIC else "quick").n_causes
            for name in datasets}


def missing_results_text(profile: str, name: str = "table1", live: bool = True,
                         command: str | None = None) -> str:
    """What a reader runs when no summary is stored for ``profile`` (``live``: the page
    shows runs it re-trains instead). ``command`` replaces ``make results``' for summaries
    another command stores (its ``ist`` arguments, without ``--profile``)."""
    if command is None:
        how = (f"`make results PROFILE={profile}` (on a GPU: `PYTHONPATH=. python3 -m ist_core "
               "run --dataset synthetic-grid synthetic-lincs --spread 2 --seeds 0 1 2 "
               f"--profile {profile} --save {name}`)")
    else:
        how = (f"`ist {command} --profile {profile}` (on a GPU: `PYTHONPATH=. python3 -m ist_core "
               f"{command} --profile {profile}`)")
    return (f"No stored `{name}` results for the `{profile}` profile in this copy of the "
            f"repository. Produce them with {how}, then run this chapter again."
            + (" Until then this page leaves out the stored tables and shows only the runs it "
               "re-trains live, at the end." if live else ""))


def _folds(meta: dict, dataset: str) -> str:
    levels = (meta.get("folds") or {}).get(dataset, {})
    return "; ".join(f"{_LEVEL.get(lv, lv)}: {len(f)} fold{'s' * (len(f) != 1)}"
                     for lv, f in levels.items())


def uneven_rows(scores: pd.DataFrame, dataset: str) -> str | None:
    """A sentence on the rows of ``dataset`` in ``scores`` (tidy) that hold fewer runs than
    others, by seeds and number of runs (e.g. seed 0 of a costly row stored while its other
    seeds still train), or None where every row holds the same (level, fold, seed) runs."""
    d = scores[scores["dataset"] == dataset]
    runs = {m: set(zip(g["level"].astype(str), g["fold"], g["seed"]))
            for m, g in d.groupby("method", sort=False)}
    if len({frozenset(r) for r in runs.values()}) <= 1:
        return None
    groups: dict = {}
    for method in [m for m in METHOD_NAMES if m in runs] + [m for m in runs if m not in METHOD_NAMES]:
        seeds = tuple(sorted({seed for _, _, seed in runs[method]}))
        groups.setdefault((len(runs[method]), seeds), []).append(METHOD_NAMES.get(method, method))
    parts = [f"{and_list(names)}: {n} runs (seed{'s' * (len(seeds) != 1)} "
             f"{', '.join(str(s) for s in seeds)})"
             for (n, seeds), names in sorted(groups.items(), key=lambda kv: -kv[0][0])]
    return "Not every row holds the same runs. " + "; ".join(parts) + "."


def provenance_html(metas: dict, scores: pd.DataFrame | None = None) -> str:
    """Where each stored summary comes from, and a warning box (the book theme's admonition)
    on any whose runs were not all trained by this checkout's code; with the summaries'
    ``scores``, which rows hold fewer runs than others (:func:`uneven_rows`)."""
    lines, stale = [], []
    for dataset, meta in metas.items():
        status = code_status(meta)
        design = ", ".join(part for part in (
            f"seeds {', '.join(str(s) for s in meta['seeds'])}" if meta.get("seeds") else "",
            _folds(meta, dataset)) if part)
        count = f"{meta['runs']} runs" if "runs" in meta else f"{meta.get('rows', '?')} rows"
        lines.append(
            f"<li><b>{html.escape(DATASET_NAMES.get(dataset, dataset))}</b>: {count}"
            + (f" ({html.escape(design)})" if design else "") + ". Trained on "
            f"{html.escape(str(meta.get('trained_on', meta.get('hardware', '?'))))} at commit(s) "
            f"{html.escape(str(meta.get('trained_at_commit', meta.get('commit', '?'))))}; "
            f"stored {html.escape(str(meta.get('date', '?')))} by "
            f"<code>{html.escape(str(meta.get('command', '?')))}</code>."
            + (f" {html.escape(uneven)}" if scores is not None
               and (uneven := uneven_rows(scores, dataset)) else "") + "</li>")
        if is_stale(status):
            stale.append(f"<li>{html.escape(DATASET_NAMES.get(dataset, dataset))}: "
                         f"{html.escape(describe_status(status))}.</li>")
    out = f"<p>Stored results read by this page:</p><ul>{''.join(lines)}</ul>"
    if stale:
        out += ('<div class="admonition warning"><p class="admonition-title">Stale results</p>'
                "<p>The code that trains and scores these runs has changed since some of them "
                f"were trained:</p><ul>{''.join(stale)}</ul><p>The numbers may no longer be what "
                "this code gives. <code>ist run --check</code> lists them; <code>make results"
                "</code> after deleting the runs folder retrains them.</p></div>")
    return out



def live_check_table(check: pd.DataFrame) -> pd.DataFrame:
    """:func:`~ist_core.stats.spot_check`'s table for a page: methods by display name,
    one row per (dataset where several, method, level, fold, seed), 4 decimals."""
    keys = ["dataset", "method", "level", "fold", "seed"]
    if check["dataset"].nunique() == 1:
        keys.remove("dataset")
    named = check.assign(method=check["method"].map(lambda m: METHOD_NAMES.get(m, m)))
    return named.set_index(keys).drop(columns=[c for c in ("dataset",) if c not in keys]).round(4)

def live_check_text(check: pd.DataFrame) -> str:
    """One sentence on :func:`~ist_core.stats.spot_check`'s table, bold where a live run
    differs from its stored twin by more than the stored seeds' spread."""
    compared = check[check["value stored"].notna()]
    if compared.empty:
        return ("Nothing stored for these runs to compare with; the table shows the live "
                "numbers only.")
    moved = compared[compared["differs"].astype(bool)]
    if len(moved):
        names = ", ".join(f"{METHOD_NAMES.get(m, m)} ({d:+.3f})"
                          for m, d in zip(moved["method"], moved["difference"]))
        return (f"**The live runs differ from the stored ones by more than the stored seeds' "
                f"spread: {names}.** Every run, stored or live, trains on one CPU thread, so "
                "with the same code, library versions and processor the two agree to the last "
                "digit. Either the stored runs are stale (see the warning above, if any), or "
                "they were trained on another processor, a GPU or other library versions (the "
                "provenance above says where), which moves a macro-F1 by up to a few "
                "hundredths. Re-running `make results` here tells which.")
    largest = float(compared["difference"].abs().max())
    return (f"The live runs agree with the stored ones within the stored seeds' spread "
            f"(largest difference {largest:.4f}).")


def _level_words(levels) -> str:
    words = [_LEVEL.get(str(lv), str(lv)) for lv in levels]
    return and_list(dict.fromkeys(words))


def describe_differences(differences: pd.DataFrame) -> str:
    """A few sentences from :func:`~ist_core.stats.paired_differences` (against the
    baseline): per dataset, which rows are resolved above or below the baseline out of
    distribution and where, and how many differences the intervals leave open."""
    text = []
    for dataset, d in differences.groupby("dataset", sort=False):
        ood = d[d["level"].astype(str) != "iid"]
        parts = []
        for side, sign in (("above", 1), ("below", -1)):
            rows = ood[ood["resolved"] & (np.sign(ood["difference"]) == sign)]
            if len(rows):
                by = [f"{METHOD_NAMES.get(m, m)} ({_level_words(r['level'])})"
                      for m, r in rows.groupby("method", sort=False)]
                parts.append(f"{side} it: {'; '.join(by)}")
        open_ = ood[~ood["resolved"]]
        few = int((open_["pairs"] < fewest_pairs()).sum())
        held, reasons = len(open_) - few, []
        if held:
            reasons.append(f"{held} hold{'s' * (held == 1)} zero")
        if few:
            reasons.append(f"{few} rest{'s' * (few == 1)} on fewer than {fewest_pairs()} pairs")
        why = and_list(reasons)
        rest = "The other one" if len(open_) == 1 else f"The other {len(open_)}"
        text.append(
            f"On {DATASET_NAMES.get(dataset, dataset)}, of {len(ood)} out-of-distribution "
            f"differences from the baseline, the 95% intervals resolve "
            f"{int(ood['resolved'].sum())}: " + ("; ".join(parts) if parts else "none")
            + (f". {rest} ({why}): these folds and seeds cannot tell those rows from the "
               "baseline." if len(open_) else "."))
    return " ".join(text)


def _verdict(paper: float, ours: pd.Series) -> str:
    """``supports`` where our resolved interval (a row of
    :func:`~ist_core.stats.paired_differences`) lies on the paper's side of 0,
    ``contradicts`` where it lies on the other, ``cannot resolve`` where it holds 0 or rests
    on too few pairs."""
    if np.isnan(paper) or paper == 0 or not ours["resolved"]:
        return "cannot resolve"
    return "supports" if (ours["low"] > 0) == (paper > 0) else "contradicts"


def paper_claims(scores: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Table 1's comparisons, the paper's against ours on ``dataset`` (``scores`` tidy; its
    macro-F1 rows are used): per level, (1) IST against the naive baseline, (2) IST against the
    closest other method of the paper (the one our data puts nearest to or above IST).
    Each row: the paper's difference as printed, ours (paired difference [95% interval])
    and :func:`_verdict`."""
    paper = paper_table1_numbers()[f"{_PAPER.get(dataset, dataset)} (paper)"]
    f1 = scores
    if "metric" in f1.columns:
        f1 = f1[f1["metric"] == "macro_f1"]
    f1 = f1[f1["dataset"] == dataset]
    rows = []
    names = {m: METHOD_NAMES[m] for m in METHOD_NAMES}
    ist, base = method_for("proposed"), method_for("naive")
    rivals = [m for m in dict.fromkeys(f1["method"]) if m not in (ist, base)
              and names.get(m) in paper.index]
    for level in [lv for lv in _LEVEL if lv in set(f1["level"].astype(str))]:
        col = _LEVEL[level]
        here = f1[f1["level"].astype(str) == level]
        if not {ist, base} <= set(here["method"]):
            continue
        pi, pb = paper.loc[names[ist], col], paper.loc[names[base], col]
        d = paired_differences(here[here["method"].isin([ist, base])], against=base).iloc[0]
        rows.append({"claim": f"{names[ist]} - {names[base].lower()}", "level": col,
                     "paper": "nc" if np.isnan(pi) else f"{pi - pb:+.2f}",
                     "ours": interval_text(d), "verdict": _verdict(pi - pb, d)})
        worst = None
        for rival in rivals:
            pair = here[here["method"].isin([ist, rival])]
            if pair["method"].nunique() < 2:
                continue
            d = paired_differences(pair, against=rival).iloc[0]
            if worst is None or d["difference"] < worst[1]["difference"]:
                worst = (rival, d)
        if worst is not None:
            rival, d = worst
            pr = paper.loc[names[rival], col]
            rows.append({"claim": f"{names[ist]} - {names[rival]} (closest other row)", "level": col,
                         "paper": "nc" if np.isnan(pi) or np.isnan(pr) else f"{pi - pr:+.2f}",
                         "ours": interval_text(d), "verdict": _verdict(pi - pr, d)})
    return pd.DataFrame(rows, columns=["claim", "level", "paper", "ours", "verdict"])


def claims_text(claims: pd.DataFrame, dataset: str) -> str:
    """One sentence per comparison of :func:`paper_claims`: at which levels our intervals
    support the paper's sign, contradict it, or cannot tell."""
    name = DATASET_NAMES.get(dataset, dataset)
    if claims.empty:
        return f"On {name} nothing stored can check the paper's comparisons."
    text = []
    for claim, rows in claims.groupby(claims["claim"].str.split(" [(]").str[0], sort=False):
        verbs = {"supports": "support the paper's sign", "contradicts": "contradict it",
                 "cannot resolve": "cannot resolve it"}
        parts = [f"{verbs[verdict]} at {_level_words(r['level'])}"
                 for verdict, r in rows.groupby("verdict", sort=False)]
        text.append(f"On {name}, {claim}: our intervals " + "; ".join(parts) + ".")
    return " ".join(text)
