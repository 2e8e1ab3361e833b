"""Loading tokenizers and causal LMs from a Hub id or a local folder, the same way for both.

The access token is never an argument: huggingface_hub reads HF_TOKEN from the environment
itself, so it cannot end up in a command line, a log or a provenance record. Failures a user
can fix (gated model without a token, no network, a typo in the id) become one-line UserErrors.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from trm.errors import UserError

if TYPE_CHECKING:
    from trm.llm.config import BaseModel

TOKEN_ENV = "HF_TOKEN"


class ModelAccessError(UserError):
    """The model or tokenizer could not be loaded (gated, missing, offline)."""


def require_llm_extra() -> None:
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
    except ModuleNotFoundError as e:
        raise UserError(
            f"the LLM baseline needs the optional extra: pip install -e '.[llm]' ({e.name} missing)"
        ) from e


def _explain(model_id: str, err: BaseException) -> ModelAccessError:
    msg = str(err)
    low = msg.lower()
    if "gated" in low or "401" in low or "403" in low or "restricted" in low:
        has = "is set" if os.environ.get(TOKEN_ENV) else "is not set"
        return ModelAccessError(
            f"model {model_id!r} is gated: accept its licence on the Hub and export {TOKEN_ENV} "
            f"with a token that has access ({TOKEN_ENV} {has})"
        )
    first = msg.strip().splitlines()[0] if msg.strip() else type(err).__name__
    offline = " (HF_HUB_OFFLINE is set: only the local cache is read)" if _offline() else ""
    return ModelAccessError(f"cannot load model {model_id!r}{offline}: {first}")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def load_tokenizer(model_id: str, revision: str | None = None) -> Any:
    require_llm_extra()
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_id, revision=revision)
    except (OSError, ValueError) as e:
        raise _explain(model_id, e) from e
    if tok.chat_template is None:
        raise UserError(
            f"tokenizer of {model_id!r} has no chat template: use an instruction-tuned model "
            "(the prompt is built with tokenizer.apply_chat_template)"
        )
    if tok.pad_token_id is None:  # Llama 3 has none; padding is masked out anyway
        tok.pad_token = tok.eos_token
    return tok


def torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            name
        ]
    except KeyError:
        raise UserError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}") from None


def load_model(
    model_id: str,
    *,
    device: str,
    dtype: str = "auto",
    load_in_4bit: bool = False,
    revision: str | None = None,
) -> Any:
    """A causal LM on `device`; 4-bit NF4 (QLoRA) needs CUDA and bitsandbytes."""
    require_llm_extra()
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype, device), "revision": revision}
    if load_in_4bit:
        if not device.startswith("cuda"):
            raise UserError("load_in_4bit needs a CUDA device (bitsandbytes); set it false on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ModuleNotFoundError as e:
            raise UserError("load_in_4bit needs bitsandbytes: pip install bitsandbytes") from e
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
        kwargs["device_map"] = {"": device}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
    except (OSError, ValueError) as e:
        raise _explain(model_id, e) from e
    if not load_in_4bit:
        model.to(device)
    return model


def load_base_model(cfg: BaseModel, device: str) -> Any:
    """The base model `cfg` names, loaded as it says (dtype, 4-bit, revision)."""
    return load_model(
        cfg.model,
        device=device,
        dtype=cfg.dtype,
        load_in_4bit=cfg.load_in_4bit,
        revision=cfg.revision,
    )


def count_parameters(model: Any) -> tuple[int, int]:
    """(all parameters, trainable parameters); 4-bit weights count as their logical size."""
    total = trainable = 0
    for p in model.parameters():
        n = p.numel()
        if hasattr(p, "quant_state"):  # bitsandbytes packs two 4-bit values per byte
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return total, trainable
