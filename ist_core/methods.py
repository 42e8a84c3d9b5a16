"""The rows of Table 1 (paper Sec. 5.2): one name, one small class, one registry.

Every method has the same three calls on a :class:`~ist_core.train.FoldSetup`:
``fit(setup)`` trains (or loads) what it needs from the fold's training images,
``embed(images)`` gives the features that kNN, LISI and UMAP use, and
``predict(images)`` gives cause labels. Trained networks live in the fold's run
folders (see :mod:`ist_core.train.setup`), so methods that share one (the baseline and
its kNN rows) train it once.

Only ``mixstyle-da`` looks at test images during training, by design: it borrows the
styles of unlabeled images of the test OEs (never their causes).

Two rows are not in the paper; they bound every style transfer from above and below:
``oracle`` (true counterfactuals, synthetic data only) and ``histmatch`` (per-channel
histogram matching, the cheapest transfer).

Why one module of about 500 lines: it is the registry, and the order of its classes is
the order of Table 1's rows; each class is short, and the networks, losses and training
loops they call live in :mod:`ist_core.models` and :mod:`ist_core.train`.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from .models import DRPredictor, MixStylePredictor
from .models.histmatch import HistogramMatching
from .splits import Fold
from .train import embed, predict_proba, train_ist, train_predictor
from .train.predictor import build_predictor, cause_loss, train_classifier
from .train.runtime import autocast, to_tensor
from .train.oracle import OracleTransfer
from .train.setup import FoldSetup
from .train.stargan import train_stargan

METHODS: dict[str, type[Method]] = {}


def register(cls):
    METHODS[cls.name] = cls
    return cls


# What a row is for in the comparison the book makes: the naive predictor every gain is
# measured against, the proposed method, the two bounds of a style transfer (histogram
# matching, the cheapest transfer, and the oracle, a perfect one), and the other methods.
ROLES = ("naive", "proposed", "cheapest transfer", "perfect transfer", "rival")


def method_for(role: str) -> str:
    """The name of the registered method whose ``role`` is ``role`` (one of :data:`ROLES`
    other than "rival", which many methods share)."""
    named = [name for name, cls in METHODS.items() if cls.role == role]
    if role not in ROLES or role == "rival" or len(named) != 1:
        raise ValueError(f"no single method has the role {role!r}; roles with one method: "
                         f"{[r for r in ROLES if r != 'rival']}")
    return named[0]


def get_method(name: str, **settings) -> Method:
    """A fresh instance of the method called ``name``, with ``settings`` (e.g. ``alpha=0.25``)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {list(METHODS)}")
    cls = METHODS[name]
    unknown = sorted(set(settings) - set(cls.defaults))
    if unknown:
        raise ValueError(f"method {name} has no setting(s) {unknown}; valid: {sorted(cls.defaults)}")
    return cls(**settings)


class Method:
    """A Table 1 row: everything the grid runner (:mod:`ist_core.experiments`) and the
    report need to know about it, and the three calls. Subclasses set ``name`` and
    ``label`` and whichever facts differ from these defaults; the registry's order
    (:data:`METHODS`) is the order of Table 1's rows."""

    name = ""
    label = ""  # display name in Table 1 and the book
    in_paper = True  # False for the rows that bound a transfer (marked * where shown)
    role = "rival"  # what the row is for in the comparison (:data:`ROLES`)
    cost = 1.0  # rough cost of one run, in units of one predictor training (the grid's ETA)
    defaults: dict = {}
    requires: tuple[str, ...] = ()  # optional libraries the method needs (not on a bare GPU image)
    sees_test_images = False  # True only where unlabeled test-OE images are used by design
    synthetic_only = False  # True where the method needs the synthetic benchmark's ground truth
    knn = False  # predictions come from kNN on features, not from a head
    after: str | None = None  # a method whose run of the same fold and seed must finish first
    from_features = False  # scored from ``after``'s stored features alone (:meth:`score_features`)
    ist_dependent = False  # its run folder depends on the IST setting (it uses IST's networks)

    def __init__(self, **settings):
        self.settings = {**self.defaults, **settings}
        self.setup: FoldSetup | None = None

    def fold_network(self) -> tuple[str, float] | None:
        """``(name, cost)`` of a network this method's runs share between the seeds of a
        fold, which the grid trains once as a job of its own; None when there is none."""
        return None

    def train_fold_network(self, setup: FoldSetup, progress: bool = True) -> None:
        """Train (or load) the network of :meth:`fold_network` for ``setup``'s fold."""
        raise NotImplementedError

    def record(self) -> dict:
        """What a run stores in its config.json about the method (settings as resolved)."""
        return {"settings": _plain(self.settings)}

    def fit(self, setup: FoldSetup, progress: bool = True) -> Method:
        raise NotImplementedError

    def embed(self, images) -> np.ndarray:
        raise NotImplementedError

    def predict(self, images) -> np.ndarray:
        raise NotImplementedError

    def outputs(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(features, predicted causes) of ``images`` in one call."""
        return self.embed(images), self.predict(images)

    def train_embedding(self) -> np.ndarray:
        """Features of the fold's training images (what LISI and kNN references use)."""
        return self.embed(self.setup.dataset.images[self.setup.fold.train])

    def score_features(self, setup: FoldSetup, train_index, train_features, test_features):
        """For ``from_features`` methods: from the stored features of ``after``'s run, the
        training and test embeddings and the predicted causes of the test images."""
        raise NotImplementedError


def _plain(settings: dict) -> dict:
    return json.loads(json.dumps(settings, default=list))


# ---------------------------------------------------------------------------- networks
class _Network(Method):
    """A method whose predictions come from one trained network's cause head."""

    transfer = None

    def predict(self, images) -> np.ndarray:
        return predict_proba(self.setup, self.model, images, self.transfer).argmax(1)

    def embed(self, images) -> np.ndarray:
        return embed(self.setup, self.model, images, self.transfer)


@register
class Baseline(_Network):
    """The naive predictor: ResNet18-IN and a linear head trained on the real images."""

    name, label = "baseline", "Baseline"
    role = "naive"

    def fit(self, setup, progress=True):
        self.setup, self.model = setup, train_predictor(setup, progress=progress)
        return self


# ---------------------------------------------------------------------------- kNN rows
class _KNN(Method):
    """kNN on the baseline's penultimate features of the training images."""

    defaults = {"k": 15}
    knn = True
    after = "baseline"

    def fit(self, setup, progress=True):
        self.setup = setup
        self.base = Baseline().fit(setup, progress)
        self.train_features = self.base.embed(setup.dataset.images[setup.fold.train])
        self.train_y = setup.dataset.meta["y"].to_numpy()[setup.fold.train]
        return self

    def train_embedding(self):
        return self.train_features


@register
class BaselineKNN(_KNN):
    """The baseline's features, classified by kNN against the training images."""

    name, label = "baseline-knn", "Baseline kNN"
    cost = 0.1

    def fit(self, setup, progress=True):
        from sklearn.neighbors import KNeighborsClassifier

        super().fit(setup, progress)
        self.knn_model = KNeighborsClassifier(self.settings["k"]).fit(self.train_features,
                                                                      self.train_y)
        return self

    def embed(self, images):
        return self.base.embed(images)

    def predict(self, images):
        return self.knn_model.predict(self.embed(images))


@register
class SymphonyKNN(_KNN):
    """Symphony (Kang et al. 2021) through symphonypy on the baseline's features: a
    reference built from the training images with the OE as batch key, queries mapped
    into it, causes by kNN (see :func:`ist_core.integration.symphony_knn`)."""

    name, label = "symphony-knn", "Symphony kNN"
    cost = 0.3
    requires = ("symphonypy",)
    from_features = True  # needs no network: a machine without a GPU completes it

    def score_features(self, setup, train_index, train_features, test_features):
        from .integration import symphony_knn

        meta = setup.dataset.meta
        result = symphony_knn(train_features, meta[setup.ist.oe_level].to_numpy()[train_index],
                              meta["y"].to_numpy()[train_index], test_features,
                              k=self.settings["k"], seed=setup.seed)
        return result.ref_embedding, result.query_embedding, result.predicted

    def fit(self, setup, progress=True):
        super().fit(setup, progress)
        self.train_oes = setup.dataset.meta[setup.ist.oe_level].to_numpy()[setup.fold.train]
        self.result = None
        return self

    def _map(self, images):
        from .integration import symphony_knn

        self.result = symphony_knn(self.train_features, self.train_oes, self.train_y,
                                   self.base.embed(images), k=self.settings["k"],
                                   seed=self.setup.seed)
        return self.result

    def outputs(self, images):
        result = self._map(images)
        return result.query_embedding, result.predicted

    def train_embedding(self):
        """The training images' Symphony-corrected reference embedding."""
        if self.result is None:
            self._map(self.setup.dataset.images[self.setup.fold.test[:1]])
        return self.result.ref_embedding

    def embed(self, images):
        return self._map(images).query_embedding

    def predict(self, images):
        return self._map(images).predicted


@register
class DR(_Network):
    """Domain-adversarial regularisation (paper Sec. 5.2): a second head predicts the OE
    through a gradient-reversal layer over the whole trunk; both losses are summed.

    ``alpha`` (the reversal weight) is a setting; with ``alpha=None`` (the default) it is
    chosen per training fold by a grid search over ``alphas``: each candidate is trained
    for half the profile's steps on 80% of the training images and scored on the other
    20% (all from training OEs) by cause macro-F1 minus OE accuracy above chance, the
    paper's "high validation accuracy on Y, low on C". The search runs at seed 0 and is
    shared by every seed of the fold.
    """

    name, label = "dr", "DR"
    defaults = {"alpha": None, "alphas": (0.0625, 0.25, 1.0)}

    def fold_network(self):
        return ("dr-search", 1.0) if self.settings["alpha"] is None else None

    def train_fold_network(self, setup, progress=True):
        dr_search(setup, self.settings["alphas"], progress)

    def record(self):
        out = {"settings": {**_plain(self.settings), "alpha": self.alpha}}
        if getattr(self, "search", None) is not None:
            out["dr_search"] = self.search.to_dict("records")
        return out

    def fit(self, setup, progress=True):
        alpha = self.settings["alpha"]
        if alpha is None:
            self.search = dr_search(setup, self.settings["alphas"], progress)
            alpha = self.search.loc[self.search["score"].idxmax(), "alpha"]
        self.alpha = float(alpha)
        self.setup = setup
        component = f"predictor-dr-{self.alpha:g}"
        self.model = _train_dr(setup, self.alpha, component, progress)
        self.folder = setup.run_dir(component, ist_dependent=False)  # its losses.csv: OE accuracy
        return self


def _n_oes(setup: FoldSetup) -> int:
    return len(setup.images().oe_names)


def _train_dr(setup: FoldSetup, alpha: float, component: str, progress: bool, steps=None):
    model = build_predictor(setup, DRPredictor, n_oes=_n_oes(setup), alpha=alpha)

    def loss(model, x, y, oe, rng):
        with autocast(setup.device, setup.amp):
            cause_logits, oe_logits = model.forward_both(x)
        cause = F.cross_entropy(cause_logits.float(), y)
        oe_loss = F.cross_entropy(oe_logits.float(), oe)
        oe_acc = (oe_logits.argmax(1) == oe).float().mean()
        return cause + oe_loss, {"cause": cause, "oe": oe_loss, "oe_acc": oe_acc}

    return train_classifier(setup, component, model, loss, progress, settings={"alpha": alpha},
                            steps=steps)


def dr_search(setup: FoldSetup, alphas, progress: bool = True):
    """DR's grid search over ``alphas`` on validation images from the training OEs (see
    :class:`DR`); one row per alpha: cause macro-F1, OE accuracy, chance, score."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from .metrics import macro_f1

    base = setup.fold_level()
    meta = base.dataset.meta
    train = base.fold.train
    fit_idx, val_idx = train_test_split(train, test_size=0.2, random_state=0,
                                        stratify=meta["y"].to_numpy()[train])
    fold = Fold(base.fold.level, base.fold.fold, base.fold.held_out, np.sort(fit_idx),
                np.sort(val_idx))
    inner = FoldSetup(base.dataset, fold, base.profile, base.seed, base.ist, base.device,
                      base.amp, base.runs, base.data_seed)
    names = inner.images().oe_names
    val_oes = meta[base.ist.oe_level].to_numpy()[fold.test]
    known = np.isin(val_oes, names)
    val_codes = np.array([names.index(o) if o in names else -1 for o in val_oes])
    rows = []
    for alpha in alphas:
        model = _train_dr(inner, float(alpha), f"predictor-dr-search-{float(alpha):g}", progress,
                          steps=max(1, base.predictor_steps // 2))
        images = base.dataset.images[fold.test]
        cause_pred, oe_pred = _dr_outputs(inner, model, images)
        f1 = macro_f1(meta["y"].to_numpy()[fold.test], cause_pred)
        oe_acc = float((oe_pred[known] == val_codes[known]).mean())
        chance = 1 / len(names)
        rows.append({"alpha": float(alpha), "cause_f1": f1, "oe_accuracy": oe_acc,
                     "chance": chance, "score": f1 - max(0.0, oe_acc - chance)})
    return pd.DataFrame(rows)


@torch.no_grad()
def _dr_outputs(setup, model, images):
    causes, oes = [], []
    for start in range(0, len(images), setup.profile.eval_batch):
        x = to_tensor(images[start:start + setup.profile.eval_batch], setup.device)
        with autocast(setup.device, setup.amp):
            c, o = model.forward_both(x)
        causes.append(c.argmax(1).cpu().numpy())
        oes.append(o.argmax(1).cpu().numpy())
    return np.concatenate(causes), np.concatenate(oes)


@register
class MixStyle(_Network):
    """MixStyle (Zhou et al. 2021) after ResNet layers 1-3, p = 0.5, alpha = 0.1, in
    training only: each image's feature statistics are mixed with those of another
    training image (``mix="random"``) or of an image of another OE (``"crossdomain"``)."""

    name, label = "mixstyle", "MixStyle"
    defaults = {"p": 0.5, "alpha": 0.1, "mix": "random"}

    def _model(self, setup):
        s = self.settings
        return build_predictor(setup, MixStylePredictor, p=s["p"], alpha=s["alpha"], mix=s["mix"])

    def _component(self):
        s = self.settings
        return f"predictor-{self.name}-{s['mix']}-p{s['p']:g}-a{s['alpha']:g}"

    def fit(self, setup, progress=True):
        self.setup = setup
        self.model = train_classifier(setup, self._component(), self._model(setup),
                                      self._loss(setup), progress, settings=dict(self.settings))
        return self

    def _loss(self, setup):
        """The loss of one batch (see :func:`~ist_core.train.predictor.train_classifier`)."""
        plain = cause_loss(setup)

        def loss(model, x, y, oe, rng):
            model.set_domains(oe)
            return plain(model, x, y, oe, rng)

        return loss


@torch.no_grad()
def mixstyle_demo(model: MixStylePredictor, images, seed: int = 0):
    """What MixStyle's first layer does to one batch: layer-1 feature maps (B, C, H, W)
    before and after mixing, and each image's partner (for the Baselines chapter)."""
    x = to_tensor(images, next(model.parameters()).device)
    h = model.trunk.layers[0](model.trunk.stem(x)).float()
    mixer = model.mixers[0]
    torch.manual_seed(seed)
    lam = mixer.beta.sample((len(h), 1, 1, 1))
    perm = mixer.partners(len(h), h.device)
    return h.cpu().numpy(), mixer.mix_styles(h, perm, lam).cpu().numpy(), perm.cpu().numpy()


@register
class MixStyleDA(MixStyle):
    """MixStyle as domain adaptation (paper Sec. 5.2): each batch of labeled training images
    is joined by half as many unlabeled images of the test OEs, and styles are mixed across
    OEs (cross-domain), so training images also take the test OEs' feature statistics.
    Only the training images' causes enter the loss."""

    name, label = "mixstyle-da", "MixStyle-DA"
    defaults = {"p": 0.5, "alpha": 0.1, "mix": "crossdomain"}
    sees_test_images = True

    def _loss(self, setup):
        test = setup.fold.test
        meta = setup.dataset.meta
        names = list(dict.fromkeys(meta[setup.ist.oe_level].to_numpy()[setup.fold.train]))
        test_oes = meta[setup.ist.oe_level].to_numpy()[test]
        extra = list(dict.fromkeys(o for o in test_oes if o not in names))
        lookup = {o: i for i, o in enumerate(names + extra)}
        test_codes = torch.as_tensor([lookup[o] for o in test_oes], device=setup.device)
        unlabeled = None

        def loss(model, x, y, oe, rng):
            nonlocal unlabeled
            if unlabeled is None:  # loaded on first use: a finished run never needs it
                unlabeled = to_tensor(setup.dataset.images[test], setup.device)
            pick = torch.randint(len(test), (max(1, len(x) // 2),), generator=rng)
            xu = unlabeled[pick.to(unlabeled.device)]
            model.set_domains(torch.cat([oe, test_codes[pick.to(test_codes.device)]]))
            with autocast(setup.device, setup.amp):
                logits = model(torch.cat([x, xu]))[:len(x)]
            cause = F.cross_entropy(logits.float(), y)
            return cause, {"cause": cause}

        return loss


# ---------------------------------------------------------------------------- transfers
class _Transferred(_Network):
    """A predictor trained on the outputs of a per-fold generator (IST's or StarGAN v2's),
    with test-time correction. The generator is trained once per fold, at seed 0, as a job
    of its own (``network``), and shared by every seed; ``tag`` names the predictor's run
    folder when ``transfer`` was set beforehand (e.g. a finished generator run of the fold)."""

    cost = 2.5
    ist_dependent = True
    network = ""
    tag = None

    def _train_transfer(self, setup, progress):
        raise NotImplementedError

    def fold_network(self):
        return self.network, 6.0

    def train_fold_network(self, setup, progress=True):
        self._train_transfer(setup, progress)

    def fit(self, setup, progress=True):
        if self.transfer is None:
            self.transfer = self._train_transfer(setup, progress)
        self.setup = setup
        self.model = train_predictor(setup, self.transfer, progress=progress, tag=self.tag)
        return self


@register
class StarGAN2(_Transferred):
    """StarGAN v2 in IST's place (paper Sec. 5.2): the fold's StarGAN v2 re-renders each
    training image in the style of a random training image (OEs balanced, its averaged
    networks, reference-guided), the predictor trains on those renderings, and test
    images get the same test-time correction as IST's."""

    name, label = "stargan2", "StarGANv2"
    network, tag = "stargan", "stargan2"

    def _train_transfer(self, setup, progress):
        return train_stargan(setup, progress=progress)


@register
class IST(_Transferred):
    """The predictor trained on IST's interventional distribution (paper Sec. 4.3)."""

    name, label = "ist", "IST"
    role = "proposed"
    network = "generator"

    def _train_transfer(self, setup, progress):
        return train_ist(setup, progress=progress)


@register
class HistMatch(_Network):
    """Per-channel histogram matching as the transfer (not in the paper): each training
    image takes the channel histograms of a random training image (OEs drawn uniformly),
    the predictor trains on those, and test images are matched to training images the
    same way (IST's test-time correction). The cheapest transfer: a method that does
    not beat it has learnt nothing a monotone intensity map could not do."""

    name, label = "histmatch", "Histogram matching*"
    role = "cheapest transfer"
    in_paper = False
    cost = 1.3

    def fit(self, setup, progress=True):
        self.transfer, self.setup = HistogramMatching(), setup
        self.model = train_predictor(setup, self.transfer, progress=progress, tag="histmatch")
        return self


@register
class Oracle(_Network):
    """A perfect transfer (not in the paper; synthetic data only): the predictor trains on
    true counterfactuals, each training cell re-imaged in the well of a training image
    drawn with OEs uniform, and each test cell is truly re-imaged in training wells
    (IST's test-time correction, ``test_styles`` views). The ceiling for any style
    transfer on the dataset (:mod:`ist_core.train.oracle`)."""

    name, label = "oracle", "Oracle*"
    role = "perfect transfer"
    in_paper = False
    cost = 1.5
    synthetic_only = True

    def fit(self, setup, progress=True):
        self.transfer, self.setup = OracleTransfer(setup), setup
        self.model = train_classifier(setup, "predictor-oracle", build_predictor(setup),
                                      cause_loss(setup), progress,
                                      batch=self.transfer.training_batch)
        return self
