"""Everything that defines a baseline run; saved in the manifest and used to resume it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


def default_judge_temperature(samples: int) -> float:
    """0 for one verdict; 0.7 for K > 1, since K greedy verdicts would be K copies of one."""
    return 0.7 if samples > 1 else 0.0


class EndpointConfig(BaseModel):
    """One server of a model served by several (--base-url repeated, or --endpoints FILE)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    concurrency: int | None = Field(default=None, ge=1)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    judge: str = "embedded"
    base_url: str | None = None
    judge_base_url: str | None = None
    rubric: Path
    taxonomy: Path | None = None
    scenarios: Path | None = None
    n: int = Field(default=50, ge=1)
    seed: int = 0
    system_prompt: str | None = None
    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=1024, ge=1)
    judge_temperature: float = Field(default=0.0, ge=0)
    judge_max_tokens: int = Field(default=1024, ge=16)
    judge_samples: int = Field(default=1, ge=1)
    judge_retries: int = Field(default=2, ge=0)
    think: bool | None = None
    concurrency: int | None = Field(default=None, ge=1)
    judge_concurrency: int | None = Field(default=None, ge=1)
    samples: int = Field(default=1, ge=1)
    no_cache: bool = False
    out: Path | None = None
    doc: Path = Path("docs/base-model-evaluation.md")
    research: Path | None = None
    model_options: dict = Field(default_factory=dict)
    judge_options: dict = Field(default_factory=dict)
    # Two or more servers of the candidate / the judge (base_url is then the first): see run/endpoints.py.
    endpoints: list[EndpointConfig] = Field(default_factory=list)
    judge_endpoints: list[EndpointConfig] = Field(default_factory=list)
    # multi-turn (run/conversation.py): None = single-turn unless a scenario carries its own `turns`
    turns: str | None = None
    """N or MIN-MAX turns per conversation; drawn per scenario, fixed for a seed."""
    user_sim: str | None = None
    user_sim_base_url: str | None = None
    user_sim_options: dict = Field(default_factory=dict)
    user_sim_temperature: float = Field(default=0.7, ge=0)
    user_sim_max_tokens: int = Field(default=300, ge=16)
    single_turn_too: bool = True
    """Multi-turn runs also grade each conversation's first reply alone, for the side-by-side comparison."""
