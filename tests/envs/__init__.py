"""Tests of colframe.envs (a package, so its conftest does not shadow tests/conftest.py)."""
