"""Fixture module for ``test_ci_guard.py``: run in a child pytest, never collected here.

Each test is selected by node id; none needs a broker, the ``kafka`` marker alone is
what the CI guard in ``tests/conftest.py`` looks at.
"""

import pytest


@pytest.mark.kafka
def test_kafka_marked_runs() -> None:
    assert sum([1, 2]) == 3


@pytest.mark.kafka
def test_kafka_marked_skips() -> None:
    pytest.skip("pretend no broker")


def test_not_kafka() -> None:
    assert "a" * 2 == "aa"
