"""The dtype a model is loaded in for inference, and what each dtype costs per parameter.

One rule, used both by the `hf` backend when it loads a model and by the
Kubernetes placement check when it estimates what a step loads: bf16 on a GPU
(fp16 on GPUs without bf16), fp32 on the CPU. fp32 on a GPU would double the
memory for nothing (a 7B teacher: 28 GB instead of 14 GB, more than an L4
holds); half precision on the CPU is slow and loses accuracy in
`generate`'s matmuls, and the CPU path is what the tests and the laptop run.
"""

from __future__ import annotations

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
# Training keeps fp32 weights, their gradients and AdamW's two moments: 4 + 4 + 8 bytes per parameter.
TRAINING_BYTES_PER_PARAMETER = 16


def inference_dtype_name(on_gpu: bool) -> str:
    """The dtype the placement check assumes: bf16 on a GPU (fp16 has the same size), fp32 on the CPU."""
    return "bfloat16" if on_gpu else "float32"


def inference_dtype(device: str):
    """The torch dtype to load a model in on `device`; CUDA is only asked about when the device is a GPU."""
    import torch

    if not str(device).startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
