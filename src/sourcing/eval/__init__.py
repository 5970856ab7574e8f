"""Evaluation suites and performance benchmarks; never imported by runtime code."""
