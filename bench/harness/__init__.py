"""The peer benchmark harness: broker, data, system processes, measurement, report.

Runs in the project venv; the systems under test run as subprocesses (each peer in
its own venv) against the same broker. Entry point: ``bench/run_all.py``.
"""
