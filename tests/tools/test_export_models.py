"""tools/export_models.py: the graphs the function runs, made and checked from the weights."""

from __future__ import annotations

import json
import shutil

import pytest

from face_recognition.faces import ModelError
from face_recognition.onnx_models import FORMAT, GRAPHS, MANIFEST, OnnxFaceModels
from tools import export_models, weights
from tools.reference_models import FaceModels


def test_the_export_records_where_it_came_from(model_dir, torch_home):
    manifest = json.loads((model_dir / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["untrained"] is True
    assert manifest["source_sha256"] == export_models.sha256(weights.checkpoint_path(torch_home))
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MANIFEST, *GRAPHS.values()])
    assert OnnxFaceModels.load(model_dir).untrained


def test_one_export_per_checkpoint(torch_home, model_dir, tmp_path):
    assert export_models.ensure_exported(torch_home) == model_dir  # cached, not exported again
    other = tmp_path / "other_home"
    weights.write_untrained_checkpoint(other, seed=1)
    exported = export_models.ensure_exported(other)
    assert exported != model_dir and exported.parent == other / "onnx"


def test_an_export_that_disagrees_with_pytorch_is_refused(tmp_path, model_dir):
    # The graphs of one checkpoint checked against the networks of another must not pass.
    other = tmp_path / "other_home"
    weights.write_untrained_checkpoint(other, seed=2)
    with pytest.raises(export_models.ExportError, match="embedding network disagrees"):
        export_models.verify(FaceModels.load(other), model_dir)


def test_missing_damaged_or_foreign_exports_are_named(tmp_path, model_dir):
    with pytest.raises(ModelError, match=f"no exported models at {tmp_path}"):
        OnnxFaceModels.load(tmp_path)
    damaged = tmp_path / "damaged"
    shutil.copytree(model_dir, damaged)
    (damaged / GRAPHS["rnet"]).write_bytes(b"not a graph")
    with pytest.raises(ModelError, match=f"exported model {damaged / GRAPHS['rnet']} could not be loaded"):
        OnnxFaceModels.load(damaged)
    (damaged / GRAPHS["rnet"]).unlink()
    with pytest.raises(ModelError, match="rnet.onnx is missing"):
        OnnxFaceModels.load(damaged)
    manifest = json.loads((damaged / MANIFEST).read_text())
    (damaged / MANIFEST).write_text(json.dumps({**manifest, "format": FORMAT + 1}))
    with pytest.raises(ModelError, match="export the models again"):
        OnnxFaceModels.load(damaged)


def test_the_command_refuses_to_run_without_weights(tmp_path, capsys):
    assert export_models.main(["--torch-home", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no vggface2 weights" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
