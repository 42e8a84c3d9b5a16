"""Table 1 in the paper's layout, the paper's own numbers, and the two compared
(ist_core.report.tables)."""

import re
import statistics
from html.parser import HTMLParser

import pandas as pd
import pytest

from ist_core import report
from ist_core.report import tables

PAPER_ORDER = ["Baseline", "Baseline kNN", "Symphony kNN", "DR", "MixStyle", "MixStyle-DA",
               "StarGANv2", "IST"]
# ours adds the two rows that bound every transfer (not in the paper, marked *)
ORDER = [*PAPER_ORDER, "Histogram matching*", "Oracle*"]
COLS = ["IID", "cLISI/bLISI", "kNN BatchCV", "Level-1", "Level-2", "Level-3"]


def rows(dataset, method, level, metric, values, profile="quick"):
    """One row per value, the values spread over folds and seeds."""
    return [{"dataset": dataset, "profile": profile, "method": method, "level": level,
             "fold": i % 2, "seed": i // 2, "metric": metric, "value": v}
            for i, v in enumerate(values)]


def scores(ist_level2=(0.40, 0.44)):
    """Baseline, DR and IST on synthetic-grid; baseline and IST on synthetic-lincs (no
    Level-1 there)."""
    g = "synthetic-grid"
    out = [
        *rows(g, "baseline", "iid", "macro_f1", [0.5, 0.7]),
        *rows(g, "dr", "iid", "macro_f1", [0.8, 0.9, 0.85]),
        *rows(g, "ist", "iid", "macro_f1", [0.6, 0.62]),
        *rows(g, "baseline", "iid", "lisi_ratio", [0.5, 0.6]),
        *rows(g, "ist", "iid", "lisi_ratio", [1.3]),
        *rows(g, "baseline", "iid", "knn_batch_cv", [0.4, 0.45]),
        *rows(g, "ist", "iid", "knn_batch_cv", [0.55, 0.58]),
        *rows(g, "baseline", "iid", "lisi_cause", [3.0, 3.1]),  # not a Table 1 column
        *rows(g, "baseline", "1", "macro_f1", [0.2, 0.22]),
        *rows(g, "ist", "1", "macro_f1", [0.5, 0.52]),
        *rows(g, "baseline", "2", "macro_f1", [0.12, 0.16]),
        *rows(g, "dr", "2", "macro_f1", [0.13, 0.14]),
        *rows(g, "ist", "2", "macro_f1", list(ist_level2)),
        *rows(g, "baseline", "3", "macro_f1", [0.10, 0.14]),
        *rows(g, "ist", "3", "macro_f1", [0.30, 0.34]),
        *rows("synthetic-lincs", "baseline", "iid", "macro_f1", [0.6]),
        *rows("synthetic-lincs", "ist", "3", "macro_f1", [0.3, 0.2]),
    ]
    return pd.DataFrame(out)


class Cells(HTMLParser):
    """(row header, [(cell text, bold)]) of every body row of an HTML table."""

    def __init__(self):
        super().__init__()
        self.rows, self.tag, self.bold, self.body = [], None, False, False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self.body = True
        elif self.body and tag == "tr":
            self.rows.append([None, []])
        elif self.body and tag in ("th", "td"):
            self.tag = tag
        elif tag == "b":
            self.bold = True

    def handle_endtag(self, tag):
        if tag == "b":
            self.bold = False

    def handle_data(self, data):
        if not self.body or not data.strip() or self.tag is None:
            return
        if self.tag == "th":
            self.rows[-1][0] = data
        else:
            self.rows[-1][1].append((data, self.bold))
        self.tag = None


def parse(html):
    parser = Cells()
    parser.feed(html)
    return parser.rows


def test_cells_are_mean_and_sample_sd_over_folds_and_seeds():
    table = tables.table1(scores())
    grid = "GRID (synthetic)"
    mean, sd = statistics.mean([0.5, 0.7]), statistics.stdev([0.5, 0.7])
    assert table.loc["Baseline", (grid, "IID")] == f"{mean:.2f} ± {sd:.2f}" == "0.60 ± 0.14"
    assert table.loc["DR", (grid, "IID")] == "0.85 ± 0.05"
    assert table.loc["IST", (grid, "cLISI/bLISI")] == "1.30"  # one value: no spread
    assert table.loc["Baseline", ("LINCS-SC (synthetic)", "IID")] == "0.60"
    assert table.loc["IST", ("LINCS-SC (synthetic)", "Level-3")] == "0.25 ± 0.07"
    numbers = tables.table1_numbers(scores())
    assert numbers.count.loc["DR", (grid, "IID")] == 3
    assert numbers.mean.loc["IST", (grid, "Level-2")] == pytest.approx(0.42)


def test_absent_methods_and_levels_are_na():
    table = tables.table1(scores())
    assert (table.loc["StarGANv2"] == "NA").all()
    assert table.loc["DR", ("GRID (synthetic)", "Level-1")] == "NA"
    assert (table["LINCS-SC (synthetic)"]["Level-1"] == "NA").all()
    assert tables.table1_numbers(scores()).count.loc["StarGANv2"].sum() == 0


def test_rows_and_columns_follow_the_paper_layout():
    table = tables.table1(scores())
    assert list(table.index) == ORDER
    assert list(table.columns) == [(d, c) for d in ("GRID (synthetic)", "LINCS-SC (synthetic)")
                                   for c in COLS]
    # datasets as asked, a known one without rows all NA, an unknown name shown as given
    table = tables.table1(scores(), datasets=["synthetic-lincs", "grid", "mine"])
    assert list(dict.fromkeys(table.columns.get_level_values(0))) == \
        ["LINCS-SC (synthetic)", "GRID", "mine"]
    assert (table["GRID"] == "NA").all().all()
    # a method outside METHOD_NAMES comes after the known ones
    new = pd.DataFrame(rows("synthetic-grid", "new", "2", "macro_f1", [0.9]))
    extra = pd.concat([scores(), new])
    assert list(tables.table1(extra).index) == [*ORDER, "new"]


def test_levels_given_as_integers_land_in_the_same_columns():
    frame = scores()
    frame["level"] = frame["level"].map(lambda lvl: lvl if lvl == "iid" else int(lvl))
    assert tables.table1(frame).equals(tables.table1(scores()))


def test_several_profiles_must_be_told_apart():
    both = pd.concat([scores(), scores().assign(profile="full", value=0.99)])
    with pytest.raises(ValueError, match="profile"):
        tables.table1(both)
    full = tables.table1(both, profile="full")
    assert full.loc["IST", ("GRID (synthetic)", "IID")] == "0.99 ± 0.00"
    assert tables.table1(both, profile="quick").equals(tables.table1(scores()))


def test_html_bolds_the_highest_mean_of_each_column_and_only_it():
    html = tables.table1_html(scores(), datasets=["synthetic-grid"], caption="Ours")
    assert ">Ours</caption>" in html
    body = parse(html)
    assert [name for name, _ in body] == ORDER
    bold = {(name, COLS[j]) for name, cells in body for j, (_, b) in enumerate(cells) if b}
    means = tables.table1_numbers(scores(), ["synthetic-grid"]).mean["GRID (synthetic)"]
    expected = {(means[c].idxmax(), c) for c in COLS if means[c].notna().any()}
    assert bold == expected
    assert bold == {("DR", "IID"), ("IST", "cLISI/bLISI"), ("IST", "kNN BatchCV"),
                    ("IST", "Level-1"), ("IST", "Level-2"), ("IST", "Level-3")}
    cells = dict(body)
    assert cells["DR"][0] == ("0.85 ± 0.05", True)
    assert cells["StarGANv2"][0] == ("NA", False)


def test_ties_are_all_bold():
    tied = scores(ist_level2=(0.12, 0.16))  # IST's Level-2 mean equals the baseline's
    body = dict(parse(tables.table1_html(tied, datasets=["synthetic-grid"])))
    level2 = COLS.index("Level-2")
    assert {m for m, cells in body.items() if cells[level2][1]} == {"Baseline", "IST"}


def test_markdown_marks_the_best_with_stars():
    md = tables.table1_markdown(scores(), datasets=["synthetic-grid"], caption="Ours")
    lines = md.splitlines()
    assert lines[0] == "Ours"
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header[0] == "method" and header[1:] == [f"GRID (synthetic) · {c}" for c in COLS]
    body = {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines[4:])}
    assert list(body) == ORDER
    assert body["DR"][0] == "**0.85 ± 0.05**"
    assert body["Baseline"][0] == "0.60 ± 0.14"
    assert sum(cell.startswith("**") for cells in body.values() for cell in cells) == 6


def test_paper_table_transcribes_the_published_numbers():
    paper = tables.paper_table1()
    assert list(paper.index) == PAPER_ORDER
    assert list(paper.columns) == [(d, c) for d in ("GRID (paper)", "LINCS-SC (paper)")
                                   for c in COLS]
    grid, lincs = paper["GRID (paper)"], paper["LINCS-SC (paper)"]
    assert grid.loc["Baseline", "IID"] == "0.55"
    assert grid.loc["DR", "kNN BatchCV"] == "0.6906"
    assert grid.loc["StarGANv2", "cLISI/bLISI"] == "1.099"
    assert grid.loc["IST", "Level-2"] == "0.5350"
    assert grid.loc["Symphony kNN", "Level-3"] == "0.1325"
    assert lincs.loc["IST", "Level-3"] == "0.3138"
    assert lincs.loc["MixStyle-DA", "Level-2"] == "0.4250"
    assert lincs.loc["Baseline kNN", "kNN BatchCV"] == "0.1271"
    # structure: nc where not computed, NA where absent
    assert list(grid.loc["MixStyle-DA", ["Level-2", "Level-3"]]) == ["nc", "nc"]
    assert list(lincs.loc["StarGANv2"]) == ["nc", "NA", "nc", "NA", "nc", "nc"]
    assert (lincs["Level-1"] == "NA").all() and (lincs["cLISI/bLISI"] == "NA").all()
    assert (paper.loc["MixStyle"] == "NA").all()
    assert tables.PAPER_ROW_LABELS["dr"] == "DR α = 0.0625"
    numbers = tables.paper_table1_numbers()
    assert numbers.loc["IST", ("GRID (paper)", "cLISI/bLISI")] == 1.4963
    assert numbers.loc["MixStyle-DA", ("GRID (paper)", "Level-2")] != \
        numbers.loc["MixStyle-DA", ("GRID (paper)", "Level-2")]  # nc -> NaN


def test_paper_html_bolds_the_papers_bold_cells():
    body = parse(tables.paper_table1_html())
    cols = [(d, c) for d in ("GRID", "LINCS-SC") for c in COLS]
    bold = {(d, name, c) for name, cells in body for (d, c), (_, b) in zip(cols, cells) if b}
    assert bold == {(d, tables.METHOD_NAMES[m], c) for d, m, c in tables.PAPER_BOLD}
    assert ("GRID", "IST", "Level-1") in bold and ("LINCS-SC", "Baseline", "IID") in bold
    assert len(bold) == 10
    # the paper bolds the highest number of each column it reports
    numbers = tables.paper_table1_numbers()
    for d, method, c in tables.PAPER_BOLD:
        column = numbers[(f"{d} (paper)", c)]
        assert column.loc[tables.METHOD_NAMES[method]] == column.max()
    md = tables.paper_table1_markdown(caption=None)
    assert md.count("**") == 2 * len(tables.PAPER_BOLD) and "**0.3304**" in md


def test_paper_frames_stay_apart_from_ours():
    ours = tables.table1(scores())
    assert not set(ours.columns.get_level_values(0)) & \
        set(tables.paper_table1().columns.get_level_values(0))


def test_compare_with_paper_puts_ours_next_to_the_papers():
    table = tables.compare_with_paper(scores(), "synthetic-grid", "GRID")
    assert list(table.columns) == ["method", "column", "ours", "paper", "best_ours", "best_paper"]
    row = table[(table["method"] == "IST") & (table["column"] == "Level-2")].iloc[0]
    assert row["ours"] == pytest.approx(0.42) and row["paper"] == 0.5350
    assert row["best_ours"] and row["best_paper"]
    row = table[(table["method"] == "DR") & (table["column"] == "IID")].iloc[0]
    assert row["best_ours"] and row["best_paper"]
    # MixStyle: neither table has a number, so no row
    assert "MixStyle" not in set(table["method"])
    # paper names in either spelling
    assert tables.compare_with_paper(scores(), "GRID (synthetic)", "GRID (paper)").equals(table)


def test_sentences_follow_agreement_with_the_paper():
    agree = tables.agreement_sentences(scores(), "synthetic-grid", "GRID")
    assert ("At Level-2, IST scores 0.42 against the baseline's 0.14 (paper: 0.5350 against "
            "0.1381): ahead of the baseline, as in the paper.") in agree
    assert ("At Level-2, the best method is IST here (of 3 scored) and in the paper (of 6)."
            in agree)
    disagree = tables.agreement_sentences(scores(ist_level2=(0.05, 0.07)), "synthetic-grid",
                                          "GRID")
    assert ("At Level-2, IST scores 0.06 against the baseline's 0.14 (paper: 0.5350 against "
            "0.1381): behind the baseline here but ahead of it in the paper.") in disagree
    assert ("At Level-2, the best method is Baseline here (of 3 scored); in the paper it is IST "
            "(of 6).") in disagree
    assert [s for s in agree if "Level-2" not in s] == [s for s in disagree if "Level-2" not in s]


def test_sentences_name_a_winner_the_other_table_lacks():
    sentences = tables.agreement_sentences(scores(), "synthetic-grid", "GRID")
    iid = [s for s in sentences if s.startswith("At IID, the best")]
    assert iid == ["At IID, the best method is DR here (of 3 scored) and in the paper (of 7)."]
    extra = pd.concat([scores(), pd.DataFrame(rows("synthetic-grid", "mixstyle", "iid",
                                                   "macro_f1", [0.95]))])
    iid = [s for s in tables.agreement_sentences(extra, "synthetic-grid", "GRID")
           if s.startswith("At IID, the best")]
    assert iid == ["At IID, the best method is MixStyle here (of 4 scored); in the paper it is "
                   "DR (of 7); MixStyle has no number in the paper."]


def test_sentences_skip_missing_numbers():
    sentences = tables.agreement_sentences(scores(), "synthetic-lincs", "LINCS-SC")
    # LINCS: IST has no IID row here, the paper no Level-1 or cLISI/bLISI, we only one
    # method at Level-3: nothing to say but nothing invented either
    assert sentences == []
    assert all(not re.search(r"\bnan\b|NA\b", s) for s in
               tables.agreement_sentences(scores(), "synthetic-grid", "GRID"))
    # no Level-1 or cLISI/bLISI sentence where the paper has no number
    assert not any("Level-1" in s or "cLISI" in s for s in sentences)


def test_signed_differences_keep_their_sign_and_never_print_minus_zero():
    assert [report.signed(v) for v in (0.054, -0.121, -0.004, 0.004, 0.0)] == \
        ["+0.05", "-0.12", "+0.00", "+0.00", "+0.00"]
    assert report.signed(-0.0004, 3) == "+0.000" and report.signed(-0.0006, 3) == "-0.001"
