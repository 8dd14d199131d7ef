"""Hints for error messages (standard library only, so every layer can use it)."""

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], form: str = "{}") -> str:
    """ "; did you mean X?" for the closest of `known` to `name` (X written as `form`), or ""
    when none is close (difflib's ratio >= 0.6)."""
    near = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {form.format(near[0])}?" if near else ""
