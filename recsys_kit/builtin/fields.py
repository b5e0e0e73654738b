"""Field types and checks shared by the built-in stage configs (params that are nonsense
fail validation, naming the field, instead of failing deep inside a run)."""

from __future__ import annotations

from collections.abc import Sequence
from string import Formatter
from typing import Annotated, TypeVar

from pydantic import AfterValidator, AllowInfNan, Field, Strict

T = TypeVar("T")

#: A float that is a real number: NaN and infinities (YAML `.nan`, `.inf`) are refused.
Finite = Annotated[float, AllowInfNan(False)]
#: A count of one or more, written as an integer (`true` and `10.0` are refused).
Positive = Annotated[int, Strict(), Field(ge=1)]


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ord(c) < 32 and c != "\t" for c in value):
        raise ValueError("must not hold control characters (newlines, NUL, ...)")
    return value


#: Non-empty text on one line (names, paths, columns).
Text = Annotated[str, AfterValidator(_text)]


def unique(values: Sequence[T]) -> Sequence[T]:
    """``values``, or a ValueError naming the repeated ones."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} given more than once; list each once")
    return values


def plain_template(template: str) -> str:
    """``template``, or a ValueError when it is not text with plain ``{column}`` fields
    (``str.format`` would fail on it, or read an index, attribute or format spec)."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write columns as {{title}}, and a "
                         "literal brace as {{ or }}") from None
    for _, name, spec, conversion in parts:
        if name is not None and (not name.isidentifier() or spec or conversion):
            raise ValueError(f"'{{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}' is not a plain column field; "
                             "write columns as {title} (no index, attribute or format)")
    return template
