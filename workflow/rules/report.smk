# Figures of every experiment and prior, each experiment's named target, and the self-contained
# HTML report. Figures are also marked for Snakemake's own `snakemake --report`, captioned from
# workflow/report/.


localrules:
    experiment_figure,
    runtime_figure,
    sweep_figure,
    loss_figure,
    report,


rule experiment_figure:
    input:
        truth=VOLUME,
        recons=lambda w: list(figure_recons(w)),
    output:
        report(
            EXPERIMENT_FIGURE,
            caption=f"{CAPTIONS}/figure_planes.rst",
            category="Figures",
            subcategory="{experiment}",
            labels={"figure": "{dataset} / {task} / {volume}"},
        ),
    log:
        logs("experiment_figure", "{experiment}/{dataset}/{task}/{volume}"),
    benchmark:
        benchmarks("experiment_figure", "{experiment}/{dataset}/{task}/{volume}")
    conda:
        CONDA_ENV
    params:
        recons=lambda w: shlex.join(f"{p}={m}" for p, m in figure_recons(w).items()),
        title=lambda w: f"{w.dataset} / {w.task} / {w.volume}",
        experiment=lambda w: experiment_title(w.experiment),
        window=lambda w: config["experiments"][w.experiment]["window"],
    shell:
        "dblend experiment_figure --truth {input.truth} --recon {params.recons} --title {params.title:q}"
        " --window {params.window} --out {output} > {log} 2>&1"


rule runtime_figure:
    input:
        f"{EXPERIMENT}/runtime.csv",
    output:
        report(
            EXPERIMENT_RUNTIME,
            caption=f"{CAPTIONS}/figure_runtime.rst",
            category="Figures",
            subcategory="{experiment}",
            labels={"figure": "runtime"},
        ),
    log:
        logs("runtime_figure", "{experiment}"),
    benchmark:
        benchmarks("runtime_figure", "{experiment}")
    conda:
        CONDA_ENV
    params:
        title=lambda w: experiment_title(w.experiment),
    shell:
        "dblend runtime_figure --runtime-csv {input} --title {params.title:q} --out {output}"
        " > {log} 2>&1"


rule sweep_figure:
    input:
        f"{EXPERIMENT}/summary.csv",
    output:
        report(
            EXPERIMENT_SWEEP,
            caption=f"{CAPTIONS}/figure_sweep.rst",
            category="Figures",
            subcategory="{experiment}",
            labels={"figure": "sweep"},
        ),
    log:
        logs("sweep_figure", "{experiment}"),
    benchmark:
        benchmarks("sweep_figure", "{experiment}")
    conda:
        CONDA_ENV
    params:
        points=sweep_json,
        key=lambda w: config["experiments"][w.experiment]["sweep"]["key"],
        title=lambda w: experiment_title(w.experiment),
    shell:
        "dblend sweep_figure --summary-csv {input} --points {params.points:q} --key {params.key}"
        " --title {params.title:q} --out {output} > {log} 2>&1"


rule loss_figure:
    input:
        PRIOR_LOSS,
    output:
        report(
            PRIOR_LOSS_FIGURE,
            caption=f"{CAPTIONS}/figure_loss.rst",
            category="Training",
            subcategory="{dataset}",
            labels={"prior": "{prior}"},
        ),
    log:
        logs("loss_figure", "{dataset}/{prior}"),
    benchmark:
        benchmarks("loss_figure", "{dataset}/{prior}")
    conda:
        CONDA_ENV
    params:
        title=lambda w: f"{w.prior} prior on {w.dataset}",
        steps=lambda w: prior_training(w.dataset, w.prior)["steps"],
    shell:
        "dblend loss_figure --loss-csv {input} --title {params.title:q} --out {output}"
        " > {log} 2>&1"


for _experiment in config["experiments"]:

    rule:
        name:
            _experiment
        input:
            experiment_outputs(_experiment),
        localrule: True


rule report:
    input:
        outputs=[experiment_outputs(experiment) for experiment in config["run"]],
        losses=[PRIOR_LOSS.format(dataset=d, prior=p) for d, p in reported_priors()],
        recons=reported_recons(),
        priors=[PRIOR.format(dataset=d, prior=p) for d, p in reported_priors()],
    output:
        REPORT,
    log:
        logs("report"),
    benchmark:
        benchmarks("report")
    conda:
        CONDA_ENV
    params:
        experiments=shlex.join(
            f"{EXPERIMENT.format(experiment=e)}={experiment_title(e)}"
            for e in config["run"]
        ),
        curves=training_curve_arguments(),
        run=RUN,
        section=as_json(config),
    shell:
        "dblend report --experiment {params.experiments} {params.curves}"
        " --recons {input.recons} --priors {input.priors} --out {output}"
        " --run-name {params.run} --config-section {params.section:q} > {log} 2>&1"
