"""Read a `torch.save` file of tensors, lists, tuples, dicts, strings and numbers without torch.

The function's runtime does not import torch (1-2 s of cold start and hundreds of MB), yet the face
database stays in the course's format: what `torch.load(path)` gives, `[embeddings, names]`. A
torch.save file (the zip format, torch ≥ 1.6) is a pickle of the structure plus one raw little-endian
buffer per tensor storage. This reader unpickles with an allow-list, as torch.load(weights_only=True)
does: tensors are rebuilt as NumPy arrays, and any other class a file names is refused, because
unpickling arbitrary objects would run code.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_STORAGES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # pickle protocol 2+ opens with PROTO


class TorchFileError(ValueError):
    """Not a torch.save file this reader accepts; the message says why (the caller adds the path)."""


class _StorageType:
    def __init__(self, dtype: type[np.generic]) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: Sequence[int], stride: Sequence[int], *_ignored: object
) -> np.ndarray:
    size, stride = tuple(size), tuple(stride)
    count = int(np.prod(size)) if size else 1
    if offset < 0 or (count and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= storage.size):
        raise TorchFileError("a tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride])
    return np.array(view)  # a copy: the storage buffer is shared with other tensors


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise TorchFileError(f"it refers to {module}.{name}, which a file of tensors, lists and strings never needs")

    def persistent_load(self, pid: object) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise TorchFileError(f"unexpected storage reference {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise TorchFileError(f"storage {key} is missing from the archive") from None
            if len(raw) < numel * kind.dtype.itemsize:
                raise TorchFileError(f"storage {key} is truncated")
            self.storages[key] = np.frombuffer(raw, dtype=kind.dtype.newbyteorder("<"), count=numel)
        return self.storages[key]


def load(path: str | Path) -> Any:
    """The object a torch.save file holds, tensors as NumPy arrays.

    Raises OSError when the file cannot be read and TorchFileError when it is not an acceptable
    torch.save file.
    """
    with open(path, "rb") as fh:
        return loads(fh.read())


def loads(blob: bytes) -> Any:
    """The object a torch.save file's bytes hold (an object read from S3, say): as load()."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        if blob.startswith(_ZIP_MAGIC):  # a zip's start without its end: cut short or damaged
            raise TorchFileError(
                f"truncated or corrupt: a zip archive of {len(blob)} bytes without a "
                "readable end (an interrupted copy or upload?)"
            ) from None
        if blob.startswith(_PICKLE_MAGIC):
            raise TorchFileError(
                "a pickle or torch's legacy format, not the zip format torch ≥ 1.6 writes; "
                "save it again with torch.save (pickles are refused: loading one can run code)"
            ) from None
        raise TorchFileError("not a torch.save file (not the zip format torch ≥ 1.6 writes)") from None
    except (EOFError, OSError, ValueError) as exc:  # zipfile's other complaints about a damaged archive
        raise TorchFileError(f"truncated or corrupt zip archive ({exc})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise TorchFileError("not a torch.save file (no data.pkl in the archive)")
        prefix = pickles[0][: -len("data.pkl")]
        order = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in archive.namelist() else "little"
        if order != "little":
            raise TorchFileError(f"a {order}-endian file; only little-endian files are read")
        try:
            return _Unpickler(archive.read(pickles[0]), archive, prefix).load()
        except TorchFileError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise TorchFileError(
                f"not a torch.save file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
