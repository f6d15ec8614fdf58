from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slither_stream.log.partitioner import murmur2, partition_for_key

# Vectors from Apache Kafka's own UtilsTest.testMurmur2 (Java default partitioner).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_matches_kafka_reference_vectors() -> None:
    assert {key: murmur2(key) for key in KAFKA_VECTORS} == KAFKA_VECTORS


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=512))
def test_partition_is_in_range_and_deterministic(key: bytes, partitions: int) -> None:
    chosen = partition_for_key(key, partitions)
    assert 0 <= chosen < partitions
    assert chosen == (murmur2(key) & 0x7FFFFFFF) % partitions
