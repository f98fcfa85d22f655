"""The training checkpoint format: ``CKPT_FORMAT``, ``save_checkpoint`` / ``load_checkpoint`` (torch), and
``read_metadata`` (config, counters, extra) without torch, for up-front checks and for readers of run folders.

A checkpoint is ``torch.save`` of a dict: ``format`` (= ``CKPT_FORMAT``), ``config`` (TrainConfig.to_dict()),
``seed``, ``manifest_id``, ``G``/``D``/``G_ema`` and optimizer state dicts, ``cur_nimg``, ``step``,
``batches_consumed``, ``d_frozen_blocks``, ``pl_mean``, ``extra`` (strategy, init, best FID ...). Every tensor is on
the CPU, so a checkpoint resumes on any device. This module imports torch only inside the functions that need it.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from primps.pipeline.atomic import atomic_write
from primps.pipeline.errors import UsageError

CKPT_FORMAT = "primps-train-v1"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Opaque:
    """Stands in for every non-builtin object (tensors, storages, numpy arrays) while reading a checkpoint's pickle."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


class _MetadataUnpickler(pickle.Unpickler):
    """Reads the plain-Python part of a torch.save pickle (config, counters) without torch and without running
    any of the pickle's code: only builtins and collections are real, everything else becomes ``_Opaque``."""

    def find_class(self, module: str, name: str):
        if module in ("builtins", "collections") and name in ("dict", "list", "tuple", "set", "frozenset",
                                                              "OrderedDict", "int", "float", "str", "bytes",
                                                              "bool", "complex", "slice"):
            return super().find_class(module, name)
        return _Opaque

    def persistent_load(self, pid):
        return None


def read_metadata(path, flag: str = "checkpoint") -> dict:
    """The metadata of a primps training checkpoint (``config``, ``cur_nimg``, ``seed``, ``manifest_id`` ...),
    read without torch, so a missing, empty, truncated or foreign file is rejected in milliseconds.

    Checks: a non-empty PyTorch zip archive whose ``data.pkl`` unpickles to a dict with primps' checkpoint format
    and a config holding an integer ``resolution``. Tensors are not read (``load_checkpoint`` does that).
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag}: checkpoint not found: {path}")
    if not p.is_file():
        raise UsageError(f"{flag}: {path} is a folder, not a file")
    if p.stat().st_size == 0:
        raise UsageError(f"{flag}: checkpoint {path} is empty")
    bad = f"{flag}: {path} is truncated or not a primps checkpoint"
    try:
        with zipfile.ZipFile(p) as zf:
            pkl = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            if not pkl:
                raise UsageError(f"{bad} (no data.pkl in the archive)")
            st = _MetadataUnpickler(zf.open(pkl[0])).load()
    except UsageError:
        raise
    except zipfile.BadZipFile:
        raise UsageError(f"{bad} (not a PyTorch zip archive)") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable archive or pickle is the user's file, not our bug
        raise UsageError(f"{bad} (damaged archive: {type(exc).__name__})") from None
    cfg = st.get("config") if isinstance(st, dict) else None
    if not isinstance(st, dict) or st.get("format") != CKPT_FORMAT or not isinstance(cfg, dict) \
            or not _is_int(cfg.get("resolution")):
        raise UsageError(f"{flag}: {path} is not a primps training checkpoint")
    return st


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` (tensors moved to the CPU) atomically: temporary name, then rename."""
    import torch

    st = to_cpu(state)
    atomic_write(Path(path), lambda p: torch.save(st, p))


def load_checkpoint(path: str | Path) -> dict:
    """The whole checkpoint (tensors on the CPU); UsageError for a missing, unreadable or foreign file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        st = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise UsageError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(st, dict) or st.get("format") != CKPT_FORMAT:
        raise UsageError(f"{path} is not a primps training checkpoint")
    return st


def to_cpu(obj):
    """A copy of a nested state with every tensor on the CPU (device-independent checkpoints)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
