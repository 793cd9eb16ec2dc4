# Score priors, one per data set and prior entry: trained (from scratch or from an init
# checkpoint; resumes from its last checkpoint if killed) or converted from a published one.
# FBP-UNets, one per data set, task and method entry, trained (and resumed) the same way.


rule train_prior:
    input:
        unpack(init_checkpoint),
        train=lambda w: volume_paths(w.dataset, "train"),
        validation=lambda w: volume_paths(w.dataset, "validation"),
    output:
        checkpoint=PRIOR,
        loss=PRIOR_LOSS,
    log:
        logs("train_prior", "{dataset}/{prior}"),
    benchmark:
        benchmarks("train_prior", "{dataset}/{prior}")
    wildcard_constraints:
        prior=priors_where(pretrained=False),
    conda:
        CONDA_ENV
    threads: config["threads"]["train"]
    params:
        prior=training_prior_json,
        network=lambda w: as_json(
            config["networks"][config["priors"][w.prior]["network"]]
        ),
        seed=lambda w: seed_of("train", w.dataset, w.prior),
        section=lambda w: as_json(provenance.prior_identity(config, w.dataset, w.prior)),
        device=config["device"],
    shell:
        "dblend --threads {threads} train_prior --prior {params.prior:q}"
        " --network {params.network:q}"
        " --volumes {input.train} --validation-volumes {input.validation}"
        " --device {params.device} --seed {params.seed}"
        " --out {output.checkpoint} --loss-csv {output.loss}"
        " --config-section {params.section:q} > {log} 2>&1"


rule train_fbpunet:
    input:
        train=lambda w: volume_paths(w.dataset, "train"),
        train_sinograms=lambda w: sinogram_paths(w.dataset, w.task, "train"),
        validation=lambda w: volume_paths(w.dataset, "validation"),
        validation_sinograms=lambda w: sinogram_paths(w.dataset, w.task, "validation"),
    output:
        checkpoint=FBPUNET,
        loss=FBPUNET_LOSS,
    log:
        logs("train_fbpunet", "{dataset}/{task}/{method}"),
    benchmark:
        benchmarks("train_fbpunet", "{dataset}/{task}/{method}")
    conda:
        CONDA_ENV
    threads: config["threads"]["train"]
    params:
        method=lambda w: as_json(fbpunet_training(w.task, w.method)),
        network=lambda w: as_json(method_network(w.method)),
        seed=lambda w: seed_of("train_fbpunet", w.dataset, w.task, w.method),
        section=lambda w: as_json(
            provenance.fbpunet_identity(config, w.dataset, w.task, w.method)
        ),
        device=config["device"],
    shell:
        "dblend --threads {threads} train_fbpunet --method {params.method:q}"
        " --network {params.network:q}"
        " --volumes {input.train} --sinograms {input.train_sinograms}"
        " --validation-volumes {input.validation}"
        " --validation-sinograms {input.validation_sinograms}"
        " --device {params.device} --seed {params.seed}"
        " --out {output.checkpoint} --loss-csv {output.loss}"
        " --config-section {params.section:q} > {log} 2>&1"


rule convert_checkpoint:
    input:
        lambda w: config["priors"][w.prior]["pretrained"]["path"],
    output:
        PRIOR,
    log:
        logs("convert_checkpoint", "{dataset}/{prior}"),
    benchmark:
        benchmarks("convert_checkpoint", "{dataset}/{prior}")
    wildcard_constraints:
        prior=priors_where(pretrained=True),
    conda:
        CONDA_ENV
    params:
        source=lambda w: config["priors"][w.prior]["pretrained"],
        prior=lambda w: as_json(config["priors"][w.prior]),
        network=lambda w: as_json(
            config["networks"][config["priors"][w.prior]["network"]]
        ),
        size=lambda w: slice_size(w.dataset),
    shell:
        "dblend convert_checkpoint --checkpoint {input:q}"
        " --format {params.source[format]} --attention-order {params.source[attention_order]}"
        " --prior {params.prior:q} --network {params.network:q} --image-size {params.size}"
        " --out {output} > {log} 2>&1"


rule export_prior:
    input:
        PRIOR,
    output:
        directory(PRIOR_EXPORT),
    log:
        logs("export_prior", "{dataset}/{prior}"),
    benchmark:
        benchmarks("export_prior", "{dataset}/{prior}")
    conda:
        CONDA_ENV
    shell:
        "dblend export_prior --checkpoint {input} --out {output} > {log} 2>&1"
