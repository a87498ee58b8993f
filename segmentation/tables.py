"""Reading and writing the tables passed between steps (CSV or Parquet, by file suffix)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmentation.errors import InputError

SUFFIXES = (".csv", ".parquet")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise InputError(f"unsupported output format; use one of {', '.join(SUFFIXES)}", str(path))
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path))
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype={"user_id": str})  # ids like "007" stay text
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read table ({str(exc).splitlines()[0]})", str(path)) from None
    raise InputError(f"unsupported format; use one of {', '.join(SUFFIXES)}", str(path))
