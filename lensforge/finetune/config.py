"""Training configuration: named presets (presets.toml), typed `--set key=value` overrides, and the hardware gate.

Presets are data, validated when the file loads, so a typo in a preset fails at once and not an hour into a run.
Overrides are parsed against the field types of `TrainConfig`, and an unknown key lists the valid ones. A config
that needs a CUDA GPU (4-bit/8-bit bitsandbytes, paged or 8-bit optimizers) is refused on a machine without one
before any weights load: no silent fallback to a different (and differently behaving) setting.
"""

from __future__ import annotations

import tomllib
import typing
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import check_template_setting

CPU_PRESET = "cpu-tiny"
# transformers optimizer names (`TrainingArguments.optim`) offered here; a test checks transformers still has them.
# Listed rather than imported, so reading presets does not pay transformers' import time.
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adafactor",
    "sgd",
    "adamw_bnb_8bit",
    "adamw_8bit",
    "paged_adamw_32bit",
    "paged_adamw_8bit",
    "lion_32bit",
    "paged_lion_32bit",
    "paged_lion_8bit",
)
# bitsandbytes optimizers: CUDA only, like its quantization.
CUDA_OPTIMIZERS = OPTIMIZERS[4:]


class TrainConfig(BaseModel):
    """Every knob of a run. Field names are the `--set` keys."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    base_model: str = "tiny"
    chat_template: str | None = None  # None: the tokenizer's own; else a shipped name (llama2, mistral, tiny) or a file
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)  # -1: run `epochs`; > 0 overrides epochs
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Literal[
        "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
    ] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    warmup_steps: int = Field(0, ge=0)  # > 0: this many warmup steps (overrides warmup_ratio)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    per_device_batch: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    lora_r: int = Field(16, ge=1)
    lora_alpha: float = Field(16, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"  # "all-linear" or module names
    modules_to_save: list[str] = Field(default_factory=list)  # fully trained modules stored in the adapter
    quantization: Literal["none", "4bit", "8bit"] = "none"
    double_quant: bool = False
    compute_dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    optimizer: str = "adamw_torch"
    max_length: int = Field(2048, ge=16)
    truncation: Literal["drop", "prompt_left"] = "drop"  # examples over max_length: drop, or cut the prompt's start
    packing: bool = False  # TRL best-fit packing, padding-free: examples share a block, never attention
    group_by_length: bool = False
    seed: int = 42
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(500, ge=1)
    save_total_limit: int = Field(2, ge=0)  # checkpoints kept; 0 keeps all
    eval_steps: int = Field(0, ge=0)  # > 0: loss on the dev split every eval_steps
    gradient_checkpointing: bool = False
    # transformers' attention kernel (None: its default, sdpa). Packing is padding-free: with sdpa/eager the
    # per-example mask is built over the whole flattened batch (quadratic), so on GPU a flash-attention
    # implementation (e.g. flash_attention_2, with the flash-attn package) is what makes packing pay off.
    attn_implementation: str | None = None
    cpu_threads: int = Field(0, ge=0)  # torch threads on CPU during the run; 0 keeps torch's default

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r} (use {', '.join(OPTIMIZERS)})")
        check_template_setting(self.chat_template)
        if self.packing and self.group_by_length:
            raise ValueError("packing makes every block max_length long, so group_by_length has nothing to group")
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            self.target_modules = [self.target_modules]
        return self

    def needs_cuda(self) -> list[str]:
        """What in this config only runs on a CUDA GPU (empty when it runs anywhere)."""
        reasons = []
        if self.quantization != "none":
            reasons.append(f"{self.quantization} quantization (bitsandbytes)")
        if self.optimizer in CUDA_OPTIMIZERS:
            reasons.append(f"the {self.optimizer} optimizer (bitsandbytes)")
        return reasons


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())


@lru_cache(maxsize=1)
def _raw_presets() -> dict[str, dict[str, Any]]:
    text = resources.files("lensforge.finetune").joinpath("presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def load_presets() -> dict[str, TrainConfig]:
    """All presets, validated; a broken presets.toml is an error naming the preset and field."""
    out: dict[str, TrainConfig] = {}
    for name, values in _raw_presets().items():
        try:
            out[name] = TrainConfig.model_validate(values)
        except ValidationError as exc:
            raise LensforgeError(f"presets.toml: preset {name!r} is invalid: {_errors(exc)}") from None
    return out


def get_preset(name: str) -> TrainConfig:
    presets = load_presets()
    if name not in presets:
        raise LensforgeError(f"unknown preset {name!r}", hint=f"use one of: {', '.join(presets)}")
    return presets[name]


def valid_keys() -> list[str]:
    return [k for k in TrainConfig.model_fields if k != "description"]


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is list for a in (annotation, *typing.get_args(annotation)))


def _coerce(key: str, value: Any) -> Any:
    """A `--set` string turned into what the field's type expects (lists are comma-separated)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    annotation = TrainConfig.model_fields[key].annotation
    if text.lower() in ("none", "null") and type(None) in typing.get_args(annotation):
        return None
    if _is_list(annotation) and ("," in text or typing.get_origin(annotation) is list):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings (from `--set`) into typed values; unknown keys and bad values are errors naming them."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LensforgeError(f"bad override {item!r}: use key=value", hint=f"valid keys: {', '.join(valid_keys())}")
        out[key] = value
    typed = resolve_config(TrainConfig(), out)  # parsed and checked against the field types now
    return {k: getattr(typed, k) for k in out}


def resolve_config(preset: str | TrainConfig, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The preset with overrides applied and validated as one config (strings are parsed to the field types)."""
    base = get_preset(preset) if isinstance(preset, str) else preset
    overrides = overrides or {}
    unknown = [k for k in overrides if k not in TrainConfig.model_fields or k == "description"]
    if unknown:
        raise LensforgeError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
            hint=f"valid keys: {', '.join(valid_keys())}",
        )
    values = {**base.model_dump(), **{k: _coerce(k, v) for k, v in overrides.items()}}
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            key = str(e["loc"][0]) if e["loc"] else "config"
            field = TrainConfig.model_fields.get(key)
            expected = f" (expects {_type_name(field.annotation)})" if field is not None else ""
            got = f", got {overrides[key]!r}" if key in overrides else ""
            parts.append(f"{key}: {e['msg']}{expected}{got}")
        raise LensforgeError("invalid training setting: " + "; ".join(parts)) from None


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + "|".join(map(str, typing.get_args(annotation)))
    args = typing.get_args(annotation)
    if args:
        return " or ".join(_type_name(a) for a in args)
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def check_hardware(cfg: TrainConfig, preset: str, *, cuda: bool | None = None) -> None:
    """Refuse a config that needs a CUDA GPU on a machine without one, before any weights load."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    reasons = cfg.needs_cuda()
    if reasons and not cuda:
        raise LensforgeError(
            f"preset {preset!r} asks for {' and '.join(reasons)}, which needs a CUDA GPU, and this machine has none; "
            "nothing was loaded or started",
            hint=f"use --preset {CPU_PRESET} on this machine",
        )
