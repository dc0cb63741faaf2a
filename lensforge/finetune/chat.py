"""Chat rendering through the tokenizer's own chat template: one function for training and evaluation.

A model is trained and served with the prompt its tokenizer's template renders (`apply_chat_template`), so an
adapter trained here sees at evaluation, and behind vLLM/TGI, exactly the prompt tokens it saw in training. Any
chat model with a template works unchanged (Llama-3.1, Qwen, Gemma, Phi...). Base models without one (Llama-2
base, Mistral base) use a named Jinja template shipped in `templates/` (`--set chat_template=NAME`) or a template
file. The loss mask comes from the template's `{% generation %}` blocks when it has them (what TRL's
`assistant_only_loss` uses), else from the completion: every token after the prompt (TRL's completion-only rule).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lensforge.errors import LensforgeError

Messages = list[dict[str, Any]]
MODEL_TEMPLATE = "model"  # the name recorded when the tokenizer's own template is used
TEMPLATE_SUFFIXES = (".jinja", ".j2")
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")
RENDER_CHUNK = 256  # conversations per apply_chat_template call (and per progress report)


def shipped_templates() -> dict[str, str]:
    """The named templates shipped with lensforge (`templates/<name>.jinja`), by name."""
    folder = resources.files("lensforge.finetune").joinpath("templates")
    return {
        entry.name.removesuffix(".jinja"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".jinja")
    }


def template_choices() -> str:
    return ", ".join(shipped_templates()) + " or a .jinja file"


def has_generation_markers(text: str) -> bool:
    """Whether a template marks the assistant's tokens with {% generation %} blocks (trim variants included)."""
    return _GENERATION.search(text) is not None


def check_template_setting(setting: str | None) -> None:
    """Refuse a `chat_template` setting that is neither a shipped name nor a template file name (before any load)."""
    if setting is None or setting in shipped_templates():
        return
    if not setting.endswith(TEMPLATE_SUFFIXES):
        raise ValueError(f"unknown chat template {setting!r} (use {template_choices()})")


@dataclass(frozen=True)
class ChatTemplate:
    """A resolved chat template: its name (`model`, a shipped name or a file path) and its Jinja text."""

    name: str
    text: str

    @property
    def sha(self) -> str:
        """Short hash of the text: two runs with the same sha rendered their prompts the same way."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @property
    def has_generation_markers(self) -> bool:
        return has_generation_markers(self.text)

    @property
    def mask_source(self) -> str:
        """Where the loss mask comes from: the template's generation blocks, or everything after the prompt."""
        return "generation" if self.has_generation_markers else "completion"


def _own_template(tokenizer: Any) -> str | None:
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):  # a template shipped as named variants: the default one renders conversations
        own = own.get("default")
    return own or None


def resolve_template(tokenizer: Any, setting: str | None, *, model: str = "the model") -> ChatTemplate:
    """The template to render with, installed on the tokenizer (so a saved tokenizer carries it).

    `setting`: None for the tokenizer's own template, a shipped name (`llama2`, `mistral`, `tiny`), or a path to
    a Jinja file. A tokenizer whose own template is a shipped one reports that name.
    """
    shipped = shipped_templates()
    if setting is None:
        own = _own_template(tokenizer)
        if own is None:
            raise LensforgeError(
                f"{model} has no chat template, so lensforge cannot know how to render a conversation for it",
                hint=f"pick one with --set chat_template=NAME (training) or --chat-template NAME (evaluation): "
                f"{template_choices()}",
            )
        name = next((n for n, text in shipped.items() if text == own), MODEL_TEMPLATE)
        template = ChatTemplate(name, own)
    elif setting in shipped:
        template = ChatTemplate(setting, shipped[setting])
    else:
        path = Path(setting).expanduser()
        if not path.is_file() or not path.name.endswith(TEMPLATE_SUFFIXES):
            raise LensforgeError(
                f"chat template {setting!r} is neither a shipped template nor a .jinja file",
                hint=f"use {template_choices()}",
            )
        template = ChatTemplate(str(path.resolve()), path.read_text(encoding="utf-8"))
    tokenizer.chat_template = template.text
    return template


@dataclass(frozen=True)
class Rendered:
    """One conversation as token ids.

    `prompt_ids`: the conversation up to where the (last) answer begins, as generation sees it.
    `input_ids`: the whole conversation (equal to prompt_ids when there is no answer).
    `loss_mask`: 1 on the tokens training puts the loss on (the answer and its end-of-turn marker).
    """

    prompt_ids: list[int]
    input_ids: list[int]
    loss_mask: list[int]

    @property
    def answer_length(self) -> int:
        return len(self.input_ids) - len(self.prompt_ids)


def _ids(tokenizer: Any, conversations: list[Messages], template: ChatTemplate, **kwargs: Any) -> dict[str, Any]:
    try:
        return tokenizer.apply_chat_template(
            conversations, chat_template=template.text, tokenize=True, return_dict=True, **kwargs
        )
    except LensforgeError:
        raise
    except Exception as exc:  # a Jinja error in a user's template file, raise_exception() for an unknown role
        raise LensforgeError(f"chat template {template.name} cannot render a conversation: {exc}") from None


def fold_system(conversation: Messages) -> Messages:
    """The system text put before the first user turn's, for templates that have no system role (Gemma's)."""
    if not conversation or conversation[0]["role"] != "system":
        return conversation
    system, rest = conversation[0]["content"], [dict(m) for m in conversation[1:]]
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if first_user is None:
        return rest
    first_user["content"] = f"{system}\n\n{first_user['content']}"
    return rest


def rejects_system_role(tokenizer: Any, template: ChatTemplate) -> bool:
    """Whether the template refuses a system message (raise_exception) but renders the folded conversation."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        tokenizer.apply_chat_template(probe, chat_template=template.text, tokenize=False, add_generation_prompt=True)
        return False
    except Exception:  # jinja2's TemplateError from raise_exception, or any other refusal
        pass
    try:
        tokenizer.apply_chat_template(
            fold_system(probe), chat_template=template.text, tokenize=False, add_generation_prompt=True
        )
    except Exception:
        return False  # it fails for another reason: render() reports it
    return True


def render(
    tokenizer: Any,
    conversations: Sequence[Messages],
    template: ChatTemplate,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Rendered]:
    """Token ids of conversations through `tokenizer.apply_chat_template`: training and evaluation both call this.

    A conversation ending with an assistant turn is rendered whole, with its loss mask; the prompt is the
    conversation without that turn plus the generation prompt. The prompt must be the exact start of the whole
    conversation, otherwise training and serving would see different prompt tokens; that is an error naming the
    template. A template without a system role (Gemma's) gets the system text before the first user turn, in
    training and evaluation alike. `on_progress(done, total)` is called after each chunk.
    """
    out: list[Rendered] = []
    total = len(conversations)
    fold = rejects_system_role(tokenizer, template)
    for start in range(0, total, RENDER_CHUNK):
        chunk = [fold_system(list(c)) if fold else list(c) for c in conversations[start : start + RENDER_CHUNK]]
        answered = [bool(c) and c[-1]["role"] == "assistant" for c in chunk]
        prompts = _ids(
            tokenizer,
            [c[:-1] if a else c for c, a in zip(chunk, answered, strict=True)],
            template,
            add_generation_prompt=True,
        )["input_ids"]
        whole_index = [i for i, a in enumerate(answered) if a]
        whole: dict[str, Any] = {}
        if whole_index:
            whole = _ids(
                tokenizer,
                [chunk[i] for i in whole_index],
                template,
                return_assistant_tokens_mask=template.has_generation_markers,
            )
        at = {i: k for k, i in enumerate(whole_index)}
        for i, prompt in enumerate(prompts):
            prompt = list(prompt)
            if i not in at:
                out.append(Rendered(prompt, prompt, [0] * len(prompt)))
                continue
            ids = list(whole["input_ids"][at[i]])
            n = len(prompt)
            if ids[:n] != prompt:
                raise LensforgeError(
                    f"chat template {template.name} renders the prompt differently alone than inside the whole "
                    f"conversation (prompt ends {tokenizer.decode(prompt[-8:])!r}, conversation has "
                    f"{tokenizer.decode(ids[max(0, n - 8) : n + 4])!r}), so training and serving would see different "
                    "prompt tokens",
                    hint="end the generation prompt on a token boundary, or choose another template with "
                    "--set chat_template=NAME",
                )
            if template.has_generation_markers:
                mask = [int(b) for b in whole["assistant_masks"][at[i]]]
            else:
                mask = [0] * n + [1] * (len(ids) - n)
            if not any(mask[n:]):
                raise LensforgeError(
                    f"chat template {template.name} marks no token of the answer for training "
                    f"(answer {chunk[i][-1]['content'][:60]!r})",
                    hint="its {% generation %} block must hold the assistant's content",
                )
            out.append(Rendered(prompt, ids, mask))
        if on_progress is not None:
            on_progress(len(out), total)
    return out


def turn_end(tokenizer: Any, template: ChatTemplate) -> tuple[list[int], str]:
    """What the template writes after an answer: (its special-token ids, its text without spaces).

    Generation stops at those tokens (e.g. <|eot_id|>, <|im_end|>, </s>), and a decoded answer is cut at the text
    in case the model writes the marker as plain text.
    """
    sentinel = "\u2063lensforge-answer\u2063"
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}]
    try:
        text = tokenizer.apply_chat_template(messages, chat_template=template.text, tokenize=False)
    except Exception as exc:
        raise LensforgeError(f"chat template {template.name} cannot render a conversation: {exc}") from None
    suffix = text.split(sentinel, 1)[1] if sentinel in text else ""
    special = set(getattr(tokenizer, "all_special_ids", []) or []) | set(
        getattr(tokenizer, "added_tokens_decoder", {}) or {}
    )
    ids = [int(t) for t in tokenizer.encode(suffix, add_special_tokens=False) if t in special] if suffix else []
    return ids, suffix.strip()
