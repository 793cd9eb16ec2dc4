# Metrics per reconstruction and plane; each experiment's tables (and a tuning target's
# choice); the combined table.


localrules:
    evaluate,
    experiment_tables,
    tuning_choice,
    combined_tables,


rule evaluate:
    input:
        truth=VOLUME,
        recon=lambda w: recon_path(w.dataset, w.task, w.method, w.volume),
    output:
        METRICS,
    log:
        logs("evaluate", "{dataset}/{task}/{method}/{volume}"),
    benchmark:
        benchmarks("evaluate", "{dataset}/{task}/{method}/{volume}")
    conda:
        CONDA_ENV
    params:
        labels=lambda w: as_json(dict(w)),
        evaluation=as_json(config["evaluation"]),
    shell:
        "dblend evaluate --truth {input.truth} --recon {input.recon} --labels {params.labels:q}"
        " --evaluation {params.evaluation:q} --out {output} > {log} 2>&1"


rule experiment_tables:
    input:
        experiment_metrics,
    output:
        experiment_table_outputs(),
    log:
        logs("experiment_tables", "{experiment}"),
    benchmark:
        benchmarks("experiment_tables", "{experiment}")
    conda:
        CONDA_ENV
    params:
        labels=lambda w: experiment_labels(w.experiment),
        section=lambda w: experiment_section(w.experiment),
        run=RUN,
        title=lambda w: experiment_title(w.experiment),
        convention=config["evaluation"]["convention"],
        out_dir=lambda w, output: Path(output[0]).parent,
    shell:
        "dblend experiment_tables --metrics {input} --labels {params.labels:q}"
        " --out-dir {params.out_dir} --run-name {params.run}"
        " --config-section {params.section:q} > {log} 2>&1"


rule tuning_choice:
    input:
        f"{EXPERIMENT}/summary.csv",
    output:
        EXPERIMENT_CHOICE,
    log:
        logs("tuning_choice", "{experiment}"),
    benchmark:
        benchmarks("tuning_choice", "{experiment}")
    conda:
        CONDA_ENV
    params:
        points=sweep_json,
        title=lambda w: experiment_title(w.experiment),
        out_dir=lambda w, output: Path(output[0]).parent,
    shell:
        "dblend tuning_choice --summary-csv {input} --points {params.points:q}"
        " --title {params.title:q} --out-dir {params.out_dir} > {log} 2>&1"


rule combined_tables:
    input:
        metrics=expand(f"{EXPERIMENT}/metrics.csv", experiment=config["run"]),
        summaries=expand(f"{EXPERIMENT}/summary.csv", experiment=config["run"]),
    output:
        table=report(
            TABLES,
            caption=f"{CAPTIONS}/table_metrics.rst",
            category="Tables",
            subcategory="all experiments",
            labels={"table": "metrics"},
        ),
        summary=report(
            SUMMARY,
            caption=f"{CAPTIONS}/table_combined_summary.rst",
            category="Tables",
            subcategory="all experiments",
            labels={"table": "summary"},
        ),
        markdown=SUMMARY_MD,
    log:
        logs("combined_tables"),
    benchmark:
        benchmarks("combined_tables")
    conda:
        CONDA_ENV
    params:
        dirs=lambda w, input: [Path(path).parent for path in input.metrics],
        out_dir=lambda w, output: Path(output.table).parent,
    shell:
        "dblend combined_tables --experiment-dirs {params.dirs} --out-dir {params.out_dir}"
        " > {log} 2>&1"
