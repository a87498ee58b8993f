"""The gateway's deployed environment, var/gateway-venv from requirements/gateway.txt: a
current aiohttp, the gateway importable and startable, exactly the lock, no Rasa stack.

The other tests in this folder build the app in-process in the main venv (Rasa's aiohttp
3.9); tests/test_e2e.py runs the real gateway from this environment (tests/servers.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from packaging.version import Version

from tests.servers import ROOT, gateway_python

# The aiohttp release that fixes the newest advisory the README lists (its gateway section).
FIXED_AIOHTTP = Version("3.14.3")
RASA_STACK = ("rasa", "rasa_sdk", "tensorflow", "sanic")

PROBE = """
import importlib.metadata, importlib.util, json, sys
import aiohttp, aiohttp.http_parser, gateway.__main__, gateway.app
print(json.dumps({
    "aiohttp": aiohttp.__version__,
    "parser": aiohttp.http_parser.HttpRequestParser.__module__,
    "importable": [name for name in sys.argv[1:] if importlib.util.find_spec(name)],
    "installed": [dist.metadata["Name"] for dist in importlib.metadata.distributions()],
}))
"""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "gateway.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normalized(name)] = version
    return pins


def _probe(cwd: Path) -> dict:
    # Isolated (-I: no PYTHONPATH, no cwd on the path) and run from elsewhere: the project's
    # packages must come from the venv's .pth, everything else from the lock.
    out = subprocess.run(
        [str(gateway_python()), "-I", "-c", PROBE, *RASA_STACK],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_gateway_runs_on_a_fixed_aiohttp_from_its_lock(tmp_path):
    found = _probe(tmp_path)
    lock = _lock()
    assert Version(found["aiohttp"]) >= FIXED_AIOHTTP
    assert found["aiohttp"] == lock["aiohttp"]
    assert found["parser"] == "aiohttp._http_parser"  # llhttp, not the pure-Python parser
    assert sorted(_normalized(name) for name in found["installed"]) == sorted(lock)


def test_no_rasa_stack_in_the_gateway_environment(tmp_path):
    assert _probe(tmp_path)["importable"] == []


def test_the_entry_point_starts_there(tmp_path):
    out = subprocess.run(
        [str(gateway_python()), "-I", "-m", "gateway", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "--port" in out.stdout
