"""What the local engines share: prompts rendered with the model's own chat template and
counted with its Hugging Face tokenizer, so every engine sees the same tokens."""

from __future__ import annotations

from typing import Any

from tailorlm.types import Messages


class ChatTemplated:
    tokenizer: Any

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def render(self, messages: Messages) -> str:
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
        )
