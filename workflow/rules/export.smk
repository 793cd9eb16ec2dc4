# Volumes and reconstructions as NIfTI (HU, true voxel spacing and orientation) for standard
# viewers: the target `nifti` (Snakefile) exports every test volume and reconstruction of the
# reported experiments; any single file is a target by its path, e.g.
# `snakemake results/nifti/recon/demo/sv8/dds/phantom008.nii.gz`.


localrules:
    export,


rule export:
    input:
        array="results/{kind}/{name}.h5",
        reference=export_reference,
    output:
        NIFTI,
    log:
        logs("export", "{kind}/{name}"),
    benchmark:
        benchmarks("export", "{kind}/{name}")
    wildcard_constraints:
        kind="data|recon",
        name=r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*",
    conda:
        CONDA_ENV
    shell:
        "dblend export {input.array} --reference {input.reference} --out {output} > {log} 2>&1"
