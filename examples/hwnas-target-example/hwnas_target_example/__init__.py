"""Example hwnas target plugin: PyTorch eager on the host CPU with a fixed thread count.

Copy this package to add a new device: see the README next to ``pyproject.toml``.
"""
