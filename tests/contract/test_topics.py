"""Topic administration: create, describe, list, delete (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError, TopicExistsError, UnknownTopicError
from slither_stream.log import Log, TopicSpec
from tests.contract.helpers import eventually

pytestmark = pytest.mark.also_secured  # the contract over SASL_SSL with ACLs too

Namer = Callable[[str], str]


def test_create_describe_list(log: Log, unique_name: Namer) -> None:
    plain, compacted = unique_name("plain"), unique_name("compacted")
    log.create_topics([TopicSpec(plain, 3), TopicSpec(compacted, 2, compacted=True)])

    info = log.describe_topic(plain)
    assert (info.name, info.partitions, info.compacted) == (plain, 3, False)
    info = log.describe_topic(compacted)
    assert (info.name, info.partitions, info.compacted) == (compacted, 2, True)
    names = log.list_topics()
    assert {plain, compacted} <= set(names)
    assert names == sorted(names)
    assert [tp.partition for tp in log.partitions_of(plain)] == [0, 1, 2]


def test_retention_is_reported(log: Log, unique_name: Namer) -> None:
    name = unique_name("retained")
    log.create_topic(name, 1, retention_ms=3_600_000)
    assert log.describe_topic(name).retention_ms == 3_600_000


def test_create_existing(log: Log, unique_name: Namer) -> None:
    name = unique_name("twice")
    log.create_topic(name, 2)
    log.create_topic(name, 2)  # exist_ok by default
    with pytest.raises(TopicExistsError):
        log.create_topic(name, 2, exist_ok=False)
    assert log.describe_topic(name).partitions == 2


def test_delete_topic(log: Log, unique_name: Namer) -> None:
    name = unique_name("doomed")
    log.create_topic(name, 1)
    log.producer().send(name, b"v", b"k")
    log.delete_topic(name)
    eventually(lambda: name not in log.list_topics(), what="topic deletion")
    with pytest.raises(UnknownTopicError):
        log.describe_topic(name)


@pytest.mark.parametrize("partitions", [0, -1])
def test_bad_partition_count(log: Log, unique_name: Namer, partitions: int) -> None:
    name = unique_name("bad")
    with pytest.raises(ConfigError, match="partitions"):
        log.create_topic(name, partitions)
    assert name not in log.list_topics()


def test_unknown_topic_describe(log: Log, unique_name: Namer) -> None:
    with pytest.raises(UnknownTopicError) as caught:
        log.describe_topic(unique_name("missing"))
    assert "missing" in str(caught.value)
