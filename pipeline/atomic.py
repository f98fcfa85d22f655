"""Atomic file writes: write under a temporary name in the same folder, then rename onto the target.

A reader (or a rerun after a crash) therefore sees either the old file or the complete new one, never a partial
one. The temporary name keeps the target's suffix, so writers that pick a format from the extension still work.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable (best effort: some file systems refuse to fsync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], durable: bool = False) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then rename it onto ``path``; the temporary goes on failure.

    ``durable`` also fsyncs the file and its folder (used for shards and manifests, where a crash must not leave a
    renamed but empty file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=durable)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (absolute): where creating it would start."""
    p = Path(path).absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def can_create_in(folder: str | os.PathLike) -> bool:
    """True if a file can be created in ``folder`` (an unnamed temporary file: nothing is left behind)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False

