"""Reconstruction: data consistency, volume partitions and the one diffusion sampler loop."""
