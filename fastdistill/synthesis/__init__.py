"""Synthetic data from the teacher: Self-Instruct, Evol-Instruct and rationales with self-consistency."""
