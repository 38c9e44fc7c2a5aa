"""The shape the code promises in docs/architecture.md: stages that import only earlier stages, no import
cycle, every reach into a private SDK or stdlib name in ``_internals.py``, and one home per record field list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "spanhive"
STAGES = ("hold", "map", "assemble", "privacy", "encode", "pack", "sinks", "deliver", "drain")
"""The pipeline's modules in the order data flows (the sinks are what deliver sends through)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every spanhive module ``path`` imports, at any depth of the file (deferred imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spanhive"):
            for alias in node.names:  # ``from package import _x`` imports the submodule, not the package's façade
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("spanhive"))
    return found


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py") if not path.name.endswith("_pb2.py")}


def _stage(module: str) -> int | None:
    match = re.match(r"spanhive\._pipeline\.(\w+)", module)
    return STAGES.index(match.group(1)) if match and match.group(1) in STAGES else None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m) is not None))
def test_a_stage_imports_no_later_stage(module: str) -> None:
    own = _stage(module)
    assert own is not None
    later = {m for m in _imports(MODULES[module]) if (_stage(m) or -1) > own}
    assert not later, f"{module} imports later stages: {sorted(later)}"


def test_nothing_below_the_pipeline_imports_it() -> None:
    """Mapping, records and the store never depend on the export path, and the path never depends on what
    feeds it (the exporter, and the server's OTLP receiver, which runs the same stages)."""
    for module, path in MODULES.items():
        imported = _imports(path)
        if module.startswith(("spanhive.mapping", "spanhive.store", "spanhive._records")):
            assert not {m for m in imported if m.startswith("spanhive._pipeline")}, module
        if module.startswith("spanhive._pipeline"):
            assert not {m for m in imported if m.startswith(("spanhive.server", "spanhive._exporter"))}, module


def test_there_is_no_import_cycle() -> None:
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " → ".join((*path[path.index(module) :], module)))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


PRIVATE_REACHES = re.compile(
    r"""getattr\([^)]*["']_[a-z]|(?<!spanhive)\._(dict|dq|immutable|attributes|events|links|span_processors|"""
    r"""active_span_processor|batch_processor|exporter)\b|c_make_encoder|_BAGGAGE_KEY|_SUPPRESS_"""
)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_internals_reaches_into_private_names(module: str) -> None:
    if module == "spanhive._internals":
        return
    text = MODULES[module].read_text()
    # spanhive's own objects' private fields are fine: an attribute of ``self`` or a local of our own
    hits = [
        line.strip()
        for line in text.splitlines()
        if PRIVATE_REACHES.search(line) and not re.search(r"\bself\.|\bpart\._|\bresult\._", line)
    ]
    assert not hits, f"{module} reaches into private names: {hits}"


def test_each_record_field_list_has_one_home() -> None:
    """The seven dict fields and the eleven session fields are spelled out in ``_records.py`` only."""
    seven = re.compile(r'"config",\s*"inputs",\s*"outputs",\s*"metadata",\s*"feedback",\s*"metrics"')
    for module, path in MODULES.items():
        if module != "spanhive._records":
            assert not seven.search(path.read_text()), module
