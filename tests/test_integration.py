"""Symphony kNN (Table 1's post-hoc correction baseline): batch mixing, query mapping,
determinism, input checks and silence."""

import importlib.util
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from ist_core.integration import SymphonyResult, symphony_knn
from ist_core.metrics import lisi, macro_f1

# symphonypy comes with the book extra; input checks and the ImportError run without it
needs_symphonypy = pytest.mark.skipif(importlib.util.find_spec("symphonypy") is None,
                                      reason="symphonypy is not installed (book extra)")


def _confounded_features(seed=0, causes=4, batches=4, per=40, dim=16):
    """Cause clusters seen through OE-specific offsets.

    Each cause has a centre (N(0, 3) per feature, so centres lie about 17 apart), each
    cell unit noise. The reference OEs shift their cells by random offsets of norm ~6:
    within an OE the causes separate, but the OEs do not overlap. The unseen query OE
    shifts its cells by 12 along the line from cause 0 to cause 1, i.e. 70 % of the
    way, so in the raw features its cause-0 cells sit closer to the reference's cause 1.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3.0, (causes, dim))
    towards = centres[1] - centres[0]
    offsets = np.vstack([rng.normal(0, 6.0 / np.sqrt(dim), (batches, dim)),
                         12.0 * towards / np.linalg.norm(towards)])

    def cells(oe):
        y = np.repeat(np.arange(causes), per)
        return centres[y] + offsets[oe] + rng.normal(0, 1, (len(y), dim)), y

    parts = [cells(oe) for oe in range(batches)]
    ref = np.vstack([x for x, _ in parts])
    ref_labels = np.concatenate([y for _, y in parts])
    ref_batches = np.repeat([f"oe{oe}" for oe in range(batches)], causes * per)
    query, query_labels = cells(batches)
    return ref, ref_batches, ref_labels, query, query_labels


@needs_symphonypy
def test_symphony_mixes_reference_oes_and_corrects_an_unseen_oe():
    ref, batches, labels, query, truth = _confounded_features()
    result = symphony_knn(ref, batches, labels, query, k=15, seed=0)

    # reference: OEs separate in the raw features (bLISI ~1 of 4) and mix after
    # Harmony, while the causes stay apart (cLISI ~1)
    assert np.median(lisi(ref, batches)) < 1.3          # measured 1.05
    assert np.median(lisi(result.ref_embedding, batches)) > 2.5   # measured 3.27
    assert np.median(lisi(result.ref_embedding, labels)) < 1.2    # measured 1.00

    # query from an unseen OE: plain kNN on the raw features is fooled by its offset,
    # Symphony's mapping removes most of it
    raw = KNeighborsClassifier(15).fit(ref, labels).predict(query)
    raw_f1, symphony_f1 = macro_f1(truth, raw), macro_f1(truth, result.predicted)
    assert raw_f1 < 0.75                                 # measured 0.67
    assert symphony_f1 > 0.78                            # measured 0.83
    assert symphony_f1 > raw_f1 + 0.1


@needs_symphonypy
def test_symphony_knn_returns_shapes_and_is_deterministic_for_a_seed():
    ref, batches, labels, query, _ = _confounded_features(seed=1, per=20)
    first = symphony_knn(ref, batches, labels, query, seed=3)
    second = symphony_knn(ref, batches, labels, query, seed=3)
    assert isinstance(first, SymphonyResult)
    assert first.predicted.shape == (len(query),)
    assert set(first.predicted) <= set(labels)
    assert first.ref_embedding.shape == (len(ref), 16)   # n_pcs = min(20, D)
    assert first.query_embedding.shape == (len(query), 16)
    np.testing.assert_array_equal(first.predicted, second.predicted)
    np.testing.assert_array_equal(first.ref_embedding, second.ref_embedding)
    np.testing.assert_array_equal(first.query_embedding, second.query_embedding)


@needs_symphonypy
def test_topn_keeps_only_the_most_variable_features():
    rng = np.random.default_rng(2)
    ref = np.c_[rng.normal(0, 5, (120, 3)), rng.normal(0, 1, (120, 5))]
    batches, labels = np.repeat(["a", "b"], 60), rng.integers(0, 2, 120)
    query = np.c_[rng.normal(0, 5, (20, 3)), rng.normal(0, 1, (20, 5))]
    full = symphony_knn(ref, batches, labels, query)
    np.testing.assert_array_equal(full.query_embedding,
                                  symphony_knn(ref, batches, labels, query, topn=8).query_embedding)

    top3 = symphony_knn(ref, batches, labels, query, topn=3)
    assert top3.ref_embedding.shape == (120, 3)
    moved = query.copy()
    moved[:, 3:] += 4.0     # a low-variance feature: not among the top 3, ignored
    np.testing.assert_array_equal(top3.query_embedding,
                                  symphony_knn(ref, batches, labels, moved, topn=3).query_embedding)
    moved[:, 0] += 4.0      # a high-variance feature: used
    assert not np.allclose(top3.query_embedding,
                           symphony_knn(ref, batches, labels, moved, topn=3).query_embedding)


@pytest.mark.parametrize("change, message", [
    (dict(ref_features=np.zeros(40)), "ref_features must be 2-D"),
    (dict(query_features=np.zeros(5)), "query_features must be 2-D"),
    (dict(query_features=np.zeros((5, 3))), "3 columns but ref_features have 4"),
    (dict(ref_batches=np.repeat(["a", "b"], 10)), "one batch per reference row"),
    (dict(ref_labels=np.zeros(39)), "one label per reference row"),
    (dict(topn=5), "topn must be between 1 and the feature dimension 4"),
    (dict(n_pcs=9), "n_pcs must be between 1"),
    (dict(k=0), "k must be at least 1"),
])
def test_symphony_knn_rejects_inconsistent_inputs(change, message):
    rng = np.random.default_rng(0)
    args = dict(ref_features=rng.normal(size=(40, 4)), ref_batches=np.repeat(["a", "b"], 20),
                ref_labels=rng.integers(0, 2, 40), query_features=rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match=message):
        symphony_knn(**{**args, **change})


@needs_symphonypy
def test_symphony_knn_prints_and_warns_nothing(capfd):
    ref, batches, labels, query, _ = _confounded_features(seed=4, per=20)
    ref[:, 0] = query[:, 0] = 1.0   # a dead (constant) feature, as ReLU features have
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = symphony_knn(ref, batches, labels, query)
    assert caught == []
    assert capfd.readouterr() == ("", "")
    assert np.isfinite(result.query_embedding).all()


@needs_symphonypy
def test_symphony_knn_prints_nothing_in_a_fresh_interpreter():
    """First call in a new process (imports included), as a user would run it."""
    code = textwrap.dedent("""
        import numpy as np
        from ist_core.integration import symphony_knn
        rng = np.random.default_rng(0)
        symphony_knn(rng.normal(size=(120, 6)), np.repeat(["a", "b"], 60),
                     rng.integers(0, 3, 120), rng.normal(size=(10, 6)))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_symphony_knn_without_symphonypy_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "symphonypy", None)
    rng = np.random.default_rng(0)
    with pytest.raises(ImportError, match=r"pip install symphonypy.*book"):
        symphony_knn(rng.normal(size=(40, 4)), np.repeat(["a", "b"], 20),
                     rng.integers(0, 2, 40), rng.normal(size=(5, 4)))
