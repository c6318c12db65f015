"""tools/modelbuild/export_models.py: the graphs the function runs, made and checked from the weights, and the
gate an int8 embedding network must pass before it is written (its mechanism, with the stand-in
weights: an honest int8 export passes, a damaged one is refused and nothing is written)."""

from __future__ import annotations

import json
import logging
import shutil
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from PIL import Image

from face_recognizer import service
from face_recognizer.faces import ModelError
from face_recognizer.onnx_models import FORMAT, GRAPHS, INT8_CHECK_GRAPH, MANIFEST, OnnxFaceModels
from tools.demo import samples
from tools.modelbuild import calibration, export_models, quantize, weights
from tools.modelbuild.reference_models import FaceModels

# Whole stacks, subprocesses, model loads or an 80 MB layer: `make test-fast` leaves these out.
slow = pytest.mark.slow


def test_the_export_records_where_it_came_from(model_dir, torch_home):
    manifest = json.loads((model_dir / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["untrained"] is True
    assert manifest["source_sha256"] == export_models.sha256(weights.checkpoint_path(torch_home))
    assert manifest["graphs"] == GRAPHS and set(manifest["precision"].values()) == {"fp32"}
    assert manifest["agreement"] == {}
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MANIFEST, *GRAPHS.values()])
    models = OnnxFaceModels.load(model_dir)
    assert models.untrained and models.int8_sums_exact is None


def test_mtcnn_is_exported_with_prelu_rewritten_to_the_same_bits(tmp_path):
    """export_models writes PReLU as relu(x) + a*min(x, 0) (ONNX Runtime runs that ~30% faster);
    each network must give exactly the numbers a plain export gives."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN()
    shapes = {"pnet": (1, 3, 97, 131), "rnet": (7, 3, 24, 24), "onet": (5, 3, 48, 48)}
    dynamic = {"pnet": {"image": {2: "h", 3: "w"}}, "rnet": {"image": {0: "n"}}, "onet": {"image": {0: "n"}}}
    rng = np.random.default_rng(0)
    for name, shape in shapes.items():
        net = getattr(mtcnn, name).eval()
        sessions = []
        for label, model in (("plain", net), ("rewritten", export_models._prelu_as_relu(net))):
            path = tmp_path / f"{name}.{label}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (torch.zeros(shape),),
                    str(path),
                    input_names=["image"],
                    dynamic_axes=dynamic[name],
                    opset_version=export_models.OPSET,
                    dynamo=False,
                )
            graph = onnx.load(str(path))
            assert ("PRelu" in {n.op_type for n in graph.graph.node}) == (label == "plain"), (name, label)
            sessions.append(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        plain, rewritten = (s.run(None, {"image": x}) for s in sessions)
        for a, b in zip(plain, rewritten, strict=True):
            assert np.array_equal(a, b), name


@slow  # a whole export of a second checkpoint
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


# -- int8 ------------------------------------------------------------------------------------------


@pytest.fixture
def few_gate_faces(monkeypatch) -> int:
    """The gate's mechanism on 8 of lfw_subset's faces and the two named ones, each mirrored (20 of
    the shippable 204: the tests below check what the gate does, not how many faces it holds), so a
    test embeds 40 faces instead of 408. The honest export above runs the whole set."""

    def few(models):
        faces = calibration.lfw_faces()[:8] + calibration.named_faces(models)
        return faces + calibration.mirrored(faces)

    monkeypatch.setattr(calibration, "gate_faces", few)
    return 20


@pytest.fixture(scope="module")
def int8_dir(torch_home, people_database_file):
    """The int8 export gated on the sample people, made once a run: by the image's export stage
    (tests/infra/test_image_contents.py, first in the group below), or here when run without it."""
    return export_models.ensure_exported(torch_home, precision="int8", database=people_database_file)


int8_export = pytest.mark.xdist_group("int8-export")  # on the worker that ran the export stage, after it


@slow
@int8_export
def test_an_honest_int8_embedding_passes_its_gate_and_the_manifest_says_how(int8_dir, people_database_file, model_dir):
    manifest = json.loads((int8_dir / MANIFEST).read_text())
    assert manifest["precision"] == {"pnet": "fp32", "rnet": "fp32", "onet": "fp32", "embedder": "int8"}
    assert manifest["graphs"]["embedder"] == "inception_resnet_v1.int8.onnx"
    # only what runs ships: the float32 embedding graph is not in the folder
    assert sorted(p.name for p in int8_dir.iterdir()) == sorted(
        [MANIFEST, INT8_CHECK_GRAPH, "inception_resnet_v1.int8.onnx", GRAPHS["pnet"], GRAPHS["rnet"], GRAPHS["onet"]]
    )
    gate = manifest["agreement"]["embedder"]
    assert gate["faces"] == 204 and gate["calibrated_on"] == 102
    assert export_models.GATE_MIN_COSINE <= gate["min_cosine"] <= gate["mean_cosine"] <= 1.0
    assert gate["people"] == ["Cameraman", "Collins"] and gate["people_faces"] == 4  # each face and its mirror
    assert gate["nearest_entry_unchanged"] == 4 and gate["database_sha256"] == export_models.sha256(
        people_database_file
    )
    assert gate["weights_untrained"] is True
    assert manifest["int8_built_on"]["int8_sums_exact"] in (True, False)

    # the graph is really int8, and the function's runtime gives (nearly) float32's embedding
    ops = {n.op_type for n in onnx.load(str(int8_dir / "inception_resnet_v1.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    image = Image.fromarray(samples.image("astronaut"))
    int8 = OnnxFaceModels.load(int8_dir, precision="int8").embed(image)
    fp32 = OnnxFaceModels.load(model_dir, precision="fp32").embed(image)
    assert float((int8 * fp32).sum() / (np.linalg.norm(int8) * np.linalg.norm(fp32))) >= 0.99
    assert not np.array_equal(int8, fp32)


def corrupt_the_last_convolution(graph) -> None:
    """Negate the scale of the last convolution's int8 weights: a sign error, as a broken quantiser
    would make. (Milder damage is invisible with the untrained stand-in, whose embeddings of any two
    different faces already agree at cosine ~0.9997: with it the gate can only show it refuses.)"""
    model = onnx.load(str(graph))
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    last_conv = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    weights = producer[last_conv.input[1]]
    assert weights.op_type == "DequantizeLinear" and inits[weights.input[0]].data_type == onnx.TensorProto.INT8
    scale = inits[weights.input[1]]
    scale.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(scale), scale.name))
    onnx.save(model, str(graph))


@slow
@int8_export
def test_a_damaged_int8_embedding_is_refused_and_nothing_is_written(
    torch_home, people_database_file, int8_dir, few_gate_faces, tmp_path_factory, tmp_path, monkeypatch
):
    # The real quantiser's graph for these weights (int8_dir's), damaged; both exports below get it
    # without calibrating again.
    damaged_graph = tmp_path_factory.mktemp("damaged") / "inception_resnet_v1.int8.onnx"
    shutil.copy(int8_dir / "inception_resnet_v1.int8.onnx", damaged_graph)
    corrupt_the_last_convolution(damaged_graph)
    quantised: list[str] = []

    def damaged(fp32, int8, **kwargs):
        quantised.append(int8.name)
        shutil.copy(damaged_graph, int8)

    monkeypatch.setattr(quantize, "quantize", damaged)
    out = tmp_path / "models"
    with pytest.raises(export_models.GateError, match=r"faces under cosine 0\.99 \(lowest .*nothing was written"):
        export_models.export(torch_home, out, precision="int8", database=people_database_file)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # not even the staging folder
    assert (
        export_models.main(
            [
                "--torch-home",
                str(torch_home),
                "--out",
                str(out),
                "--precision",
                "int8",
                "--db",
                str(people_database_file),
            ]
        )
        == 3
    )
    assert not out.exists()
    assert quantised == ["inception_resnet_v1.int8.onnx"] * 2  # the embedding network only, in both


@slow
def test_the_gate_refuses_when_a_person_would_be_matched_to_another_entry(
    model_dir, few_gate_faces, tmp_path, monkeypatch
):
    """The nearest-entry check alone: a database whose two entries sit either side of a face's
    float32 and int8 embeddings, so the int8 one lands nearer the other entry."""
    staging = tmp_path / "staging"
    shutil.copytree(model_dir, staging)
    models = OnnxFaceModels.load(model_dir)
    fp32 = models.embed(Image.fromarray(samples.image("astronaut")))
    quantize.quantize(
        staging / GRAPHS["embedder"],
        tmp_path / "probe.int8.onnx",
        feeds=[{"face": np.full((1, 3, 240, 240), 0.1, np.float32)}],  # a poor calibration, on purpose
    )
    session = ort.InferenceSession(str(tmp_path / "probe.int8.onnx"), providers=["CPUExecutionProvider"])
    face = models.find_face(Image.fromarray(samples.image("astronaut")))
    assert face is not None
    int8 = session.run(None, {"face": face.crop[None]})[0]
    assert not np.allclose(int8, fp32)
    # Collins' entry just past float32's embedding, away from int8's; a decoy just past int8's.
    db = tmp_path / "db.pt"
    torch.save(
        [
            [torch.from_numpy(fp32 + 0.3 * (fp32 - int8)), torch.from_numpy(int8 + 0.3 * (int8 - fp32))],
            ["Collins", "Decoy"],
        ],
        db,
    )

    def poor(fp32_graph, int8_graph, **kwargs):
        shutil.copy(tmp_path / "probe.int8.onnx", int8_graph)

    monkeypatch.setattr(quantize, "quantize", poor)
    monkeypatch.setattr(export_models, "GATE_MIN_COSINE", -1.0)  # the cosine check out of the way
    with pytest.raises(
        export_models.GateError,
        match=r"nearest database entry changed for .*astronaut \(Collins entry 0 -> Decoy entry 1\)",
    ):
        export_models.gate_embedder(staging, database=db)


@slow
@int8_export
def test_the_function_runs_what_its_setting_asks_for_and_logs_the_agreement(
    int8_dir, model_dir, people_database_file, s3
):
    env = {"OUTPUT_BUCKET": "int8-output", "FACE_DB_PATH": str(people_database_file), "MODEL_DIR": str(model_dir)}
    with pytest.raises(
        service.StartupError, match=f"MODEL_PRECISION=int8, but the embedding network in {model_dir} is fp32"
    ):
        service.load({**env, "MODEL_PRECISION": "int8"})
    with pytest.raises(
        service.StartupError, match=f"MODEL_PRECISION=fp32, but the embedding network in {int8_dir} is int8"
    ):
        service.load({**env, "MODEL_DIR": str(int8_dir)})

    lines: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append({"message": record.getMessage(), **getattr(record, "fields", {})})

    logger = logging.getLogger(service.SERVICE)
    keep = Keep()
    logger.addHandler(keep)
    try:
        service.start({**env, "MODEL_DIR": str(int8_dir), "MODEL_PRECISION": "int8"}, s3=s3, warm_up=False)
    finally:
        logger.removeHandler(keep)
    [started] = [line for line in lines if line["message"] == "started"]
    manifest = json.loads((int8_dir / MANIFEST).read_text())
    assert started["precision"]["embedder"] == "int8"
    assert started["int8_agreement"]["embedder"] == manifest["agreement"]["embedder"]
    assert started["int8_sums_exact"] in (True, False)


def test_int8_variants_are_cached_apart_from_the_float32_export(torch_home, model_dir, people_database_file):
    # which folder each variant gets, without exporting again: the float32 one is the plain digest
    digest = export_models.sha256(weights.checkpoint_path(torch_home))[:16]
    assert model_dir.name == digest
    assert export_models.ensure_exported(torch_home, precision="fp32") == model_dir


@slow
def test_pictures_of_the_databases_people_are_gated_too(
    model_dir, people_database_file, few_gate_faces, tmp_path, monkeypatch
):
    """--people: a deployer's own pictures of the database's people join the gate's faces; a
    folder naming someone the database does not hold is refused by name."""
    staging = tmp_path / "staging"
    shutil.copytree(model_dir, staging)
    monkeypatch.setattr(quantize, "quantize", lambda fp32, int8, **_: shutil.copy(fp32, int8))  # float32 as "int8"
    people = tmp_path / "people"
    samples.write_image("astronaut", people / "Collins" / "at-work.png")
    figures = export_models.gate_embedder(staging, database=people_database_file, people=people)
    assert figures["faces"] == few_gate_faces + 1 and figures["faces_given_with_people"] == 1
    assert figures["people_faces"] == figures["nearest_entry_unchanged"] == 5 and figures["min_cosine"] >= 0.999999
    samples.write_image("camera", people / "Nobody" / "still.png")
    with pytest.raises(export_models.ExportError, match="--people: Nobody not in the face database"):
        export_models.gate_embedder(staging, database=people_database_file, people=people)
