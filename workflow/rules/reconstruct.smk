# One reconstruction per data set, task, method and test volume.


def reconstruct_inputs(wildcards):
    inputs = {"sinogram": SINOGRAM.format(**wildcards)}
    prior = method_prior(wildcards.method)
    if prior:
        inputs["prior"] = PRIOR.format(dataset=wildcards.dataset, prior=prior)
    return inputs


def prior_arguments(wildcards, input):
    """The CLI words naming the prior checkpoint and its expected config, if the method has one."""
    prior = method_prior(wildcards.method)
    if not prior:
        return ""
    entry = config["priors"][prior]
    network = config["networks"][entry["network"]]
    words = ["--prior-checkpoint", input.prior, "--prior", as_json(entry)]
    return shlex.join(words + ["--network", as_json(network)])


rule reconstruct:
    input:
        unpack(reconstruct_inputs),
    output:
        RECON,
    params:
        method=lambda w: as_json(method_settings(w.task, w.method)),
        prior=prior_arguments,
        seed=lambda w: seed_of("reconstruct", w.dataset, w.task, w.method, w.volume),
        device=config["device"],
    threads: config["threads"]["reconstruct"]
    log:
        f"{LOGS}/reconstruct/{{dataset}}/{{task}}/{{method}}/{{volume}}.log",
    benchmark:
        f"{BENCHMARKS}/reconstruct/{{dataset}}/{{task}}/{{method}}/{{volume}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "dblend --threads {threads} reconstruct --method-name {wildcards.method}"
        " --method {params.method:q} --sinogram {input.sinogram} {params.prior}"
        " --device {params.device} --seed {params.seed} --out {output} > {log} 2>&1"
