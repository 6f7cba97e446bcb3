"""Make fieldtune importable on a bare GPU machine before `gpu_check.py` runs (standard library only).

1. Every dependency in pyproject.toml that does not import is missing. None missing: nothing to install
   (torch, transformers, accelerate, peft are used as the machine has them; another torch is never installed).
2. Missing ones are installed from a folder of wheels when there is one (`--wheels DIR`, default `.whl/`):
   `pip install --no-index --no-deps DIR/*.whl` (a machine without network). Then, still missing,
   `pip install -e .` from the package index (a machine with network), which keeps the installed torch.
3. Still missing, or installed but failing to import: one line naming the imports and their pip packages,
   and how to bring them (or the import error); exit 3.
4. fieldtune itself, when this Python does not have it: `pip install --no-deps --no-build-isolation -e .`
   (gpu_check.sh also puts the repository on PYTHONPATH, so a failure here is only a note).

`--download-wheels DIR` (on a machine with network): the wheels of the packages a GPU image usually lacks
(datasets, evaluate, skops, iterative-stratification and their small dependencies), at the versions installed
here, for CPython 3.12 on x86-64 Linux: carry DIR to the GPU machine next to the repository.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "iterative-stratification": "iterstrat",
    "pyyaml": "yaml",
    "pillow": "PIL",
    "charset-normalizer": "charset_normalizer",
}
# what a CUDA image with torch / transformers / peft / accelerate / onnxruntime usually lacks (pure Python)
USUALLY_MISSING = ["datasets", "evaluate", "skops", "iterative-stratification", "dill", "multiprocess",
                   "prettytable", "wcwidth"]  # fmt: skip
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]


def dependencies() -> list[str]:
    """The `dependencies = [...]` of pyproject.toml, as written (`torch>=2.2`, ...)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)
    return re.findall(r'"([^"]+)"', block.group(1)) if block else []


def dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def missing() -> list[str]:
    """Distributions of pyproject.toml whose module cannot be found."""
    out = []
    for req in dependencies():
        name = dist_name(req)
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def unmet_pins() -> list[str]:
    """Installed versions that pyproject.toml's pins do not allow (a note: the no-deps path ignores pins)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return []
    notes = []
    for req in map(Requirement, dependencies()):
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            notes.append(f"{req.name} {have} (pyproject.toml wants {req.specifier})")
    return notes


def pip(*args: str) -> bool:
    print("gpu_check: pip " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "pip", *args]).returncode == 0


def import_errors(names: list[str]) -> list[str]:
    """`module: first line of the error` for each distribution in `names` that is found but fails to import
    (a wheel installed without its dependencies, next to an older pyarrow, say)."""
    import importlib

    errors = []
    for name in names:
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001  (any failure: name it, in one line)
            errors.append(f"{module}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    return errors


def install(wheels: Path) -> int:
    need = installed_now = missing()
    if need and wheels.is_dir() and list(wheels.glob("*.whl")):
        pip("install", "--no-index", "--no-deps", "--no-cache-dir", *map(str, sorted(wheels.glob("*.whl"))))
        need = missing()
    if need:  # a machine with network: the normal install; the torch already there satisfies its pin
        pip("install", "--retries", "0", "--timeout", "15", "-e", str(ROOT))
        need = missing()
    if need:
        modules = [IMPORT_NAMES.get(n, n.replace("-", "_")) for n in need]
        print(
            f"gpu_check: cannot import {', '.join(modules)} (pip packages: {' '.join(need)}); no network and no "
            f"wheels in {wheels}: on a machine with network run `bash benchmarks/gpu_check.sh --download-wheels "
            f"{wheels.name}` and bring that folder here",
            file=sys.stderr,
        )
        return 3
    broken = import_errors(installed_now)
    if broken:
        print(f"gpu_check: installed but not importable: {'; '.join(broken)}", file=sys.stderr)
        return 3
    for note in unmet_pins():
        print(f"gpu_check: note: {note}; running with it", flush=True)
    if importlib.util.find_spec("fieldtune") is None and not pip(
        "install", "--no-deps", "--no-build-isolation", "-e", str(ROOT)
    ):
        print("gpu_check: note: fieldtune not installed; running it from the repository (PYTHONPATH)")
    return 0


def download(folder: Path, extra: list[str], python_version: str = "3.12") -> int:
    names = []
    for name in USUALLY_MISSING + extra:
        try:
            names.append(f"{name}=={md.version(name)}")  # the versions fieldtune is tested with here
        except md.PackageNotFoundError:
            names.append(name)
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    ok = pip("download", "--no-deps", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
             *platforms, "-d", str(folder), *names)  # fmt: skip
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--wheels", default=str(ROOT / ".whl"), help="folder of wheels to install from (default .whl/)"
    )
    p.add_argument("--download-wheels", metavar="DIR", help="download the wheels a GPU image usually lacks")
    p.add_argument("--extra", nargs="*", default=[], help="with --download-wheels: more package names")
    p.add_argument("--python-version", default="3.12", help="with --download-wheels: of the GPU machine")
    args = p.parse_args(argv)
    if args.download_wheels:
        return download(Path(args.download_wheels), args.extra, args.python_version)
    return install(Path(args.wheels))


if __name__ == "__main__":
    raise SystemExit(main())
