"""The deployed stack's alarms evaluated on a local run: the table's evaluation on its own, then a fresh
local stack where a clean run fires nothing and a poisoned upload fires the dead-letter alarm."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from components import alarms as A
from components import topology
from components.settings import load_stack_file
from local.session import describe, run_videos
from local.stack import LocalStack, load_settings
from tools import enroll
from tools.demo import samples

STACK_FILE = """\
config:
  aws:region: us-east-1
  video-face-pipeline:namePrefix: vfp-alarms
  video-face-pipeline:maxRetryAttempts: "1"
"""


def settings(tmp_path: Path, extra: str = ""):
    path = tmp_path / "Pulumi.alarms.yaml"
    path.write_text(STACK_FILE + extra)
    return load_stack_file(path, check_files=False)


class Figures:
    """A MetricSource with given datapoints per (metric, role)."""

    def __init__(self, points: Mapping[tuple[str, str], Sequence[float | None]]):
        self.points = points

    def datapoints(self, alarm: A.Alarm) -> Sequence[float | None]:
        return self.points.get((alarm.metric, alarm.role), [])


def states(evaluations: list[A.Evaluation]) -> dict[tuple[str, str], str]:
    return {(e.alarm.metric, e.alarm.role): e.state for e in evaluations}


# -- the evaluation alone ------------------------------------------------------------------------


def test_no_data_is_not_breaching_so_an_idle_stack_alarms_nothing(tmp_path):
    evaluations = A.evaluate(A.alarms(settings(tmp_path)), Figures({}))
    assert evaluations and all(e.state == A.OK and e.value is None for e in evaluations)


def test_a_dead_letter_fires_its_queues_alarm_and_only_that(tmp_path):
    s = settings(tmp_path)
    points = {("ApproximateNumberOfMessagesVisible", topology.SPLITTER): [0.0, 1.0]}
    result = states(A.evaluate(A.alarms(s), Figures(points)))
    assert result.pop(("ApproximateNumberOfMessagesVisible", topology.SPLITTER)) == A.ALARM
    assert set(result.values()) == {A.OK}


def test_thresholds_and_evaluation_periods_come_from_the_settings(tmp_path):
    s = settings(
        tmp_path,
        '  video-face-pipeline:alarmErrorsThreshold: "2"\n'
        '  video-face-pipeline:alarmEvaluationPeriods: "2"\n'
        '  video-face-pipeline:recognizerTimeout: "10"\n',
    )
    alarms = A.alarms(s)
    by_metric = {(a.metric, a.role): a for a in alarms}
    assert by_metric[("Errors", topology.SPLITTER)].threshold == 2
    assert by_metric[("Duration", topology.RECOGNIZER)].threshold == 8000  # 80% of 10 s
    figures: dict[tuple[str, str], list[float | None]] = {
        ("Errors", topology.SPLITTER): [3.0, 0.0, 3.0],  # two bad periods, not in a row: no alarm
        ("Errors", topology.RECOGNIZER): [1.0, 3.0, 3.0],  # two in a row above 2
        ("Duration", topology.RECOGNIZER): [8000.0, None],  # at the threshold is not above it
    }
    result = states(A.evaluate(alarms, Figures(figures)))
    assert result[("Errors", topology.SPLITTER)] == A.OK
    assert result[("Errors", topology.RECOGNIZER)] == A.ALARM
    assert result[("Duration", topology.RECOGNIZER)] == A.OK
    # One datapoint (a local run summarised as one period) is judged on what there is.
    one = states(A.evaluate(alarms, Figures({("Errors", topology.SPLITTER): [3.0]})))
    assert one[("Errors", topology.SPLITTER)] == A.ALARM


def test_every_function_gets_each_alarm_in_both_wirings(tmp_path):
    for architecture in topology.ARCHITECTURES:
        s = settings(tmp_path, f"  video-face-pipeline:architecture: {architecture}\n")
        got = {(a.role, a.rule.key) for a in A.alarms(s)}
        per_function = {
            (role, rule.key) for role in topology.FUNCTIONS for rule in A.RULES if rule.watches in (A.FUNCTION, A.QUEUE)
        }
        # The library's topic and table: one alarm each, under the recognizer that writes them.
        library = {(topology.RECOGNIZER, rule.key) for rule in A.RULES if rule.watches in (A.TOPIC, A.TABLE)}
        assert got == per_function | library and len(library) == 3
        assert len({a.name for a in A.alarms(s)}) == len(got)


# -- a local stack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model_dir):
    folder = tmp_path_factory.mktemp("alarms")
    for image, person in samples.PEOPLE.items():
        samples.write_image(image, folder / "faces" / person / f"{image}.png")
    embeddings, names, _ = enroll.enroll(enroll.from_folders(folder / "faces"), enroll.load_models(model_dir))
    db = enroll.save_database(folder / "face_db.pt", embeddings, names)
    (folder / "Pulumi.alarms.yaml").write_text(STACK_FILE)
    s = load_settings(folder / "Pulumi.alarms.yaml", db=db)
    with LocalStack(s, model_dir=model_dir, concurrency=1, log_dir=folder / "logs", retry_delay_s=0.2) as running:
        yield running


@pytest.mark.slow
def test_a_clean_run_fires_nothing_and_a_poisoned_upload_fires_the_dead_letter_alarm(stack, videos, tmp_path):
    s = stack.settings
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "clip.mp4").symlink_to(videos["astronaut"])
    report = run_videos(stack, [clean / "clip.mp4"], timeout_s=180, progress=False)
    assert report["local"]["succeeded"] == 1
    expected_names = [a.name for a in A.alarms(s)]  # the very entries the Pulumi component creates
    assert [e["name"] for e in report["alarms"]] == expected_names
    assert [e["name"] for e in report["alarms"] if e["state"] != A.OK] == []
    assert f"none of the stack's {len(expected_names)} alarms would have fired" in describe(report)

    poisoned = tmp_path / "poisoned"
    poisoned.mkdir()
    (poisoned / "good.mp4").symlink_to(videos["camera"])
    (poisoned / "poison.mp4").write_bytes(os.urandom(4096))
    report = run_videos(stack, [poisoned / "good.mp4", poisoned / "poison.mp4"], timeout_s=180, progress=False)
    assert set(report["local"]["failed"]) == {"poison.mp4"}
    fired = {e["name"]: e for e in report["alarms"] if e["state"] == A.ALARM}
    dead_letters = fired[f"vfp-alarms-{s.splitter.name}-dead-letters"]
    queue = stack.dead_letter_queues[topology.SPLITTER].rsplit("/", 1)[1]  # the queue the stack made
    assert dead_letters["dimensions"] == {"QueueName": queue} and dead_letters["value"] == 1
    # Its attempts failed too (1 retry: 2 errors); nothing of the recognizer's, which never saw it.
    assert fired[f"vfp-alarms-{s.splitter.name}-errors"]["value"] == s.max_retry_attempts + 1
    assert set(fired) == {f"vfp-alarms-{s.splitter.name}-dead-letters", f"vfp-alarms-{s.splitter.name}-errors"}
    text = describe(report)
    assert f"2 of the stack's {len(A.alarms(s))} would have fired" in text  # 10 on the functions, 3 on the library
    # The stack's CloudWatch holds the same alarms, in the state the run left them, and the
    # dashboard, as a client written for AWS finds them; the alarms notify the stack's topic.
    cloudwatch = stack.client("cloudwatch")
    states = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=expected_names)["MetricAlarms"]}
    assert {name for name, a in states.items() if a["StateValue"] == A.ALARM} == set(fired)
    assert {tuple(a["AlarmActions"]) for a in states.values()} == {(stack.outputs()["alarmTopicArn"],)}
    assert cloudwatch.list_dashboards()["DashboardEntries"][0]["DashboardName"] == "vfp-alarms-pipeline"
    assert (
        f"vfp-alarms-{s.splitter.name}-dead-letters: AWS/SQS ApproximateNumberOfMessagesVisible Maximum 1 > 0" in text
    )
