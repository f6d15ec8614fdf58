"""Partitioned tables: keyed state of a stage, sharded with its input partitions.

Unlike a global table (``store/``: every process holds all of it, one writer per
table), a partitioned table has one RocksDB instance per input partition of the
stage that owns it (a *task*), written only by the consumer-group member that owns
that partition and backed by the matching partition of its changelog topic.
:mod:`.task_store` is one such instance with its changelog checkpoint;
:mod:`.recovery` restores one from its changelog partition. The stage engine
(:mod:`slither_stream.pipe.engine.tasks`) opens, restores and closes them as the
group assigns and revokes partitions.
"""
