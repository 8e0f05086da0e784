"""Rubrics: criteria, deterministic checks, the judge prompt and the pass rule."""

from .schema import Criterion, PassRule, Rubric, load_rubric

__all__ = ["Criterion", "PassRule", "Rubric", "load_rubric"]
