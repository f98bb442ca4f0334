"""Prompt engineering (L3): prompt programs, strategies, demo selection, answer parsers and the
optimizer."""

from tailorlm.prompting.extract import PARSERS
from tailorlm.prompting.optimizer import PromptOptimizer
from tailorlm.prompting.program import Demo, DemoSelector, PromptProgram
from tailorlm.prompting.requests import build_messages, overhead_tokens
from tailorlm.prompting.strategies import STRATEGIES, describe_strategies, get_strategy

__all__ = [
    "PARSERS",
    "STRATEGIES",
    "Demo",
    "DemoSelector",
    "PromptOptimizer",
    "PromptProgram",
    "build_messages",
    "describe_strategies",
    "get_strategy",
    "overhead_tokens",
]
