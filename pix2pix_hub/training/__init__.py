"""The training loop (Accelerate), checkpoints, interrupts and the run lock."""
