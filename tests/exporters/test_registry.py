"""Exporters and variants register themselves with a decorator in their own module; an exporter
declares its opset range there, and a module dropped into the exporters folder is found."""

from __future__ import annotations

import sys
import textwrap

import pytest

import twinbench.exporters as exporters_pkg
from twinbench.core.errors import ConfigError
from twinbench.exporters import (EXPORTERS, VARIANTS, ExportFailure, check_opset, export_all, get_variant,
                                 register_exporter)

PROBE = textwrap.dedent('''
    """Exporter "probe-fails" and variant "probe-copy": written only for the registry tests."""

    from __future__ import annotations

    from twinbench.core.errors import ExportError
    from twinbench.exporters.registry import register_exporter, register_variant


    @register_exporter("probe-fails", opsets=(14, 17))
    def export(req):
        """Always fails, the way a real exporter reports a failure."""
        raise ExportError("probe-fails: this exporter never writes a file")


    @register_variant("probe-copy")
    def probe_copy(base, run_dir):
        return base
''')


@pytest.fixture
def scratch_registries():
    with EXPORTERS.scoped(), VARIANTS.scoped():
        yield
    sys.modules.pop("twinbench.exporters.probe_exporter", None)


def test_builtin_exporters_declare_their_opsets() -> None:
    assert {name: e.opsets for name, e in EXPORTERS.items()} == {
        "torch-dynamo": (17, 23), "torch-script": (9, 20), "tf2onnx": (13, 18)}
    assert set(VARIANTS) == {"ort-opt", "fp16", "int8"}
    check_opset("tf2onnx", 18)
    with pytest.raises(ConfigError, match=r"not supported by exporter 'tf2onnx' \(use 13..18\)"):
        check_opset("tf2onnx", 19)


def test_an_exporter_without_an_opset_range_is_refused(scratch_registries) -> None:
    with pytest.raises(TypeError, match="opsets"):
        register_exporter("probe-no-range")  # type: ignore[call-arg]
    for bad in ((18, 17), (0, 5), [13, 18], (13,)):
        with pytest.raises(ConfigError, match="opsets must be an inclusive range"):
            register_exporter("probe-bad-range", opsets=bad)  # type: ignore[arg-type]


def test_a_name_belongs_to_one_function(scratch_registries) -> None:
    def export(req):
        return None

    with pytest.raises(ConfigError, match="'torch-script' is already registered"):
        register_exporter("torch-script", opsets=(9, 20))(export)


def test_a_module_in_the_exporters_folder_registers_itself(tmp_path, monkeypatch, scratch_registries) -> None:
    (tmp_path / "probe_exporter.py").write_text(PROBE, encoding="utf-8")
    monkeypatch.setattr(exporters_pkg, "__path__", [*exporters_pkg.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "twinbench.exporters.probe_exporter", raising=False)
    assert "probe-fails" in EXPORTERS.discover(rescan=True)
    assert EXPORTERS["probe-fails"].opsets == (14, 17) and get_variant("probe-copy")("base", tmp_path) == "base"

    class Req:  # export_all reads only the opset before calling the exporter
        opset = 18

    with pytest.raises(ConfigError, match=r"use 14..17"):
        export_all(Req(), ["probe-fails"])  # type: ignore[arg-type]
    Req.opset = 17
    assert export_all(Req(), ["probe-fails"]) == [  # type: ignore[arg-type]
        ExportFailure("probe-fails", "probe-fails: this exporter never writes a file")]


def test_twinbench_list_shows_an_exporter_from_a_module_file(tmp_path, capsys, scratch_registries) -> None:
    from twinbench.commands.list import listing, show

    (tmp_path / "probe_exporter.py").write_text(PROBE, encoding="utf-8")
    show(listing([str(tmp_path / "probe_exporter.py")]))  # what `twinbench list --twin-module FILE` prints
    printed = capsys.readouterr().out
    assert "probe-fails" in printed and "probe-copy" in printed
