"""Faults a user meets, each reproduced with tiny real files through the `dblend` command (or
Snakemake) in a subprocess.

Every refusal must exit with status 2 and end stderr with one line, `dblend <command>: error:
...`, naming the file or value and what was expected, without a traceback; and it must leave no
output that looks finished (nor a temporary file beside it). Damaged bytes, non-finite arrays,
wrong checkpoints, non-CT DICOM, unwritable folders, a full disk and bad device names are each
made here for real; plan-time refusals run Snakemake on the repository's own Snakefile.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from dicom_factory import write_rtstruct, write_series
from pydicom.uid import MRImageStorage, PositronEmissionTomographyImageStorage

from dblend.cli import main
from dblend.config import load
from dblend.data.phantoms import thorax_phantom
from dblend.io import read_array, write_array
from dblend.models.checkpoint import read_checkpoint, save_checkpoint
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.train import TrainingRun, resume_path, run_identity, train_prior

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load(ROOT / "config" / "config.yaml", ROOT / "config" / "test" / "tiny.yaml")
TASK = CONFIG["tasks"]["sv8"]
PRIOR, SLICE_PRIOR = CONFIG["priors"]["patch"], CONFIG["priors"]["slice"]
NETWORK = CONFIG["networks"][PRIOR["network"]]
SIZE = CONFIG["datasets"]["tiny"]["size"]
TRAINING = {**PRIOR["training"], "steps": 1, "seed": 0}
NAN_BITS = np.float32(np.nan).tobytes()


def dblend(*args: object, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """The dblend command in a subprocess (this interpreter, so this checkout's code)."""
    command = [sys.executable, "-m", "dblend.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, preexec_fn=preexec)


def assert_refused(result: subprocess.CompletedProcess, command: str, *named: str) -> str:
    """Exit status 2 and a last stderr line that is the whole error, matching each of ``named``."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"dblend {command}: error: "), result.stderr[-3000:]
    for pattern in named:
        assert re.search(pattern, line), (pattern, line)
    return line


def assert_nothing_left(out: Path, *also: Path) -> None:
    """No output at ``out`` (nor at ``also``), and no temporary file beside it."""
    for path in (out, *also):
        assert not path.exists(), f"{path} looks finished"
    if out.parent.is_dir():
        assert not list(out.parent.glob(f".{out.name}.*")), "temporary file left behind"


def named(path: Path) -> str:
    return re.escape(str(path))


def simulate(volume: Path, out: Path, device: str = "cpu", **run) -> subprocess.CompletedProcess:
    task = json.dumps(TASK)
    options = ("--seed", 0, "--device", device, "--out", out)
    return dblend("simulate", "--volume", volume, "--task", task, *options, **run)


def reconstruct_args(method: str, sinogram: Path, out: Path, *prior: object) -> list[str]:
    settings = json.dumps(CONFIG["methods"][method])
    options = ("--device", "cpu", "--seed", 0, "--out", out)
    words = ["reconstruct", "--method-name", method, "--method", settings, "--sinogram", sinogram]
    return [str(word) for word in (*words, *prior, *options)]


def train(prior: dict, volumes: list[Path], out: Path, **run) -> subprocess.CompletedProcess:
    setup = ("--prior", json.dumps(prior), "--network", json.dumps(NETWORK), "--volumes")
    options = ("--device", "cpu", "--seed", 0, "--out", out, "--loss-csv", loss_csv(out))
    return dblend("train_prior", *setup, *volumes, *options, **run)


def loss_csv(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".loss.csv")


def write_unchecked(path: Path, data: np.ndarray, attrs: dict | None = None) -> None:
    """An array file in dblend's layout, contiguous and without a checksum (as dblend wrote
    them before), holding whatever ``data`` holds: write_array would refuse NaN."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=data.astype(np.float32))
        for key, value in (attrs or {"source": "test"}).items():
            handle.attrs[key] = json.dumps(value)


def rewrite(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes inside a file, keeping its size (damage, not truncation)."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A volume, its sinogram, FBP reconstruction and its metrics, and two finished priors."""
    folder = tmp_path_factory.mktemp("made")
    made = {name: folder / f"{name}.h5" for name in ("volume", "sinogram", "recon")}
    write_array(made["volume"], thorax_phantom(size=SIZE, slices=13, seed=0), {"source": "test"})
    task = json.dumps(TASK)
    assert main(["simulate", "--volume", str(made["volume"]), "--task", task, "--seed", "0",
                 "--device", "cpu", "--out", str(made["sinogram"])]) == 0  # fmt: skip
    assert main(reconstruct_args("fbp", made["sinogram"], made["recon"])) == 0
    made["metrics"] = folder / "metrics.csv"
    labels = json.dumps({"dataset": "tiny", "task": "sv8", "method": "fbp", "volume": "v"})
    assert main(["evaluate", "--truth", str(made["volume"]), "--recon", str(made["recon"]),
                 "--labels", labels, "--out", str(made["metrics"])]) == 0  # fmt: skip
    volume = torch.from_numpy(read_array(made["volume"])[0])
    for name, prior in (("patch", PRIOR), ("slice", SLICE_PRIOR)):
        made[name] = folder / f"{name}.pt"
        spec = PriorSpec.from_config(prior, NETWORK, image_size=SIZE)
        train_prior(spec, TRAINING, [volume], [], made[name], torch.device("cpu"))
    return made


# Non-finite numbers: refused where an array enters a stage, naming the file and the count.


def test_simulate_refuses_a_volume_with_nan_and_inf(files, tmp_path):
    volume, out = tmp_path / "volume.h5", tmp_path / "sinogram.h5"
    data = read_array(files["volume"])[0]
    data[2, 5, 5], data[3, 1, 1], data[4, 7, 7] = np.nan, np.inf, -np.inf
    write_unchecked(volume, data)
    result = simulate(volume, out)
    message = f"3 of {data.size} values are NaN or infinite"
    assert_refused(result, "simulate", named(volume), message)
    assert_nothing_left(out)


def test_training_refuses_a_volume_with_one_nan_voxel(files, tmp_path):
    volume, out = tmp_path / "volume.h5", tmp_path / "prior.pt"
    data = read_array(files["volume"])[0]
    data[6, 16, 16] = np.nan
    write_unchecked(volume, data)
    result = train(PRIOR, [files["volume"], volume], out)
    assert_refused(result, "train_prior", named(volume), "1 of .* are NaN or infinite")
    assert_nothing_left(out, loss_csv(out), resume_path(out))


def test_a_sinogram_damaged_into_nan_is_not_reconstructed(files, tmp_path):
    """The reported case: bytes of an unchecksummed sinogram overwritten, its size unchanged."""
    sinogram, out = tmp_path / "sinogram.h5", tmp_path / "recon.h5"
    data, attrs = read_array(files["sinogram"])
    write_unchecked(sinogram, data, attrs)
    with h5py.File(sinogram) as handle:
        offset = handle["data"].id.get_offset()
    row = data.shape[-1]
    rewrite(sinogram, offset + 4 * data[0].size, NAN_BITS * row)  # one detector row of slice 1
    result = dblend(*reconstruct_args("fbp", sinogram, out))
    assert_refused(result, "reconstruct", named(sinogram), f"{row} of {data.size} values")
    assert_nothing_left(out)


def test_evaluate_refuses_a_reconstruction_with_nan(files, tmp_path):
    recon, out = tmp_path / "recon.h5", tmp_path / "metrics.csv"
    data = read_array(files["recon"])[0]
    data[1] = np.nan
    write_unchecked(recon, data)
    labels = json.dumps({"dataset": "tiny", "task": "sv8", "method": "fbp", "volume": "v"})
    result = dblend("evaluate", "--truth", files["volume"], "--recon", recon, "--labels", labels,
                    "--out", out)  # fmt: skip
    assert_refused(result, "evaluate", named(recon), f"{data[1].size} of {data.size} values")
    assert_nothing_left(out)


# Damaged files: the arrays' checksum, and h5py's errors on reading a broken structure.


def test_damaged_bytes_that_still_decode_fail_the_checksum(files, tmp_path):
    sinogram, out = Path(shutil.copy(files["sinogram"], tmp_path)), tmp_path / "recon.h5"
    with h5py.File(sinogram) as handle:
        offset = handle["data"].id.get_chunk_info(0).byte_offset
    rewrite(sinogram, offset + 64, np.float32(0.5).tobytes())  # finite and plausible
    result = dblend(*reconstruct_args("fbp", sinogram, out))
    assert_refused(result, "reconstruct", named(sinogram), "damaged HDF5 file")
    assert_nothing_left(out)


def test_a_damaged_internal_structure_is_named(files, tmp_path):
    """A broken chunk index: the file opens, and h5py fails only when the array is read."""
    volume, out = Path(shutil.copy(files["volume"], tmp_path)), tmp_path / "sinogram.h5"
    raw = volume.read_bytes()
    index = raw.find(b"TREE", raw.find(b"TREE") + 1)  # the array's chunk B-tree (the 2nd)
    assert index > 0
    rewrite(volume, index, b"XXXX")
    result = simulate(volume, out)
    assert_refused(result, "simulate", named(volume), "damaged HDF5 file")
    assert_nothing_left(out)


# Tables never average over fewer volumes than they say.


def tables(metrics: list[Path], out_dir: Path) -> subprocess.CompletedProcess:
    labels = json.dumps({"fbp": "FBP"})
    run = ("--run-name", "faults", "--config-section", json.dumps({"methods": ["fbp"]}))
    return dblend(
        "experiment_tables", "--metrics", *metrics, "--labels", labels, "--out-dir", out_dir, *run
    )


def test_tables_refuse_metrics_with_empty_cells(files, tmp_path):
    """evaluate used to write empty PSNR/SSIM cells for a NaN slice, which tables skipped."""
    empty = tmp_path / "empty.csv"
    pd.read_csv(files["metrics"]).assign(psnr=None).to_csv(empty, index=False)
    result = tables([files["metrics"], empty], tmp_path / "tables")
    assert_refused(result, "experiment_tables", named(empty), "3 values are NaN or infinite")
    assert not (tmp_path / "tables").exists()


def test_one_volume_is_shown_as_n_1_not_as_a_zero_std(files, tmp_path):
    out_dir = tmp_path / "tables"
    result = tables([files["metrics"]], out_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = (out_dir / "summary.md").read_text()
    assert summary.count("(n = 1)") == 2 * 4, "PSNR and SSIM of three planes and the volume"
    assert "± 0.00" not in summary
    assert set(pd.read_csv(out_dir / "summary.csv")["volumes"]) == {1}


# Checkpoints: only a finished prior of the expected network, with finite weights, is sampled.


def wrong_checkpoint(files: dict[str, Path], path: Path, change: str) -> None:
    """A checkpoint made wrong in one way, through torch itself (as a user could)."""
    if change == "resume state":  # what an interrupted training run leaves, saved by dblend
        spec = PriorSpec.from_config(PRIOR, NETWORK, image_size=SIZE)
        volume = torch.from_numpy(read_array(files["volume"])[0])
        state = TrainingRun(ScorePrior(spec), TRAINING, torch.device("cpu")).state()
        save_checkpoint(path, {**run_identity(spec.to_dict(), TRAINING, [volume], []), **state})
        return
    state = read_checkpoint(files["patch"])
    if change == "no spec":
        del state["spec"]
    elif change == "swapped weights":
        state["ema_weights"] = read_checkpoint(files["slice"])["ema_weights"]
    elif change == "pickled object":
        state["made"] = datetime.datetime(2024, 1, 1)
    elif change == "nan weight":
        next(iter(state["ema_weights"].values())).view(-1)[0] = float("nan")
    torch.save(state, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("resume state", "the resume state of an unfinished training run, not a prior"),
        ("no spec", "no spec inside; expected a finished prior checkpoint"),
        ("swapped weights", r"weights do not fit the network .*; weights of another prior\?"),
        ("pickled object", "a pickled datetime.datetime; dblend loads only tensors"),
        ("nan weight", r"1 of \d+ values in its tensors are NaN or infinite"),
    ],
)
def test_wrong_checkpoints_are_refused_by_name(files, tmp_path, change, message):
    checkpoint, out = tmp_path / "patch.pt", tmp_path / "recon.h5"
    wrong_checkpoint(files, checkpoint, change)
    prior = ("--prior-checkpoint", checkpoint, "--prior", json.dumps(PRIOR))
    network = ("--prior-network", json.dumps(NETWORK))
    args = reconstruct_args("diffusionblend_pp", files["sinogram"], out, *prior, *network)
    line = assert_refused(dblend(*args), "reconstruct", named(checkpoint), message)
    assert "weights_only" not in line, "never suggest unpickling a file"
    assert_nothing_left(out)


# Outputs: a folder that cannot be written and a full disk are one line, and leave nothing.


def test_a_file_where_the_output_folder_should_be(files, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    out = blocker / "sinograms" / "s.h5"
    result = simulate(files["volume"], out)
    assert_refused(result, "simulate", named(out), "cannot write the output")
    assert blocker.read_text() == "a file, not a folder"


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write to: by its mode for users, immutable for root (whom modes do
    not stop; chattr needs a file system with attributes, such as ext4 or xfs)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"as root, only an immutable folder refuses writes: {made.stderr.strip()}")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_unwritable_output_folder(files, read_only_folder):
    out = read_only_folder / "s.h5"
    result = simulate(files["volume"], out)
    assert_refused(result, "simulate", named(out), "(Permission denied|Operation not permitted)")
    assert list(read_only_folder.iterdir()) == []


def small_disk(limit: int) -> Callable[[], None]:
    """For preexec_fn: a file may grow to ``limit`` bytes and a bigger write fails (EFBIG, the
    signal that would kill the process ignored), as on a disk that fills up."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_while_writing_an_array(files, tmp_path):
    out, limit = tmp_path / "sinogram.h5", files["sinogram"].stat().st_size // 2
    result = simulate(files["volume"], out, preexec=small_disk(limit))
    assert_refused(result, "simulate", named(out), "File too large")
    assert_nothing_left(out)


def test_a_full_disk_while_writing_a_checkpoint(files, tmp_path):
    out, limit = tmp_path / "prior.pt", files["patch"].stat().st_size // 2
    prior = {**PRIOR, "training": {**PRIOR["training"], "steps": 1}}
    result = train(prior, [files["volume"]], out, preexec=small_disk(limit))
    assert_refused(result, "train_prior", named(out), "File too large")
    assert_nothing_left(out, loss_csv(out))


def test_results_get_the_users_umask_not_a_private_mode(tmp_path):
    out = tmp_path / "volume.h5"
    result = dblend("phantom", "--size", 16, "--slices", 4, "--seed", 0, "--out", out,
                    preexec=lambda: os.umask(0o027))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.stat().st_mode & 0o777 == 0o640


def test_what_the_system_refuses_is_one_line(tmp_path):
    missing, out = tmp_path / "missing.loss.csv", tmp_path / "loss.png"
    result = dblend("loss_figure", "--loss-csv", missing, "--title", "t", "--out", out)
    assert_refused(result, "loss_figure", "No such file or directory", named(missing))
    assert_nothing_left(out)


# Devices and DICOM.


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "'gpu' is not one of auto, cpu, cuda or cuda:N"), ("cuda:3", "'cuda:3' was asked")],
)
def test_devices_that_are_not_here_are_named(files, tmp_path, device, message):
    out = tmp_path / "sinogram.h5"
    assert_refused(simulate(files["volume"], out, device), "simulate", message)
    assert_nothing_left(out)


def preprocess(series: Path, out: Path) -> subprocess.CompletedProcess:
    settings = json.dumps({"size": 8})
    options = ("--patient", "P001", "--settings", settings, "--out", out)
    return dblend("preprocess", "--series-dir", series, *options)


@pytest.mark.parametrize(
    ("modality", "sop_class", "message"),
    [
        ("MR", MRImageStorage, "Modality MR, SOP class MR Image Storage"),
        ("CT", PositronEmissionTomographyImageStorage, "Positron Emission Tomography Image"),
    ],
)
def test_non_ct_series_are_refused_by_name(tmp_path, modality, sop_class, message):
    first = write_series(tmp_path / "series", 4, modality=modality, sop_class=sop_class)[0]
    out = tmp_path / "volume.h5"
    result = preprocess(tmp_path / "series", out)
    assert_refused(result, "preprocess", named(first), message, "expected a CT image series")
    assert_nothing_left(out)


def test_a_structure_set_beside_the_slices_is_skipped_with_a_note(tmp_path):
    series, out = tmp_path / "series", tmp_path / "volume.h5"
    write_series(series, 4, names=[f"slice{k}.dcm" for k in range(4)])
    write_rtstruct(series / "000_rtstruct.dcm")  # sorts first
    result = preprocess(series, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "000_rtstruct.dcm: skipped, not an image slice (RT Structure Set" in result.stderr
    assert read_array(out)[0].shape[0] == 4


# Plan time: what the config or the machine rules out is refused before any job runs.


def snakemake(workdir: Path, *args: object) -> tuple[int, str]:
    """Snakemake's exit status and its whole log (it writes its messages to stdout)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-d", workdir, "--cores", 1, *args]
    result = subprocess.run(
        [str(word) for word in command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            "datasets: {tiny: {size: 36}}\n"
            "networks: {tiny: {channels: [16, 16, 32, 32], attention: [false, false, true, true]}}",
            r"networks\.tiny: datasets\.tiny\.size 36 is not divisible by 8",
        ),
        ("networks: {tiny: {norm_groups: 3}}", r"networks\.tiny: norm_groups 3 does not divide"),
        ("networks: {tiny: {attention: [true]}}", r"networks\.tiny: 'attention' has 1 entries"),
    ],
)
def test_network_geometry_that_cannot_work_stops_the_plan(tmp_path, overlay, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay)
    status, log = snakemake(
        tmp_path, "-n", "--configfile", ROOT / "config" / "test" / "tiny.yaml", bad
    )
    assert status != 0
    assert re.search(message, log), log[-3000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_split_patient_missing_from_the_local_copy_stops_the_plan(tmp_path):
    write_series(tmp_path / "copy" / "P001" / "ct", 4, patient_id="P001")
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "datasets:\n  mine:\n    source: local_dicom\n    local_dir: copy\n"
        "    patients: {train: [P001], test: [P999]}\n    preprocess: {size: 32}\n"
        "experiments:\n  mine: {datasets: [mine], tasks: [sv8], methods: [fbp]}\nrun: [mine]\n"
    )
    status, log = snakemake(tmp_path, "-n", "--configfile", mine)
    assert status != 0
    expected = (
        r"datasets\.mine\.patients\.test: patient P999 is not in local copy \S*copy "
        r"\(its 1 patients: P001\)"
    )
    assert re.search(expected, log), log[-3000:]
    assert not (tmp_path / "results").exists()


CONE_BEAM = ROOT / "config" / "cone_beam.yaml"
NO_CUDA = "tasks cb16 are cone beam and need CUDA, which torch does not see here"
without_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.slow
@without_cuda
def test_a_dry_run_of_cone_beam_without_cuda_names_the_tasks(tmp_path):
    """A dry run plans (on a cluster's login node, say) and notes the tasks; under the SLURM
    profile, their simulate and reconstruct jobs ask for a GPU."""
    status, log = snakemake(tmp_path, "-n", "--profile", "slurm", "--configfile", CONE_BEAM)
    assert status == 0, log[-3000:]
    assert NO_CUDA in log
    for rule in ("simulate", "reconstruct"):
        jobs = re.findall(rf"^rule {rule}:\n((?:    .*\n)*)", log, re.MULTILINE)
        assert jobs and all("gpu=1" in job for job in jobs), rule


@pytest.mark.slow
@without_cuda
def test_a_local_cone_beam_run_without_cuda_stops_before_any_job(tmp_path):
    status, log = snakemake(tmp_path, "--configfile", CONE_BEAM)
    assert status != 0
    assert re.search(rf"{NO_CUDA}; \d+ of the jobs to run need it", log), log[-3000:]
    assert not (tmp_path / "results").exists(), "not even the phantoms were made"
