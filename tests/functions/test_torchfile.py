"""torchfile.load against torch.load, and what it refuses."""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch

from face_recognizer import torchfile


def test_reads_what_torch_saved(tmp_path):
    shared = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    content: list[Any] = [  # a database's shape and then some: each entry is read back on its own terms
        [
            torch.randn(1, 512),
            torch.randn(3, 4, dtype=torch.float64),
            torch.arange(7),
            torch.tensor(True),
            torch.randn(2, 2).half(),
            shared,
            shared.t(),
            shared[1:, ::2],
            torch.zeros(0, 512),
        ],
        ["Biden", "Ünïcødé name"],
        {"k": (1, 2.5, None, "s")},
        OrderedDict(a=torch.ones(2, dtype=torch.uint8)),
    ]
    path = tmp_path / "db.pt"
    torch.save(content, path)
    loaded = torchfile.load(path)
    for ours, theirs in zip(loaded[0], content[0], strict=True):
        assert isinstance(ours, np.ndarray) and ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours, theirs.numpy())
    assert loaded[1] == content[1] and loaded[2] == content[2]
    np.testing.assert_array_equal(loaded[3]["a"], np.ones(2, np.uint8))


def test_refuses_classes_beyond_tensors_and_containers(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save([Payload()], path)
    with pytest.raises(torchfile.TorchFileError, match=r"refers to (__builtin__|builtins)\.print"):
        torchfile.load(path)


def test_refuses_files_that_are_not_torch_zip_archives(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02not a zip")
    with pytest.raises(torchfile.TorchFileError, match="not the zip format"):
        torchfile.load(junk)
    legacy = tmp_path / "legacy.pt"
    torch.save([torch.zeros(2)], legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(torchfile.TorchFileError, match="not the zip format"):
        torchfile.load(legacy)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(torchfile.TorchFileError, match="no data.pkl"):
        torchfile.load(other_zip)
    with pytest.raises(FileNotFoundError):
        torchfile.load(tmp_path / "absent.pt")


def test_a_cut_short_file_is_called_truncated(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save([[torch.ones(1, 512)], ["A"]], whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(torchfile.TorchFileError, match="truncated or corrupt"):
        torchfile.load(cut)
    text = tmp_path / "text.pt"
    text.write_text("name,embedding\n")
    with pytest.raises(torchfile.TorchFileError, match="not the zip format"):
        torchfile.load(text)


def test_refuses_a_truncated_storage(tmp_path):
    good = tmp_path / "good.pt"
    torch.save([torch.randn(1, 512)], good)
    out = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:100] if item.filename.endswith("/data/0") else data)
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(out.getvalue())
    with pytest.raises(torchfile.TorchFileError, match="storage 0 is truncated"):
        torchfile.load(bad)
