"""Stand-in vggface2 weights for machines that cannot download the real ones.

facenet-pytorch's `InceptionResnetV1(pretrained='vggface2')` loads
`$TORCH_HOME/checkpoints/20180402-114759-vggface2.pt` when it exists and downloads it otherwise.
Writing a seeded, untrained checkpoint of the same shapes there sends every run through the real
loading code. Names are then only meaningful against faces enrolled with the same file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VGGFACE2_FILE = "20180402-114759-vggface2.pt"
VGGFACE2_CLASSES = 8631  # the checkpoint carries the classifier it was trained with


def checkpoint_path(torch_home: Path) -> Path:
    return Path(torch_home) / "checkpoints" / VGGFACE2_FILE


def have_weights(torch_home: Path) -> bool:
    return checkpoint_path(torch_home).is_file()


def write_untrained_checkpoint(torch_home: Path, *, seed: int = 0) -> Path:
    """Write the stand-in checkpoint (atomically) unless one is already there; return its path."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    path = checkpoint_path(torch_home)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = InceptionResnetV1(classify=True, num_classes=VGGFACE2_CLASSES)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    marker(torch_home).write_text("untrained stand-in written by tools/modelbuild/weights.py\n")
    return path


def prepare(torch_home: Path) -> bool:
    """Make sure `torch_home` holds vggface2 weights, writing the untrained stand-in when it does not;
    True when the stand-in is what will be used."""
    if not have_weights(torch_home):
        print(f"[weights] no vggface2 weights in {torch_home}; writing the untrained stand-in", file=sys.stderr)
        write_untrained_checkpoint(torch_home)
    return is_untrained(torch_home)


def banner(checkpoint: Path) -> str:
    """What every run that used the stand-in `checkpoint` prints where it cannot scroll away."""
    line = "!" * 78
    return (
        f"{line}\n!! UNTRAINED WEIGHTS: {checkpoint} is a stand-in, not\n"
        "!! vggface2. Names are only meaningful against faces enrolled with this same file;\n"
        "!! a database such as the course's data.pt gives meaningless names with it.\n"
        f"{line}"
    )


def marker(torch_home: Path) -> Path:
    return Path(torch_home) / "checkpoints" / "UNTRAINED"


def is_untrained(torch_home: Path) -> bool:
    """True when the checkpoint here is the stand-in, so results must be labelled as such."""
    return marker(torch_home).is_file()
