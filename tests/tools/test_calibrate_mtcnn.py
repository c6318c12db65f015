"""tools/calibrate_mtcnn.py and the record it wrote (tools/mtcnn_int8.json): MTCNN's networks are
int8 only where the record's own figures pass the criteria; the record rebuilds the same int8
graphs from this export; and the calibration, run again on the same frames, gives the same record."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from face_recognizer.onnx_models import GRAPHS, INT8_CHECK_GRAPH, MANIFEST, OnnxFaceModels
from tools import calibrate_mtcnn, export_models, quantize, samples


@pytest.fixture(scope="module")
def record() -> dict:
    return export_models.load_record()


def test_the_committed_record_keeps_int8_only_where_its_figures_pass(record):
    assert record["criteria"]["chosen_box_iou_at_least"] == calibrate_mtcnn.MIN_IOU == 0.98
    assert record["criteria"]["faces_lost_or_gained"] == 0
    for name in export_models.MTCNN:
        entry = record["networks"][name]
        figures = entry["agreement"]
        passes = (
            figures["frames_failing"] == 0
            and figures["chosen_box_iou"]["min"] >= calibrate_mtcnn.MIN_IOU
            and figures["frames_losing_a_face"] == figures["frames_gaining_a_face"] == figures["other_face_chosen"] == 0
        )
        assert entry["int8"] == figures["passes"] == passes, name
        assert entry["ranges"] and entry["exclude"], name
    assert record["kept_in_int8"] == list(export_models.kept_networks(record))
    # made on the course's frames (where the real frames are), every frame of its 8 distinct clips
    source = record["source"]
    assert len(source["course_videos"]) == 8 and all(len(v["sha256"]) == 64 for v in source["course_videos"])
    assert source["course_frames"] > 400 and record["networks"]["onet"]["agreement"]["frames"] == (
        source["course_frames"] + len(calibrate_mtcnn.TEST_PICTURES)
    )
    assert "yardstick_fp32_with_pixel_noise" in record and "all_three_in_int8" in record


@pytest.mark.slow
def test_the_record_rebuilds_int8_graphs_from_this_export(record, torch_home, model_dir, tmp_path):
    for name in export_models.MTCNN:  # the ranges name this export's tensors
        assert quantize.missing_tensors(model_dir / GRAPHS[name], record["networks"][name]["ranges"]) == []
    out = export_models.export(torch_home, tmp_path / "int8-mtcnn", mtcnn_int8=export_models.MTCNN)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["precision"] == {"pnet": "int8", "rnet": "int8", "onet": "int8", "embedder": "fp32"}
    assert (out / INT8_CHECK_GRAPH).is_file()
    for name in export_models.MTCNN:
        agreement = manifest["agreement"][name]
        assert agreement["kept"] is record["networks"][name]["int8"]
        assert agreement["frames_failing"] == record["networks"][name]["agreement"]["frames_failing"]
        # the same graph, byte for byte, when built again from the record
        again = tmp_path / f"{name}.again.onnx"
        entry = record["networks"][name]
        quantize.quantize(model_dir / GRAPHS[name], again, ranges=entry["ranges"], exclude=entry["exclude"])
        assert again.read_bytes() == (out / manifest["graphs"][name]).read_bytes(), name
    models = OnnxFaceModels.load(out)
    assert models.find_face(Image.fromarray(samples.image("astronaut"))) is not None


@pytest.mark.slow
def test_calibration_run_again_gives_the_same_record(torch_home):
    # scikit-image's pictures only (the course folder is not needed for this)
    first = calibrate_mtcnn.calibrate(None, torch_home, progress=lambda _: None)
    second = calibrate_mtcnn.calibrate(None, torch_home, progress=lambda _: None)
    for name in export_models.MTCNN:
        assert first["networks"][name]["ranges"] == second["networks"][name]["ranges"], name
        assert first["networks"][name]["agreement"] == second["networks"][name]["agreement"], name
    assert first["source"]["calibration_frames"] == len(calibrate_mtcnn.TEST_PICTURES)
