"""Write a realistic baseline run directory of any size without calling a model, with the pipeline's own
parts: scenarios generated from a bundled taxonomy, the rubric's real deterministic checks run on each
answer, judge verdicts combined by `rubric.scoring.assess`, records appended by `JsonlAppender`, the
summary by `run.summary.summarize`. Answers and verdicts are drawn from a seeded generator whose pass
rate varies by topic and style, so every breakdown has something to show.

    python benchmarks/synthetic_run.py OUT_DIR -n 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from basesel import __version__  # noqa: E402
from basesel.paths import resolve_data_file  # noqa: E402
from basesel.rubric import load_rubric  # noqa: E402
from basesel.rubric.judge import JudgedCriterion  # noqa: E402
from basesel.rubric.scoring import applies, assess, run_checks  # noqa: E402
from basesel.run.config import RunConfig  # noqa: E402
from basesel.run.files import JsonlAppender, atomic_write_json  # noqa: E402
from basesel.run.summary import summarize  # noqa: E402
from basesel.scenarios import load_taxonomy, write_scenarios  # noqa: E402
from basesel.scenarios.generate import generate  # noqa: E402
from basesel.scenarios.model import scenarios_hash  # noqa: E402

_OPENERS = ["Thanks for reaching out.", "Sorry to hear about this.", "I can help with that.", "Good question."]
_STEPS = [
    "Open Settings, then Billing, and check the invoice list for the date in question.",
    "Reply with your account email and the invoice number so we can look it up.",
    "I have escalated this to the billing team; they answer within one business day.",
    "Clear the browser cache, then request a new reset link from the sign-in page.",
    "Check status.acme.example for ongoing incidents in your region.",
    "Export the bucket from the Storage tab before changing plans, so nothing is lost.",
]
_YES = ["The response addresses the user's {w} directly.", "It gives a concrete next step about the {w}.", "Tone is polite and specific to the {w}."]
_NO = ["The response ignores the {w} and answers a generic question.", "No actionable step is given for the {w}.", "It invents a refund amount for the {w}.", "The reply is vague about the {w}."]


def _answer(rng: random.Random, text: str, good: bool) -> str:
    words = [w.strip(".,!?") for w in text.split() if len(w) > 3]
    subject = " ".join(words[:4]) or "your request"
    parts = [rng.choice(_OPENERS), f"About {subject}:"]
    parts += rng.sample(_STEPS, rng.randint(1, 3) if good else 1)
    if not good and rng.random() < 0.15:
        parts.append("To verify you, please send your full password in this chat.")  # fails the credential check
    if rng.random() < 0.3:
        parts.append("Let me know if anything else comes up, and we will take it from there. " * rng.randint(1, 4))
    return " ".join(parts)


def make_run(
    run_dir: Path, n: int = 200, *, seed: int = 0, domain: str = "support", model: str = "openai/synthetic-7b", samples: int = 1,
    boost: float = 0.0, answers_seed: int = 0,
) -> Path:
    """`boost` raises every cell's quality (a fine-tuned model on the same scenarios: same `seed`, another
    `answers_seed`)."""
    rubric_path = resolve_data_file(domain, "rubrics")
    taxonomy_path = resolve_data_file(domain, "taxonomies")
    rubric = load_rubric(rubric_path)
    taxonomy = load_taxonomy(taxonomy_path)
    scenarios, _ = generate(taxonomy, n, seed)
    rng = random.Random(seed)
    # Quality per topic and style: the breakdowns then differ, as they do in real runs.
    topic_q = {t.name: 0.45 + 0.5 * rng.random() for t in taxonomy.topics} | {"edge_case": 0.35}
    style_q = {s: 0.8 + 0.4 * rng.random() for s in taxonomy.styles} | {"edge": 1.0}
    run_dir.mkdir(parents=True, exist_ok=True)
    config = RunConfig(model=model, judge="openai/synthetic-judge-70b", rubric=rubric_path, taxonomy=taxonomy_path, n=n, seed=seed, samples=samples, out=run_dir)
    manifest: dict[str, Any] = {
        "basesel_version": __version__,
        "python": sys.version.split()[0],
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config.model_dump(mode="json"),
        "candidate": {"provider": "openai", "name": model.split("/", 1)[-1], "endpoint": "http://127.0.0.1:8000/v1", "facts": {"parameters": 7e9}, "digest": None},
        "judge": {"provider": "openai", "name": "synthetic-judge-70b", "endpoint": "http://127.0.0.1:8001/v1", "facts": {"parameters": 70e9}, "digest": None},
        "rubric": {
            "id": rubric.id, "version": rubric.version, "path": str(rubric_path), "sha256": rubric.source_sha256,
            "criteria": [{"id": c.id, "name": c.name, "category": c.category or "general", "weight": c.weight, "critical": c.critical} for c in rubric.criteria],
            "category_weights": dict(rubric.pass_rule.category_weights),
        },
        "taxonomy": {"path": str(taxonomy_path), "sha256": taxonomy.source_sha256},
        "scenarios": {"count": len(scenarios), "sha256": scenarios_hash(scenarios), "source": "generated"},
        "system_prompt": {"sha256": None, "text": taxonomy.system_prompt},
        "warnings": [],
    }
    atomic_write_json(run_dir / "manifest.json", manifest)
    write_scenarios(scenarios, run_dir / "scenarios.jsonl")
    responses = JsonlAppender(run_dir / "responses.jsonl")
    assessments = JsonlAppender(run_dir / "assessments.jsonl")
    try:
        for s in scenarios:
            for k in range(samples):
                r = random.Random(f"{seed}:{answers_seed}:{s.id}:{k}")
                quality = min(0.97, boost + topic_q.get(str(s.tags.get("topic")), 0.6) * style_q.get(str(s.tags.get("style")), 1.0))
                record: dict[str, Any] = {"scenario_id": s.id, "sample": k, "input": s.input, "tags": s.tags, "cached": False}
                if r.random() < 0.004:
                    record["error"] = "HTTP 503 from http://127.0.0.1:8000/v1: server overloaded (after 3 attempts)"
                    responses.write(record)
                    continue
                good = r.random() < quality
                answer = _answer(r, s.input, good)
                record |= {"response": answer, "answer": answer, "finish_reason": "stop", "truncated": False, "latency_s": round(0.2 + r.random(), 4),
                           "usage": {"prompt_tokens": 80, "completion_tokens": len(answer) // 4}, "cost_usd": None}
                responses.write(record)
                checks, _facts = run_checks(rubric, answer, s.input, s.tags)
                judged = [c for c in rubric.judged_criteria if applies(c, s.input, s.tags)]
                skipped = [c for c in rubric.judged_criteria if c not in judged]
                word = (s.tags.get("subtopic") or s.tags.get("topic") or "request")
                verdicts = {}
                for c in judged:
                    ok = r.random() < (0.5 + quality / 2 if good else quality / 2)
                    verdict = "yes" if ok else ("n/a" if c.na_allowed and r.random() < 0.5 else "no")
                    pool = _YES if verdict != "no" else _NO
                    verdicts[c.id] = JudgedCriterion(verdict, r.choice(pool).format(w=word))  # type: ignore[arg-type]
                unreadable = r.random() < 0.003
                a = assess(rubric, s.id, k, checks, judged, [None] if unreadable else [verdicts], skipped)
                assessments.write(a.to_dict())
    finally:
        responses.close()
        assessments.close()
    summary = summarize(run_dir)
    summary["cache"] = {"hits": 0, "model_calls": 2 * len(scenarios) * samples, "enabled": True}
    atomic_write_json(run_dir / "summary.json", summary)
    return run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--domain", default="support")
    ap.add_argument("--model", default="openai/synthetic-7b")
    args = ap.parse_args()
    print(make_run(args.out, args.n, seed=args.seed, domain=args.domain, model=args.model))


if __name__ == "__main__":
    main()
