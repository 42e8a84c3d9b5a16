"""The embedded synthetic benchmark: fluorescent single cells with the paper's causal structure.

The generator follows the SCM of the paper's Fig. 1. A cause ``Y`` (a disease
category with its cell lines, or a compound) sets the mean of a phenotype
latent ``Z``; every cell line or compound adds its own offset and every cell its
own variation. The observational environment ``C`` (series > plate > section >
well, each with its own draw) renders ``Z`` into pixels through an imaging model
and also shifts ``Z`` a little (the knob ``oe_shift`` scales that shift).

The imaging model's per-OE draws come in two kinds, with a knob each:

- ``nuisance``: what a style transfer can invert, because it maps intensities
  one to one (per-channel gain, gamma, background offset, illumination
  gradient, channel cross-talk);
- ``degradation``: what destroys information, so that no transfer can bring it
  back (blur and noise beyond the microscope's own, which every OE shares).

How strongly each OE level draws is a knob per level (``series_scale`` ...
``well_scale``), relative to one unit of ``nuisance`` and ``degradation``. Which causes sit in which OE follows
:mod:`ist_core.data.design`; that sparsity is what confounds cause and OE.

Every random draw is keyed on a name (the seed, an OE name, a cell line, a
cell's well and its place in the well), never on the order of generation, so
one cell can be rendered in any other OE of the design:
:func:`render_counterfactual` gives the true counterfactual that no real
dataset has.

Why one module of about 600 lines: the causal model, the imaging model and the
rendering of counterfactuals must agree draw for draw (a counterfactual is the same
cell through another OE's draws), and the cache key of a rendered store hashes this
file with the design and the store format; apart, a change to one part could leave a
stale cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from ..seeding import keyed_rng
from ..values import typed
from .design import grid_design, lincs_design
from .store import Dataset

CHANNELS = ("nucleus", "mitochondria", "actin", "membrane")
LATENTS = (
    "cell_size",
    "cell_elongation",
    "nucleus_size",
    "nucleus_elongation",
    "mito_fragmentation",
    "mito_mass",
    "actin_fibers",
    "chromatin",
)
OE_LEVELS = ("series", "plate", "section", "well")
# How far each OE level shifts the biology Z, relative to the knob ``oe_shift``.
OE_SHIFT_SCALE = {"series": 0.7, "plate": 0.5, "section": 0.2, "well": 0.0}
# How the detector maps collected light to a pixel value in [0, 1] (see image_cell).
DETECTORS = {"soft": np.tanh, "hard": lambda x: x}
# What a counterfactual does to the phenotype Z (see render_counterfactual).
PHENOTYPES = ("keep", "shift")


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator; a dataset stores its resolved config in ``info``."""

    design: str = "grid"  # "grid" or "lincs"
    seed: int = 0
    image_size: int = 32
    channels: int = 3  # 3: nucleus, mitochondria, actin; 4 adds membrane
    cells_per_well: int = 20
    # biology
    effect: float = 1.75  # spread of cause means in latent space
    unit_sd: float = 0.35  # cell-line / compound offset around its cause
    cell_sd: float = 0.6  # cell-to-cell variation
    # environment
    # The environment's defaults (and ``effect``) are chosen on the naive and the oracle
    # rows only, never on a method's own numbers: the aim is a naive predictor that falls
    # out of distribution as the paper's does while a perfect transfer keeps most of its
    # IID score. benchmarks/calibrate.py measures them over several generator draws and
    # folds (results/<dataset>/quick/calibration.csv); the data chapter says which
    # targets hold and which do not. DESIGN_DEFAULTS sets what differs between designs.
    nuisance: float = 2.0  # invertible imaging draws: gain, gamma, background, gradient, cross-talk
    degradation: float = 0.2  # information-destroying draws: blur and noise
    oe_shift: float = 0.5  # scales how far OEs shift the phenotype Z (not the design's confounding)
    # the detector's response: "soft" saturates (tanh), so a bright OE stays invertible;
    # "hard" clips at 1, erasing what lies above (the generator before calibration)
    detector: str = "soft"
    # how strongly each OE level draws nuisance and degradation. Wells draw nothing of
    # their own: a well's draw is seen by no other well, so at the IID split it is a
    # shortcut that holds on the test cells of the same well, and it made the naive row
    # look better in distribution than any transfer could. Sections draw more than
    # plates and series, so that a new section is about as unfamiliar as a new plate.
    series_scale: float = 0.5
    plate_scale: float = 0.5
    section_scale: float = 0.8
    well_scale: float = 0.0
    # GRID-like design
    n_causes: int = 6
    units_per_cause: int = 2
    n_series: int = 3
    plates_per_series: int = 2
    sections_per_plate: int = 2
    wells_per_unit: int = 2
    plate_coverage: float = 0.5
    # LINCS-like design
    n_plate_maps: int = 4
    compounds_per_map: int = 3
    replicates: int = 5
    wells_per_compound: int = 1
    control_wells: int = 1

    def __post_init__(self):
        if self.design not in ("grid", "lincs"):
            raise ValueError(f"unknown design {self.design!r}; choose 'grid' or 'lincs'")
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {list(DETECTORS)}")
        if self.channels not in (3, 4):
            raise ValueError(f"channels must be 3 or 4, got {self.channels}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {self.image_size}")
        if self.cells_per_well < 1:
            raise ValueError("cells_per_well must be at least 1")
        negative = [k for k in ("nuisance", "degradation", *(f"{lv}_scale" for lv in OE_LEVELS))
                    if getattr(self, k) < 0]
        if negative:
            raise ValueError(f"knob(s) {negative} must be >= 0 (0 switches that draw off)")

    def level_scale(self, level: str) -> float:
        """How strongly OE ``level`` draws nuisance and degradation."""
        return getattr(self, f"{level}_scale")


# Knobs whose calibrated default differs between the designs. LINCS-like plates of one
# series share their compounds' layout, so a plate draw there is a shortcut within the
# series (level 2 would collapse where the paper's holds); a new series is what must
# be unfamiliar (level 3 collapses in the paper).
DESIGN_DEFAULTS = {
    "grid": {},
    "lincs": dict(plate_scale=0.25, series_scale=2.0),
}

# size -> overrides, per design. `paper` is GRID-scale (~17k cells, 64 px).
SIZES = {
    "grid": {
        "tiny": dict(n_causes=4, units_per_cause=2, n_series=2, plates_per_series=2,
                     sections_per_plate=2, wells_per_unit=1, cells_per_well=12),
        "quick": dict(n_causes=6, units_per_cause=2, n_series=3, plates_per_series=2,
                      sections_per_plate=2, wells_per_unit=2, cells_per_well=20),
        "paper": dict(n_causes=9, units_per_cause=2, n_series=3, plates_per_series=4,
                      sections_per_plate=2, wells_per_unit=2, cells_per_well=40,
                      image_size=64),
    },
    "lincs": {
        "tiny": dict(n_plate_maps=4, compounds_per_map=2, replicates=5, cells_per_well=6),
        "quick": dict(n_plate_maps=4, compounds_per_map=3, replicates=5, cells_per_well=24),
        "paper": dict(n_plate_maps=25, compounds_per_map=4, replicates=5, cells_per_well=24,
                      image_size=64),
    },
}
DESIGN_OF = {"synthetic-grid": "grid", "synthetic-lincs": "lincs"}


def config_for(name: str, size: str = "quick", seed: int = 0, **knobs) -> SyntheticConfig:
    """Resolve a dataset name, a size and knob overrides into a config.

    Knob values are checked against the config's types: an int knob takes an int,
    a float knob an int or a float (stored as a float); a bool is neither.
    """
    if name not in DESIGN_OF:
        raise ValueError(f"unknown synthetic dataset {name!r}; choose one of {list(DESIGN_OF)}")
    design = DESIGN_OF[name]
    if size not in SIZES[design]:
        raise ValueError(f"unknown size {size!r}; choose one of {list(SIZES[design])}")
    types = {f.name: f.type for f in dataclasses.fields(SyntheticConfig)}
    fields = sorted(set(types) - {"design", "seed"})
    unknown = sorted(set(knobs) - set(fields))
    if unknown:
        raise ValueError(f"unknown generator knob(s) {unknown}; valid knobs: {', '.join(fields)}")
    seed = _checked("seed", seed, "int")
    knobs = {key: _checked(key, value, types[key]) for key, value in knobs.items()}
    return SyntheticConfig(design=design, seed=seed,
                           **{**DESIGN_DEFAULTS[design], **SIZES[design][size], **knobs})


def _checked(knob: str, value, kind: str):
    """``value`` as the type ``kind`` ("int", "float" or "str") of ``knob``
    (:func:`ist_core.values.typed`)."""
    return typed(knob, value, {"int": 0, "float": 0.0, "str": ""}[kind], "knob")


# Every module whose code shapes a rendered store: the generator, the design, the format
# and the keyed randomness.
GENERATOR_FILES = (
    Path(__file__),
    Path(__file__).with_name("design.py"),
    Path(__file__).with_name("store.py"),
    Path(__file__).parent.parent / "seeding.py",
)


def cache_key(cfg: SyntheticConfig) -> str:
    """A folder name for a rendered dataset: its design, seed and a hash of the full
    config and of the code in :data:`GENERATOR_FILES`, so a change to either renders anew."""
    digest = hashlib.sha1(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    for path in GENERATOR_FILES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{cfg.design}-seed{cfg.seed}-{digest.hexdigest()[:12]}"


# ---------------------------------------------------------------- randomness keyed on names


def _rng(cfg: SyntheticConfig, *key) -> np.random.Generator:
    """A generator keyed on the dataset seed and a tuple of names (:mod:`ist_core.seeding`)."""
    return keyed_rng("synthetic", cfg.seed, *key)


def _cause_mean(cfg: SyntheticConfig, y: int) -> np.ndarray:
    return _rng(cfg, "cause", y).normal(0.0, cfg.effect, len(LATENTS))


def _unit_offset(cfg: SyntheticConfig, unit: str) -> np.ndarray:
    return _rng(cfg, "unit", unit).normal(0.0, cfg.unit_sd, len(LATENTS))


def _oe_draw(cfg: SyntheticConfig, level: str, name: str) -> dict:
    """One OE's own technical draws (invertible nuisance, degradation) and biological shift.

    Every draw is a unit normal scaled afterwards, so a knob changes how large the
    draws are, never which way they fall: two configs differ only in degree.
    """
    rng = _rng(cfg, "oe", level, name)
    s = cfg.level_scale(level) * cfg.nuisance
    d = cfg.level_scale(level) * cfg.degradation
    c = cfg.channels
    return {
        "log_gain": 0.35 * s * rng.normal(0, 1, c),
        "log_gamma": 0.15 * s * rng.normal(0, 1, c),
        "background": 0.03 * s * rng.normal(0, 1, c),
        "gradient": 0.2 * s * rng.normal(0, 1, 2),
        "log_blur": 0.3 * d * rng.normal(0, 1),
        "log_noise": 0.4 * d * rng.normal(0, 1),
        "crosstalk": 0.06 * s * np.abs(rng.normal(0, 1, (c, c))),
        "dz": 0.35 * OE_SHIFT_SCALE[level] * cfg.oe_shift * rng.normal(0, 1, len(LATENTS)),
    }


def environment(cfg: SyntheticConfig, path: dict) -> dict:
    """Sum the draws of every OE level on ``path`` (level -> name) into one imaging model."""
    draws = [_oe_draw(cfg, level, name) for level, name in path.items() if level in OE_LEVELS]
    total = {k: sum(d[k] for d in draws) for k in draws[0]}
    mix = np.eye(cfg.channels) + total["crosstalk"] * (1 - np.eye(cfg.channels))
    return {
        "gain": 0.85 * np.exp(total["log_gain"]),
        "gamma": np.exp(total["log_gamma"]),
        "background": np.clip(0.04 + total["background"], 0.0, None),
        "gradient": total["gradient"],
        "blur": 0.5 * np.exp(total["log_blur"]),
        "noise": 0.035 * np.exp(total["log_noise"]),
        "mix": mix / mix.sum(axis=1, keepdims=True),
        "dz": total["dz"],
        "detector": cfg.detector,
    }


# ---------------------------------------------------------------- one cell


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _splat(points: np.ndarray, size: int) -> np.ndarray:
    """Deposit points given in [-1, 1] coordinates onto a (size, size) grid, bilinearly."""
    return _splat_weighted(points, np.ones(len(points)), size)


def _splat_weighted(points: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """Deposit weighted points given in [-1, 1] coordinates onto a (size, size) grid, bilinearly."""
    out = np.zeros(size * size)
    if len(points) == 0:
        return out.reshape(size, size)
    pix = (points + 1) / 2 * size - 0.5  # (P, 2) as (x, y) in pixels
    x0, y0 = np.floor(pix[:, 0]), np.floor(pix[:, 1])
    fx, fy = pix[:, 0] - x0, pix[:, 1] - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + dx).astype(int), (y0 + dy).astype(int)
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        out += np.bincount(yi[ok] * size + xi[ok], weights=(w * weight)[ok], minlength=size * size)
    return out.reshape(size, size)


def _walks(rng, starts, heading, n_steps, step, wiggle):
    """Persistent random walks from ``starts`` (K, 2): all points, (K * n_steps, 2)."""
    k = len(starts)
    turns = rng.normal(0, wiggle, (k, n_steps))
    angles = heading[:, None] + np.cumsum(turns, axis=1)
    deltas = step * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (K, n, 2)
    return (starts[:, None, :] + np.cumsum(deltas, axis=1)).reshape(-1, 2)


NEIGHBOUR_RATE = 0.4  # share of crops that also catch part of a neighbouring cell


def render_cell(z: np.ndarray, cell_seed: int, size: int, n_channels: int) -> np.ndarray:
    """The clean fluorescence of one cell with phenotype ``z``: (C, size, size), about [0, 1].

    As in crops cut from a field of view, some images also catch the edge of a
    neighbouring cell of the same well (similar phenotype, its own seed).
    """
    image = _draw_cell(z, cell_seed, size, n_channels, np.zeros(2))
    rng = keyed_rng(cell_seed, "neighbour")
    if rng.uniform() < NEIGHBOUR_RATE:
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(1.35, 1.8)
        offset = distance * np.array([np.cos(angle), np.sin(angle)])
        z_near = z + rng.normal(0, 0.5, len(z))
        image += _draw_cell(z_near, int(rng.integers(0, 2**62)), size, n_channels, offset)
    return image


def _draw_cell(z: np.ndarray, cell_seed: int, size: int, n_channels: int,
               offset: np.ndarray) -> np.ndarray:
    """One cell body centred near ``offset`` ([-1, 1] crop units)."""
    rng = keyed_rng(cell_seed, "shape")
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    px = 2.0 / size  # one pixel in [-1, 1] units

    # cell body: a rotated ellipse with an irregular outline
    theta = rng.uniform(0, np.pi)
    centre = offset + rng.normal(0, 0.05, 2)
    a = 0.58 * np.exp(0.12 * z[0])
    b = a / (1.0 + 1.4 * _sigmoid(z[1]))
    cos, sin = np.cos(theta), np.sin(theta)
    dx, dy = xx - centre[0], yy - centre[1]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    rho, phi = np.hypot(u / a, v / b), np.arctan2(v / b, u / a)
    harmonics = np.arange(2, 6)
    amp = rng.normal(0, 0.12, 4) / (harmonics - 1)
    edge = 1 + np.sum(amp[:, None, None] * np.cos(harmonics[:, None, None] * phi
                                                 + rng.uniform(0, 2 * np.pi, 4)[:, None, None]), 0)
    for _ in range(rng.integers(0, 4)):  # lamellipodia: lobes pushed out of the outline
        angle = rng.uniform(-np.pi, np.pi)
        lobe = np.angle(np.exp(1j * (phi - angle)))
        edge = edge + rng.uniform(0.15, 0.45) * np.exp(-0.5 * (lobe / rng.uniform(0.15, 0.4)) ** 2)
    depth = (edge - rho) * b  # approx. distance inside the outline, [-1, 1] units
    cell = _sigmoid(depth / (0.6 * px))
    cortex = cell * np.exp(-np.clip(depth, 0, None) / (1.2 * px))

    # nucleus: a smaller ellipse off-centre along the long axis, with chromatin texture
    n_elong = 1.0 + 0.6 * _sigmoid(z[3])
    na = min(0.42 * a * np.exp(0.15 * z[2]) * np.sqrt(n_elong), 0.8 * a)
    nb = min(na / n_elong, 0.8 * b)
    shift = rng.normal(0, 0.1) * (a - na)
    ntheta = theta + rng.normal(0, 0.3)
    ndx, ndy = dx - shift * cos, dy - shift * sin
    nu = ndx * np.cos(ntheta) + ndy * np.sin(ntheta)
    nv = -ndx * np.sin(ntheta) + ndy * np.cos(ntheta)
    ndepth = (1 - np.hypot(nu / na, nv / nb)) * nb
    nucleus = _sigmoid(ndepth / (0.5 * px))
    texture = gaussian_filter(rng.normal(0, 1, (size, size)), size / 24)
    texture /= texture.std() + 1e-8
    condensed = _sigmoid(z[7])
    nucleoli = np.zeros((size, size))
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.normal(0, 0.35, 2)
        ox = shift * cos + cx * na * np.cos(ntheta) - cy * nb * np.sin(ntheta)
        oy = shift * sin + cx * na * np.sin(ntheta) + cy * nb * np.cos(ntheta)
        nucleoli += np.exp(-((dx - ox) ** 2 + (dy - oy) ** 2) / (2 * (1.2 * px) ** 2))
    dna = nucleus * np.clip(0.7 + 0.3 * condensed * texture - 0.35 * nucleoli, 0.05, None)

    # mitochondria: tubules (long persistent walks) or fragments (short), outside the nucleus
    frag = _sigmoid(1.5 * z[4])
    total_len = 18.0 * a * np.exp(0.3 * z[5])
    seg_len = (1 - frag) * 1.5 * a + frag * 0.05 + 0.02
    n_seg = int(np.clip(total_len / seg_len, 4, 250))
    cand = centre + rng.uniform(-1, 1, (4 * n_seg, 2)) * a
    ci = np.clip(((cand + 1) / 2 * size).astype(int), 0, size - 1)
    keep = rng.uniform(0, 1, len(cand)) < cell[ci[:, 1], ci[:, 0]] * (1 - 0.9 * nucleus[ci[:, 1], ci[:, 0]])
    starts = cand[keep][:n_seg]
    n_steps = max(2, int(seg_len / (0.5 * px)))
    points = _walks(rng, starts, rng.uniform(0, 2 * np.pi, len(starts)), n_steps, 0.5 * px, 0.15)
    mito = gaussian_filter(_splat(points, size), 0.6) / 1.2
    mito = (1 - np.exp(-mito)) * cell * (1 - 0.8 * nucleus)

    # actin: stress fibres along the long axis plus the cortex
    fibres = _sigmoid(z[6])
    n_fib = int(2 + round(8 * fibres))
    offsets = rng.uniform(-0.85, 0.85, n_fib) * b
    tilt = theta + rng.normal(0, 0.12, n_fib)
    t = np.linspace(-1.3 * a, 1.3 * a, max(4, int(2.6 * a / (0.5 * px))))
    fx = centre[0] + offsets[:, None] * -sin + t[None, :] * np.cos(tilt)[:, None]
    fy = centre[1] + offsets[:, None] * cos + t[None, :] * np.sin(tilt)[:, None]
    strength = np.repeat(rng.uniform(0.3, 1.0, n_fib), len(t))
    points = np.stack([fx.ravel(), fy.ravel()], -1)
    lines = gaussian_filter(_splat_weighted(points, strength, size), 0.5) / 1.6
    actin = cell * (0.18 + (0.25 + 0.5 * fibres) * np.clip(lines, 0, 1)) + 0.55 * cortex

    out = [dna, mito, actin]
    if n_channels == 4:
        er = gaussian_filter(rng.normal(0, 1, (size, size)), 0.8)
        membrane = cell * (0.25 + 0.1 * er / (er.std() + 1e-8)) + 0.7 * cortex
        out.append(np.clip(membrane, 0, None))
    return np.stack(out).astype(np.float64)


def image_cell(clean: np.ndarray, env: dict, cell_seed: int) -> np.ndarray:
    """Pass a cell's clean fluorescence through an OE's imaging model: (C, H, W) in [0, 1].

    The detector saturates softly by default (``detector="soft"``, ``tanh``): a bright
    OE compresses its highlights instead of cutting them off at 1, so its intensity map
    stays one to one and a transfer can invert it up to the noise, where a hard clip
    (``detector="hard"``) erases what lies above it. ``env["detector"]`` names it."""
    rng = keyed_rng(cell_seed, "imaging")
    c, size, _ = clean.shape
    x = np.tensordot(env["mix"], clean, axes=1)  # channel cross-talk
    sigma = env["blur"] * size / 32
    x = np.stack([gaussian_filter(ch, sigma) for ch in x])
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    field = rng.uniform(-1, 1, 2)  # where the cell sat in the field of view
    ramp = np.clip(1 + env["gradient"][0] * (field[0] + 0.2 * xx)
                   + env["gradient"][1] * (field[1] + 0.2 * yy), 0.2, None)
    x = env["gain"][:, None, None] * np.power(np.clip(x, 0, None), env["gamma"][:, None, None])
    x = (x + env["background"][:, None, None]) * ramp
    x = x + rng.normal(0, 1, x.shape) * env["noise"] * np.sqrt(x + 0.02)
    return np.clip(DETECTORS[env["detector"]](x), 0, 1).astype(np.float32)


# ---------------------------------------------------------------- whole datasets


def cell_table(cfg: SyntheticConfig) -> tuple[pd.DataFrame, str]:
    """One row per cell: OE path, unit, cause and the cell's own seed."""
    if cfg.design == "grid":
        wells = grid_design(cfg.n_causes, cfg.units_per_cause, cfg.n_series,
                            cfg.plates_per_series, cfg.sections_per_plate,
                            cfg.wells_per_unit, cfg.plate_coverage)
        unit_col = "cell_line"
        wells[unit_col] = [f"CL{u + 1:02d}" for u in wells["unit"]]
        names = ["healthy"] + [f"disease-{k}" for k in range(1, wells["y"].max() + 1)]
    else:
        wells = lincs_design(cfg.n_plate_maps, cfg.compounds_per_map, cfg.replicates,
                             wells_per_compound=cfg.wells_per_compound,
                             control_wells=cfg.control_wells)
        unit_col = "compound"
        names = ["DMSO"] + [f"cpd-{k:03d}" for k in range(1, wells["y"].max() + 1)]
        wells[unit_col] = [names[y] for y in wells["y"]]
    wells["y_name"] = [names[y] for y in wells["y"]]
    cells = wells.loc[wells.index.repeat(cfg.cells_per_well)].reset_index(drop=True)
    place = cells.groupby("well", sort=False).cumcount()  # the cell's place in its well
    cells["cell_seed"] = [cell_seed(cfg, w, k) for w, k in zip(cells["well"], place)]
    levels = [c for c in ("series", "plate", "section", "well") if c in cells.columns]
    columns = ["y", "y_name", *levels, unit_col, "cell_seed"]
    return cells[columns], unit_col


def cell_seed(cfg: SyntheticConfig, well: str, k: int) -> int:
    """The own seed of the ``k``-th cell of ``well``: keyed on names, so adding or removing
    other wells (or cells after it) leaves this cell as it is."""
    return int(_rng(cfg, "cell", well, k).integers(0, 2**62))


def _phenotype(cfg: SyntheticConfig, y: int, unit: str, cell_seed: int, dz: np.ndarray) -> np.ndarray:
    """Z = cause mean + unit offset + an OE's shift ``dz`` + the cell's own variation."""
    own = keyed_rng(cell_seed, "phenotype").normal(0, cfg.cell_sd, len(LATENTS))
    return _cause_mean(cfg, y) + _unit_offset(cfg, unit) + dz + own


def _render_rows(cfg: SyntheticConfig, rows: pd.DataFrame, unit_col: str, imaging: list,
                 shifts: list, progress: bool = False):
    """Render the cells in ``rows``: row ``i`` gets the phenotype shift ``shifts[i]`` and
    is imaged through the OE imaging model ``imaging[i]``."""
    n = len(rows)
    images = np.empty((n, cfg.channels, cfg.image_size, cfg.image_size), np.float32)
    latents = np.empty((n, len(LATENTS)), np.float32)
    iterator = enumerate(rows.itertuples(index=False))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=n, desc="rendering cells", unit="cell")
    for i, row in iterator:
        row = row._asdict()
        z = _phenotype(cfg, row["y"], row[unit_col], row["cell_seed"], shifts[i])
        clean = render_cell(z, row["cell_seed"], cfg.image_size, cfg.channels)
        images[i] = image_cell(clean, imaging[i], row["cell_seed"])
        latents[i] = z
    return images, latents


def _paths(meta: pd.DataFrame) -> dict:
    """Well name -> its OE path (level -> name)."""
    levels = [c for c in ("series", "plate", "section", "well") if c in meta.columns]
    wells = meta.drop_duplicates("well")[levels]
    return {row["well"]: row for row in wells.to_dict("records")}


def _environments(cfg: SyntheticConfig, meta: pd.DataFrame) -> dict:
    """Well name -> the imaging model (and phenotype shift) of its OE path."""
    return {well: environment(cfg, path) for well, path in _paths(meta).items()}


def make_dataset(name: str, size: str = "quick", seed: int = 0, progress: bool | None = None,
                 **knobs) -> Dataset:
    """Render a synthetic dataset (``synthetic-grid`` or ``synthetic-lincs``); deterministic per seed."""
    cfg = config_for(name, size, seed, **knobs)
    meta, unit_col = cell_table(cfg)
    envs = _environments(cfg, meta)
    if progress is None:
        progress = len(meta) >= 5000
    imaging = [envs[w] for w in meta["well"]]
    images, latents = _render_rows(cfg, meta, unit_col, imaging, [e["dz"] for e in imaging], progress)
    return Dataset(
        name=name,
        images=images,
        meta=meta,
        channels=CHANNELS[: cfg.channels],
        unit=unit_col,
        latents=latents,
        info={"config": dataclasses.asdict(cfg), "size": size, "latent_names": list(LATENTS)},
    )


def _config_of(dataset: Dataset) -> SyntheticConfig:
    if "config" not in dataset.info:
        raise ValueError(
            f"{dataset.name} is not a synthetic dataset: counterfactuals need the generator's "
            "config, which only synthetic-grid and synthetic-lincs carry"
        )
    config = dataset.info["config"]
    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    if set(config) - known:
        raise ValueError(
            f"{dataset.name} was rendered by another version of the generator (unknown knobs "
            f"{sorted(set(config) - known)}); render it again to draw counterfactuals"
        )
    return SyntheticConfig(**config)


def imaging_groups(dataset: Dataset) -> np.ndarray:
    """Per cell, the name of the finest OE of its path that draws an imaging model of its
    own: cells of one group are imaged alike (with ``well_scale`` 0, the default, every
    well of a section is), cells of two groups through different draws."""
    cfg = _config_of(dataset)
    drawn = [lv for lv in OE_LEVELS if lv in dataset.meta.columns and cfg.level_scale(lv) > 0]
    return dataset.meta[drawn[-1] if drawn else "series"].to_numpy()


def target_path(dataset: Dataset, target_oe: str, seed: int = 0) -> dict:
    """The OE path (level -> name) of ``target_oe``, a name at any level. A well is used as
    it is; a coarser OE (series, plate, section) stands for one of its wells, chosen at
    random with ``seed`` (keyed on the OE's name, so each OE draws its own)."""
    meta = dataset.meta
    for level in ("well", "section", "plate", "series"):
        if level in meta.columns and (meta[level] == target_oe).any():
            wells = meta.loc[meta[level] == target_oe, "well"].drop_duplicates().tolist()
            rng = keyed_rng(seed, target_oe)
            well = wells[int(rng.integers(len(wells)))]
            return _paths(meta[meta["well"] == well])[well]
    examples = meta["plate"].drop_duplicates().head(4).tolist()
    raise ValueError(
        f"{target_oe!r} is no OE of {dataset.name}; name a series, plate, section or well "
        f"of the design, e.g. {examples}"
    )


def render_counterfactual(dataset: Dataset, indices, target_oe: str, phenotype: str = "keep",
                          seed: int = 0, return_latents: bool = False):
    """The cells at ``indices`` re-rendered as if observed in ``target_oe``.

    Each cell keeps its cause, unit and own seed. With ``phenotype="keep"`` it also keeps
    its phenotype Z exactly as in the dataset (its own OE's shift of Z included) and only
    the target's imaging model changes: what a style transfer can be asked to produce.
    With ``phenotype="shift"`` the target OE's shift of Z replaces the source's: the full
    intervention do(C). A coarse ``target_oe`` (a series, plate or section) stands for one
    of its wells, picked with ``seed`` (:func:`target_path`). Rendering a cell in its own
    well reproduces its pixels exactly in both modes. Returns (len(indices), C, H, W)
    float32, and the latents Z (len(indices), D) with ``return_latents``.
    """
    if phenotype not in PHENOTYPES:
        raise ValueError(f"unknown phenotype {phenotype!r}; choose one of {list(PHENOTYPES)}")
    cfg = _config_of(dataset)
    path = target_path(dataset, target_oe, seed=seed)
    target = environment(cfg, path)
    rows = dataset.meta.iloc[np.atleast_1d(np.asarray(indices))].copy()
    if phenotype == "keep":
        # the source well's shift, recomputed in full precision (latents are stored as float32)
        source = _environments(cfg, rows)
        shifts = [source[w]["dz"] for w in rows["well"]]
    else:
        shifts = [target["dz"]] * len(rows)
    for level, name in path.items():
        rows[level] = name
    images, latents = _render_rows(cfg, rows, dataset.unit, [target] * len(rows), shifts)
    return (images, latents) if return_latents else images



def require_counterfactuals(dataset: Dataset) -> SyntheticConfig:
    """The generator config of a synthetic dataset, or a ValueError saying that only the
    synthetic benchmark has true counterfactuals."""
    return _config_of(dataset)


def clean_fluorescence(dataset: Dataset, indices) -> np.ndarray:
    """The clean fluorescence of the cells at ``indices``, before any imaging model: each
    with its own phenotype Z (its own OE's shift kept, as ``phenotype="keep"`` in
    :func:`render_counterfactual`). (N, C, H, W) float32; :func:`image_in_wells` images it.
    Drawing it once and imaging it in many wells is how the oracle row stays cheap."""
    cfg = _config_of(dataset)
    rows = dataset.meta.iloc[np.atleast_1d(np.asarray(indices))]
    source = _environments(cfg, rows)
    out = np.empty((len(rows), cfg.channels, cfg.image_size, cfg.image_size), np.float32)
    for i, row in enumerate(rows.itertuples(index=False)):
        row = row._asdict()
        z = _phenotype(cfg, row["y"], row[dataset.unit], row["cell_seed"], source[row["well"]]["dz"])
        out[i] = render_cell(z, row["cell_seed"], cfg.image_size, cfg.channels)
    return out


def image_in_wells(dataset: Dataset, clean: np.ndarray, indices, wells) -> np.ndarray:
    """Clean fluorescence ``clean`` (N, C, H, W) of the cells at ``indices`` imaged in
    ``wells`` (N,): cell ``i`` through the imaging model of ``wells[i]``, with the cell's
    own camera noise. With :func:`clean_fluorescence`, the true ``keep`` counterfactual.
    (N, C, H, W) float32."""
    cfg = _config_of(dataset)
    paths = _paths(dataset.meta)
    wells = np.asarray(wells, dtype=object).ravel()
    unknown = sorted({str(w) for w in wells if w not in paths})
    if unknown:
        raise ValueError(f"{unknown[:3]} are not wells of {dataset.name}; name wells of its design")
    imaging = {w: environment(cfg, paths[w]) for w in dict.fromkeys(wells)}
    seeds = dataset.meta["cell_seed"].to_numpy()[np.atleast_1d(np.asarray(indices))]
    return np.stack([image_cell(c.astype(np.float64), imaging[w], s)
                     for c, w, s in zip(clean, wells, seeds)]).astype(np.float32)
