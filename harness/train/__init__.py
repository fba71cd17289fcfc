"""Training: the tick loop, checkpoints, seeding and sample grids."""
