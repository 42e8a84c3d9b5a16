"""Table 1: our scores in the paper's layout, the paper's published numbers, and the two
side by side.

Input is a tidy frame ``scores`` with one row per measurement and the columns
``dataset, profile, method, level, fold, seed, metric, value``. A Table 1 column is one
(metric, level) pair (:data:`COLUMNS`); a cell is the mean ± sample sd over every fold
and seed of that method, "NA" where there is none.

The paper's numbers (:data:`PAPER_TABLE1`) live in their own frames
(:func:`paper_table1`) and are never merged into ours; :func:`compare_with_paper` and
:func:`agreement_sentences` only put the two next to each other.

Why one module of about 450 lines: the transcription of the paper's table, our numbers,
their HTML and markdown and the sentences comparing them share one layout (the columns
of :data:`COLUMNS`, the row and dataset names, what counts as the best cell); apart,
each would import the others' private layout helpers.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..methods import METHODS, method_for

__all__ = [
    "METHOD_NAMES",
    "NOT_IN_PAPER",
    "DATASET_NAMES",
    "COLUMNS",
    "PAPER_COLUMNS",
    "PAPER_TABLE1",
    "PAPER_BOLD",
    "PAPER_ROW_LABELS",
    "Table1Numbers",
    "table1_numbers",
    "table1",
    "table1_html",
    "table1_markdown",
    "paper_table1_numbers",
    "paper_table1",
    "paper_table1_html",
    "paper_table1_markdown",
    "compare_with_paper",
    "agreement_sentences",
    "signed",
]

# Method name -> display name, in the order of Table 1's rows, and the rows that bound
# every transfer and are not in the paper (marked * where shown): both from the methods'
# own classes (ist_core.methods.METHODS).
class _Labels(Mapping):
    """Method name -> display name, read from the registry at each use (a row registered
    later, e.g. in a notebook, is shown too)."""

    def __init__(self, keep=lambda cls: True):
        self._keep = keep

    def __getitem__(self, name: str) -> str:
        if name not in METHODS or not self._keep(METHODS[name]):
            raise KeyError(name)
        return METHODS[name].label

    def __iter__(self):
        return (name for name, cls in METHODS.items() if self._keep(cls))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


METHOD_NAMES: Mapping[str, str] = _Labels()
NOT_IN_PAPER: Mapping[str, str] = _Labels(lambda cls: not cls.in_paper)

# Dataset name -> display name, in the order the datasets sit side by side.
DATASET_NAMES: dict[str, str] = {
    "synthetic-grid": "GRID (synthetic)",
    "synthetic-lincs": "LINCS-SC (synthetic)",
    "grid": "GRID",
    "lincs-sc": "LINCS-SC",
}

# Table 1 column -> (metric, level) of the scores it shows. Higher is better in all.
COLUMNS: dict[str, tuple[str, str]] = {
    "IID": ("macro_f1", "iid"),
    "cLISI/bLISI": ("lisi_ratio", "iid"),
    "kNN BatchCV": ("knn_batch_cv", "iid"),
    "Level-1": ("macro_f1", "1"),
    "Level-2": ("macro_f1", "2"),
    "Level-3": ("macro_f1", "3"),
}

NA = "NA"

# --- the paper's Table 1, transcribed ---------------------------------------------------
# Every cell exactly as printed (its precision kept), "nc" (not computed) and "NA" as
# printed. The paper has no plain MixStyle row and reports no cLISI/bLISI for LINCS-SC.
PAPER_COLUMNS: dict[str, tuple[str, ...]] = {
    "GRID": ("IID", "cLISI/bLISI", "kNN BatchCV", "Level-1", "Level-2", "Level-3"),
    "LINCS-SC": ("IID", "kNN BatchCV", "Level-1", "Level-2", "Level-3"),
}
PAPER_TABLE1: dict[str, dict[str, tuple[str, ...]]] = {
    "GRID": {
        "baseline": ("0.55", "0.5417", "0.4458", "0.1877", "0.1381", "0.1254"),
        "baseline-knn": ("0.63", "0.5417", "0.4458", "0.1838", "0.1378", "0.1317"),
        "symphony-knn": ("0.50", "0.7340", "0.4404", "0.1797", "0.1474", "0.1325"),
        "dr": ("0.73", "1.0811", "0.6906", "0.1900", "0.1379", "0.1259"),
        "mixstyle-da": ("0.60", "0.6039", "0.5519", "0.1084", "nc", "nc"),
        "stargan2": ("0.20", "1.099", "0.1539", "0.1659", "0.1284", "0.0977"),
        "ist": ("0.60", "1.4963", "0.5815", "0.5839", "0.5350", "0.3673"),
    },
    "LINCS-SC": {
        "baseline": ("0.57", "0.1271", "NA", "0.4194", "0.0405"),
        "baseline-knn": ("0.55", "0.1271", "NA", "0.3897", "0.0452"),
        "symphony-knn": ("0.35", "0.1098", "NA", "0.2697", "0.0461"),
        "dr": ("0.56", "0.1381", "NA", "0.4256", "0.0438"),
        "mixstyle-da": ("0.41", "nc", "NA", "0.4250", "0.0450"),
        "stargan2": ("nc", "nc", "NA", "nc", "nc"),
        "ist": ("0.53", "0.3304", "NA", "0.7016", "0.3138"),
    },
}
# (paper dataset, method, column) of the cells the paper prints in bold.
PAPER_BOLD: frozenset[tuple[str, str, str]] = frozenset({
    ("GRID", "dr", "IID"), ("GRID", "ist", "cLISI/bLISI"), ("GRID", "dr", "kNN BatchCV"),
    ("GRID", "ist", "Level-1"), ("GRID", "ist", "Level-2"), ("GRID", "ist", "Level-3"),
    ("LINCS-SC", "baseline", "IID"), ("LINCS-SC", "ist", "kNN BatchCV"),
    ("LINCS-SC", "ist", "Level-2"), ("LINCS-SC", "ist", "Level-3"),
})
# The paper's own row labels where they differ from METHOD_NAMES.
PAPER_ROW_LABELS: dict[str, str] = {"dr": "DR α = 0.0625", "ist": "IST (ours)"}

PAPER_CAPTION = ("Table 1 as published (Pernice et al., CVPRW 2023): macro-F1 of the "
                 "predictors, LISI ratio and kNN batch-CV. The paper's DR row is its "
                 "α = 0.0625 model; it has no plain MixStyle row and no cLISI/bLISI for "
                 "LINCS-SC. nc: not computed; NA: not available.")


# --- our numbers ----------------------------------------------------------------------
class Table1Numbers(NamedTuple):
    """Mean, sample sd and number of values behind each cell of :func:`table1`."""

    mean: pd.DataFrame
    sd: pd.DataFrame
    count: pd.DataFrame


def _select(scores: pd.DataFrame, profile: str | None) -> pd.DataFrame:
    """The rows of one profile, with the Table 1 column each row belongs to."""
    if profile is not None:
        scores = scores[scores["profile"] == profile]
    elif "profile" in scores and scores["profile"].nunique() > 1:
        raise ValueError(f"scores hold several profiles {sorted(scores['profile'].unique())}; "
                         "pick one with profile=")
    keys = pd.DataFrame([(col, metric, level) for col, (metric, level) in COLUMNS.items()],
                        columns=["column", "metric", "level"])
    return scores.assign(level=scores["level"].astype(str)).merge(keys, on=["metric", "level"])


def _datasets(scores: pd.DataFrame, datasets: Sequence[str] | None) -> list[str]:
    """The datasets to show: as asked, or the known ones present in display order, then
    any others in order of appearance."""
    if datasets is not None:
        return list(datasets)
    present = list(dict.fromkeys(scores["dataset"]))
    return [d for d in DATASET_NAMES if d in present] + [d for d in present
                                                         if d not in DATASET_NAMES]


def _methods(scores: pd.DataFrame) -> list[str]:
    """Every method of METHOD_NAMES, then any others of ``scores``."""
    return [*METHOD_NAMES, *(m for m in dict.fromkeys(scores["method"]) if m not in METHOD_NAMES)]


def _layout(datasets: Sequence[str], methods: Sequence[str], names: dict[str, str]):
    """Row and column index of a Table 1 frame (display names)."""
    columns = pd.MultiIndex.from_tuples(
        [(names.get(d, d), col) for d in datasets for col in COLUMNS], names=["dataset", "column"])
    index = pd.Index([METHOD_NAMES.get(m, m) for m in methods], name="method")
    return index, columns


def table1_numbers(scores: pd.DataFrame, datasets: Sequence[str] | None = None,
                   profile: str | None = None) -> Table1Numbers:
    """Mean, sample sd (NaN from one value) and count per Table 1 cell: rows are the
    methods (display names, every method of METHOD_NAMES), columns (dataset, column)."""
    frame = _select(scores, profile)
    datasets, methods = _datasets(scores, datasets), _methods(scores)
    stats = frame.groupby(["method", "dataset", "column"])["value"].agg(["mean", "std", "count"])
    full = pd.MultiIndex.from_product([datasets, list(COLUMNS)])
    index, columns = _layout(datasets, methods, DATASET_NAMES)
    out = []
    for stat in ("mean", "std", "count"):
        wide = stats[stat].unstack(["dataset", "column"]) if len(stats) else pd.DataFrame()
        wide = wide.reindex(index=methods, columns=full)
        wide.index, wide.columns = index, columns
        out.append(wide.fillna(0).astype(int) if stat == "count" else wide.astype(float))
    return Table1Numbers(*out)


def _cell(mean: float, sd: float, decimals: int) -> str:
    """'0.62 ± 0.03', '0.62' without a spread, 'NA' without a value."""
    if pd.isna(mean):
        return NA
    return f"{mean:.{decimals}f}" if pd.isna(sd) else f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def _best(values: pd.DataFrame) -> pd.DataFrame:
    """True at the highest value of each column (all of them when tied), never at NaN."""
    top = values.max(axis=0)
    close = np.isclose(values.to_numpy(float), top.to_numpy(float)[None, :], rtol=0, atol=1e-12)
    return pd.DataFrame(close & values.notna().to_numpy(), index=values.index,
                        columns=values.columns)


def table1(scores: pd.DataFrame, datasets: Sequence[str] | None = None,
           profile: str | None = None, decimals: int = 2) -> pd.DataFrame:
    """Table 1 in the paper's layout, cells as 'mean ± sd' strings (see module doc)."""
    numbers = table1_numbers(scores, datasets, profile)
    return _format(numbers, decimals)


def _format(numbers: Table1Numbers, decimals: int) -> pd.DataFrame:
    """The strings of :func:`table1` from its numbers."""
    cells = [[_cell(m, s, decimals) for m, s in zip(mrow, srow)]
             for mrow, srow in zip(numbers.mean.to_numpy(), numbers.sd.to_numpy())]
    return pd.DataFrame(cells, index=numbers.mean.index, columns=numbers.mean.columns)


def table1_html(scores: pd.DataFrame, datasets: Sequence[str] | None = None,
                caption: str | None = None, profile: str | None = None,
                decimals: int = 2) -> str:
    """:func:`table1` as an HTML table, the best mean of each column in ``<b>`` (for
    ``IPython.display.HTML``)."""
    numbers = table1_numbers(scores, datasets, profile)
    return _html(_format(numbers, decimals), _best(numbers.mean), caption)


def table1_markdown(scores: pd.DataFrame, datasets: Sequence[str] | None = None,
                    caption: str | None = None, profile: str | None = None,
                    decimals: int = 2) -> str:
    """:func:`table1` as a GitHub markdown table, the best mean of each column in ``**``."""
    numbers = table1_numbers(scores, datasets, profile)
    return _markdown(_format(numbers, decimals), _best(numbers.mean), caption)


# --- rendering ------------------------------------------------------------------------
def _html(text: pd.DataFrame, bold: pd.DataFrame, caption: str | None) -> str:
    """A hand-built HTML table: one header row of datasets, one of columns."""
    esc = html.escape
    groups = list(dict.fromkeys(text.columns.get_level_values(0)))
    spans = text.columns.get_level_values(0).value_counts()
    # the two datasets side by side are wider than a book page: small type, no wrapping,
    # a rule between datasets, and a horizontal scroll bar where the page is narrower still
    cell = "white-space:nowrap;padding:2px 6px;text-align:center"
    first = [i == 0 or text.columns[i][0] != text.columns[i - 1][0] for i in range(text.shape[1])]
    rule = ["border-left:1px solid #999;" if f else "" for f in first]
    lines = ['<div style="overflow-x:auto">',
             '<table class="ist-table1" style="font-size:0.78em;border-collapse:collapse">']
    if caption:
        lines.append(f'<caption style="caption-side:top;text-align:left">{esc(caption)}</caption>')
    lines.append("<thead>")
    lines.append("<tr><th></th>" + "".join(
        f'<th colspan="{spans[g]}" style="{cell};border-left:1px solid #999">{esc(g)}</th>'
        for g in groups) + "</tr>")
    lines.append('<tr><th style="text-align:left">method</th>' + "".join(
        f'<th style="{r}{cell}">{esc(col)}</th>'
        for r, col in zip(rule, text.columns.get_level_values(1))) + "</tr>")
    lines.append("</thead>")
    lines.append("<tbody>")
    for (method, row), (_, marks) in zip(text.iterrows(), bold.iterrows()):
        cells = "".join(f'<td style="{r}{cell}"><b>{esc(v)}</b></td>' if b
                        else f'<td style="{r}{cell}">{esc(v)}</td>'
                        for r, v, b in zip(rule, row, marks))
        lines.append(f'<tr><th style="white-space:nowrap;text-align:left">{esc(method)}</th>'
                     f"{cells}</tr>")
    lines.append("</tbody>")
    lines.append("</table>")
    lines.append("</div>")
    return "\n".join(lines)


def _markdown(text: pd.DataFrame, bold: pd.DataFrame, caption: str | None) -> str:
    """A GitHub markdown table, headers 'dataset · column'."""
    header = ["method", *(f"{d} · {c}" for d, c in text.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":-:"] * len(text.columns))
             + "|"]
    for (method, row), (_, marks) in zip(text.iterrows(), bold.iterrows()):
        cells = [f"**{v}**" if b else v for v, b in zip(row, marks)]
        lines.append("| " + " | ".join([method, *cells]) + " |")
    table = "\n".join(lines)
    return f"{caption}\n\n{table}" if caption else table


# --- the paper's numbers --------------------------------------------------------------
def _paper_key(paper_dataset: str) -> str:
    """'GRID', 'GRID (paper)', 'grid' -> 'GRID'; 'LINCS-SC', 'lincs', ... -> 'LINCS-SC'."""
    key = paper_dataset.removesuffix(" (paper)").strip().lower()
    aliases = {"grid": "GRID", "lincs": "LINCS-SC", "lincs-sc": "LINCS-SC"}
    if key not in aliases:
        raise KeyError(f"the paper's Table 1 has no dataset {paper_dataset!r}; "
                       f"it has {list(PAPER_TABLE1)}")
    return aliases[key]


def _paper_text() -> pd.DataFrame:
    """The paper's cells as printed, in our layout ('NA' where it reports nothing)."""
    datasets = list(PAPER_TABLE1)
    ours_only = [m for m in METHOD_NAMES if m not in NOT_IN_PAPER]
    index, columns = _layout(datasets, ours_only, {d: f"{d} (paper)" for d in datasets})
    text = pd.DataFrame(NA, index=index, columns=columns)
    for dataset, rows in PAPER_TABLE1.items():
        for method, values in rows.items():
            for col, value in zip(PAPER_COLUMNS[dataset], values):
                text.loc[METHOD_NAMES[method], (f"{dataset} (paper)", col)] = value
    return text


def _paper_bold(text: pd.DataFrame) -> pd.DataFrame:
    """True at the cells the paper prints in bold."""
    bold = pd.DataFrame(False, index=text.index, columns=text.columns)
    for dataset, method, col in PAPER_BOLD:
        bold.loc[METHOD_NAMES[method], (f"{dataset} (paper)", col)] = True
    return bold


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 in the layout of :func:`table1`: datasets 'GRID (paper)' and
    'LINCS-SC (paper)', cells as printed ('nc', 'NA' kept), 'NA' for the MixStyle row and
    LINCS-SC's cLISI/bLISI, which the paper does not report."""
    return _paper_text()


def paper_table1_numbers() -> pd.DataFrame:
    """:func:`paper_table1` as floats, NaN for 'nc' and 'NA'."""
    return _paper_text().apply(pd.to_numeric, errors="coerce").astype(float)


def paper_table1_html(caption: str | None = PAPER_CAPTION) -> str:
    """:func:`paper_table1` as HTML, with the paper's bold cells in ``<b>``."""
    text = _paper_text()
    return _html(text, _paper_bold(text), caption)


def paper_table1_markdown(caption: str | None = PAPER_CAPTION) -> str:
    """:func:`paper_table1` as GitHub markdown, the paper's bold cells in ``**``."""
    text = _paper_text()
    return _markdown(text, _paper_bold(text), caption)


# --- ours next to the paper's ---------------------------------------------------------
def _dataset_key(scores: pd.DataFrame, dataset: str) -> str:
    """The raw dataset name of ``dataset`` (raw or display name)."""
    if dataset in set(scores["dataset"]) or dataset in DATASET_NAMES:
        return dataset
    back = {v: k for k, v in DATASET_NAMES.items()}
    return back.get(dataset, dataset)


def compare_with_paper(scores: pd.DataFrame, dataset: str, paper_dataset: str,
                       profile: str | None = None) -> pd.DataFrame:
    """One row per method and Table 1 column: our mean (``ours``), the paper's value
    (``paper``, NaN for nc/NA), and whether the method is the best of its column in our
    table (``best_ours``) and in the paper's (``best_paper``; ties all True). Rows with
    neither number are left out."""
    key = _dataset_key(scores, dataset)
    ours = table1_numbers(scores, [key], profile).mean
    ours = ours[DATASET_NAMES.get(key, key)]
    paper_name = _paper_key(paper_dataset)
    paper = paper_table1_numbers()[f"{paper_name} (paper)"]
    paper = paper.reindex(ours.index)
    pbold = _best(paper)
    obold = _best(ours)
    rows = [{"method": method, "column": col, "ours": ours.loc[method, col],
             "paper": paper.loc[method, col], "best_ours": bool(obold.loc[method, col]),
             "best_paper": bool(pbold.loc[method, col])}
            for col in COLUMNS for method in ours.index]
    out = pd.DataFrame(rows)
    return out[out["ours"].notna() | out["paper"].notna()].reset_index(drop=True)


def and_list(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C' (the report's sentences name things this way)."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _has(methods: Sequence[str]) -> str:
    return "have" if len(methods) > 1 else "has"


def signed(value: float, decimals: int = 2) -> str:
    """A difference for prose, with its sign: ``+0.05``, ``-0.12``; one that rounds to
    zero is ``+0.00``, never ``-0.00``."""
    rounded = round(float(value), decimals) + 0.0  # -0.0 + 0.0 is 0.0
    return f"{rounded:+.{decimals}f}"


def _relation(a: float, b: float) -> str:
    return "ahead of" if a > b else "behind" if a < b else "level with"


def _where(col: str) -> str:
    """'At Level-2', 'At IID', 'On kNN BatchCV'."""
    return f"At {col}" if col == "IID" or col.startswith("Level") else f"On {col}"


def _ist_sentence(col: str, rows: pd.DataFrame, printed: pd.Series) -> str | None:
    """IST against the baseline in one column, here and in the paper; None when any of
    the four numbers is missing. Ours compared at the printed two decimals, the
    paper's (``printed``: its cells as printed, by method) at its own precision."""
    ist, base = METHOD_NAMES[method_for("proposed")], METHOD_NAMES[method_for("naive")]
    if not {ist, base} <= set(rows.index):
        return None
    oi, ob = rows.loc[ist, "ours"], rows.loc[base, "ours"]
    pi, pb = rows.loc[ist, "paper"], rows.loc[base, "paper"]
    if pd.isna([oi, ob, pi, pb]).any():
        return None
    here = _relation(round(oi, 2), round(ob, 2))
    there = _relation(pi, pb)
    verdict = (f"{here} the baseline, as in the paper" if here == there else
               f"{here} the baseline here but {there} it in the paper")
    return (f"{_where(col)}, IST scores {oi:.2f} against the baseline's {ob:.2f} "
            f"(paper: {printed[ist]} against {printed[base]}): {verdict}.")


def _best_sentence(col: str, rows: pd.DataFrame) -> str | None:
    """The best method of one column here and in the paper, with how many methods each
    table scores there; None when either scores fewer than two. A winner that the other
    table does not score is said so."""
    n_ours, n_paper = int(rows["ours"].notna().sum()), int(rows["paper"].notna().sum())
    if n_ours < 2 or n_paper < 2:
        return None
    ours_best = list(rows.index[rows["best_ours"]])
    paper_best = list(rows.index[rows["best_paper"]])
    verb = "are" if len(ours_best) > 1 else "is"
    best = "best methods" if len(ours_best) > 1 else "best method"
    if set(ours_best) == set(paper_best):
        return (f"{_where(col)}, the {best} {verb} {and_list(ours_best)} here (of {n_ours} "
                f"scored) and in the paper (of {n_paper}).")
    missing = [m for m in ours_best if pd.isna(rows.loc[m, "paper"])]
    note = f"; {and_list(missing)} {_has(missing)} no number in the paper" if missing else ""
    pmissing = [m for m in paper_best if pd.isna(rows.loc[m, "ours"])]
    pnote = f"; {and_list(pmissing)} {_has(pmissing)} no number here" if pmissing else ""
    pverb = "they are" if len(paper_best) > 1 else "it is"
    return (f"{_where(col)}, the {best} {verb} {and_list(ours_best)} here (of {n_ours} scored); "
            f"in the paper {pverb} {and_list(paper_best)} (of {n_paper}){note}{pnote}.")


def agreement_sentences(scores: pd.DataFrame, dataset: str, paper_dataset: str,
                        profile: str | None = None) -> list[str]:
    """Plain sentences from :func:`compare_with_paper`, per column: IST against the
    baseline here and in the paper, then the best method here and in the paper. A
    sentence whose numbers are missing is left out."""
    table = compare_with_paper(scores, dataset, paper_dataset, profile)
    printed = _paper_text()[f"{_paper_key(paper_dataset)} (paper)"]
    sentences = []
    for col in COLUMNS:
        rows = table[table["column"] == col].set_index("method")
        if rows.empty:
            continue
        for sentence in (_ist_sentence(col, rows, printed[col]), _best_sentence(col, rows)):
            if sentence:
                sentences.append(sentence)
    return sentences
