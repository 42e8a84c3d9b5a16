"""Symphony batch correction of CNN features and kNN classification in the corrected
space: the "Symphony kNN" baseline of Table 1 (paper Sec. 5.2, Kang et al. 2021)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: symphonypy (like Seurat's ScaleData) clips standardised query values to this
#: magnitude; the reference is clipped the same way so both share one PCA space.
CLIP = 10.0


@dataclass(frozen=True)
class SymphonyResult:
    """What :func:`symphony_knn` returns.

    ``predicted``: (M,) cause predicted for each query row; ``ref_embedding``: (N, d)
    Harmony-corrected reference embedding; ``query_embedding``: (M, d) query rows
    mapped into it by Symphony.
    """

    predicted: np.ndarray
    ref_embedding: np.ndarray
    query_embedding: np.ndarray


@contextlib.contextmanager
def _quiet():
    """Silence warnings and the symphonypy/harmonypy loggers (their warnings would
    otherwise reach stderr through logging's last-resort handler)."""
    loggers = [logging.getLogger(name) for name in ("symphonypy", "harmonypy")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def symphony_knn(ref_features, ref_batches, ref_labels, query_features, k: int = 15,
                 n_pcs: int | None = None, topn: int | None = None, seed: int = 0,
                 harmony_kwargs: Mapping | None = None) -> SymphonyResult:
    """Build a Symphony reference from ``ref_features`` (N, D), correcting for the OEs
    in ``ref_batches``, map ``query_features`` (M, D) into it and classify each query
    by its ``k`` nearest reference rows (labels ``ref_labels``) in the corrected space.

    Symphony (symphonypy) is written for gene expression; the features stand in for
    genes as follows:

    - **feature selection** (Symphony's ``topn`` variable genes): the ``topn``
      features of highest reference variance are kept; ``topn=None`` keeps all D, as
      in the paper ("topn equal to our feature dimension").
    - **scaling**: each kept feature is standardised with the reference mean and
      standard deviation (ddof=0; a constant feature gets std 1), stored in
      ``adata_ref.var["mean"]`` / ``var["std"]``, and clipped to +-10, exactly what
      symphonypy applies to the query (no log-normalisation: ``adata.X`` holds the raw
      features of the kept columns).
    - **PCA**: the top ``n_pcs`` eigenvectors of the standardised reference's
      covariance (sign fixed so each vector's largest-magnitude loading is positive)
      go to ``adata_ref.varm["PCs"]`` (topn x d) and the reference's projections to
      ``obsm["X_pca"]``. ``n_pcs=None`` means ``min(20, topn, N - 1)`` (20 is
      Symphony's default d).
    - **reference**: ``symphonypy.pp.harmony_integrate(adata_ref, "batch",
      ref_basis_source="X_pca", random_seed=seed, **harmony_kwargs)`` with
      ``obs["batch"]`` = ``ref_batches`` (Harmony defaults: theta 2, sigma 0.1,
      min(N/30, 100) clusters); ``harmony_kwargs`` passes Harmony settings on to
      harmonypy's ``run_harmony`` (``theta``, ``sigma``, ``nclust``,
      ``max_iter_harmony``, ``ncores`` ..., the knobs the paper tuned). The corrected
      embedding is ``obsm["X_pca_harmony"]``.
    - **query**: ``symphonypy.tl.map_embedding(adata_query, adata_ref, key=None,
      use_genes_column=None)``: no batch key, which symphonypy treats as one query
      batch, so all query rows share one mixture-of-experts correction.

    Classification uses scikit-learn's ``KNeighborsClassifier(min(k, N))`` (uniform weights,
    Euclidean) fitted on the corrected reference embedding; this is what
    ``symphonypy.tl.transfer_labels_kNN`` runs, called directly to keep integer labels.

    Deterministic for a fixed ``seed``; prints nothing (warnings and the symphonypy /
    harmonypy loggers are silenced). Needs symphonypy (``pip install symphonypy``, or
    the project's ``notebook``/``book`` extra).
    """
    ref = np.asarray(ref_features, dtype=np.float64)
    query = np.asarray(query_features, dtype=np.float64)
    batches = np.asarray(ref_batches).astype(str)
    labels = np.asarray(ref_labels)
    if ref.ndim != 2:
        raise ValueError(f"ref_features must be 2-D (N, D), got shape {ref.shape}")
    if query.ndim != 2:
        raise ValueError(f"query_features must be 2-D (M, D), got shape {query.shape}")
    n, dim = ref.shape
    if query.shape[1] != dim:
        raise ValueError(f"query_features have {query.shape[1]} columns but ref_features "
                         f"have {dim}")
    if batches.shape != (n,):
        raise ValueError(f"ref_batches must hold one batch per reference row: "
                         f"{n} rows but ref_batches has shape {batches.shape}")
    if labels.shape != (n,):
        raise ValueError(f"ref_labels must hold one label per reference row: "
                         f"{n} rows but ref_labels has shape {labels.shape}")
    if n < 2 or len(query) == 0:
        raise ValueError(f"need at least 2 reference rows and 1 query row, "
                         f"got {n} and {len(query)}")
    if not (np.isfinite(ref).all() and np.isfinite(query).all()):
        raise ValueError("features contain NaN or infinite values")
    topn = dim if topn is None else int(topn)
    if not 1 <= topn <= dim:
        raise ValueError(f"topn must be between 1 and the feature dimension {dim}, got {topn}")
    max_pcs = min(topn, n - 1)
    n_pcs = min(20, max_pcs) if n_pcs is None else int(n_pcs)
    if not 1 <= n_pcs <= max_pcs:
        raise ValueError(f"n_pcs must be between 1 and min(topn, N - 1) = {max_pcs}, "
                         f"got {n_pcs}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")

    try:
        import symphonypy as sp
        from anndata import AnnData
    except ImportError as err:
        raise ImportError("symphony_knn needs symphonypy and anndata: pip install symphonypy, "
                          "or install the project's book extra (pip install -e '.[book]')"
                          ) from err
    import pandas as pd
    from sklearn.neighbors import KNeighborsClassifier

    # Symphony's variable-gene selection: the topn features of highest variance
    keep = np.sort(np.argsort(-ref.var(axis=0), kind="stable")[:topn])
    ref, query = ref[:, keep], query[:, keep]
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    std[std == 0] = 1.0
    scaled = np.clip((ref - mean) / std, -CLIP, CLIP)

    eigval, eigvec = np.linalg.eigh(scaled.T @ scaled / max(n - 1, 1))
    loadings = eigvec[:, np.argsort(-eigval, kind="stable")[:n_pcs]]
    flip = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(n_pcs)])
    loadings = loadings * np.where(flip == 0, 1.0, flip)

    var = pd.DataFrame({"mean": mean, "std": std},
                       index=pd.Index([f"feature_{j}" for j in keep]))
    adata_ref = AnnData(ref, obs=pd.DataFrame({"batch": pd.Categorical(batches)},
                                              index=[f"ref_{i}" for i in range(n)]),
                        var=var)
    adata_ref.varm["PCs"] = loadings
    adata_ref.obsm["X_pca"] = scaled @ loadings
    adata_query = AnnData(query, obs=pd.DataFrame(index=[f"query_{i}" for i in range(len(query))]),
                          var=pd.DataFrame(index=var.index))

    with _quiet():
        sp.pp.harmony_integrate(adata_ref, "batch", ref_basis_source="X_pca",
                                verbose=False, random_seed=seed, **dict(harmony_kwargs or {}))
        sp.tl.map_embedding(adata_query, adata_ref, key=None, use_genes_column=None)

    ref_embedding = np.asarray(adata_ref.obsm["X_pca_harmony"], dtype=np.float64)
    query_embedding = np.asarray(adata_query.obsm["X_pca_harmony"], dtype=np.float64)
    model = KNeighborsClassifier(min(int(k), n)).fit(ref_embedding, labels)
    return SymphonyResult(predicted=model.predict(query_embedding),
                          ref_embedding=ref_embedding, query_embedding=query_embedding)
