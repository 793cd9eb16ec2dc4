"""dblend: a runnable reproduction of DiffusionBlend (NeurIPS 2024) for sparse-view and
limited-angle 3D CT, with its baselines, as a Snakemake pipeline."""

__version__ = "0.1.0"
