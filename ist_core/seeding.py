"""Randomness keyed on names: the one scheme behind every seed of the package.

A key is a tuple of names and numbers (a dataset seed, an OE name, a cell's well and
place, a run's seed and the network it initialises). Its items are joined as text and
hashed into the entropy of a :class:`numpy.random.SeedSequence`, so

- a draw depends on what it is for, never on the order in which draws are made (a
  counterfactual re-renders one cell through another OE's draws; a resumed run
  initialises the same weights);
- equal keys give equal streams whatever the items' types (``3`` and ``np.int64(3)``
  alike, since items enter as ``str``), and keys that differ in any item differ.

Both the synthetic generator (:mod:`ist_core.data.synthetic`) and the training code
(:mod:`ist_core.train.runtime`) draw through here.
"""

from __future__ import annotations

import hashlib

import numpy as np

SEPARATOR = "\x1f"  # ASCII unit separator: ("a", "bc") and ("ab", "c") stay apart


def keyed_sequence(*key) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` of ``key``."""
    text = SEPARATOR.join(str(item) for item in key)
    entropy = int.from_bytes(hashlib.sha256(text.encode()).digest(), "little")
    return np.random.SeedSequence(entropy)


def keyed_rng(*key) -> np.random.Generator:
    """A numpy generator keyed on ``key``."""
    return np.random.default_rng(keyed_sequence(*key))


def keyed_seed(*key) -> int:
    """A 63-bit integer seed keyed on ``key`` (for ``torch.manual_seed`` and the like)."""
    return int(keyed_sequence(*key).generate_state(1, np.uint64)[0] >> np.uint64(1))
