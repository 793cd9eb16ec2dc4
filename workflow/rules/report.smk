# Figures of every test volume and the self-contained HTML report.


localrules:
    figure,
    report,


rule figure:
    input:
        truth=VOLUME,
        recons=lambda w: list(figure_recons(w).values()),
    output:
        FIGURE,
    log:
        f"{LOGS}/figure/{{dataset}}/{{task}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/figure/{{dataset}}/{{task}}/{{volume}}.tsv"
    conda:
        CONDA_ENV
    params:
        recons=lambda w: shlex.join(f"{m}={p}" for m, p in figure_recons(w).items()),
        title=lambda w: f"{w.dataset} / {w.task} / {w.volume}",
    shell:
        "dblend figure --truth {input.truth} --recon {params.recons} --title {params.title:q}"
        " --out {output} > {log} 2>&1"


rule report:
    input:
        summary=SUMMARY,
        figures=run_figures(),
    output:
        REPORT,
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCHMARKS}/report.tsv"
    conda:
        CONDA_ENV
    params:
        figures=lambda w, input: shlex.join(
            f"{path}=Middle axial, coronal and sagittal slices of {path}, every method "
            "beside the ground truth, with each slice's PSNR."
            for path in input.figures
        ),
    shell:
        "dblend report --summary {input.summary} --figure {params.figures} --out {output}"
        " > {log} 2>&1"
