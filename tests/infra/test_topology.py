"""The wiring table and the policy documents, as plain Python (no Pulumi engine involved)."""

from __future__ import annotations

import json

import pytest

from components import policies, topology
from components.topology import ANALYSES, ARCHITECTURES, DIRECT_INVOCATION, EVENT_DRIVEN, FIRST_FRAME, TIMELINE
from pipeline_common.keys import (
    FRAME_SUFFIX,
    FRAMES_SUFFIX,
    RESULT_SUFFIX,
    TIMELINE_SUFFIX,
    VIDEO_SUFFIXES,
    frame_key,
    frames_key,
    is_folder_marker,
    is_video,
    result_key,
    timeline_key,
)


def test_event_driven_wiring():
    assert topology.triggers(EVENT_DRIVEN) == (
        topology.Trigger("input", "splitter", topology.EVERY_OBJECT),
        topology.Trigger("stage-1", "recognizer", (".jpg",)),
    )
    assert topology.direct_invocations(EVENT_DRIVEN) == ()


def test_direct_invocation_wiring():
    assert topology.triggers(DIRECT_INVOCATION) == (topology.Trigger("input", "splitter", topology.EVERY_OBJECT),)


def test_the_input_bucket_notifies_every_upload_because_s3_suffix_filters_are_case_sensitive():
    """`CLIP.MP4` must reach the splitter (it accepts any letter case); `notes.txt` must too, so its
    refusal leaves a dead-letter record instead of nothing."""
    [videos] = [t for t in topology.triggers(EVENT_DRIVEN) if t.bucket == "input"]
    assert videos.filters() == (None,)  # one rule, no suffix filter
    for analysis in ANALYSES:
        assert topology.FUNCTIONS["splitter"].reads[analysis] == ("input", topology.EVERY_OBJECT)
    assert policies.objects("arn:aws:s3:::i", topology.EVERY_OBJECT) == ["arn:aws:s3:::i/*"]


def test_video_keys_in_any_letter_case():
    for key in ("clip.mp4", "CLIP.MP4", "dir/Clip.Mp4", "a.MOV", "b.mov", "c.WebM", "d.MPEG"):
        assert is_video(key), key
    for key in ("notes.txt", "clip.mp4.txt", ".mp4", "dir.mp4/", "clip", "clip.jpg"):
        assert not is_video(key), key
    assert is_folder_marker("dir/") and not is_folder_marker("dir/clip.mp4")
    assert frame_key("dir/CLIP.MP4") == "dir/CLIP.MP4.jpg"  # only the course's exact `.mp4` is dropped


def test_a_rule_without_filter_overlaps_every_other_rule_of_its_bucket():
    with pytest.raises(topology.TopologyError, match="overlap"):
        topology.check((topology.Trigger("input", "splitter", ()), topology.Trigger("input", "recognizer", (".jpg",))))


def test_a_function_notified_of_every_object_may_not_write_into_that_bucket():
    with pytest.raises(topology.TopologyError, match="loop"):
        topology.check((topology.Trigger("stage-1", "splitter", ()),))
    assert topology.direct_invocations(DIRECT_INVOCATION) == (("splitter", "recognizer"),)


def test_unknown_architecture_is_refused():
    with pytest.raises(topology.TopologyError, match="architecture: 'chain' is not one of"):
        topology.triggers("chain")


def test_written_suffixes_are_what_the_key_functions_produce():
    """The table's suffixes and the functions' key naming are the same thing."""
    splitter, recognizer = topology.FUNCTIONS["splitter"], topology.FUNCTIONS["recognizer"]
    assert splitter.writes[FIRST_FRAME] == ("stage-1", (FRAME_SUFFIX,)) and frame_key("a/b.mp4") == "a/b.jpg"
    assert recognizer.writes[FIRST_FRAME] == ("output", (RESULT_SUFFIX,)) and result_key("a/b.jpg") == "a/b.txt"
    # timeline: one stage-1 object per video, and the timeline beside the text answer
    assert splitter.writes[TIMELINE] == ("stage-1", (FRAMES_SUFFIX,)) and frames_key("a/b.mp4") == "a/b.tar"
    assert recognizer.reads[TIMELINE] == ("stage-1", (FRAMES_SUFFIX,))
    assert recognizer.writes[TIMELINE] == ("output", (RESULT_SUFFIX, TIMELINE_SUFFIX))
    assert (result_key("a/b.tar"), timeline_key("a/b.tar")) == ("a/b.txt", "a/b.json")
    for suffix in VIDEO_SUFFIXES:  # nothing a function writes looks like a video
        for key in (frame_key(f"clip{suffix}"), frames_key(f"clip{suffix}")):
            assert not key.endswith(suffix)
            assert not result_key(key).endswith(suffix) and not timeline_key(key).endswith(suffix)


def test_timeline_wiring_notifies_the_splitter_only_and_nothing_invokes_the_recognizer_but_its_state_machine():
    for architecture in (EVENT_DRIVEN, DIRECT_INVOCATION):
        assert topology.triggers(architecture, TIMELINE) == (
            topology.Trigger("input", "splitter", topology.EVERY_OBJECT),
        )
        assert topology.direct_invocations(architecture, TIMELINE) == ()
    with pytest.raises(topology.TopologyError, match="analysis: 'everything' is not one of"):
        topology.triggers(EVENT_DRIVEN, "everything")


@pytest.mark.parametrize("analysis", ANALYSES)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_no_function_is_invoked_by_its_own_writes(architecture, analysis):
    for trigger in topology.triggers(architecture, analysis):
        bucket, suffixes = topology.FUNCTIONS[trigger.function].writes[analysis]
        for suffix in suffixes:
            assert bucket != trigger.bucket or (trigger.suffixes and suffix not in trigger.suffixes)
    # and no function invokes itself directly
    assert all(a != b for a, b in topology.direct_invocations(architecture))


def test_a_loop_is_refused():
    loop = (topology.Trigger("stage-1", "splitter", (".jpg",)),)
    with pytest.raises(topology.TopologyError, match="splitter writes .jpg objects to the stage-1 bucket.*loop"):
        topology.check(loop)


def test_overlapping_suffix_filters_are_refused():
    with pytest.raises(topology.TopologyError, match="'.mp4' and 'mp4' overlap"):
        topology.check((topology.Trigger("input", "splitter", (".mp4", "mp4")),))


def test_object_arns_name_one_bucket_and_one_suffix():
    assert policies.objects("arn:aws:s3:::b", [".mp4", ".mov"]) == ["arn:aws:s3:::b/*.mp4", "arn:aws:s3:::b/*.mov"]
    assert policies.log_streams("arn:aws:logs:r:1:log-group:/aws/lambda/f") == [
        "arn:aws:logs:r:1:log-group:/aws/lambda/f:*"
    ]


def test_function_role_document():
    doc = policies.function_role(
        read_objects=["arn:aws:s3:::i/*.mp4"],
        write_objects=["arn:aws:s3:::s/*.jpg"],
        log_group_arn="arn:aws:logs:r:1:log-group:g",
        dead_letter_queue_arn="arn:aws:sqs:r:1:q",
    )
    assert [st["Sid"] for st in doc["Statement"]] == ["ReadInput", "WriteOutput", "WriteLogs", "SendFailedEvents"]
    with_invoke = policies.function_role(
        read_objects=[],
        write_objects=[],
        log_group_arn="g",
        dead_letter_queue_arn="q",
        invoke_function_arn="arn:aws:lambda:r:1:function:f",
    )
    assert with_invoke["Statement"][-1] == {
        "Sid": "InvokeNextStage",
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": ["arn:aws:lambda:r:1:function:f"],
    }
    assert json.loads(policies.to_json(doc)) == doc


def test_ecr_lifecycle_is_valid_for_ecr():
    rules = policies.ecr_lifecycle(5)["rules"]
    priorities = [r["rulePriority"] for r in rules]
    assert len(set(priorities)) == len(priorities)
    # ECR requires a tagStatus "any" rule to have the highest priority number.
    anys = [r for r in rules if r["selection"]["tagStatus"] == "any"]
    assert len(anys) == 1 and anys[0]["rulePriority"] == max(priorities)
    assert anys[0]["selection"]["countNumber"] == 5


def test_tls_only_policy_denies_plain_http_to_bucket_and_objects():
    (st,) = policies.tls_only_bucket("arn:aws:s3:::b")["Statement"]
    assert (st["Effect"], st["Principal"], st["Action"]) == ("Deny", "*", "s3:*")
    assert st["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------------------------------------
# What the image build sees (components.build_context)


def _context(tmp_path, ignore: str):
    (tmp_path / ".dockerignore").write_text(ignore)
    return tmp_path


@pytest.mark.parametrize(
    "path, sent",
    [
        ("data/face_db.pt", True),
        ("data/.hidden.pt", True),
        ("data/sub/face_db.pt", False),
        ("data/face_db.pth", False),
        ("functions/face_recognizer/handler.py", True),
        ("functions/face_recognizer/__pycache__/handler.cpython-311.pyc", False),
        ("functions/video_splitting/handler.py", False),
        (".venv/lib/python3.11/site.py", False),
        ("tests/conftest.py", False),
    ],
)
def test_project_dockerignore_sends_only_what_the_image_needs(path, sent):
    from components import build_context
    from components.project import PROJECT_DIR

    if not (PROJECT_DIR / ".dockerignore").is_file():
        pytest.skip(".dockerignore not written yet")
    assert build_context.is_sent(path, PROJECT_DIR) is sent


def test_dockerignore_rules(tmp_path):
    from components import build_context

    ctx = _context(tmp_path, "# comment\n\nbuild\n**/*.log\n/secret?.txt\n*.pt\n!keep/*.pt\n")
    assert not build_context.is_sent("build/x.zip", ctx)  # a folder excludes its contents
    assert not build_context.is_sent("a/b/c.log", ctx)  # ** spans folders
    assert not build_context.is_sent("c.log", ctx)
    assert not build_context.is_sent("secret1.txt", ctx)
    assert build_context.is_sent("secret12.txt", ctx)  # ? is one character
    assert not build_context.is_sent("x.pt", ctx)
    assert build_context.is_sent("sub/x.pt", ctx)  # * stays in one segment
    assert build_context.is_sent("keep/x.pt", ctx)  # the last match wins
    (tmp_path / "no-ignore-file").mkdir()
    assert build_context.is_sent("anything.py", tmp_path / "no-ignore-file")
