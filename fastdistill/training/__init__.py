"""Training: the objective registry, KD losses and the fused lm_head loss, the trainers, checkpoints and the sweep."""
