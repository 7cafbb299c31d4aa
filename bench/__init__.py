"""Benchmarks with their own data generators, run by ``make bench`` (``python -m bench``); not tests."""
