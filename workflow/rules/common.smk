# Config validation, every path of the pipeline, and the functions the rules share.
import functools
import os
import json
import os
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from dblend import config as dblend_config
from dblend import provenance
from dblend.datasets import pins, preprocess_settings, resolve, volume_names
from dblend.errors import ConfigError
from dblend.experiments import (
    TABLE_TITLES,
    experiment_methods,
    is_tuning,
    method_label,
    sweep_points,
)
from dblend.recon.kinds import needed_priors, trains_model

dblend_config.validate(config)
config["name"] = dblend_config.run_name(
    config, workflow.overwrite_configfiles, workflow.config_settings.overwrite_config
)
RUN = config["name"]
CUDA_TASKS = dblend_config.cuda_tasks(config)
CUDA_RULES = ("simulate", "train_fbpunet", "reconstruct")
# Why this machine cannot run the CUDA tasks' jobs; only the planning process looks (torch is
# imported only then), and says so in a note that dry runs show too.
NO_CUDA = None
if CUDA_TASKS and workflow.is_main_process:
    from dblend.device import missing_cuda

    NO_CUDA = missing_cuda(CUDA_TASKS)
if NO_CUDA:
    logger.warning(
        f"dblend: {NO_CUDA}. A local run stops before any job starts; a cluster profile "
        f"gives their {', '.join(CUDA_RULES[:-1])} and {CUDA_RULES[-1]} jobs a GPU (resource"
        " gpu=1)."
    )


onstart:
    # Refuse a local run that would reach a CUDA task's job on a machine without CUDA, before
    # the phantoms and priors it would first make. Dry runs and cluster runs only get the note.
    if NO_CUDA and workflow.local_exec:
        cuda_jobs = [
            job
            for job in workflow.dag.needrun_jobs()
            if job.rule.name in CUDA_RULES
            and job.wildcards.get("task") in CUDA_TASKS
        ]
        if cuda_jobs:
            raise WorkflowError(
                f"{NO_CUDA}; {len(cuda_jobs)} of the jobs to run need it (run on a machine "
                "with a GPU, or with a cluster profile that gives these jobs one)"
            )


wildcard_constraints:
    dataset=r"[A-Za-z][A-Za-z0-9_]*",
    task=r"[A-Za-z][A-Za-z0-9_]*",
    method=r"[A-Za-z][A-Za-z0-9_]*",
    prior=r"[A-Za-z][A-Za-z0-9_]*",
    volume=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    collection=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    series=r"[0-9]+(\.[0-9]+)+",
    key=r"[a-z0-9_]+-[0-9a-f]{12}",


REPOSITORY = Path(workflow.current_basedir).parents[1]
"""This workflow's repository (workflow.basedir is the outer workflow's when used as a module)."""
os.environ.update(DBLEND_ROOT=str(REPOSITORY))
"""Where envs/dblend.yaml installs dblend from, when Snakemake builds the rules' environment."""
os.environ.setdefault(provenance.PIPELINE_DIR, str(REPOSITORY))
"""Jobs record the commit of this checkout (dblend.provenance.pipeline_commit)."""
CONDA_ENV = str(REPOSITORY / "envs" / "dblend.yaml")
DOWNLOADS = config["download_dir"]
SERIES_MARKER = f"{DOWNLOADS}/{{collection}}/{{series}}/DOWNLOAD_COMPLETE.json"
VOLUME = "results/data/{dataset}/{volume}.h5"
SINOGRAM = "results/sinograms/{dataset}/{task}/{volume}.h5"
PRIOR = "results/priors/{dataset}/{prior}.pt"
PRIOR_LOSS = "results/priors/{dataset}/{prior}.loss.csv"
PRIOR_LOSS_FIGURE = "results/priors/{dataset}/{prior}.loss.png"
PRIOR_EXPORT = "results/priors/{dataset}/{prior}-diffusers"
FBPUNET = "results/fbpunet/{dataset}/{task}/{method}.pt"
FBPUNET_LOSS = "results/fbpunet/{dataset}/{task}/{method}.loss.csv"
"""An FBP-UNet per data set, task and method entry, shared by the runs like the priors."""
RECON = "results/recon/{dataset}/{task}/{key}/{volume}.h5"
"""{key}: the method kind and the digest of the settings that define the reconstruction
(dblend.provenance), so equal settings under any method name or in any run are one file."""
RUN_DIR = f"results/{RUN}"
"""What this run alone writes: its metrics, experiments, tables and report. Everything above it
(volumes, sinograms, priors, reconstructions) is shared by the runs that need the same work."""
METRICS = f"{RUN_DIR}/metrics/{{dataset}}/{{task}}/{{method}}/{{volume}}.csv"
EXPERIMENT = f"{RUN_DIR}/experiments/{{experiment}}"
EXPERIMENT_TABLES = [f"{EXPERIMENT}/metrics.csv", f"{EXPERIMENT}/provenance.json"] + [
    f"{EXPERIMENT}/{name}.{suffix}"
    for name in TABLE_TITLES
    for suffix in ("csv", "md", "tex", "html")
]
EXPERIMENT_FIGURE = f"{EXPERIMENT}/figures/{{dataset}}/{{task}}/{{volume}}.png"
EXPERIMENT_RUNTIME = f"{EXPERIMENT}/runtime.png"
EXPERIMENT_SWEEP = f"{EXPERIMENT}/sweep.png"
EXPERIMENT_CHOICE = [f"{EXPERIMENT}/choice.csv", f"{EXPERIMENT}/choice.md"]
TABLES = f"{RUN_DIR}/tables/metrics.csv"
SUMMARY = f"{RUN_DIR}/tables/summary.csv"
SUMMARY_MD = f"{RUN_DIR}/tables/summary.md"
REPORT = f"{RUN_DIR}/report/report.html"
RUN_STAGES = {
    "evaluate",
    "experiment_tables",
    "combined_tables",
    "experiment_figure",
    "runtime_figure",
    "sweep_figure",
    "report",
    "tuning_choice",
}
"""Stages whose outputs belong to the run; their logs and benchmarks go under RUN_DIR too."""
NIFTI = "results/nifti/{kind}/{name}.nii.gz"
"""A volume (kind data) or reconstruction (kind recon) as NIfTI: results/<kind>/<name>.h5."""
CAPTIONS = str(REPOSITORY / "dblend" / "report" / "captions")
"""Caption templates of `snakemake --report`; the package's HTML report renders the same files."""


def _job_file(kind, suffix, stage, wildcards):
    root = RUN_DIR if stage in RUN_STAGES else "results"
    name = f"{stage}/{wildcards}" if wildcards else stage
    return f"{root}/{kind}/{name}.{suffix}"


def logs(stage, wildcards=""):
    """The log of one job of ``stage``: [results/<run>/ for the run's own stages, else
    results/] logs/<stage>/<wildcards>.log."""
    return _job_file("logs", "log", stage, wildcards)


def benchmarks(stage, wildcards=""):
    """Time and memory of one job of ``stage``, beside its log: .../benchmarks/<stage>/..tsv."""
    return _job_file("benchmarks", "tsv", stage, wildcards)


def as_json(section):
    """A config section as one JSON word for the dblend CLI."""
    return json.dumps(section, sort_keys=True)


def seed_of(*names):
    return dblend_config.job_seed(config, *names)


@functools.cache
def splits_of(dataset):
    return volume_names(config["datasets"][dataset], REPOSITORY, dataset)


# Every split, before any job is planned: a local copy's patients are checked where it is there.
for dataset_name in config["datasets"]:
    splits_of(dataset_name)


def volumes(dataset, split):
    return splits_of(dataset)[split]


@functools.cache
def pinned(dataset):
    return pins(config["datasets"][dataset], REPOSITORY)


def pinned_series(collection, series):
    """The pin of a series UID in whichever pinned data set holds it."""
    for name, dataset in config["datasets"].items():
        if dataset["source"] == "tcia" and pinned(name).collection == collection:
            for pin in pinned(name).patients.values():
                if pin.series_uid == series:
                    return pin
    raise ValueError(
        f"series {series} is pinned in no data set of collection {collection}"
    )


def series_marker(wildcards):
    pin = pinned(wildcards.dataset).patients[wildcards.volume]
    collection = pinned(wildcards.dataset).collection
    return SERIES_MARKER.format(collection=collection, series=pin.series_uid)


def preprocess_inputs(wildcards):
    """A pinned series' download marker, or the user's local copy (and its manifest): a missing
    or changed copy is seen when the jobs are planned."""
    dataset = config["datasets"][wildcards.dataset]
    if dataset["source"] == "tcia":
        return [series_marker(wildcards)]
    return local_copy(wildcards.dataset)


def local_copy(name):
    """The local_dir (and manifest) of a local_dicom data set; absent ones stop the plan."""
    dataset = config["datasets"][name]
    paths = {"local_dir": dataset["local_dir"], "manifest": dataset["manifest"]}
    found = []
    for key, value in paths.items():
        if value is None:
            continue
        path = resolve(value, Path.cwd())
        if not (path.is_dir() if key == "local_dir" else path.is_file()):
            raise ConfigError(
                f"config key datasets.{name}.{key}: {path} not found; put your DICOM copy "
                "there or point the key at it (docs/own_data.md, docs/data.md)"
            )
        found.append(str(path))
    return found


def preprocess_json(wildcards):
    dataset = config["datasets"][wildcards.dataset]
    return as_json(preprocess_settings(dataset, wildcards.volume))


def series_arguments(wildcards, input):
    """CLI words naming where the series is: the downloaded series folder, or the user's DICOM
    copy with its manifest and the series-picking text."""
    dataset = config["datasets"][wildcards.dataset]
    if dataset["source"] == "tcia":
        return shlex.join(["--series-dir", str(Path(input[0]).parent)])
    words = ["--local-dir", str(resolve(dataset["local_dir"], Path.cwd()))]
    if dataset["manifest"]:
        words += ["--manifest", str(resolve(dataset["manifest"], Path.cwd()))]
    if dataset["match"]:
        words += ["--match", dataset["match"]]
    return shlex.join(words)


def volume_paths(dataset, split):
    return expand(VOLUME, dataset=dataset, volume=volumes(dataset, split))


def sinogram_paths(dataset, task, split):
    """The task's sinograms of a split's volumes (FBP-UNet trains on the training split's)."""
    return expand(SINOGRAM, dataset=dataset, task=task, volume=volumes(dataset, split))


def datasets_from(*sources):
    """A regex matching the data sets of the given sources (or nothing, if there are none)."""
    names = [n for n, d in config["datasets"].items() if d["source"] in sources]
    return "|".join(names) if names else "(?!)"


def needs_gpu(wildcards):
    """1 for a job of a task that needs CUDA (a cluster profile then asks for a GPU), else None:
    other jobs do not have the resource at all, so their plan is as it was."""
    return 1 if wildcards.task in CUDA_TASKS else None


def method_settings(task, method):
    """The method's settings for a task, without its display label (no rerun on renaming)."""
    settings = dblend_config.method_for_task(config, method, task)
    return {key: value for key, value in settings.items() if key != "label"}


def method_priors(method):
    """The priors a method samples with: its prior and, for TPDM, its auxiliary prior."""
    entry = config["methods"][method]
    return [entry[key] for key in needed_priors(entry)]


def fbpunet_training(task, method):
    """What an FBP-UNet's training depends on: its input filter and its training section."""
    settings = method_settings(task, method)
    return {key: settings[key] for key in ("filter", "training")}


def method_network(method):
    return config["networks"][config["methods"][method]["network"]]


def is_pretrained(prior):
    """Whether a prior is a published checkpoint used as is (converted, not trained)."""
    return "pretrained" in config["priors"][prior]


def priors_where(pretrained):
    """A regex matching the priors that are (or are not) published checkpoints used as is."""
    names = [p for p in config["priors"] if is_pretrained(p) == pretrained]
    return "|".join(names) if names else "(?!)"


def prior_training(dataset, prior):
    """The prior's training on the data set: the fine-tuning recipe when it starts from a
    checkpoint, steps resolved per data set."""
    return dblend_config.prior_training(config, prior, dataset)


def init_checkpoint(wildcards):
    """The checkpoint a prior's training starts from, as an input (none from scratch)."""
    init = config["priors"][wildcards.prior].get("init") or {}
    return {"init": init["path"]} if init.get("path") else {}


def training_prior_json(wildcards):
    """The prior's section for train_prior, its training resolved for the data set."""
    entry = config["priors"][wildcards.prior]
    return as_json(
        {**entry, "training": prior_training(wildcards.dataset, wildcards.prior)}
    )


def slice_size(dataset):
    """N of the data set's N x N slices (what a converted prior's spec records)."""
    entry = config["datasets"][dataset]
    return (
        entry["size"] if entry["source"] == "embedded" else entry["preprocess"]["size"]
    )


@functools.cache
def recon_methods(dataset, task):
    """{reconstruction key: the first method (in config order) with those settings}."""
    methods = {}
    for method in config["methods"]:
        key = provenance.reconstruction_key(config, dataset, task, method)
        methods.setdefault(key, method)
    return methods


@functools.cache
def recon_key(dataset, task, method):
    return provenance.reconstruction_key(config, dataset, task, method)


def recon_path(dataset, task, method, volume):
    """The reconstruction a method's row uses: shared by every method with equal settings."""
    key = recon_key(dataset, task, method)
    return RECON.format(dataset=dataset, task=task, key=key, volume=volume)


def recon_method(wildcards):
    """The method a reconstruction job runs as (named in its file and log)."""
    return recon_methods(wildcards.dataset, wildcards.task)[wildcards.key]


def experiment_combinations(experiment):
    """(dataset, task, method, volume) of every reconstruction an experiment needs."""
    entry = config["experiments"][experiment]
    return [
        (dataset, task, method, volume)
        for dataset in entry["datasets"]
        for task in entry["tasks"]
        for method in experiment_methods(config, experiment)
        for volume in experiment_volumes(experiment, dataset)
    ]


def experiment_volumes(experiment, dataset):
    """The volumes an experiment scores: the test volumes, or a tuning target's validation
    volumes (never the test ones)."""
    split = config["experiments"][experiment]["split"]
    names = volumes(dataset, split)
    if not names:
        raise ValueError(
            f"experiments.{experiment}: data set {dataset} has no {split} volumes"
        )
    return names


def experiment_metrics(wildcards):
    return [
        METRICS.format(dataset=d, task=t, method=m, volume=v)
        for d, t, m, v in experiment_combinations(wildcards.experiment)
    ]


def experiment_title(experiment):
    return config["experiments"][experiment].get("title", experiment)


def experiment_priors(experiment):
    """(dataset, prior) of every prior an experiment's methods sample with (FBP uses none)."""
    methods = experiment_methods(config, experiment)
    priors = sorted({prior for m in methods for prior in method_priors(m)})
    datasets = config["experiments"][experiment]["datasets"]
    return [(dataset, prior) for dataset in datasets for prior in priors]


def trained_priors(experiment):
    """(dataset, prior) of an experiment's priors that are trained here (with a loss curve)."""
    return [(d, p) for d, p in experiment_priors(experiment) if not is_pretrained(p)]


def reported_priors():
    """(dataset, prior) of the trained priors behind the reported experiments, each once."""
    pairs = [pair for e in config["run"] for pair in trained_priors(e)]
    return list(dict.fromkeys(pairs))


def reported_recons():
    """The reconstructions behind the reported experiments, each once."""
    paths = [
        recon_path(d, t, m, v)
        for experiment in config["run"]
        for d, t, m, v in experiment_combinations(experiment)
    ]
    return list(dict.fromkeys(paths))


def training_curve_arguments():
    """--training-curve words (data set, prior, loss history, figure) for the HTML report."""
    return " ".join(
        shlex.join(
            [
                "--training-curve",
                dataset,
                prior,
                PRIOR_LOSS.format(dataset=dataset, prior=prior),
                PRIOR_LOSS_FIGURE.format(dataset=dataset, prior=prior),
            ]
        )
        for dataset, prior in reported_priors()
    )


def reported_table(path):
    """An experiment's table, marked and captioned for `snakemake --report`."""
    name = Path(path).stem
    return report(
        path,
        caption=f"{CAPTIONS}/table_{name}.rst",
        category="Tables",
        subcategory="{experiment}",
        labels={"table": name},
    )


def experiment_table_outputs():
    """EXPERIMENT_TABLES, with the HTML of each table in TABLE_TITLES marked for the report
    (Snakemake's report shows HTML on the page, while it only links CSV files)."""
    return [
        (
            reported_table(path)
            if path.endswith(".html") and Path(path).stem in TABLE_TITLES
            else path
        )
        for path in EXPERIMENT_TABLES
    ]


def experiment_section(experiment):
    """The settings an experiment's tables come from: its entry and its methods' settings."""
    methods = experiment_methods(config, experiment)
    return as_json(
        {
            "experiment": config["experiments"][experiment],
            "methods": {method: config["methods"][method] for method in methods},
        }
    )


def experiment_labels(experiment):
    """Method -> label as JSON in the experiment's order, which its tables keep (as_json
    would sort the methods by name)."""
    methods = experiment_methods(config, experiment)
    return json.dumps({method: method_label(config, method) for method in methods})


def experiment_figures(experiment):
    entry = config["experiments"][experiment]
    if not entry["figures"]:
        return []
    return [
        EXPERIMENT_FIGURE.format(experiment=experiment, dataset=d, task=t, volume=v)
        for d in entry["datasets"]
        for t in entry["tasks"]
        for v in experiment_volumes(experiment, d)
    ]


def experiment_outputs(experiment):
    """Everything an experiment's named target builds: tables, figures, plots, and of each prior
    trained for it the loss curve and the diffusers export."""
    outputs = [t.format(experiment=experiment) for t in EXPERIMENT_TABLES]
    outputs += experiment_figures(experiment)
    outputs.append(EXPERIMENT_RUNTIME.format(experiment=experiment))
    if sweep_points(config, experiment):
        outputs.append(EXPERIMENT_SWEEP.format(experiment=experiment))
    if is_tuning(config, experiment):
        outputs += [path.format(experiment=experiment) for path in EXPERIMENT_CHOICE]
    outputs += [
        path.format(dataset=d, prior=p)
        for d, p in trained_priors(experiment)
        for path in (PRIOR_LOSS_FIGURE, PRIOR_EXPORT)
    ]
    return outputs


def figure_recons(wildcards):
    """Reconstruction path -> method label, for each method of the figure's experiment."""
    return {
        recon_path(
            wildcards.dataset, wildcards.task, method, wildcards.volume
        ): method_label(config, method)
        for method in experiment_methods(config, wildcards.experiment)
    }


def sweep_json(wildcards):
    return as_json(
        [vars(point) for point in sweep_points(config, wildcards.experiment)]
    )


def reconstruct_inputs(wildcards):
    """The sinogram, and the prior checkpoints or the trained model the method needs."""
    inputs = {"sinogram": SINOGRAM.format(**wildcards)}
    method = recon_method(wildcards)
    entry = config["methods"][method]
    for key in needed_priors(entry):
        inputs[key] = PRIOR.format(dataset=wildcards.dataset, prior=entry[key])
    if trains_model(entry):
        inputs["model"] = FBPUNET.format(
            dataset=wildcards.dataset, task=wildcards.task, method=method
        )
    return inputs


def model_arguments(wildcards, input):
    """The CLI words naming each checkpoint the method needs and its expected config."""
    method = recon_method(wildcards)
    entry = config["methods"][method]
    words = []
    for key in needed_priors(entry):
        option, prior = key.replace("_", "-"), config["priors"][entry[key]]
        words += [f"--{option}-checkpoint", input[key], f"--{option}", as_json(prior)]
        words += [f"--{option}-network", as_json(config["networks"][prior["network"]])]
    if trains_model(entry):
        words += ["--model-checkpoint", input.model]
        words += ["--model-network", as_json(method_network(method))]
    return shlex.join(words)


def export_reference(wildcards):
    """The volume whose voxel grid and HU window an exported file takes: itself, or for a
    reconstruction <dataset>/<task>/<key>/<volume> the test volume it reconstructs.
    """
    if wildcards.kind == "data":
        return f"results/data/{wildcards.name}.h5"
    dataset, _task, _key, volume = wildcards.name.split("/")
    return VOLUME.format(dataset=dataset, volume=volume)


def nifti_exports():
    """NIfTI of every test volume and reconstruction of the reported experiments."""
    combinations = {c for e in config["run"] for c in experiment_combinations(e)}
    names = {("data", f"{d}/{v}") for d, _task, _method, v in combinations}
    names |= {
        ("recon", f"{d}/{t}/{recon_key(d, t, m)}/{v}") for d, t, m, v in combinations
    }
    return sorted(NIFTI.format(kind=kind, name=name) for kind, name in names)
