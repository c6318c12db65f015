"""`python -m local demo`'s arguments: what only makes sense with --videos is refused without them,
with the documented exit status 2 and a message, before anything is built or started."""

from __future__ import annotations

import pytest

from local.__main__ import main


@pytest.mark.parametrize(
    "argv, named",
    [
        (["demo", "--db", "out/none.pt"], "--db needs --videos"),
        (["demo", "--expect", "course"], "--expect needs --videos"),
        (["demo", "--db", "x.pt", "--expect", "course"], "--db and --expect need --videos"),
    ],
)
def test_demo_refuses_what_needs_videos_without_them(argv, named, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: no demo folder, no logs
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"local: demo: {named}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
