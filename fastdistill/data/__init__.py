"""Seed tasks and prompt datasets: reading a seeds file strictly, the train/eval split, the `PromptDataset` artifact."""
