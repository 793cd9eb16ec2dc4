# Volumes of every data set: embedded phantoms are generated (no network); pinned TCIA series
# are downloaded on the submitting machine and preprocessed; a local DICOM copy is preprocessed.


localrules:
    download_series,


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


rule download_series:
    output:
        SERIES_MARKER,
    log:
        f"{LOGS}/download/{{collection}}/{{series}}.log",
    benchmark:
        f"{BENCHMARKS}/download/{{collection}}/{{series}}.tsv"
    retries: 2
    conda:
        CONDA_ENV
    params:
        root=lambda w: f"{DOWNLOADS}/{w.collection}",
        images=lambda w: (
            f"--images {pinned_series(w.collection, w.series).images}"
            if pinned_series(w.collection, w.series).images
            else ""
        ),
    shell:
        "dblend download --uid {wildcards.series} --root {params.root} {params.images}"
        " > {log} 2>&1"


rule preprocess_tcia:
    input:
        series_marker,
    output:
        VOLUME,
    log:
        f"{LOGS}/preprocess/{{dataset}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/preprocess/{{dataset}}/{{volume}}.tsv"
    wildcard_constraints:
        dataset=datasets_from("tcia"),
    conda:
        CONDA_ENV
    params:
        series_dir=lambda w, input: Path(input[0]).parent,
        settings=preprocess_json,
    shell:
        "dblend preprocess --series-dir {params.series_dir} --patient {wildcards.volume}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule preprocess_local:
    output:
        VOLUME,
    log:
        f"{LOGS}/preprocess/{{dataset}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/preprocess/{{dataset}}/{{volume}}.tsv"
    wildcard_constraints:
        dataset=datasets_from("local_dicom"),
    conda:
        CONDA_ENV
    params:
        local_copy=local_copy_arguments,
        settings=preprocess_json,
    shell:
        "dblend preprocess {params.local_copy} --patient {wildcards.volume}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"
