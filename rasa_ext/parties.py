"""Whether a message names another company (rasa_ext/data/other_parties.yml).

"does john lewis price match", "is currys open on sunday" and "can i return something to
target" share their words and their meaning with Voltmart's own policy questions; what
differs is whose policy they ask about. Neither TF-IDF (the name is a word the shop's
examples never had) nor the sentence vectors (a retailer's name sits close to shopping)
carry that, so the scope guard gets it as a feature of its own and learns its weight beside
the others: matching a competitor's price stays in scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import yaml


class OtherPartiesError(ValueError):
    """The list of other companies is unusable; the message names the file."""


class OtherParties:
    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(sorted({n.strip().lower() for n in names if n.strip()}))
        if not self.names:
            self._pattern = None
            return
        # Longest first, so "uber eats" wins over "uber"; whole words with an optional
        # possessive, and "&" counts as part of a name ("b&q", "at&t").
        alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<![\w&])(?:{alternatives})(?:'s|')?(?![\w&])", re.I)

    @classmethod
    def from_file(cls, path: Path | str) -> OtherParties:
        """A YAML mapping of groups to lists of names (the groups are for the reader)."""
        try:
            groups = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise OtherPartiesError(f"{path}: cannot read the other companies ({exc})") from exc
        if not isinstance(groups, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names)
            for names in groups.values()
        ):
            raise OtherPartiesError(f"{path}: expected groups of names (group: [name, ...])")
        return cls(n for names in groups.values() for n in names)

    def named(self, text: str) -> str | None:
        """The first other company the text names, if any."""
        found = self._pattern.search(text) if self._pattern else None
        return found.group(0) if found else None

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """One column: 1.0 where the text names another company."""
        return np.array([[float(self.named(t) is not None)] for t in texts], dtype=np.float32)
