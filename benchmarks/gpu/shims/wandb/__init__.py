"""Stand-in for ``wandb`` on the offline GPU benchmark machine (benchmarks/gpu/gemma_scale.sh only).

sae_lens 6.54 and transformer_lens import ``wandb`` at module level (training and logging code) but never use it
when a transcoder is only loaded and run, and the real wheel is ~20 MB, too big to carry. Any attribute use fails.
Never put this folder on the path of a real environment.
"""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"wandb is a stand-in here (benchmarks/gpu/shims): wandb.{name} is not available")
