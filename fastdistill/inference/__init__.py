"""Running models: backends behind one interface (transformers, vLLM, an OpenAI-compatible server), the teacher's
labelling run and the top-k store it writes."""
