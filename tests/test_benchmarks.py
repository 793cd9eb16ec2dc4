"""The benchmark scripts still run: smallest options, checked on what they print, never on time."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import smooth_volume

from dblend.config import load
from dblend.errors import ConfigError
from dblend.io import write_array
from dblend.models.prior import PriorSpec
from dblend.train import train_prior

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NUMBER = r"\d+(?:\.\d+)?"
CONFIGS = ("--config", str(BENCHMARKS.parent / "config" / "config.yaml"))
TINY_CONFIG = BENCHMARKS.parent / "config" / "test" / "tiny.yaml"


def run_benchmark(
    name: str, *options: str, device: str | None = "cpu"
) -> subprocess.CompletedProcess:
    """Run a benchmark by path, with this checkout's package first on the import path (and
    ``--device``, unless None: the planning benchmark runs no torch)."""
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)}
    device_option = ["--device", device] if device else []
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *device_option, *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def run_script(name: str, *options: str, device: str | None = "cpu") -> str:
    """The output of a benchmark that must succeed."""
    done = run_benchmark(name, *options, device=device)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sampling_speed_prints_both_tables_and_ratios():
    out = run_script(
        "sampling_speed.py",
        *("--network", "tiny", "--size", "16", "--slices", "9", "--steps", "2"),
        *("--warmup", "0", "--repeats", "1", "--operator-repeats", "1"),
    )
    assert "torch threads 1" in out and "device: cpu" in out
    assert f"from {BENCHMARKS.parent / 'dblend'}" in out, "measures this checkout's package"
    rows = {
        label: re.search(rf"^{re.escape(label)}\s+(\d)-slice tiny .*$", out, re.M)
        for label in ("DiffusionBlend++", "DDS")
    }
    assert rows["DiffusionBlend++"] and rows["DiffusionBlend++"].group(1) == "3"
    assert rows["DDS"] and rows["DDS"].group(1) == "1"
    # DDS sends every slice through the network each step; DB++ a patch per 3 slices or so
    assert rows["DDS"].group(0).split()[4] == "9.0"
    assert re.search(r"^torch sparse matrix \(cpu\)\s+" + NUMBER, out, re.M)
    assert re.search(r"^ASTRA CPU 'linear' create_sino \+ create_backprojection\s", out, re.M)
    agreement = re.search(rf"forward ({NUMBER}e[-+]\d+), adjoint ({NUMBER}e[-+]\d+)", out)
    assert agreement and max(float(agreement[1]), float(agreement[2])) < 1e-4
    assert re.search(rf"DB\+\+ / DDS seconds per sampling step: {NUMBER} \(goal: <= 0.5\)", out)
    assert re.search(rf"torch operator / ASTRA CPU \(forward \+ adjoint\): {NUMBER}", out)


def test_train_throughput_prints_one_row_per_network_and_switches():
    out = run_script(
        "train_throughput.py",
        *("--networks", "tiny", "--size", "16", "--slices", "9", "--crop", "0"),
        *("--steps", "1", "--warmup", "1", "--batch-size", "2"),
        *("--switches", "channels_last,fused_optimizer", "--peak-tflops", "0.001"),
    )
    assert "batch 2 patches of 16 x 16" in out
    assert "utilisation against 0.001 TFLOP/s (--peak-tflops)" in out
    row = re.search(
        rf"^tiny / channels_last,fused_optimizer\s+({NUMBER})M\s+({NUMBER})\s+({NUMBER})\s+"
        rf"({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\d+)\s+(\d+)\s+-$",
        out,
        re.M,
    )
    assert row, out
    params, gflop, seconds, rate, tflops, mfu, loss = map(float, row.groups()[:7])
    assert params > 0 and gflop > 0 and seconds > 0 and rate > 0 and loss > 0
    assert tflops == pytest.approx(gflop / 1e3 / seconds, rel=0.02)
    assert mfu == pytest.approx(100 * tflops / 0.001, rel=0.02)
    assert "skipped on CPU" not in out, "paper is skipped only when no networks are named"


def test_train_throughput_switches_are_config_keys(monkeypatch):
    module = _load("train_throughput.py", monkeypatch)
    assert module.parse_switches("defaults") == {}
    assert module.parse_switches("compile, precision=fp32") == {
        "compile": True,
        "precision": "fp32",
    }
    config = load(CONFIGS[1])
    switched = module.apply_switches(config, "patch", "tiny", {"fused_optimizer": True})
    assert switched["priors"]["patch"]["training"]["fused_optimizer"] is True
    assert config["priors"]["patch"]["training"]["fused_optimizer"] is False, "a copy is switched"
    with pytest.raises(ConfigError, match=r"priors\.patch\.training\.precision: 'fp16'"):
        module.apply_switches(config, "patch", "tiny", {"precision": "fp16"})
    with pytest.raises(ConfigError, match=r"'no_such_switch' was unexpected"):
        module.apply_switches(config, "patch", "tiny", {"no_such_switch": True})


def test_train_throughput_counts_flops_and_knows_peaks(monkeypatch):
    module = _load("train_throughput.py", monkeypatch)
    config = load(CONFIGS[1])
    spec = PriorSpec.from_config(config["priors"]["patch"], config["networks"]["tiny"], 16)
    assert module.step_flops(spec, 2, 16) == 2 * module.step_flops(spec, 1, 16) > 0
    assert module.peak_tflops(torch.device("cpu"), 123.0) == (123.0, "--peak-tflops")
    assert module.peak_tflops(torch.device("cpu"), None)[0] is None
    assert module.PEAK_BF16_TFLOPS["H200"] == module.PEAK_BF16_TFLOPS["H100"] == 989.0


def test_volume_reconstruction_prints_both_precisions_and_ratios():
    out = run_script(
        "volume_reconstruction.py",
        *("--network", "tiny", "--size", "16", "--slices", "9", "--steps-scale", "0.02"),
    )
    assert "9 x 16 x 16; task sv8 (sparse_view, 8 views)" in out and "random weights" in out
    rows = {
        (m[1], m[2]): m.groups()[2:]
        for m in re.finditer(
            rf"^(DiffusionBlend\+\+|DDS)\s+(fp32|bf16)\s+{NUMBER}M\s+(\d+)\s+({NUMBER})\s+"
            rf"({NUMBER})\s+({NUMBER})\*\s+(\d+)\s+\d+\s+-\s+({NUMBER})$",
            out,
            re.M,
        )
    }
    assert set(rows) == {(m, p) for m in ("DiffusionBlend++", "DDS") for p in ("fp32", "bf16")}
    for method, steps, config_steps in (("DiffusionBlend++", 4, 200), ("DDS", 1, 50)):
        run, seconds, per_step, per_volume, configured, _ = rows[method, "fp32"]
        assert (int(run), int(configured)) == (steps, config_steps)
        assert float(seconds) == pytest.approx(float(per_step) * steps, abs=0.01)
        expected = float(per_step) * config_steps  # printed to 0.1 s, s/step to 0.1 ms
        assert float(per_volume) == pytest.approx(expected, rel=0.01, abs=0.06)
    for label in ("DiffusionBlend++", "DDS"):
        gap = re.search(rf"^  {re.escape(label)}: PSNR bf16 - fp32 ([-+]{NUMBER}) dB", out, re.M)
        assert gap and abs(float(gap[1])) < 0.5
    assert re.search(rf"^  DDS / DB\+\+ seconds per volume, bf16: {NUMBER}$", out, re.M)


def _load(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), BENCHMARKS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize(
    "name",
    [
        "sampling_speed.py",
        "train_throughput.py",
        "cone_operator.py",
        "volume_reconstruction.py",
        "step_profile.py",
    ],
)
def test_cuda_without_cuda_is_refused_plainly(name, monkeypatch, capsys):
    module = _load(name, monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--device", "cuda"])
    assert exit_info.value.code == 2
    assert re.fullmatch(
        rf"{name}: error: device 'cuda' was asked for, but torch sees no CUDA GPU.*\n",
        capsys.readouterr().err,
    )


def test_paper_network_runs_on_cpu_only_when_named(monkeypatch):
    choose = _load("train_throughput.py", monkeypatch).choose_networks
    known, cpu, cuda = ["tiny", "small", "paper"], torch.device("cpu"), torch.device("cuda")
    assert choose(known, None, cpu) == (["tiny", "small"], ["paper"])
    assert choose(known, ["paper", "tiny", "paper"], cpu) == (["paper", "tiny"], [])
    assert choose(known, None, cuda) == (known, [])


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Both priors of the tiny config, trained one step on a 16 x 16 x 9 volume, and the volume."""
    root = tmp_path_factory.mktemp("denoising")
    config = load(CONFIGS[1], TINY_CONFIG)
    volume = smooth_volume(9, 16)
    paths = {"volume": root / "volume.h5"}
    write_array(paths["volume"], volume.numpy(), {})
    for name in ("slice", "patch"):
        settings = config["priors"][name]
        spec = PriorSpec.from_config(settings, config["networks"][settings["network"]], 16)
        paths[name] = root / f"{name}.pt"
        training = {**settings["training"], "steps": 1, "seed": 0}
        train_prior(spec, training, [volume], [], paths[name], torch.device("cpu"))
    return paths


def test_prior_denoising_prints_every_prior_and_spacing(tiny_checkpoints):
    paths = tiny_checkpoints
    out = run_script(
        "prior_denoising.py",
        *(*CONFIGS, "--config", str(TINY_CONFIG)),
        *("--prior", f"slice={paths['slice']}", "--prior", f"patch={paths['patch']}"),
        *("--volume", str(paths["volume"]), "--timesteps", "50,500"),
    )
    # a spacing-3 triplet reaches 3 slices each way: 9 slices leave 3 centres
    assert "1 volume(s), 3 slices" in out
    errors = {
        (m[1], m[2]): (float(m[3]), float(m[4]))
        for m in re.finditer(rf"^(slice|patch)\s+(\d)\s+({NUMBER}\S*)\s+({NUMBER}\S*)$", out, re.M)
    }
    assert set(errors) == {("slice", "1"), ("patch", "1"), ("patch", "3")}
    assert all(value > 0 for pair in errors.values() for value in pair)
    ratio_rows = out.split("ratio to slice (spacing 1)")[1]
    assert re.search(rf"^patch\s+1\s+{NUMBER}\s+{NUMBER}$", ratio_rows, re.M)


def test_prior_denoising_refuses_a_checkpoint_of_another_prior(tiny_checkpoints):
    done = run_benchmark(
        "prior_denoising.py",
        *(*CONFIGS, "--config", str(TINY_CONFIG)),
        *("--prior", f"slice={tiny_checkpoints['patch']}"),
        *("--volume", str(tiny_checkpoints["volume"])),
    )
    assert done.returncode == 2
    assert "prior_denoising.py: error:" in done.stderr
    assert "trained for another prior config" in done.stderr and "slices" in done.stderr


def test_cone_operator_on_cpu_is_refused_before_astras_3d_code():
    done = run_benchmark("cone_operator.py")
    assert done.returncode == 2, done.stderr
    assert "cone_operator.py: error: cone-beam tasks need ASTRA's CUDA projectors" in done.stderr


def test_gpu_session_keeps_to_its_budget(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(BENCHMARKS.parent),
        "PYTHON": sys.executable,
        "OUT": str(tmp_path),
        "BUDGET": "0",
    }
    done = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_session.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # the setup imports torch and the package: slow on a loaded machine
    )
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "session.log").read_text()
    for step in ("train_defaults", "volume", "train_switches", "train_layout"):
        assert re.search(rf"^\[\d+ s\] {step}: skipped, -?\d+ s of the budget left$", log, re.M)
    assert f"dblend from {BENCHMARKS.parent / 'dblend'}" in (tmp_path / "setup.txt").read_text()


def test_gpu_session_stops_when_the_benchmarks_cannot_import(tmp_path):
    env = {**os.environ, "PYTHON": "false", "OUT": str(tmp_path)}  # a python that always fails
    done = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_session.sh")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    log = (tmp_path / "session.log").read_text()
    assert "setup failed: benchmarks/train_throughput.py cannot import what it needs" in log
    assert "train_defaults" not in log


@pytest.mark.parametrize("in_channels", ["3", "1"])
def test_adm_conversion_prints_equal_epsilons_for_every_case(tmp_path, in_channels):
    overlay = tmp_path / "adm.yaml"
    network = {
        "channels": [32, 64],
        "attention": [False, True],
        "norm_groups": 32,
        "attention_head_dim": 32,
        "layout": "adm",
    }
    overlay.write_text(yaml.safe_dump({"networks": {"tiny_adm": network}}))
    out = run_script(
        "adm_conversion.py",
        *(*CONFIGS, "--config", str(overlay), "--network", "tiny_adm"),
        *("--in-channels", in_channels, "--size", "16"),
    )
    cases = re.findall(rf"^(.+?)\s+({NUMBER}e[-+]\d+)\s+({NUMBER})$", out, re.M)
    assert len(cases) == (4 if in_channels == "3" else 1), out
    for case, difference, largest in cases:
        assert float(difference) < 1e-5 and float(largest) > 0.01, case


def test_cg_convergence_prints_every_count_and_its_gain(tiny_checkpoints):
    out = run_script(
        "cg_convergence.py",
        *(*CONFIGS, "--config", str(TINY_CONFIG)),
        *("--prior", f"slice={tiny_checkpoints['slice']}"),
        *("--volume", str(tiny_checkpoints["volume"]), "--first", "2", "--slices", "4"),
        *("--methods", "dds", "--cg-iters", "1", "2"),
    )
    assert "slices 2 to 5; task sv8 (sparse_view)" in out
    scores = {
        m[1]: float(m[2])
        for m in re.finditer(
            rf"^DDS \(tuned\)\s+(\d+)(?: \(configured\))?\s+({NUMBER})\s+-?{NUMBER}\s+-?{NUMBER}"
            rf"\s+{NUMBER}$",
            out,
            re.M,
        )
    }
    assert set(scores) == {"1", "2", "5"}  # the configured 5 is always run
    assert re.search(r"^DDS \(tuned\)\s+5 \(configured\)", out, re.M)
    for iters, value in scores.items():
        gain = re.search(rf"^  DDS \(tuned\): {iters} CG ([-+]{NUMBER}) dB$", out, re.M)
        assert gain and float(gain[1]) == pytest.approx(value - scores["5"], abs=0.011)


def test_cg_convergence_refuses_a_slab_beyond_the_volume(tiny_checkpoints):
    done = run_benchmark(
        "cg_convergence.py",
        *(*CONFIGS, "--config", str(TINY_CONFIG)),
        *("--prior", f"slice={tiny_checkpoints['slice']}", "--first", "6"),
        *("--volume", str(tiny_checkpoints["volume"]), "--slices", "4"),
    )
    assert done.returncode == 2
    assert f"{tiny_checkpoints['volume']}: slices 6 to 9 asked for, but it has 9" in done.stderr


def test_planning_times_each_config_and_counts_its_jobs(tmp_path):
    options = ("--workdir", str(tmp_path), "--configfile", str(TINY_CONFIG), "--repeats", "2")
    out = run_script("planning.py", *options, device=None)
    row = re.search(
        rf"^{re.escape(str(TINY_CONFIG))}\s+(\d+)\s+({NUMBER})\s+({NUMBER})$", out, re.M
    )
    assert row, out
    jobs, median, fastest = int(row[1]), float(row[2]), float(row[3])
    assert jobs > 20 and 0 < fastest <= median  # the tiny chain: phantoms, priors, recons...


def test_step_profile_splits_both_steps_into_kinds_that_add_up():
    out = run_script(
        "step_profile.py",
        *(*CONFIGS, "--config", str(TINY_CONFIG), "--size", "16", "--slices", "9"),
        *("--train-steps", "1", "--sampling-steps", "1"),
    )
    gemm = float(re.search(rf"matrix product: ({NUMBER}) GFLOP/s", out).group(1))
    assert gemm > 0
    sections = re.findall(
        rf"^(training prior 'patch', 1 steps|sampling diffusionblend_pp on 9 x 16 x 16, 1 steps): "
        rf"({NUMBER}) s\n(.*?)\nconvolutions: ({NUMBER}) GFLOP at ({NUMBER}) GFLOP/s, "
        rf"({NUMBER})% of",
        out,
        re.M | re.S,
    )
    assert len(sections) == 2, out
    for _, wall, rows, gflop, rate, share in sections:
        kinds = dict(re.findall(rf"^(\w[\w ,()]*?)\s+({NUMBER})\s+{NUMBER}$", rows, re.M))
        assert "convolution" in kinds and float(gflop) > 0 and float(rate) > 0
        assert sum(map(float, kinds.values())) == pytest.approx(float(wall), rel=0.02, abs=5e-3)
        assert float(share) == pytest.approx(100 * float(rate) / gemm, abs=1)


def test_step_profile_sorts_operators_into_kinds(monkeypatch):
    kind_of = _load("step_profile.py", monkeypatch).kind_of
    assert kind_of("aten::mkldnn_convolution") == kind_of("aten::convolution_backward")
    assert kind_of("aten::convolution_backward") == "convolution"
    assert kind_of("aten::silu_backward") == "normalisation and activation"
    assert kind_of("aten::addmm") == kind_of("aten::mm") == "matrix products"
    assert (
        kind_of("aten::addcdiv_") == kind_of("Optimizer.step#AdamW.step") == "other torch operators"
    )
    assert kind_of("aten::copy_") == "copies and layout"
