"""Scenarios: single-turn user messages drawn from a domain taxonomy."""

from .model import Scenario, load_scenarios, write_scenarios
from .taxonomy import Taxonomy, load_taxonomy

__all__ = ["Scenario", "Taxonomy", "load_scenarios", "load_taxonomy", "write_scenarios"]
