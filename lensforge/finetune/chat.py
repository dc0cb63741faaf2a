"""Chat formats of the supported base models, and the split of a conversation into prompt and answer.

Training puts the loss on the assistant turn only, and evaluation generates after the prompt, so
both need the same rendering: everything up to the assistant's content (the prompt) and the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lensforge.errors import LensforgeError


@dataclass(frozen=True)
class ChatFormat:
    name: str
    system: str  # {system}
    user: str  # {user}
    assistant_prefix: str  # text before the assistant's content (ends the prompt)
    assistant_suffix: str  # text after the assistant's content (end of turn)
    bos: str = ""
    stop: tuple[str, ...] = ()

    def prompt(self, messages: list[dict[str, Any]]) -> str:
        """The rendered conversation up to where the assistant's answer begins."""
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = next(m["content"] for m in messages if m["role"] == "user")
        if system and not self.system:  # formats without a system turn put it before the user's text
            user = f"{system}\n\n{user}"
        head = self.system.format(system=system) if system and self.system else ""
        return self.bos + head + self.user.format(user=user) + self.assistant_prefix

    def completion(self, messages: list[dict[str, Any]]) -> str:
        """The assistant's answer plus the end-of-turn marker the model must learn to emit."""
        answer = next(m["content"] for m in messages if m["role"] == "assistant")
        return answer + self.assistant_suffix

    def render(self, messages: list[dict[str, Any]]) -> str:
        return self.prompt(messages) + self.completion(messages)


FORMATS: dict[str, ChatFormat] = {
    # Llama-3.1 Instruct, as its tokenizer's chat template renders it.
    "llama3": ChatFormat(
        name="llama3",
        bos="<|begin_of_text|>",
        system="<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",
        user="<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>",
        assistant_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
        assistant_suffix="<|eot_id|>",
        stop=("<|eot_id|>",),
    ),
    # Llama-2 chat: <s>[INST] <<SYS>> ... <</SYS>> user [/INST] answer </s>
    "llama2": ChatFormat(
        name="llama2",
        bos="<s>",
        system="[INST] <<SYS>>\n{system}\n<</SYS>>\n\n",
        user="{user} [/INST] ",
        assistant_prefix="",
        assistant_suffix=" </s>",
        stop=("</s>",),
    ),
    # The Mistral QLoRA seed: ###Human: ... ###Assistant: ... (system text joins the human turn)
    "mistral": ChatFormat(
        name="mistral",
        system="",
        user="###Human: {user} ",
        assistant_prefix="###Assistant: ",
        assistant_suffix="</s>",
        stop=("###Human:", "</s>"),
    ),
    # The tiny local model: its tokenizer is trained with these markers as special tokens.
    "tiny": ChatFormat(
        name="tiny",
        system="<|system|>{system}",
        user="<|user|>{user}",
        assistant_prefix="<|assistant|>",
        assistant_suffix="<|end|>",
        stop=("<|end|>",),
    ),
}

TINY_SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


def chat_format_for(base_model: str, explicit: str | None = None) -> ChatFormat:
    """The format for a base model: the explicit name, else one known from the model's name."""
    if explicit:
        if explicit not in FORMATS:
            raise LensforgeError(f"unknown chat format {explicit!r} (use {', '.join(FORMATS)})")
        return FORMATS[explicit]
    name = base_model.lower()
    if "llama-3" in name or "llama3" in name or "llamalens" in name:
        return FORMATS["llama3"]
    if "llama-2" in name or "llama2" in name:
        return FORMATS["llama2"]
    if "mistral" in name:
        return FORMATS["mistral"]
    if name in ("tiny", "lensforge-tiny") or name.startswith("tiny:"):
        return FORMATS["tiny"]
    raise LensforgeError(
        f"no known chat format for base model {base_model!r}",
        hint=f"pass --chat-format ({', '.join(FORMATS)})",
    )
