"""bench/timeline_plan.py's arithmetic at the default settings: a 1-hour and a 6-hour video's
segments, rounds, transitions and prices, and the figures it reads from a run's function logs."""

from __future__ import annotations

import json

import pytest

from bench import timeline_plan as tp
from components.project import DEFAULT_STACK_FILE
from components.settings import load_stack_file


@pytest.fixture(scope="module")
def settings():
    return load_stack_file(DEFAULT_STACK_FILE, check_files=False)


def test_an_hour_and_six_at_the_defaults(settings):
    m = tp.Measured(sample_s=2.0, recognise_frame_s=0.2, frames_per_segment=60, merge_s=0.3)
    hour, six = tp.video(1, m, settings), tp.video(6, m, settings)
    assert (hour["segments"], hour["rounds"], hour["transitions"]) == (60, 2, 125)
    assert (six["segments"], six["rounds"], six["transitions"]) == (360, 9, 725)
    assert hour["rekognition"] == pytest.approx(6.0) and six["rekognition"] == pytest.approx(36.0)
    assert hour["step_functions"] == pytest.approx(125 * 0.025 / 1000)
    # one round: sample + 60 frames on the CPU share 1,024 MB buys
    share = tp.cpu_share(1024)
    assert hour["segment_s"] == pytest.approx(2.0 / share + 60 * 0.2 / share)
    assert hour["time_to_timeline_s"] == pytest.approx(tp.START_S + tp.COLD_START_S + 2 * hour["segment_s"] + 0.3)
    assert six["lambda"] == pytest.approx(6 * hour["lambda"], rel=0.02)
    assert "| 1 h | 60 | 2 |" in tp.report(m, settings)


def test_the_figures_come_from_the_functions_log_lines(tmp_path):
    def line(message: str, **facts) -> str:
        return json.dumps({"level": "INFO", "message": message, **facts})

    (tmp_path / "video-splitting.log").write_text(
        "START RequestId: x\n" + "\n".join(line("segment sampled", ms=ms, frames=60) for ms in (1000, 3000, 2000))
    )
    (tmp_path / "face-recognition.log").write_text(
        "\n".join([line("segment recognised", frames=60, ms={"total": 12000.0}), line("timeline merged", ms=250.0)])
    )
    m = tp.measured(tmp_path)
    assert (m.sample_s, m.recognise_frame_s, m.frames_per_segment, m.merge_s) == (2.0, 0.2, 60, 0.25)
    (tmp_path / "face-recognition.log").write_text("")
    with pytest.raises(ValueError, match="no `segment sampled`"):
        tp.measured(tmp_path)
