# Figures of every experiment, its named target, and the self-contained HTML report.


localrules:
    experiment_figure,
    runtime_figure,
    sweep_figure,
    report,


rule experiment_figure:
    input:
        truth=VOLUME,
        recons=lambda w: list(figure_recons(w).values()),
    output:
        EXPERIMENT_FIGURE,
    log:
        f"{LOGS}/experiments/{{experiment}}/figure/{{dataset}}/{{task}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/experiments/{{experiment}}/figure/{{dataset}}/{{task}}/{{volume}}.tsv"
    conda:
        CONDA_ENV
    params:
        recons=lambda w: shlex.join(f"{m}={p}" for m, p in figure_recons(w).items()),
        title=lambda w: f"{w.dataset} / {w.task} / {w.volume}",
    shell:
        "dblend figure --truth {input.truth} --recon {params.recons} --title {params.title:q}"
        " --out {output} > {log} 2>&1"


rule runtime_figure:
    input:
        f"{EXPERIMENT}/runtime.csv",
    output:
        EXPERIMENT_RUNTIME,
    log:
        f"{LOGS}/experiments/{{experiment}}/runtime_figure.log",
    benchmark:
        f"{BENCHMARKS}/experiments/{{experiment}}/runtime_figure.tsv"
    conda:
        CONDA_ENV
    params:
        title=lambda w: config["experiments"][w.experiment].get("title", w.experiment),
    shell:
        "dblend runtime-figure --runtime-csv {input} --title {params.title:q} --out {output}"
        " > {log} 2>&1"


rule sweep_figure:
    input:
        f"{EXPERIMENT}/summary.csv",
    output:
        EXPERIMENT_SWEEP,
    log:
        f"{LOGS}/experiments/{{experiment}}/sweep_figure.log",
    benchmark:
        f"{BENCHMARKS}/experiments/{{experiment}}/sweep_figure.tsv"
    conda:
        CONDA_ENV
    params:
        points=sweep_json,
        key=lambda w: config["experiments"][w.experiment]["sweep"]["key"],
        title=lambda w: config["experiments"][w.experiment].get("title", w.experiment),
    shell:
        "dblend sweep-figure --summary-csv {input} --points {params.points:q} --key {params.key}"
        " --title {params.title:q} --out {output} > {log} 2>&1"


for _experiment in config["experiments"]:

    rule:
        name:
            _experiment
        input:
            experiment_outputs(_experiment),
        localrule: True


rule report:
    input:
        [experiment_outputs(experiment) for experiment in config["run"]],
    output:
        REPORT,
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCHMARKS}/report.tsv"
    conda:
        CONDA_ENV
    params:
        experiments=shlex.join(
            f"{EXPERIMENT.format(experiment=e)}={config['experiments'][e].get('title', e)}"
            for e in config["run"]
        ),
    shell:
        "dblend report --experiment {params.experiments} --out {output} > {log} 2>&1"
