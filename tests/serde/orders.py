"""Values of ORDER_SCHEMA: one fixed sample and a Hypothesis strategy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

UTC = dt.UTC


def sample_order() -> dict[str, Any]:
    line = {"sku": "A-1", "price": 9.99, "note": None}
    return {
        "id": "o-1",
        "quantity": 3,
        "big": 2**40,
        "total": 29.97,
        "ratio": 0.5,
        "paid": True,
        "blob": b"\x00\xffbytes",
        "status": "PAID",
        "digest": b"\x01\x02\x03\x04",
        "lines": [line, {"sku": "B-2", "price": -1.25, "note": "gift wrap"}],
        "attrs": {"weight": 1200, "neg": -7},
        "gift": {"sku": "G", "price": 0.0, "note": "ribbon"},
        "created": dt.datetime(2026, 11, 28, 7, 30, 15, 123000, tzinfo=UTC),
        "day": dt.date(2026, 11, 28),
        "price": Decimal("1234.56"),
    }


_INT32 = st.integers(-(2**31), 2**31 - 1)
_LONG = st.integers(-(2**63), 2**63 - 1)
# float32 values survive a float round trip exactly; doubles any finite value.
_FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_DOUBLE = st.floats(allow_nan=False, allow_infinity=False)
_LINE = st.fixed_dictionaries({
    "sku": st.text(max_size=8),
    "price": _DOUBLE,
    "note": st.none() | st.text(max_size=8),
})


def orders() -> st.SearchStrategy[dict[str, Any]]:
    """Any valid Order (timestamps at millisecond precision, decimals at scale 2)."""
    return st.fixed_dictionaries({
        "id": st.text(max_size=16),
        "quantity": _INT32,
        "big": _LONG,
        "total": _DOUBLE,
        "ratio": _FLOAT32,
        "paid": st.booleans(),
        "blob": st.binary(max_size=16),
        "status": st.sampled_from(["NEW", "PAID", "SHIPPED"]),
        "digest": st.binary(min_size=4, max_size=4),
        "lines": st.lists(_LINE, max_size=4),
        "attrs": st.dictionaries(st.text(max_size=6), _LONG, max_size=4),
        "gift": st.none() | _LINE,
        "created": st.integers(-(2**40), 2**40).map(
            lambda ms: dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=ms)),
        "day": st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
        "price": st.integers(-(10**10) + 1, 10**10 - 1).map(lambda c: Decimal(c).scaleb(-2)),
    })
