# Metrics per reconstruction and plane, collected into the long-format table.


localrules:
    evaluate,
    tables,


rule evaluate:
    input:
        truth=VOLUME,
        recon=RECON,
    output:
        METRICS,
    log:
        f"{LOGS}/evaluate/{{dataset}}/{{task}}/{{method}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{dataset}}/{{task}}/{{method}}/{{volume}}.tsv"
    conda:
        CONDA_ENV
    params:
        labels=lambda w: as_json(dict(w)),
    shell:
        "dblend evaluate --truth {input.truth} --recon {input.recon} --labels {params.labels:q}"
        " --out {output} > {log} 2>&1"


rule tables:
    input:
        run_targets(METRICS),
    output:
        table=TABLES,
        summary=SUMMARY,
        markdown=SUMMARY_MD,
    log:
        f"{LOGS}/tables.log",
    benchmark:
        f"{BENCHMARKS}/tables.tsv"
    conda:
        CONDA_ENV
    params:
        order=config["run"]["methods"],
    shell:
        "dblend tables --metrics {input} --method-order {params.order}"
        " --out-csv {output.table} --out-summary {output.summary}"
        " --out-markdown {output.markdown} > {log} 2>&1"
