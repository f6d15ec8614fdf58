"""Create one virtualenv per peer system under ``.cache/bench-venvs/<peer>``.

Run: ``.venv/bin/python bench/peers/setup.py [--peers quix,faust] [--force]``

Each peer gets its own interpreter because their pins clash with the project's
(Quix Streams 3.28.1 needs confluent-kafka < 2.13; the project uses 2.16). The
harness runs peer scripts as subprocesses with these interpreters; a venv that
already imports its peer is left alone, so re-running is cheap.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_ROOT = ROOT / ".cache" / "bench-venvs"

#: peer name -> (pip requirements, module whose import proves the venv works)
PEERS: dict[str, tuple[list[str], str]] = {
    "quix": (["quixstreams==3.28.1", "orjson", "numpy", "psutil"], "quixstreams"),
    "faust": (["faust-streaming==0.15.3", "cramjam", "orjson", "numpy", "psutil"], "faust"),
}


def venv_python(peer: str) -> Path:
    """The interpreter of ``peer``'s virtualenv (may not exist yet)."""
    return VENV_ROOT / peer / "bin" / "python"


def is_ready(peer: str) -> bool:
    """True when the peer's venv exists and imports its package."""
    python = venv_python(peer)
    if not python.exists():
        return False
    module = PEERS[peer][1]
    probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                           check=False)
    return probe.returncode == 0


def ensure(peer: str, *, force: bool = False) -> Path:
    """Create (or repair) ``peer``'s virtualenv and return its interpreter."""
    if peer not in PEERS:
        raise SystemExit(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")
    if not force and is_ready(peer):
        return venv_python(peer)
    target = VENV_ROOT / peer
    venv.EnvBuilder(with_pip=True, clear=force or target.exists()).create(target)
    requirements, _ = PEERS[peer]
    subprocess.run([str(venv_python(peer)), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *requirements], check=True)
    if not is_ready(peer):
        raise SystemExit(f"{peer}: installed {requirements} but the import still fails")
    return venv_python(peer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="comma-separated peers to set up (default: all)")
    parser.add_argument("--force", action="store_true", help="recreate the venvs")
    args = parser.parse_args(argv)
    for peer in [p.strip() for p in args.peers.split(",") if p.strip()]:
        python = ensure(peer, force=args.force)
        print(f"{peer}: {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
