# Volumes of every data set: embedded phantoms are generated (no network); pinned TCIA series
# are downloaded on the submitting machine and preprocessed; a local DICOM copy is preprocessed.


localrules:
    download,


rule phantom:
    output:
        VOLUME,
    log:
        logs("phantom", "{dataset}/{volume}"),
    benchmark:
        benchmarks("phantom", "{dataset}/{volume}")
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


rule download:
    output:
        SERIES_MARKER,
    log:
        logs("download", "{collection}/{series}"),
    benchmark:
        benchmarks("download", "{collection}/{series}")
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


rule preprocess:
    input:
        preprocess_inputs,
    output:
        VOLUME,
    log:
        logs("preprocess", "{dataset}/{volume}"),
    benchmark:
        benchmarks("preprocess", "{dataset}/{volume}")
    wildcard_constraints:
        dataset=datasets_from("tcia", "local_dicom"),
    conda:
        CONDA_ENV
    params:
        series=series_arguments,
        settings=preprocess_json,
    shell:
        "dblend preprocess {params.series} --patient {wildcards.volume}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"
