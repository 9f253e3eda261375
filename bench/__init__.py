"""Benchmarks: run with `make bench`; figures go to the README and the closing note."""
