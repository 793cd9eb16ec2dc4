"""Loss curves of the priors: the `dblend loss-figure` command and the report's Training section."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from dblend.cli import main
from dblend.report.html import TrainingCurve, training_caption, write_report

HISTORY = "step,loss,validation_loss\n2,1.25,\n4,0.5,0.75\n6,0.25,\n"


def loss_csv(tmp_path: Path, text: str = HISTORY) -> Path:
    path = tmp_path / "patch.loss.csv"
    path.write_text(text)
    return path


def test_loss_figure_command_writes_a_png_and_nothing_else(tmp_path):
    out = tmp_path / "figure" / "patch.loss.png"
    argv = ["loss_figure", "--loss-csv", str(loss_csv(tmp_path)), "--title", "patch", "--out"]
    assert main([*argv, str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in out.parent.iterdir()] == [out.name], "no partial file left behind"


def test_caption_gives_steps_and_last_losses():
    curve = TrainingCurve("patch", "demo", Path("unused.csv"), Path("unused.png"))
    caption = training_caption(curve, pd.read_csv(io.StringIO(HISTORY)))
    assert caption.startswith("Training loss of prior <code>patch</code> on data set")
    assert "over its\n6 steps" in caption
    assert caption.endswith("Final training loss 0.25, final validation loss 0.75.")


def test_caption_says_when_no_validation_loss_was_logged():
    curve = TrainingCurve("slice", "demo", Path("unused.csv"), Path("unused.png"))
    history = pd.DataFrame({"step": [5, 10], "loss": [0.5, 0.4]})
    assert "final validation loss not logged" in training_caption(curve, history)


def test_report_embeds_each_curve_in_a_training_section(tmp_path):
    csv = loss_csv(tmp_path)
    figure = tmp_path / "patch.loss.png"
    assert main(["loss_figure", "--loss-csv", str(csv), "--title", "t", "--out", str(figure)]) == 0
    out = tmp_path / "report.html"
    write_report({}, out, [TrainingCurve("patch", "demo", csv, figure)])
    page = out.read_text()
    assert "<h2>Training</h2>" in page
    assert page.count("data:image/png;base64,") == 1
    assert "prior <code>patch</code> on data set\n<code>demo</code> over its\n6 steps" in page
