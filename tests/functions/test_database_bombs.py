"""Face database parse bombs: files of a few KB or MB that declare gigabytes. The reader must refuse
them before it expands anything, and the recognizer and `tools.enroll --list` stay within the
recognizer's memory setting, measured as the other memory probes measure (VmHWM of a fresh
interpreter)."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from face_recognizer import torchfile
from face_recognizer.facedb import MAX_EXPANDED_BYTES, FaceDatabase, FaceDatabaseError
from tests.conftest import run_python

ROWS_2GB = 1_100_000  # (1.1M, 512) float32: 2.25 GB


class _Storage:
    """Stands for a storage in the pickle: written as torch's persistent id, never allocated."""

    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _Tensor:
    def __init__(self, storage: _Storage, size: tuple[int, ...], stride: tuple[int, ...]):
        self.args: tuple = (storage, 0, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def _structure(content) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=2).dump(content)
    return out.getvalue()


def stride_zero_database(path: Path) -> Path:
    """torch.save's own bytes for one (1, 512) storage seen as ROWS_2GB rows through a stride of 0."""
    torch.save([[torch.zeros(1, 512).expand(ROWS_2GB, 512)], ["A"]], path)
    return path


def deflate_bomb(path: Path, *, rows: int = 524_288) -> Path:
    """A zip whose one storage (`rows` x 512 float32 zeros, 1 GiB by default) is deflated to ~1 MB."""
    storage = _Storage("0", rows * 512)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("bomb/data.pkl", _structure([[_Tensor(storage, (rows, 512), (512, 1))], ["A"]]))
        z.writestr("bomb/byteorder", "little")
        with z.open("bomb/data/0", "w", force_zip64=True) as member:
            zeros = bytes(1 << 22)
            for _ in range(rows * 512 * 4 // len(zeros)):
                member.write(zeros)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "stride-0": stride_zero_database(folder / "stride0.pt"),
        "deflate": deflate_bomb(folder / "deflate.pt"),
    }


def test_the_bombs_are_small_files_that_declare_gigabytes(bombs):
    assert bombs["stride-0"].stat().st_size < 4096
    assert bombs["deflate"].stat().st_size < 2 * 2**20
    with zipfile.ZipFile(bombs["deflate"]) as z:
        assert z.getinfo("bomb/data/0").file_size == 2**30


def test_a_stride_zero_tensor_is_refused_before_it_is_copied(bombs):
    with pytest.raises(
        torchfile.TorchFileError, match=r"a tensor of shape \(1100000, 512\) would take 2,252,800,000 bytes"
    ):
        torchfile.load(bombs["stride-0"], max_bytes=MAX_EXPANDED_BYTES)
    with pytest.raises(FaceDatabaseError, match=r"stride0\.pt: .* over what the file may expand to"):
        FaceDatabase.load(bombs["stride-0"])


def test_a_deflated_member_is_refused_by_what_it_inflates_to(bombs):
    with pytest.raises(
        FaceDatabaseError, match=r"bomb/data/0 would take 1,073,741,824 bytes, over what the file may expand to"
    ):
        FaceDatabase.load(bombs["deflate"])


def test_the_pickle_is_bounded_on_its_own(tmp_path):
    path = tmp_path / "fanout.pt"
    big = pickle.PROTO + b"\x02" + b"]q\x00(" + b"h\x00" * (torchfile.MAX_PICKLE_BYTES // 2) + b"e."
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("f/data.pkl", big)
    with pytest.raises(FaceDatabaseError, match=r"f/data.pkl is [\d,]+ bytes, over the 8,388,608 it may be"):
        FaceDatabase.load(path)


def test_a_database_of_30000_faces_is_within_the_budget(tmp_path):
    path = tmp_path / "big.pt"
    torch.save([list(torch.randn(30_000, 1, 512).unbind(0)), [f"p{i % 300}" for i in range(30_000)]], path)
    assert len(FaceDatabase.load(path)) == 30_000


PROBE = r"""
import json, sys


def hwm_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))


what, path = sys.argv[1], sys.argv[2]
if what == "recognizer":
    from face_recognizer import service
    try:
        service.load({"OUTPUT_BUCKET": "vfp-test-output", "FACE_DB_PATH": path, "MODEL_DIR": "/"})
        error = None
    except service.StartupError as exc:
        error = str(exc)
    code = None
else:
    from tools import enroll
    import contextlib, io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = enroll.main(["--list", "--out", path])
    error = err.getvalue()
print(json.dumps({"error": error, "code": code, "peak_mb": hwm_mb()}))
"""


@pytest.mark.parametrize("what", ["recognizer", "enroll --list"])
@pytest.mark.parametrize("bomb", ["stride-0", "deflate"])
def test_a_bomb_stays_within_the_recognizers_memory(bombs, what, bomb, tmp_path):
    from components import settings as S

    memory = S.load(lambda key: {"namePrefix": "vfp-test"}.get(key), check_files=False).recognizer.memory_mb
    probe = run_python(PROBE, what.split()[0], str(bombs[bomb]), cwd=Path.cwd(), env=dict(os.environ))
    assert "over what the file may expand to" in probe["error"] and probe["code"] in (None, 2)
    print(json.dumps({"bomb": bomb, "what": what, **probe}))
    assert probe["peak_mb"] < memory, f"{bomb} took {what} to {probe['peak_mb']:.0f} MB (recognizerMemory {memory} MB)"
