"""The face database: the course's `[embeddings, names]` file, and nearest-neighbour search over it.

`torch.load(path)` of the course's `data.pt` gives `[embeddings, names]`: a list of (1, 512) tensors
from InceptionResnetV1(pretrained='vggface2') and a list of names, one per embedding. We load it
once, stack the embeddings into one (N, 512) matrix, and answer each query with a single vectorised
distance computation. Distances are Euclidean, like the course's `torch.dist`, and ties go to the
first entry, like its `dist_list.index(min(dist_list))`, so a course database gives course answers.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import torch

EMBEDDING_SIZE = 512


class FaceDatabaseError(ValueError):
    """The face database file is missing, unreadable or not `[embeddings, names]`; the message names it."""


@dataclass(frozen=True)
class FaceDatabase:
    embeddings: torch.Tensor  # (N, 512) float32
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "FaceDatabase":
        path = Path(path)
        try:
            # weights_only: a database is data, and unpickling arbitrary objects would run code.
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise FaceDatabaseError(f"face database {path}: cannot read it ({exc.strerror or exc})") from None
        except pickle.UnpicklingError as exc:
            detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
            raise FaceDatabaseError(f"face database {path}: not a torch.save file of tensors, lists and "
                                    f"strings (a safe weights-only load refused it{': ' + detail if detail else ''})"
                                    ) from None
        except (RuntimeError, EOFError, ValueError, OSError) as exc:
            raise FaceDatabaseError(f"face database {path}: not a torch.save file "
                                    f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if not (isinstance(data, (list, tuple)) and len(data) == 2):
            raise FaceDatabaseError(f"face database {path}: expected [embeddings, names], "
                                    f"got {type(data).__name__}")
        return cls.from_entries(data[0], data[1], source=str(path))

    @classmethod
    def from_entries(cls, embeddings: Union[Sequence[torch.Tensor], torch.Tensor], names: Sequence[str], *,
                     source: str = "face database") -> "FaceDatabase":
        """A database from embeddings ((1, 512) or (512,) tensors, or one (N, 512) tensor) and names."""
        where = f"face database {source}" if source != "face database" else source
        if isinstance(embeddings, torch.Tensor):
            rows = list(embeddings) if embeddings.dim() == 2 else [embeddings]
        elif isinstance(embeddings, (list, tuple)):
            rows = list(embeddings)
        else:
            raise FaceDatabaseError(f"{where}: embeddings must be a list of tensors, got {type(embeddings).__name__}")
        if not isinstance(names, (list, tuple)):
            raise FaceDatabaseError(f"{where}: names must be a list of strings, got {type(names).__name__}")
        if not rows:
            raise FaceDatabaseError(f"{where}: holds no faces")
        if len(rows) != len(names):
            raise FaceDatabaseError(f"{where}: {len(rows)} embeddings but {len(names)} names")
        for i, row in enumerate(rows):
            if not isinstance(row, torch.Tensor) or row.numel() != EMBEDDING_SIZE or \
                    row.dim() not in (1, 2) or (row.dim() == 2 and row.shape[0] != 1):
                shape = tuple(row.shape) if isinstance(row, torch.Tensor) else type(row).__name__
                raise FaceDatabaseError(f"{where}: embedding {i} is {shape}, expected (1, {EMBEDDING_SIZE})")
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name.strip() or name != name.strip() or \
                    any(c in name for c in "\r\n\t\0"):
                raise FaceDatabaseError(f"{where}: name {i} ({name!r}) must be a non-empty single-line string "
                                        "without surrounding whitespace")
        matrix = torch.stack([r.detach().reshape(EMBEDDING_SIZE) for r in rows]).to(torch.float32).contiguous()
        if not torch.isfinite(matrix).all():
            raise FaceDatabaseError(f"{where}: holds non-finite embedding values")
        return cls(embeddings=matrix, names=tuple(names))

    def nearest(self, embedding: torch.Tensor) -> tuple[str, float]:
        """The closest entry's name and its Euclidean distance to `embedding` ((1, 512) or (512,))."""
        query = embedding.detach().reshape(1, EMBEDDING_SIZE).to(self.embeddings.dtype)
        distances = torch.linalg.vector_norm(self.embeddings - query, dim=1)
        best = int(torch.argmin(distances))  # first of equal minima, as the course's list.index(min)
        return self.names[best], float(distances[best])
