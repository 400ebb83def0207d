"""Evaluation: the standard super-resolution benchmark protocol (``benchmark``, ``protocol``,
``published``, ``benchmark_report``)."""
