# dblend: DiffusionBlend and its baselines, from data to tables, figures and an HTML report.
# `snakemake --cores 2` runs the default config (the CPU demo); `--configfile` overlays others.
import sys

from snakemake.utils import min_version

min_version("9.20")
# Planning imports only the package's light modules (config, data sets, experiments; no torch,
# pandas or h5py), from this checkout: the process that plans needs snakemake alone, also when
# another workflow uses this one as a module. Jobs run `dblend` from their own environment.
# (workflow.current_basedir is this file's folder; workflow.basedir is the outer workflow's.)
sys.path.insert(0, workflow.current_basedir)


configfile: f"{workflow.current_basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/reconstruct.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"


rule all:
    default_target: True
    input:
        TABLES,
        REPORT,


rule nifti:
    input:
        nifti_exports(),
    localrule: True
