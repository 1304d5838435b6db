"""Built-in plugin ``proxy``: proxy transfer and ``hwnas transfer``."""

from __future__ import annotations

import hwnas


@hwnas.hookimpl
def hwnas_strategies():
    """Declare ``proxy``."""
    from hwnas.plugins.proxy.strategy import ProxyTransfer

    yield hwnas.StrategySpec(
        name="proxy",
        summary="Proxy transfer (Lu et al. 2022): k target samples, SRCC estimate, search on the "
        "proxy or on a few-shot adapted model, re-time the front on the target",
        factory=ProxyTransfer,
    )


@hwnas.hookimpl
def hwnas_commands():
    """Declare ``hwnas transfer`` (latency rank correlation between devices)."""
    yield hwnas.CommandSpec(
        name="transfer",
        summary="Latency monotonicity between devices (proxy transfer)",
        factory=_transfer_app,
    )


def _transfer_app():
    from hwnas.plugins.proxy.commands import transfer_app

    return transfer_app
