"""Built-in plugin: recorded devices, their accuracy sources and their commands."""

from __future__ import annotations

import hwnas
from hwnas.targets.recorded.models import _DEVICES, OFANote10, RecordedTable
from hwnas.targets.recorded.tables import NOTE10_RESOLUTIONS

_SUMMARIES = {
    "nb201": "Recorded NAS-Bench-201 latency on {device} (all 15,625 cells; HELP/HW-NAS-Bench)",
    "fbnet": "Recorded FBNet latency on {device} (5,000 sampled archs; HELP/HW-NAS-Bench)",
    "ofa": "Recorded OFA MobileNetV3 latency on {device} (5,000 sampled subnets; HELP)",
}


def _table_factory(space: str, device: str):
    def factory(data_dir: str | None = None, predict_missing: bool = False) -> RecordedTable:
        return RecordedTable(space, device, data_dir, predict_missing)

    factory.__doc__ = f"Recorded {space} latency on {device}."
    return factory


def _note10_factory(data_dir: str | None = None) -> OFANote10:
    return OFANote10(data_dir)


@hwnas.hookimpl
def hwnas_targets():
    """Declare ``nb201/<device>``, ``fbnet/<device>``, ``ofa/<device>`` and ``ofa/note10``."""
    for space, devices in _DEVICES.items():
        for device in devices:
            yield hwnas.TargetSpec(
                name=f"{space}/{device}",
                summary=_SUMMARIES[space].format(device=device),
                factory=_table_factory(space, device),
                recorded=True,
                space=space,
            )
    yield hwnas.TargetSpec(
        name="ofa/note10",
        summary="OFA MobileNetV3 on Samsung Note10 CPU: sum of OFA's per-operator lookup "
        "table (any subnet, r=160/176/192/208/224)",
        factory=_note10_factory,
        recorded=True,
        space="ofa",
        space_options={"resolutions": ",".join(map(str, NOTE10_RESOLUTIONS))},
    )


@hwnas.hookimpl
def hwnas_accuracy_sources():
    """Declare ``nb201`` (the NAS-Bench-201 table) and ``ofa-predictor``."""
    from hwnas.targets.recorded.accuracy import NB201Accuracy, OFAPredictorAccuracy

    yield hwnas.AccuracySourceSpec(
        name="nb201",
        summary="NAS-Bench-201 table (c10: search sees validation, report uses test; "
        "c100/in16: test)",
        factory=NB201Accuracy,
        space="nb201",
    )
    yield hwnas.AccuracySourceSpec(
        name="ofa-predictor",
        summary="OFA's released ImageNet accuracy predictor",
        factory=OFAPredictorAccuracy,
        space="ofa",
    )


@hwnas.hookimpl
def hwnas_commands():
    """Declare ``hwnas recorded``, ``hwnas data`` and ``hwnas predict recorded``."""
    yield hwnas.CommandSpec(
        name="recorded",
        summary="Recorded latency (and accuracy) of architectures",
        factory=_command("recorded"),
    )
    yield hwnas.CommandSpec(
        name="data",
        summary="The published tables shipped with hwnas: sources, licences, sizes",
        factory=_command("data"),
    )
    yield hwnas.CommandSpec(
        name="recorded",
        summary="Few-shot architecture-level predictor on a recorded table",
        factory=_command("predict_recorded"),
        parent="predict",
    )


def _command(name: str):
    """A factory that imports the command module only when the CLI mounts it."""

    def factory():
        from hwnas.targets.recorded import commands

        return getattr(commands, name)

    return factory
