"""Benchmarks for the image pipeline (issue 5): ``python -m bench [--quick]``.

Every figure is measured against baselines timed in the same run, so a table from
one machine compares like with like. Results land in ``bench/results/latest.json``.
"""
