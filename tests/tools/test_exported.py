"""tools/exported.py: the one place a command turns `--model-dir` or `--torch-home` into the folder
of exported models that everything after it takes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components.project import DEFAULT_TORCH_HOME
from local.stack import load_settings
from tools import exported
from tools.modelbuild import weights


def parse(argv: list[str], *, torch_home_default: Path | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    exported.add_arguments(parser, torch_home_default=torch_home_default, torch_home_help="weights")
    return parser.parse_args(argv)


def test_either_flag_names_the_same_export(model_dir, torch_home):
    assert exported.resolve(parse(["--torch-home", str(torch_home)])) == model_dir  # cached, not exported again
    assert exported.resolve(parse(["--model-dir", str(model_dir)])) == model_dir
    with pytest.raises(SystemExit):
        parse(["--model-dir", str(model_dir), "--torch-home", str(torch_home)])


def test_without_a_flag_the_weights_are_torch_home_then_the_default(monkeypatch, model_dir, torch_home):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    assert exported.resolve(parse([])) == model_dir
    # local and bench default to data/torch and never write a stand-in into the user's $TORCH_HOME
    assert exported.torch_home(parse([], torch_home_default=DEFAULT_TORCH_HOME)) == DEFAULT_TORCH_HOME
    monkeypatch.delenv("TORCH_HOME")
    assert exported.torch_home(parse([])) == DEFAULT_TORCH_HOME


def test_what_is_missing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"--model-dir {tmp_path}: no manifest.json there"):
        exported.resolve(parse(["--model-dir", str(tmp_path)]))
    with pytest.raises(FileNotFoundError, match="no vggface2 weights at"):
        exported.resolve(parse(["--torch-home", str(tmp_path)]))
    assert not list(tmp_path.iterdir())  # nothing invented without stand_in


def test_the_folder_says_it_came_from_the_stand_in(model_dir, torch_home):
    assert exported.untrained(model_dir)
    assert f"UNTRAINED WEIGHTS: {weights.checkpoint_path(torch_home)} is a stand-in" in exported.banner(model_dir)


def test_a_stack_gets_the_export_for_its_precision(tmp_path, model_dir, torch_home):
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text("config:\n  aws:region: us-east-1\n  video-face-pipeline:namePrefix: vfp-x\n")
    settings = load_settings(stack_file, db=Path("live"))  # the live database: no file
    assert settings.recognizer_precision == "fp32"
    assert exported.for_stack(parse(["--torch-home", str(torch_home)]), settings) == model_dir
