"""The plugin contract: discovery, broken plugins, duplicates, availability, events, docs."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

from hwnas import hookspecs
from hwnas.errors import (
    DuplicatePluginError,
    HwnasError,
    PluginUnavailableError,
    UnknownPluginError,
)
from hwnas.hookspecs import hookimpl
from hwnas.manager import DEFAULT_PLUGINS, PluginManager
from hwnas.types import SpaceSpec, StrategySpec, TargetSpec

BUILTIN_SPACES = {"hurricane", "nb201", "fbnet", "ofa"}


def make_plugin(name: str, **hooks) -> types.ModuleType:
    """A throwaway plugin module with the given hook implementations."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def manager_with(*plugins: tuple[str, types.ModuleType]) -> PluginManager:
    pm = PluginManager(load_external=False)
    for package, module in plugins:
        pm.register_object(module, package, module.__name__)
    return pm


def test_builtin_spaces_are_registered_through_the_hooks(plugin_manager):
    spaces = {info.name: info for info in plugin_manager.infos("space")}
    assert set(spaces) >= BUILTIN_SPACES
    assert all(
        spaces[name].package == "hwnas" and spaces[name].available for name in BUILTIN_SPACES
    )


def test_unknown_plugin_names_the_valid_ones(plugin_manager):
    with pytest.raises(UnknownPluginError) as info:
        plugin_manager.get("space", "nosuch")
    assert "hurricane" in str(info.value) and "nb201" in str(info.value)


def test_module_that_fails_to_import_is_listed_not_raised():
    pm = PluginManager(
        default_plugins=(*DEFAULT_PLUGINS, "hwnas_no_such_module_xyz"), load_external=False
    )
    (broken,) = pm.broken
    assert broken.name == "hwnas_no_such_module_xyz" and not broken.available
    assert "import failed" in broken.reason
    assert {info.name for info in pm.infos("space")} >= BUILTIN_SPACES
    assert broken in pm.infos()


def test_hook_that_raises_is_listed_as_broken():
    def hwnas_targets():
        raise RuntimeError("SDK exploded")

    pm = manager_with(("vendor-sdk", make_plugin("exploding", hwnas_targets=hwnas_targets)))
    assert all(info.package != "vendor-sdk" for info in pm.infos("target"))
    assert any("SDK exploded" in info.reason and info.package == "vendor-sdk" for info in pm.broken)


def test_duplicate_names_name_both_packages():
    def hwnas_search_spaces():
        yield SpaceSpec(name="nb201", summary="impostor", factory=object)

    pm = manager_with(("impostor-pkg", make_plugin("dup", hwnas_search_spaces=hwnas_search_spaces)))
    with pytest.raises(DuplicatePluginError) as info:
        pm.registry()
    assert "hwnas" in str(info.value) and "impostor-pkg" in str(info.value)


def test_missing_runtime_makes_plugin_unavailable_with_the_extra():
    def hwnas_targets():
        yield TargetSpec(
            name="npu",
            summary="an NPU",
            factory=object,
            extra="npu",
            requires=("hwnas_missing_runtime_xyz",),
        )

    pm = manager_with(("npu-pkg", make_plugin("npu", hwnas_targets=hwnas_targets)))
    info = pm.get("target", "NPU")
    assert not info.available
    assert "hwnas_missing_runtime_xyz" in info.reason and "npu-pkg[npu]" in info.reason
    with pytest.raises(PluginUnavailableError, match="unavailable"):
        pm.create("target", "npu")


def test_wrong_declaration_type_makes_only_that_plugin_broken():
    def hwnas_strategies():
        yield SpaceSpec(name="oops", summary="a space in the strategy hook", factory=object)

    pm = manager_with(("bad", make_plugin("bad", hwnas_strategies=hwnas_strategies)))
    assert "oops" not in {i.name for i in pm.infos("strategy")} and len(pm.infos("space")) == 4
    (broken,) = pm.broken
    assert broken.package == "bad" and "SpaceSpec from a strategy hook" in broken.reason


def test_create_passes_options_and_reports_bad_ones(plugin_manager):
    space = plugin_manager.create("space", "hurricane", profile="imagenet")
    assert space.profile.resolution == 224
    with pytest.raises(HwnasError, match="bad options for space 'hurricane'") as info:
        plugin_manager.create("space", "hurricane", colour="blue")
    assert "valid options: profile, resolution, in_channels, num_classes" in str(info.value)


class Board:
    """A target-like plugin whose device is missing."""

    name = "declared-elsewhere"

    def __init__(self, port: int = 1):
        self.port = port

    def available(self):
        return f"no board on port {self.port}"


def test_create_checks_instance_availability_and_sets_the_name():
    def hwnas_targets():
        yield TargetSpec(name="board", summary="a board", factory=Board)

    pm = manager_with(("board-pkg", make_plugin("board", hwnas_targets=hwnas_targets)))
    with pytest.raises(PluginUnavailableError, match="no board on port 3"):
        pm.create("target", "board", port=3)
    board = pm.create("target", "board", check_available=False, port=3)
    assert board.name == "board" and board.port == 3


def test_spec_names_are_normalised_and_validated():
    spec = StrategySpec(name="  Random ", summary="a\n  b", factory=object)
    assert spec.name == "random" and spec.summary == "a b" and spec.kind == "strategy"
    with pytest.raises(ValueError, match="invalid plugin name"):
        TargetSpec(name="bad name!", summary="x", factory=object)
    with pytest.raises(TypeError, match="callable"):
        TargetSpec(name="ok", summary="x", factory=42)


def test_external_plugins_can_be_switched_off(monkeypatch):
    loaded = []

    class FakeEntryPoint:
        name, value, dist = "fake", "fake_module", None

        def load(self):
            loaded.append(True)
            return make_plugin("fake_module")

    monkeypatch.setattr("hwnas.manager.entry_points", lambda group: [FakeEntryPoint()])
    monkeypatch.setenv("HWNAS_NO_EXTERNAL_PLUGINS", "1")
    PluginManager()
    assert loaded == []
    monkeypatch.setenv("HWNAS_NO_EXTERNAL_PLUGINS", "0")
    pm = PluginManager()
    assert loaded == [True] and pm.has_plugin("fake_module:fake")


def test_entry_point_that_fails_to_load_is_listed(monkeypatch):
    class BrokenEntryPoint:
        name, value, dist = "broken", "broken_module", None

        def load(self):
            raise ImportError("no module named vendor_sdk")

    monkeypatch.setattr("hwnas.manager.entry_points", lambda group: [BrokenEntryPoint()])
    pm = PluginManager(load_external=True)
    assert [b.name for b in pm.broken] == ["broken"]
    assert "vendor_sdk" in pm.broken[0].reason


def test_event_hooks_reach_every_plugin():
    seen = []

    def hwnas_workload_measured(target, workload, measurement):
        seen.append(("measured", workload))

    def hwnas_candidate_evaluated(strategy, arch, metrics):
        seen.append(("evaluated", metrics["latency_ms"]))

    def hwnas_search_finished(strategy, result):
        seen.append(("finished", strategy))

    logger = make_plugin(
        "logger",
        hwnas_workload_measured=hwnas_workload_measured,
        hwnas_candidate_evaluated=hwnas_candidate_evaluated,
        hwnas_search_finished=hwnas_search_finished,
    )
    pm = manager_with(("logger-pkg", logger))
    pm.hook.hwnas_workload_measured(target=None, workload="w", measurement=None)
    pm.hook.hwnas_candidate_evaluated(strategy="random", arch=None, metrics={"latency_ms": 1.5})
    pm.hook.hwnas_search_finished(strategy="random", result=None)
    assert seen == [("measured", "w"), ("evaluated", 1.5), ("finished", "random")]


HOOKSPECS = [
    obj
    for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("hwnas_")
]


@pytest.mark.parametrize("spec", HOOKSPECS, ids=lambda f: f.__name__)
def test_every_hookspec_is_documented(spec):
    doc = inspect.getdoc(spec)
    assert doc and doc.splitlines()[0].endswith("."), "one-line summary first"
    assert ":return:" in doc
    for parameter in inspect.signature(spec).parameters:
        assert f":param {parameter}:" in doc, f"{spec.__name__} does not document {parameter}"
    if spec.__name__ in ("hwnas_targets", "hwnas_strategies", "hwnas_search_spaces"):
        assert "Example::" in doc


@pytest.mark.parametrize("spec", HOOKSPECS, ids=lambda f: f.__name__)
def test_every_hookspec_is_exercised_by_a_test(spec):
    sources = "".join(inspect.getsource(m) for m in (sys.modules[__name__],))
    assert spec.__name__ in sources.replace("HOOKSPECS", "")


# ---------------------------------------------------------------------------
# accuracy sources and commands arrive through hooks like everything else
# ---------------------------------------------------------------------------


class _ConstantAccuracy:
    """A minimal accuracy source for a throwaway space (tests only)."""

    def __init__(self, value: float = 42.0):
        self.value = value

    def accuracy(self, arch):
        return self.value


def test_hwnas_accuracy_sources_declares_a_default_per_space():
    from hwnas.accuracy import accuracy_sources, default_accuracy
    from hwnas.types import AccuracySourceSpec

    def hwnas_accuracy_sources():
        yield AccuracySourceSpec(
            name="const", summary="constant", factory=_ConstantAccuracy, space="toyspace"
        )

    pm = manager_with(
        ("toy", make_plugin("toy_acc", hwnas_accuracy_sources=hwnas_accuracy_sources))
    )
    assert accuracy_sources("toyspace", pm) == {"const": "constant"}
    # options the factory does not take (a dataset for NB201) are not passed
    source = default_accuracy("toyspace", pm, value=7.0, dataset="c10")
    assert source.accuracy(None) == 7.0
    with pytest.raises(HwnasError, match="no accuracy source for space 'nospace'"):
        default_accuracy("nospace", pm)


def test_builtin_accuracy_sources_are_declared_by_their_plugins(plugin_manager):
    rows = {info.name: info for info in plugin_manager.infos("accuracy")}
    assert {"nb201", "ofa-predictor", "supernet"} <= set(rows)
    assert rows["supernet"].spec.space == "hurricane"


def test_hwnas_commands_are_mounted_on_the_cli():
    import typer
    from typer.testing import CliRunner

    from hwnas.cli.root import mount_plugin_commands
    from hwnas.types import CommandSpec

    def hello(name: str = "world") -> None:
        """Say hello (a plugin's command)."""
        print(f"hello {name}")

    group = typer.Typer()

    @group.command("ping")
    def ping() -> None:
        print("pong")

    def hwnas_commands():
        yield CommandSpec(name="hello", summary="greets", factory=lambda: hello)
        yield CommandSpec(name="toy", summary="a group", factory=lambda: group)

    pm = manager_with(("toy", make_plugin("toy_cmd", hwnas_commands=hwnas_commands)))
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    mount_plugin_commands(root, pm)
    runner = CliRunner()
    assert runner.invoke(root, ["hello", "--name", "hwnas"]).output == "hello hwnas\n"
    assert runner.invoke(root, ["toy", "ping"]).output == "pong\n"


def test_a_command_under_an_unknown_group_is_a_one_line_error():
    import typer

    from hwnas.cli.root import mount_plugin_commands
    from hwnas.types import CommandSpec

    def hwnas_commands():
        yield CommandSpec(name="x", summary="x", factory=lambda: print, parent="nogroup")

    pm = manager_with(("toy", make_plugin("toy_bad", hwnas_commands=hwnas_commands)))
    with pytest.raises(HwnasError, match="unknown group 'nogroup'"):
        mount_plugin_commands(typer.Typer(), pm)


def test_builtin_plugin_commands_are_listed_in_help():
    from typer.testing import CliRunner

    from hwnas.cli import app

    output = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    for command in ("supernet", "transfer", "generate", "recorded", "data"):
        assert command in output
