"""Score networks, their noise schedule and checkpoints."""
