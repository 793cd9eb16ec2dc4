# Sinograms of a volume for a task, with ASTRA's projector: of every test volume, and of the
# training and validation volumes for FBP-UNet's training.


rule simulate:
    input:
        VOLUME,
    output:
        SINOGRAM,
    log:
        logs("simulate", "{dataset}/{task}/{volume}"),
    benchmark:
        benchmarks("simulate", "{dataset}/{task}/{volume}")
    conda:
        CONDA_ENV
    resources:
        gpu=needs_gpu,
    params:
        task=lambda w: as_json(provenance.task_physics(config, w.task)),
        seed=lambda w: seed_of("simulate", w.dataset, w.task, w.volume),
        device=config["device"],
    shell:
        "dblend simulate --volume {input} --task {params.task:q} --seed {params.seed}"
        " --device {params.device} --out {output} > {log} 2>&1"
