"""Benchmarks of the whole pipeline: ``luxtts bench`` (see :mod:`luxtts.bench.cli`) and the pieces behind it."""
