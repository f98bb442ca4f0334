"""Prompt engineering (L3): prompt programs, strategies, answer parsers."""

from tailorlm.prompting.extract import PARSERS
from tailorlm.prompting.program import Demo, PromptProgram
from tailorlm.prompting.strategies import STRATEGIES, get_strategy

__all__ = ["PARSERS", "STRATEGIES", "Demo", "PromptProgram", "get_strategy"]
