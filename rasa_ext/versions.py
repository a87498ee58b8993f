"""Refuse to run on a Rasa with known holes: 3.6.21 fixes the model-loading vulnerability
CVE-2024-49375 (a crafted model archive could run code when loaded)."""

from __future__ import annotations

from packaging.version import Version

MINIMUM_RASA = Version("3.6.21")


def check_rasa(version: str | None = None) -> str:
    """The running Rasa's version; RuntimeError below the minimum."""
    if version is None:
        import rasa

        version = rasa.__version__
    if Version(version) < MINIMUM_RASA:
        raise RuntimeError(
            f"Rasa {version} is older than {MINIMUM_RASA} (CVE-2024-49375); "
            "run 'make install' to get the locked version"
        )
    return version
