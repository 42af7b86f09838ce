"""The peers' virtualenvs: created once (outside the repository), then reused.

Each peer gets its own venv because their pins clash with ours (mace-torch pins e3nn 0.4.4, we
use e3nn 0.6). ``torch`` is installed first, from ``torch_spec``, so that the peer's own
dependency on torch is already satisfied (on the CPU machines a plain ``pip install mace-torch``
would otherwise pull a multi-GB CUDA build). A venv is reused when it imports its package; a
marker file records what was installed and how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

MARKER = ".seimlip-bench.json"
DEFAULT_ROOT = Path(os.environ.get("SEIMLIP_BENCH_CACHE", Path.home() / ".cache" / "seimlip-bench"))


@dataclass
class PeerEnv:
    name: str
    path: Path
    packages: list[str]
    import_check: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def peer_envs(mace_venv: Path | None, nequip_venv: Path | None, mace_spec: str, nequip_spec: str) -> dict:
    return {
        "mace": PeerEnv("mace", Path(mace_venv or DEFAULT_ROOT / "venv-mace"), [mace_spec],
                        "import mace, mace.calculators, mace.cli.run_train",
                        {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}),
        "nequip": PeerEnv("nequip", Path(nequip_venv or DEFAULT_ROOT / "venv-nequip"), [nequip_spec],
                          "import nequip.ase, nequip.scripts.train, lightning"),
    }


def _run(cmd: list[str], log, env: dict | None = None) -> None:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)


def _imports(peer: PeerEnv) -> bool:
    if not peer.python.exists():
        return False
    env = {**os.environ, **peer.env}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(peer.python), "-c", peer.import_check], env=env,
                          capture_output=True).returncode == 0


def _versions(peer: PeerEnv) -> dict:
    code = ("import json, importlib.metadata as m\n"
            "out = {}\n"
            "for n in ('torch', 'e3nn', 'mace-torch', 'nequip', 'lightning', 'ase'):\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    proc = subprocess.run([str(peer.python), "-c", code], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def ensure(peer: PeerEnv, torch_spec: str, base_python: str | None = None, pip_args: list[str] | None = None,
           log_dir: Path | None = None) -> dict:
    """Create (or reuse) ``peer``'s venv; returns what was found or installed and the time taken."""
    marker = peer.path / MARKER
    if _imports(peer):
        info = json.loads(marker.read_text()) if marker.is_file() else {}
        info.update({"path": str(peer.path), "reused": True, "versions": _versions(peer)})
        if not marker.is_file():
            marker.write_text(json.dumps(info, indent=1))
        return info
    base = base_python or getattr(sys, "_base_executable", None) or sys.executable
    log_dir = Path(log_dir or peer.path.parent)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"setup-{peer.name}.log"
    print(f"[setup] creating {peer.path} (log: {log_path}) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    try:
        with open(log_path, "a") as log:
            _run([base, "-m", "venv", "--clear", str(peer.path)], log, env)
            pip = [str(peer.python), "-m", "pip", "install", *(pip_args or [])]
            t_torch = time.perf_counter()
            _run(pip + [torch_spec], log, env)
            torch_s = time.perf_counter() - t_torch
            _run(pip + peer.packages, log, env)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"`{' '.join(exc.cmd)}` failed (exit {exc.returncode}); see {log_path}") from None
    if not _imports(peer):
        raise RuntimeError(f"{peer.path}: `{peer.import_check}` fails after installing {peer.packages}; see {log_path}")
    info = {"path": str(peer.path), "reused": False, "install_s": time.perf_counter() - t0, "torch_install_s": torch_s,
            "torch_spec": torch_spec, "packages": peer.packages, "base_python": base,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "versions": _versions(peer)}
    marker.write_text(json.dumps(info, indent=1))
    print(f"[setup] {peer.name}: installed in {info['install_s']:.0f} s", file=sys.stderr, flush=True)
    return info
