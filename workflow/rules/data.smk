# Volumes of every data set: embedded phantoms are generated, needing no network.


rule phantom:
    output:
        VOLUME,
    log:
        f"{LOGS}/phantom/{{dataset}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/phantom/{{dataset}}/{{volume}}.tsv"
    wildcard_constraints:
        dataset=datasets_from("embedded"),
    conda:
        CONDA_ENV
    params:
        size=lambda w: config["datasets"][w.dataset]["size"],
        slices=lambda w: config["datasets"][w.dataset]["slices"],
        seed=lambda w: seed_of("phantom", w.dataset, w.volume),
    shell:
        "dblend phantom --size {params.size} --slices {params.slices} --seed {params.seed}"
        " --out {output} > {log} 2>&1"
