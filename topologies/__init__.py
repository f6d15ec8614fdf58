"""Runnable example pipes (``slither run topologies/scoring.py --input ...``)."""
