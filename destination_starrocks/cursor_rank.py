"""An order-preserving LARGEINT rank of a string cursor, for Stream Load's `merge_condition`.

StarRocks' `merge_condition` keeps a stored row when its condition column is larger than the loaded row's, but
it refuses CHAR, VARCHAR and JSON columns (fe `Load.checkMergeCondition`: "Merge condition column has invalid
type maybe bitmap/hll/percentile/json/varchar!"). A dedup stream whose cursor is a plain string (no `format`)
therefore gets a second, hidden column `_airbyte_rank_<cursor column> LARGEINT` that the condition names. Its
value is a number that orders like the string (by code point, which is also UTF-8 byte order and Python's
`str` order), as far as 128 bits allow:

- each of the first 19 characters is one base-98 digit: printable ASCII (space to `~`) are digits 2..96 in
  ASCII order; 98¹⁹ < 2¹²⁷, so the rank fits a signed LARGEINT;
- a shorter string is padded with 0, below every character, so `"abc"` ranks below `"abcd"`;
- the first control character (digit 1) or non-ASCII character (digit 97) ends the rank: what follows it
  cannot be ranked without breaking the order, so it is not ranked at all.

So `rank(a) <= rank(b)` whenever `a < b`: the rank never inverts an order, it only merges strings that agree
on their first 19 characters, or up to their first non-ASCII or control character. For those StarRocks sees
equal conditions, and an equal condition lets the later load win ("takes effect only when the source data
record has a greater or equal value", Load_to_Primary_Key_tables). ISO 8601 timestamps are ranked to the
second (`2024-01-05T10:00:00` is 19 characters), dates, numbers written with a fixed number of digits and
most ids exactly. A null cursor has a null rank, and StarRocks never lets a null condition replace a row with a
non-null one (be `NullableColumn::compare_at`), the same rule the buffer applies within a load.
"""

from __future__ import annotations

RANK_BASE = 98
RANK_CHARACTERS = 19
_PAD, _CONTROL, _NON_ASCII = 0, 1, 97
_DIGITS = bytes(
    _CONTROL if byte < 0x20 else _NON_ASCII if byte > 0x7E else byte - 0x20 + 2 for byte in range(256)
)
_POWERS = [RANK_BASE ** (RANK_CHARACTERS - 1 - i) for i in range(RANK_CHARACTERS)]
RANK_TYPE = "LARGEINT"


def string_rank(text: str) -> int:
    """The rank of `text`: monotone in string order, exact on the first 19 printable ASCII characters."""
    digits = text[:RANK_CHARACTERS].encode("utf-8", "surrogatepass")[:RANK_CHARACTERS].translate(_DIGITS)
    rank = 0
    for power, digit in zip(_POWERS, digits, strict=False):
        rank += digit * power
        if digit == _CONTROL or digit == _NON_ASCII:
            break
    return rank
