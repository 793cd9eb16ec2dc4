# Score priors, one per data set and prior entry; resumes from its last checkpoint if killed.


rule train_prior:
    input:
        train=lambda w: volume_paths(w.dataset, "train"),
        validation=lambda w: volume_paths(w.dataset, "validation"),
    output:
        checkpoint=PRIOR,
        loss=PRIOR_LOSS,
    log:
        logs("train_prior", "{dataset}/{prior}"),
    benchmark:
        benchmarks("train_prior", "{dataset}/{prior}")
    conda:
        CONDA_ENV
    threads: config["threads"]["train"]
    params:
        prior=lambda w: as_json(config["priors"][w.prior]),
        network=lambda w: as_json(
            config["networks"][config["priors"][w.prior]["network"]]
        ),
        seed=lambda w: seed_of("train", w.dataset, w.prior),
        device=config["device"],
    shell:
        "dblend --threads {threads} train_prior --prior {params.prior:q}"
        " --network {params.network:q}"
        " --volumes {input.train} --validation-volumes {input.validation}"
        " --device {params.device} --seed {params.seed}"
        " --out {output.checkpoint} --loss-csv {output.loss} > {log} 2>&1"
