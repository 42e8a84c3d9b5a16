"""One checker for values given as text or by hand (ist_core.values)."""

import numpy as np
import pytest

from ist_core.values import parse_pairs, typed


def test_pairs_parse_numbers_and_keep_text():
    assert parse_pairs(["a=3", " b = 0.5 ", "c=plate", "d=1e-3"], "--knob") == \
        {"a": 3, "b": 0.5, "c": "plate", "d": 0.001}
    with pytest.raises(ValueError, match="--set expects KEY=VALUE, got 'style'"):
        parse_pairs(["style"], "--set")


@pytest.mark.parametrize("value, default, want", [
    ("3", 1, 3), ("0.25", 1.0, 0.25), (2, 1.0, 2.0), (np.int64(4), 1, 4), ("true", False, True),
    ("no", True, False), ("[1, 2]", [0], [1, 2]), ("plate", "well", "plate"), ("x", None, "x"),
    (7, None, 7),
])
def test_values_take_the_type_of_the_default(value, default, want):
    got = typed("k", value, default, parse=True)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("value, default, expects", [
    (0.5, 1, "an int"), (True, 1, "an int"), ("abc", 1.0, "a number"), ("maybe", True, "true or false"),
    (3, "plate", "a str"), ("[1,", [0], "a list"), (1, True, "true or false"),
])
def test_a_value_of_the_wrong_type_names_the_setting_and_the_type(value, default, expects):
    with pytest.raises(ValueError, match=f"knob 'k' expects {expects}"):
        typed("k", value, default, "knob", parse=True)


def test_text_is_read_only_when_asked():
    with pytest.raises(ValueError, match="knob 'k' expects an int, got '48' \\(str\\)"):
        typed("k", "48", 1, "knob")
    assert typed("k", "48", 1, "knob", parse=True) == 48
