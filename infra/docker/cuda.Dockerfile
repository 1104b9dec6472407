# Parent image of the pipeline image on the cluster (configs/k8s.yaml: settings.docker.dockerfile).
# CUDA 12.8 runtime for vLLM and torch on the GPU pools, Python 3.11 as pyproject.toml requires.
# ZenML builds the run image on top: the project installed with its pinned dependencies and the `gpu` extra.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common ca-certificates git \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev build-essential \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv
# ZenML's generated Dockerfile calls `python` and `pip`: the venv's come first on PATH.
ENV PATH=/opt/venv/bin:$PATH
