"""The face database: the course's `[embeddings, names]` file, and nearest-neighbour search over it.

`torch.load(path)` of the course's `data.pt` gives `[embeddings, names]`: a list of (1, 512) tensors
from InceptionResnetV1(pretrained='vggface2') and a list of names, one per embedding. We read it
once without torch (torchfile.py: the same allow-list idea as torch.load(weights_only=True)), stack
the embeddings into one (N, 512) float32 matrix, and answer each query with a single vectorised
distance computation. Distances are Euclidean, like the course's `torch.dist`, and ties go to the
first entry, like its `dist_list.index(min(dist_list))`, so a course database gives course answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from face_recognizer import torchfile

EMBEDDING_SIZE = 512
# The largest database file or object read (~30,000 faces at 2 KiB each): a bigger one is refused
# before it is read, so a wrong file cannot take the function's memory.
MAX_DATABASE_BYTES = 64 * 2**20
# What its contents may expand to (its members inflated, plus the arrays built from them), checked
# before anything is expanded (torchfile): 30,000 faces need ~125 MB of it; a deflated or stride-0
# bomb is refused at the first tensor or member that would go past it.
MAX_EXPANDED_BYTES = 160 * 2**20


class FaceDatabaseError(ValueError):
    """The face database file is missing, unreadable or not `[embeddings, names]`; the message names it."""


@dataclass(frozen=True)
class FaceDatabase:
    embeddings: np.ndarray  # (N, 512) float32
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def load(cls, path: str | Path) -> FaceDatabase:
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_DATABASE_BYTES:
                raise FaceDatabaseError(
                    f"face database {path}: {size:,} bytes, over the {MAX_DATABASE_BYTES:,} it may hold"
                )
            blob = path.read_bytes()
        except OSError as exc:
            raise FaceDatabaseError(f"face database {path}: cannot read it ({exc.strerror or exc})") from None
        return cls.from_bytes(blob, source=str(path))

    @classmethod
    def from_bytes(cls, blob: bytes, *, source: str) -> FaceDatabase:
        """A database from a torch.save file's bytes (a file's, or an S3 object's); `source` names it."""
        try:
            data = torchfile.loads(blob, max_bytes=MAX_EXPANDED_BYTES)
        except torchfile.TorchFileError as exc:
            raise FaceDatabaseError(f"face database {source}: {exc}") from None
        if not (isinstance(data, (list, tuple)) and len(data) == 2):
            raise FaceDatabaseError(f"face database {source}: expected [embeddings, names], got {type(data).__name__}")
        return cls.from_entries(data[0], data[1], source=source)

    def fingerprint(self) -> str:
        """A short digest of the names and embeddings: the same people and vectors give the same
        string, whichever file or object they came from (what a baked-in database's version is)."""
        digest = hashlib.sha256()
        digest.update("\n".join(self.names).encode("utf-8"))
        digest.update(b"\0")
        digest.update(self.embeddings.astype("<f4", copy=False).tobytes())
        return f"sha256-{digest.hexdigest()[:12]}"

    @classmethod
    def from_entries(
        cls, embeddings: Sequence[Any] | Any, names: Sequence[str], *, source: str = "face database"
    ) -> FaceDatabase:
        """A database from embeddings ((1, 512) or (512,) arrays or tensors, or one (N, 512)) and names."""
        where = f"face database {source}" if source != "face database" else source
        matrix = None if isinstance(embeddings, (list, tuple)) else _array(embeddings)
        if isinstance(embeddings, (list, tuple)):
            rows = [_array(r) for r in embeddings]
        elif matrix is not None:
            rows = list(matrix) if matrix.ndim == 2 else [matrix]
        else:
            raise FaceDatabaseError(f"{where}: embeddings must be a list of tensors, got {type(embeddings).__name__}")
        if not isinstance(names, (list, tuple)):
            raise FaceDatabaseError(f"{where}: names must be a list of strings, got {type(names).__name__}")
        if not rows:
            raise FaceDatabaseError(f"{where}: holds no faces")
        if len(rows) != len(names):
            raise FaceDatabaseError(f"{where}: {len(rows)} embeddings but {len(names)} names")
        for i, row in enumerate(rows):
            if (
                row is None
                or row.size != EMBEDDING_SIZE
                or row.ndim not in (1, 2)
                or (row.ndim == 2 and row.shape[0] != 1)
                or row.dtype.kind not in "fiu"
            ):
                shape = tuple(row.shape) if row is not None else type(embeddings[i]).__name__
                raise FaceDatabaseError(f"{where}: embedding {i} is {shape}, expected (1, {EMBEDDING_SIZE})")
        for i, name in enumerate(names):
            if (
                not isinstance(name, str)
                or not name.strip()
                or name != name.strip()
                or any(c in name for c in "\r\n\t\0")
            ):
                raise FaceDatabaseError(
                    f"{where}: name {i} ({name!r}) must be a non-empty single-line string "
                    "without surrounding whitespace"
                )
        matrix = np.ascontiguousarray(
            np.stack([r.reshape(EMBEDDING_SIZE) for r in rows if r is not None]), dtype=np.float32
        )
        if not np.isfinite(matrix).all():
            raise FaceDatabaseError(f"{where}: holds non-finite embedding values")
        return cls(embeddings=matrix, names=tuple(names))

    def nearest(self, embedding: Any) -> tuple[str, float]:
        """The closest entry's name and its Euclidean distance to `embedding` ((1, 512) or (512,))."""
        array = _array(embedding)
        if array is None:
            raise TypeError(f"an embedding is an array or a tensor, not {type(embedding).__name__}")
        query = array.reshape(1, EMBEDDING_SIZE).astype(np.float32)
        distances = np.linalg.norm(self.embeddings - query, axis=1)
        best = int(np.argmin(distances))  # first of equal minima, as the course's list.index(min)
        return self.names[best], float(distances[best])


def _array(value: Any) -> np.ndarray | None:
    """A NumPy view of an array or a (CPU) torch tensor, without importing torch; None for anything else."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor (tools and tests pass these)
        return value.detach().cpu().numpy()
    return None
