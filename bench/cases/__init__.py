"""Workloads shared by every system under test (stdlib and NumPy only, so the peers'
own virtualenvs can import them): the records, the per-record functions and the
compute model. One definition means every system does exactly the same work."""
