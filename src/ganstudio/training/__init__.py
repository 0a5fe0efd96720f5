"""Training: the loop, checkpoints and devices."""
