"""Example hwnas strategy plugin: ``local-search``, hill climbing with restarts.

Copy this package to add a new search strategy: see the README next to ``pyproject.toml``.
"""
