"""Timelines judged against labels (tools/timelines.py) and tools.grade in timeline mode, against S3
over a moto server: labels in every shape, the one-interval tolerance, per-person recall and
precision (of videos and of seconds), and the grader's table, checks and exit status."""

from __future__ import annotations

import json

import pytest

from pipeline_common import segments
from tools import grade, timelines, workload
from tools.grading import report as grade_report


def found(people: dict, *, interval: float = 1.0, no_face=(), unknown=()) -> dict:
    return {
        "answer": next(iter(people), "no-face"),
        "frames": 6,
        "frames_without_face": len(no_face),
        "interval_s": interval,
        "people": people,
        "no_face": list(no_face),
        "unknown": list(unknown),
        "database": "v1",
    }


@pytest.mark.parametrize(
    "label, people, answer",
    [
        ("Collins", {"Collins": None}, "Collins"),
        ("no-face", {}, "no-face"),
        ("unknown", {}, "unknown"),
        (["Collins", "Cameraman", "no-face"], {"Collins": None, "Cameraman": None}, None),
        ({"answer": "Collins"}, {"Collins": None}, "Collins"),
        (
            {"answer": "Collins", "people": {"Collins": [[0, 3]], "Cameraman": None}},
            {"Collins": [(0.0, 3.0)], "Cameraman": None},
            "Collins",
        ),
    ],
)
def test_every_shape_of_label(label, people, answer):
    assert timelines.labels_of(label, "v.mp4") == people
    assert timelines.answer_of(label) == answer
    timelines.check_label(label, "v.mp4")


@pytest.mark.parametrize(
    "label, message",
    [
        (3, "v.mp4: people must be a name, a list of names"),
        ({"who": "Collins"}, "v.mp4: a label object has `answer` and `people`, not who"),
        ({"people": {"Collins": [[3, 1]]}}, "v.mp4, Collins: each range must have 0 <= start < end"),
        ({"people": {"Collins": [[0, "x"]]}}, "v.mp4, Collins: time ranges must be"),
        ({"people": {"Collins": [[-1, 2]]}}, "each range must have 0 <= start"),
        ({"answer": 7, "people": ["Collins"]}, "`answer` must be a name"),
    ],
)
def test_a_bad_label_is_refused_naming_the_video(label, message):
    with pytest.raises(timelines.LabelError, match=message.replace("[", r"\[")):
        timelines.check_label(label, "v.mp4")


def test_times_match_within_one_sampling_interval_and_not_beyond():
    labels: timelines.Labels = {"Collins": [(0.0, 2.0)], "Cameraman": [(3.0, 5.0)]}
    exact = timelines.judge(found({"Collins": [(0.0, 2.0)], "Cameraman": [(3.0, 5.0)]}), labels)
    assert exact["correct"] and exact["missing"] == exact["extra"] == []
    # one sampling interval late at each end: still right
    late = timelines.judge(found({"Collins": [(0.0, 3.0)], "Cameraman": [(4.0, 5.0)]}), labels)
    assert late["correct"], late
    # more than one interval off: wrong, and the seconds say by how much
    off = timelines.judge(found({"Collins": [(0.0, 2.0)], "Cameraman": [(3.0, 7.5)]}), labels)
    assert not off["correct"]
    assert off["times"]["Cameraman"] == {"labelled_s": 2.0, "found_s": 4.5, "covered_s": 2.0, "within_s": 3.0}
    # a half-second interval tolerates half a second
    assert not timelines.judge(found({"Collins": [(0.0, 3.0)]}, interval=0.5), {"Collins": [(0.0, 2.0)]})["correct"]
    # someone missing, someone extra; a person labelled without times is judged only by presence
    who = timelines.judge(found({"Collins": [(0.0, 9.0)], "Depp": [(1.0, 2.0)]}), {"Collins": None, "Cameraman": None})
    assert (who["correct"], who["missing"], who["extra"], who["times"]) == (False, ["Cameraman"], ["Depp"], {})


def test_per_person_recall_and_precision_over_videos_and_seconds():
    judged: list[tuple[dict, timelines.Labels]] = [
        # Collins found where labelled, on time; the cameraman missed
        (found({"Collins": [(0.0, 2.0)]}), {"Collins": [(0.0, 2.0)], "Cameraman": [(3.0, 5.0)]}),
        # Collins found, half of his labelled seconds covered; the cameraman found where nobody is labelled
        (found({"Collins": [(0.0, 1.0)], "Cameraman": [(1.0, 2.0)]}), {"Collins": [(0.0, 4.0)]}),
        # Collins labelled without times, found
        (found({"Collins": [(0.0, 6.0)]}), {"Collins": None}),
    ]
    scores = timelines.scores(judged)
    collins, cameraman = scores["Collins"], scores["Cameraman"]
    assert (collins["tp"], collins["fn"], collins["fp"], collins["recall"], collins["precision"]) == (3, 0, 0, 1.0, 1.0)
    assert (cameraman["tp"], cameraman["fn"], cameraman["fp"]) == (0, 1, 1)
    assert cameraman["recall"] == cameraman["precision"] == 0.0
    # seconds (within one interval): video 1 covers 2 of 2, video 2 covers 2 of 4 (1 s found, widened by 1 s)
    assert collins["labelled_s"] == 6.0 and collins["covered_s"] == 4.0
    assert collins["time_recall"] == pytest.approx(4 / 6) and collins["time_precision"] == 1.0
    assert cameraman["time_recall"] is None  # never found where labelled with times
    lines = timelines.score_lines(scores)
    assert lines == [
        "  Cameraman: videos recall 0% (0/1), precision 0% (0/1)",
        "  Collins: videos recall 100% (3/3), precision 100% (3/3); seconds: recall 67%, precision 100%",
    ]


def test_describe_and_summary_read_the_recognizers_json():
    document = {
        "answer": "Collins",
        "frames_analysed": 6,
        "frames_without_face": 1,
        "interval_s": 1.0,
        "people": [
            {"name": "Collins", "ranges": [{"start_s": 0.0, "end_s": 3.0}]},
            {"name": "Cameraman", "ranges": [{"start_s": 4.0, "end_s": 6.0}]},
        ],
        "unknown": {"frames": 1, "ranges": [{"start_s": 5.0, "end_s": 6.0}]},
        "no_face": [{"start_s": 3.0, "end_s": 4.0}],
        "database": {"version": "abc"},
    }
    summary = timelines.summary(document)
    assert summary["people"] == {"Collins": [(0.0, 3.0)], "Cameraman": [(4.0, 6.0)]}
    assert (summary["database"], summary["frames"], summary["frames_without_face"]) == ("abc", 6, 1)
    assert timelines.describe(summary) == "Collins 0-3 s, Cameraman 4-6 s, unknown 5-6 s; no face 3-4 s"
    assert timelines.describe(timelines.summary({"people": [], "no_face": [{"start_s": 0, "end_s": 2}]})) == (
        "nobody; no face 0-2 s"
    )


def timeline_json(people: dict[str, list[tuple[float, float]]], no_face=()) -> bytes:
    return json.dumps(
        {
            "answer": next(iter(people), "no-face"),
            "frames_analysed": 6,
            "frames_without_face": len(no_face),
            "interval_s": 1.0,
            "people": [{"name": n, "ranges": [{"start_s": a, "end_s": b} for a, b in r]} for n, r in people.items()],
            "unknown": {"frames": 0, "ranges": []},
            "no_face": [{"start_s": a, "end_s": b} for a, b in no_face],
            "database": {"version": "v1"},
        }
    ).encode()


def test_grade_judges_a_timeline_stack_against_labels(aws, s3, tmp_path, capsys):
    for bucket in ("input", "stage-1", "output"):
        s3.create_bucket(Bucket=f"t-{bucket}")
    people = {
        "two.mp4": ({"Collins": [(0.0, 3.0)], "Cameraman": [(4.0, 6.0)]}, [(3.0, 4.0)]),
        "one.mp4": ({"Collins": [(0.0, 2.0)], "Depp": [(2.0, 3.0)]}, []),  # Depp is not labelled
    }
    for video, (who, no_face) in people.items():
        stem = video[:-4]
        s3.put_object(Bucket="t-input", Key=video, Body=b"v")
        for key in (segments.frames_key(video, 0), segments.faces_key(video, 0)):  # its one segment
            s3.put_object(Bucket="t-stage-1", Key=key, Body=b"t")
        s3.put_object(Bucket="t-output", Key=f"{stem}.json", Body=timeline_json(who, no_face))
        s3.put_object(Bucket="t-output", Key=f"{stem}.txt", Body=b"Collins", Metadata={"face-db-version": "v1"})
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps(
            {
                "two.mp4": {"answer": "Collins", "people": {"Collins": [[0, 3]], "Cameraman": [[4, 6]]}},
                "one": ["Collins"],
            }
        )
    )
    code = grade.main(["--expect", str(labels), "--endpoint-url", aws, "--name-prefix", "t", "--analysis", "timeline"])
    printed = capsys.readouterr().out
    assert code == 1 and "PASSED: NO (failed: timelines as labelled" in printed.splitlines()[-1]
    assert "stage-1 only the uploads' segments: yes (4/4)" in printed
    assert "output exactly <stem>.txt and <stem>.json per upload: yes" in printed
    assert "Collins 0-3 s, Cameraman 4-6 s; no face 3-4 s" in printed
    assert "timelines as labelled (within one sampling interval): NO (1/2); per person:" in printed
    assert "  Depp: videos recall - (0/0), precision 0% (0/1)" in printed
    assert "  Collins: videos recall 100% (2/2), precision 100% (2/2); seconds: recall 100%, precision 100%" in printed

    # the same stack in first-frame terms: a .tar is not a frame, and .json objects are extra
    report = grade.grade(s3, workload.Buckets("t-input", "t-stage-1", "t-output"))
    assert report["stage1"]["missing"] == ["one.jpg", "two.jpg"] and report["output"]["extra"] == [
        "one.json",
        "two.json",
    ]
    assert "timeline_scores" not in report and "timelines_correct" not in report["checks"]

    # after the executions' Cleanup: no segment left in stage-1 passes too, and the table says why
    for video in people:
        for key in (segments.frames_key(video, 0), segments.faces_key(video, 0)):
            s3.delete_object(Bucket="t-stage-1", Key=key)
    s3.put_object(Bucket="t-stage-1", Key="stray.jpg", Body=b"j")  # anything else is still extra
    report = grade.grade(s3, workload.Buckets("t-input", "t-stage-1", "t-output"), analysis="timeline")
    assert report["stage1"]["missing"] == [] and report["stage1"]["extra"] == ["stray.jpg"]
    assert all(row[1] == "(deleted)" for row in grade_report.table_rows(report)[1:])
