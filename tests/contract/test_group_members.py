"""Group members: who owns which partition, by client id, read without joining
(both backends)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import GroupMember, Log, open_log
from tests.contract.helpers import eventually, settle

Namer = Callable[[str], str]


def _by_client(members: list[GroupMember]) -> dict[str, GroupMember]:
    return {member.client_id: member for member in members}


def test_members_report_their_client_id_and_assignment(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("owned"), unique_name("group")
    log.create_topic(topic, 4)
    everything = set(log.partitions_of(topic))
    assert log.group_members(group) == []

    first = log.consumer(group, client_id="member-a")
    second = log.consumer(group, client_id="member-b")
    reader = log.consumer(unique_name("reader"), client_id="reader")
    try:
        reader.assign(log.partitions_of(topic))  # not a member of any group
        first.subscribe([topic])
        second.subscribe([topic])

        def split() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == everything

        settle([first, second, reader], split)

        def reported() -> bool:
            members = _by_client(log.group_members(group))
            return (set(members) == {"member-a", "member-b"}
                    and members["member-a"].assignment == first.assignment()
                    and members["member-b"].assignment == second.assignment())

        # the coordinator's view follows the members' (Kafka: after their SyncGroup)
        settle([first, second], reported)
        members = log.group_members(group)
        assert len({m.member_id for m in members}) == 2
        assert all(isinstance(m.host, str) for m in members)
        assert all(isinstance(m.assignment, frozenset) for m in members)
    finally:
        reader.close()
        second.close()
        first.close()

    eventually(lambda: log.group_members(group) == [], what="the members left")


def test_the_log_wide_client_id_names_every_consumer(log_url: str, backend: str,
                                                     tmp_path: Path,
                                                     unique_name: Namer) -> None:
    url = f"embedded://{tmp_path / 'named'}" if backend == "embedded" else log_url
    topic, group = unique_name("named"), unique_name("group")
    with open_log(url, client_id="slither;member=7") as named:
        named.create_topic(topic, 2)
        consumer = named.consumer(group)
        try:
            consumer.subscribe([topic])
            settle([consumer], lambda: len(consumer.assignment()) == 2)
            settle([consumer], lambda: [m.client_id for m in named.group_members(group)]
                   == ["slither;member=7"])
            [member] = named.group_members(group)
            assert member.assignment == frozenset(named.partitions_of(topic))
        finally:
            consumer.close()


@pytest.mark.parametrize("bad", ["", 7])
def test_a_bad_client_id_is_refused(log: Log, bad: object) -> None:
    with pytest.raises(ConfigError, match="client_id"):
        log.consumer("group", client_id=bad)  # type: ignore[arg-type]
