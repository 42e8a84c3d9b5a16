"""Values given as text or by hand, checked against the type they must have: one place for
``KEY=VALUE`` options (``--knob``, ``--set``), chapter parameters given on the command line,
IST settings, profile overrides and generator knobs."""

from __future__ import annotations

import ast

import numpy as np

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_value(text: str):
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, anything else stays text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_pairs(items: list[str] | None, what: str) -> dict:
    """``KEY=VALUE`` strings as a dict, numbers where they parse (``what`` names the
    option in the error, e.g. ``--knob``)."""
    out = {}
    for pair in items or []:
        if "=" not in pair:
            raise ValueError(f"{what} expects KEY=VALUE, got {pair!r}")
        key, value = (p.strip() for p in pair.split("=", 1))
        out[key] = parse_value(value)
    return out


def _expected(default) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, np.integer)):
        return "an int"
    if isinstance(default, (float, np.floating)):
        return "a number (int or float)"
    return f"a {type(default).__name__}"


def typed(name: str, value, default, what: str = "value", parse: bool = False):
    """``value`` with the type of ``default``: an int is accepted where a float is
    expected (and made one); with ``parse``, text is read first (``"true"``, ``"3"``,
    ``"[1, 2]"``: a value typed on a command line); anything else of the wrong type is a
    ValueError naming ``what`` and ``name``, the type expected and the value given. A
    ``default`` of None, or of another type than bool, int, float, str, list or tuple,
    takes any value."""
    if default is None or not isinstance(default, (bool, int, float, str, list, tuple,
                                                   np.integer, np.floating)):
        return value
    fail = ValueError(f"{what} {name!r} expects {_expected(default)}, got {value!r} "
                      f"({type(value).__name__})")
    if parse and isinstance(value, str) and not isinstance(default, str):
        text = value.strip()
        if isinstance(default, bool):
            if text.lower() not in TRUE + FALSE:
                raise fail
            return text.lower() in TRUE
        try:
            value = parse_value(text) if isinstance(default, (int, float, np.number)) \
                else ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise fail from None
    boolean = isinstance(value, (bool, np.bool_))
    integer = isinstance(value, (int, np.integer)) and not boolean
    if isinstance(default, bool):
        if boolean:
            return bool(value)
    elif isinstance(default, (int, np.integer)):
        if integer:
            return int(value)
    elif isinstance(default, (float, np.floating)):
        if integer or isinstance(value, (float, np.floating)):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(value, (list, tuple)):
        return value
    raise fail
