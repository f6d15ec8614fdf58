"""Interactive queries: read a stage's keyed state from outside the pipe.

A stage's keyed state is sharded like its input: the member of the stage's
consumer group that owns input partition p holds the state of every key in p.
Reading a key's value therefore means finding that member and asking it:

* :mod:`.advertise` - how a worker names itself to the group: its member id and
  the HTTP endpoint it answers on, carried in its consumers' client id;
* :mod:`.owners` - which member owns the partition of a key, from the group's
  member list (:meth:`~slither_stream.log.base.Log.group_members`);
* :mod:`.replies` - the HTTP contract (status codes and JSON bodies);
* :mod:`.service` - the worker's ``GET /state/<stage>/<store>/<key>``: answers for
  the partitions it owns, names the owner of the others;
* :mod:`.proxy` - a supervisor's ``/state``: sends each query to the worker process
  that owns the key;
* :mod:`.client` - finds the owner and asks it (``slither state get``);
* :mod:`.local` - reads a local state directory directly, when no worker runs.

The contract is documented in ``docs/how-to/query-state.md``.
"""
