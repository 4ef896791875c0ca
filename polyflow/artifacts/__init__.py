"""Artifacts (DESIGN section 10): the store (`store.py`) and the moves of one attempt's
files to and from it (`transfer.py`, also `python -m polyflow.artifacts` in pods)."""
