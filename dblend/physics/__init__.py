"""CT physics: acquisition geometries, projection operators, FBP/FDK and sinogram simulation."""
