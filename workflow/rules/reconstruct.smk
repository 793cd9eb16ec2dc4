# One reconstruction per data set, task, method and test volume.


rule reconstruct:
    input:
        unpack(reconstruct_inputs),
    output:
        RECON,
    log:
        logs("reconstruct", "{dataset}/{task}/{method}/{volume}"),
    benchmark:
        benchmarks("reconstruct", "{dataset}/{task}/{method}/{volume}")
    conda:
        CONDA_ENV
    threads: config["threads"]["reconstruct"]
    params:
        method=lambda w: as_json(method_settings(w.task, w.method)),
        prior=prior_arguments,
        seed=lambda w: seed_of("reconstruct", w.dataset, w.task, w.method, w.volume),
        device=config["device"],
    shell:
        "dblend --threads {threads} reconstruct --method-name {wildcards.method}"
        " --method {params.method:q} --sinogram {input.sinogram} {params.prior}"
        " --device {params.device} --seed {params.seed} --out {output} > {log} 2>&1"
