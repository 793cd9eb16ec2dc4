# Config validation, every path of the pipeline, and the functions the rules share.
import json
import shlex

from dblend import config as dblend_config
from dblend.datasets import volume_names

dblend_config.validate(config)


wildcard_constraints:
    dataset=r"[A-Za-z][A-Za-z0-9_]*",
    task=r"[A-Za-z][A-Za-z0-9_]*",
    method=r"[A-Za-z][A-Za-z0-9_]*",
    prior=r"[A-Za-z][A-Za-z0-9_]*",
    volume=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


CONDA_ENV = "../../envs/dblend.yaml"
VOLUME = "results/data/{dataset}/{volume}.h5"
SINOGRAM = "results/sinograms/{dataset}/{task}/{volume}.h5"
PRIOR = "results/priors/{dataset}/{prior}.pt"
PRIOR_LOSS = "results/priors/{dataset}/{prior}.loss.csv"
RECON = "results/recon/{dataset}/{task}/{method}/{volume}.h5"
METRICS = "results/metrics/{dataset}/{task}/{method}/{volume}.csv"
FIGURE = "results/figures/{dataset}/{task}/{volume}.png"
TABLES = "results/tables/metrics.csv"
SUMMARY = "results/tables/summary.csv"
SUMMARY_MD = "results/tables/summary.md"
REPORT = "results/report/report.html"
LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"


def as_json(section):
    """A config section as one JSON word for the dblend CLI."""
    return json.dumps(section, sort_keys=True)


def seed_of(*names):
    return dblend_config.job_seed(config, *names)


def volumes(dataset, split):
    return volume_names(config["datasets"][dataset])[split]


def volume_paths(dataset, split):
    return expand(VOLUME, dataset=dataset, volume=volumes(dataset, split))


def datasets_from(source):
    """A regex matching the data sets of one source (or nothing, if there are none)."""
    names = [n for n, d in config["datasets"].items() if d["source"] == source]
    return "|".join(names) if names else "(?!)"


def method_settings(task, method):
    return dblend_config.method_for_task(config, method, task)


def method_prior(method):
    return config["methods"][method].get("prior")


def run_targets(pattern, **fixed):
    """``pattern`` for every run dataset x task x method x test volume (minus fixed keys)."""
    run = config["run"]
    return [
        pattern.format(
            dataset=dataset, task=task, method=method, volume=volume, **fixed
        )
        for dataset in run["datasets"]
        for task in run["tasks"]
        for method in run["methods"]
        for volume in volumes(dataset, "test")
    ]


def reconstruct_inputs(wildcards):
    inputs = {"sinogram": SINOGRAM.format(**wildcards)}
    prior = method_prior(wildcards.method)
    if prior:
        inputs["prior"] = PRIOR.format(dataset=wildcards.dataset, prior=prior)
    return inputs


def prior_arguments(wildcards, input):
    """The CLI words naming the prior checkpoint and its expected config, if the method has one."""
    prior = method_prior(wildcards.method)
    if not prior:
        return ""
    entry = config["priors"][prior]
    network = config["networks"][entry["network"]]
    words = ["--prior-checkpoint", input.prior, "--prior", as_json(entry)]
    return shlex.join(words + ["--network", as_json(network)])


def figure_recons(wildcards):
    return {
        method: RECON.format(method=method, **wildcards)
        for method in config["run"]["methods"]
    }


def run_figures():
    run = config["run"]
    return [
        FIGURE.format(dataset=dataset, task=task, volume=volume)
        for dataset in run["datasets"]
        for task in run["tasks"]
        for volume in volumes(dataset, "test")
    ]
