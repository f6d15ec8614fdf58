"""Deployment: running pipes in-process (:mod:`.runner`), as long-lived workers
(:mod:`.worker`) and supervised worker processes (:mod:`.supervisor`)."""
