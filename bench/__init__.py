"""Benchmarks and long runs against the real service (run as scripts: ``.venv/bin/python bench/<name>.py``)."""
