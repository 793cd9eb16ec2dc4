# One reconstruction per data set, task, distinct method settings and test volume; its seed
# derives from those settings, so methods with equal settings share one file and one number.


rule reconstruct:
    input:
        unpack(reconstruct_inputs),
    output:
        RECON,
    log:
        logs("reconstruct", "{dataset}/{task}/{key}/{volume}"),
    benchmark:
        benchmarks("reconstruct", "{dataset}/{task}/{key}/{volume}")
    conda:
        CONDA_ENV
    threads: config["threads"]["reconstruct"]
    params:
        name=recon_method,
        method=lambda w: as_json(method_settings(w.task, recon_method(w))),
        models=model_arguments,
        seed=lambda w: seed_of("reconstruct", w.key, w.volume),
        section=lambda w: as_json(
            provenance.reconstruction_settings(
                config, w.dataset, w.task, recon_method(w)
            )
        ),
        device=config["device"],
    shell:
        "dblend --threads {threads} reconstruct --method-name {params.name}"
        " --method {params.method:q} --sinogram {input.sinogram} {params.models}"
        " --device {params.device} --seed {params.seed} --out {output}"
        " --config-section {params.section:q} > {log} 2>&1"
