"""Agreement between two raters (human labels vs the judge): Cohen's kappa, sensitivity, specificity.

Labels are "pass", "fail" or "n/a". Kappa is computed over every label the two raters used (three
classes when n/a occurs, two otherwise). Sensitivity and specificity treat **fail as the positive
class**, because the judge's job in a gate is to catch failures:

- sensitivity = of the responses humans failed, the share the judge failed too (TP / (TP + FN));
- specificity = of the responses humans passed, the share the judge passed too (TN / (TN + FP)).

They are computed on the pairs where both raters said pass or fail; pairs involving n/a count in
the raw agreement and in kappa only. Undefined values (no human fails, or one class only for kappa)
are None, never a made-up number.
"""

from __future__ import annotations

import math
from typing import Any

LABELS = ("pass", "fail", "n/a")
KAPPA_THRESHOLD = 0.6

_ALIASES = {
    "pass": "pass", "yes": "pass", "true": "pass", "ok": "pass", "1": "pass",
    "fail": "fail", "no": "fail", "false": "fail", "0": "fail",
    "n/a": "n/a", "na": "n/a", "n.a.": "n/a", "not applicable": "n/a", "none": "n/a", "skip": "n/a",
}


def normalize_label(value: Any) -> str | None:
    """'pass' | 'fail' | 'n/a' from the spellings people use (yes/no, true/false, na ...); None if unknown."""
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if value is None:
        return "n/a"
    return _ALIASES.get(str(value).strip().lower())


def outcome_label(passed: bool | None) -> str:
    return "n/a" if passed is None else ("pass" if passed else "fail")


def _sklearn():
    from ..errors import require

    require("sklearn", "judge", "Judge calibration (Cohen's kappa)")
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    return cohen_kappa_score, confusion_matrix


def cohen_kappa(human: list[str], machine: list[str]) -> float | None:
    """Cohen's kappa (scikit-learn); None when undefined (no pairs, or both raters used one and the same class)."""
    if not human:
        return None
    used = sorted(set(human) | set(machine), key=LABELS.index)
    if len(used) < 2:
        return None
    cohen_kappa_score, _ = _sklearn()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = float(cohen_kappa_score(human, machine, labels=used))
    return None if math.isnan(k) else k


def agreement(human: list[str], machine: list[str]) -> dict[str, Any]:
    """Raw agreement, kappa, and the fail-positive confusion matrix of paired labels."""
    if len(human) != len(machine):
        raise ValueError("human and machine label lists differ in length")
    n = len(human)
    binary = [(h, m) for h, m in zip(human, machine) if h != "n/a" and m != "n/a"]
    tp = fn = fp = tn = 0
    if binary:
        _, confusion_matrix = _sklearn()
        (tp, fn), (fp, tn) = confusion_matrix([h for h, _ in binary], [m for _, m in binary], labels=["fail", "pass"]).tolist()
    na_mismatch = sum(1 for h, m in zip(human, machine) if (h == "n/a") != (m == "n/a"))
    return {
        "n": n,
        "agreement": round(sum(h == m for h, m in zip(human, machine)) / n, 4) if n else None,
        "kappa": _round(cohen_kappa(human, machine)),
        "sensitivity": _round(tp / (tp + fn)) if tp + fn else None,
        "specificity": _round(tn / (tn + fp)) if tn + fp else None,
        "confusion": {"fail_fail": tp, "fail_pass": fn, "pass_fail": fp, "pass_pass": tn, "na_mismatch": na_mismatch},
        "human": {label: human.count(label) for label in LABELS},
        "judge": {label: machine.count(label) for label in LABELS},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
