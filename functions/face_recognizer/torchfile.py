"""Read a `torch.save` file of tensors, lists, tuples, dicts, strings and numbers without torch.

The function's runtime does not import torch (1-2 s of cold start and hundreds of MB), yet the face
database stays in the course's format: what `torch.load(path)` gives, `[embeddings, names]`. A
torch.save file (the zip format, torch ≥ 1.6) is a pickle of the structure plus one raw little-endian
buffer per tensor storage. This reader unpickles with an allow-list, as torch.load(weights_only=True)
does: tensors are rebuilt as NumPy arrays, and any other class a file names is refused, because
unpickling arbitrary objects would run code.

What a file may expand to is bounded before anything is expanded: a zip member's declared size and
then its bytes as they are inflated (a deflate bomb is cut off at the limit, whatever its header
says), each storage's declared size, and each tensor's size, shape and strides (a stride-0 tensor
of a 2 KB storage can declare gigabytes) all count against one budget of bytes (`max_bytes`).
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
import zlib
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


# What one file may expand to, in bytes: its members as inflated plus the tensors built from them.
DEFAULT_MAX_BYTES = 256 * 2**20
# The pickle of the structure: a few bytes a tensor (~3 MB for 30,000 faces). Bounded on its own,
# because its memo lets each 2-byte opcode add one more reference to a list.
MAX_PICKLE_BYTES = 8 * 2**20
_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # pickle protocol 2+ opens with PROTO


class TorchFileError(ValueError):
    """Not a torch.save file this reader accepts; the message says why (the caller adds the path)."""


class _StorageType:
    def __init__(self, dtype: type[np.generic]) -> None:
        self.dtype = np.dtype(dtype)


class _Budget:
    """Bytes this file may still expand to; `take` refuses what would overdraw it, before it is spent."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.left = max_bytes, max_bytes

    def take(self, n: int, what: str) -> None:
        if n > self.left:
            raise TorchFileError(
                f"{what} would take {n:,} bytes, over what the file may expand to "
                f"({self.max_bytes:,} bytes in all; {self.left:,} left)"
            )
        self.left -= n


def _read_member(
    archive: zipfile.ZipFile, name: str, budget: _Budget, *, limit: int | None = None, cap: int | None = None
) -> bytes:
    """A member's first `limit` bytes (all of them by default), inflated as a stream and never more
    than the budget: its declared size is checked first (against `cap` too: over it is refused), and
    the stream stops at what was allowed whatever it would inflate to."""
    info = archive.getinfo(name)
    if cap is not None and info.file_size > cap:
        raise TorchFileError(f"{name} is {info.file_size:,} bytes, over the {cap:,} it may be")
    wanted = info.file_size if limit is None else min(info.file_size, limit)
    budget.take(wanted, name)
    out = bytearray()
    with archive.open(info) as fh:
        while len(out) < wanted:
            chunk = fh.read(min(_CHUNK, wanted - len(out)))
            if not chunk:
                break
            out += chunk
    return bytes(out)


def _tensor_shape(size: Any, stride: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or not all(type(n) is int and n >= 0 for n in size + stride):
        raise TorchFileError(f"a tensor of size {size!r:.60} and stride {stride!r:.60}")
    return size, stride


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, budget: _Budget):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.budget = archive, prefix, budget
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise TorchFileError(f"it refers to {module}.{name}, which a file of tensors, lists and strings never needs")

    def _rebuild_tensor(
        self, storage: np.ndarray, offset: int, size: Any, stride: Any, *_ignored: object
    ) -> np.ndarray:
        size, stride = _tensor_shape(size, stride)
        count = math.prod(size)
        if (
            type(offset) is not int
            or offset < 0
            or (count and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= storage.size)
        ):
            raise TorchFileError("a tensor reaches past the end of its storage")
        self.budget.take(count * storage.itemsize, f"a tensor of shape {size}")  # before the copy is made
        view = np.lib.stride_tricks.as_strided(
            storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride]
        )
        return np.array(view)  # a copy: the storage buffer is shared with other tensors

    def persistent_load(self, pid: object) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise TorchFileError(f"unexpected storage reference {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if type(numel) is not int or numel < 0:
            raise TorchFileError(f"storage {key!r:.40} declares {numel!r:.40} elements")
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            need = numel * kind.dtype.itemsize
            try:
                raw = _read_member(self.archive, name, self.budget, limit=need)
            except KeyError:
                raise TorchFileError(f"storage {key} is missing from the archive") from None
            if len(raw) < need:
                raise TorchFileError(f"storage {key} is truncated")
            self.storages[key] = np.frombuffer(raw, dtype=kind.dtype.newbyteorder("<"), count=numel)
        return self.storages[key]


def load(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The object a torch.save file holds, tensors as NumPy arrays.

    Raises OSError when the file cannot be read and TorchFileError when it is not an acceptable
    torch.save file or would expand to more than `max_bytes`.
    """
    with open(path, "rb") as fh:
        return loads(fh.read(), max_bytes=max_bytes)


def loads(blob: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
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
        budget = _Budget(max_bytes)
        try:
            order = (
                _read_member(archive, f"{prefix}byteorder", budget, limit=16).decode("ascii", "replace")
                if f"{prefix}byteorder" in archive.namelist()
                else "little"
            )
            if order != "little":
                raise TorchFileError(f"a {order!r:.20}-endian file; only little-endian files are read")
            structure = _read_member(archive, pickles[0], budget, cap=MAX_PICKLE_BYTES)
            return _Unpickler(structure, archive, prefix, budget).load()
        except TorchFileError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, zlib.error) as exc:
            raise TorchFileError(f"truncated or corrupt zip archive ({exc})") from None
        except (
            pickle.UnpicklingError,
            EOFError,
            TypeError,
            ValueError,
            AttributeError,
            IndexError,
            RecursionError,
        ) as exc:
            raise TorchFileError(
                f"not a torch.save file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
