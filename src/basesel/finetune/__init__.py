"""`basesel finetune`: training data from the baseline's failures, a LoRA adapter trained through one
engine interface (PEFT on CPU/GPU, Unsloth QLoRA on CUDA), exports for llama.cpp, Ollama and vLLM, and
the re-evaluation of the adapter on the held-out baseline scenarios.

Nothing heavy is imported here: torch, transformers and peft load inside the functions that train."""
