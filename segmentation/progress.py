"""Progress bars for `segment`'s long steps: tqdm on stderr, made by a factory.

The factory travels in the pipeline's Console (`console.progress`), never as a
module-level bar. `bars(quiet=True)` (`segment --quiet`) turns them off, and
tqdm turns them off by itself when stderr is not a terminal (`disable=None`),
so the logs of a scheduled job hold the one-line notes only.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

Progress = Callable[..., Any]  # progress(desc, total=None, unit="it") -> a tqdm bar


def bars(quiet: bool = False, file: IO[str] | None = None) -> Progress:
    """A factory of tqdm bars on `file` (default stderr); none at all when `quiet`."""

    def progress(desc: str, total: int | None = None, unit: str = "it"):
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=file or sys.stderr,
            disable=True if quiet else None,  # None: off unless the file is a terminal
            leave=False,  # the step's one-line note follows
            dynamic_ncols=True,
            mininterval=0.5,
        )

    return progress


@contextlib.contextmanager
def steps(progress: Progress, desc: str, total: int) -> Iterator[Callable[[str], None]]:
    """A bar over a step's named phases: `phase(name)` ends the one before and shows `name`.

    The bar fills only when the block ends without an error."""
    bar = progress(desc, total=total, unit="step")
    started = False

    def phase(name: str) -> None:
        nonlocal started
        if started:
            bar.update(1)
        started = True
        bar.set_postfix_str(name)

    try:
        yield phase
        bar.update(bar.total - bar.n)
    finally:
        bar.close()


def write(message: str) -> None:
    """A line on stderr that leaves a bar being drawn intact (it is redrawn below)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
