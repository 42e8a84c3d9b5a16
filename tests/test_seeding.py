"""The package's one keyed-seed scheme (ist_core.seeding)."""

import numpy as np
import torch

from ist_core.seeding import keyed_rng, keyed_seed
from ist_core.train.runtime import generator


def test_equal_keys_give_equal_streams_whatever_the_item_types():
    a = keyed_rng(3, "oe", "s1p1").normal(size=5)
    b = keyed_rng(np.int64(3), "oe", "s1p1").normal(size=5)
    np.testing.assert_array_equal(a, b)
    assert keyed_seed(0, "init", "predictor") == keyed_seed(np.int32(0), "init", "predictor")


def test_keys_that_differ_in_any_item_or_split_differ():
    seeds = {keyed_seed(*key) for key in [(0, "a", "bc"), (0, "ab", "c"), (0, "abc"), (1, "a", "bc"),
                                           (0, "bc", "a"), ("0a", "bc")]}
    assert len(seeds) == 6


def test_seeds_fit_torch_and_key_its_generators():
    seeds = [keyed_seed(k, "init") for k in range(200)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert max(seeds) > 2**60  # the whole 63-bit range is used, not a small hash
    x = torch.rand(4, generator=generator(1, "batches"))
    np.testing.assert_array_equal(x, torch.rand(4, generator=generator(1, "batches")))
    assert not torch.equal(x, torch.rand(4, generator=generator(2, "batches")))
