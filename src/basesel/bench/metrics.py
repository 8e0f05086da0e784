"""Task metrics (scikit-learn, with the task's label list passed explicitly), SQuAD token F1, bootstrap
intervals and paired comparisons between conditions, through basesel.stats (the module `compare` uses).

The sentinel trap: an invalid output is predicted as INVALID. Without `labels=`, scikit-learn adds it
as one more class with F1 0 and macro F1 drops by a share it never earned; with `labels=` it is only a
wrong answer for the item's true class.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Callable, Sequence

from .. import stats

ACCURACY_TYPE = ("accuracy", "pass_at_1", "rubric_pass")  # per-item right/wrong: McNemar applies
DEFAULT_RESAMPLES = 2000


# -- SQuAD token F1 (the official evaluation script's normalisation) ----------------------------------
def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)  # SQuAD 2.0: both empty (no answer) is right, one empty is wrong
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Max over the gold answers; no gold answer means the right prediction is empty."""
    if not golds:
        return token_f1(prediction, "")
    return max(token_f1(prediction, g) for g in golds)


# -- classification --------------------------------------------------------------------------------
def classification_metric(metric: str, y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    average = {"macro_f1": "macro", "weighted_f1": "weighted"}[metric]
    return float(f1_score(y_true, y_pred, labels=list(labels), average=average, zero_division=0))


def detection_scores(gold_present: Sequence[bool], pred_present: Sequence[bool], scores: Sequence[float]) -> dict[str, float | None]:
    """CUAD answer detection: F1 of 'the clause is present', and the area under the precision-recall
    curve of the per-question score (None when only one class occurs: AUPR is then undefined)."""
    from sklearn.metrics import average_precision_score, f1_score

    f1 = float(f1_score(list(gold_present), list(pred_present), labels=[True], average="macro", zero_division=0))
    aupr = float(average_precision_score(list(gold_present), list(scores))) if len(set(gold_present)) == 2 else None
    return {"detection_f1": f1, "aupr": aupr}


# -- one condition's records -> its metric ------------------------------------------------------------
def metric_on(metric: str, records: Sequence[dict[str, Any]], labels: Sequence[str] | None) -> float:
    """The task metric over `records`: scikit-learn for classification, else the mean per-item score."""
    if metric in ("weighted_f1", "macro_f1", "accuracy") and labels is not None:
        return classification_metric(metric, [r["gold"] for r in records], [r["pred"] for r in records], labels)
    return sum(float(r["score"]) for r in records) / len(records) if records else float("nan")


def resample_statistic(metric: str, records: Sequence[dict[str, Any]], labels: Sequence[str] | None) -> Callable[[Any], float]:
    """The metric on a resample `idx` of the records, for the bootstrap (thousands of evaluations).

    The same F1 as scikit-learn's with `labels=` and zero_division=0 (F1 per label = 2 TP / (support +
    predicted), an invalid output only a miss), from label codes with numpy: scikit-learn's input
    checks cost ~5 ms a call, which a 2,000-resample interval per cell cannot afford. Checked against
    scikit-learn in the tests."""
    import numpy as np

    if metric in ("weighted_f1", "macro_f1", "accuracy") and labels is not None:
        code = {label: i for i, label in enumerate(labels)}
        n_labels = len(labels)
        t = np.array([code.get(r["gold"], n_labels) for r in records], dtype=np.int64)
        p = np.array([code.get(r["pred"], n_labels) for r in records], dtype=np.int64)  # INVALID -> n_labels

        def f1(idx: Any) -> float:
            ti, pi = t[idx], p[idx]
            if metric == "accuracy":
                return float(np.mean(ti == pi)) if len(ti) else float("nan")
            tp = np.bincount(ti[ti == pi], minlength=n_labels + 1)[:n_labels]
            support = np.bincount(ti, minlength=n_labels + 1)[:n_labels]
            predicted = np.bincount(pi, minlength=n_labels + 1)[:n_labels]
            denom = support + predicted
            per_label = np.divide(2 * tp, denom, out=np.zeros(n_labels, dtype=float), where=denom > 0)
            if metric == "macro_f1":
                return float(per_label.mean())
            return float((per_label * support).sum() / support.sum()) if support.sum() else 0.0

        return f1
    scores = np.array([float(r["score"]) for r in records], dtype=float)
    return lambda idx: float(scores[idx].mean()) if len(idx) else float("nan")


def interval(metric: str, records: Sequence[dict[str, Any]], labels: Sequence[str] | None, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> stats.Interval | None:
    if not records:
        return None
    return stats.bootstrap_interval(len(records), resample_statistic(metric, records, labels), n_resamples=resamples, seed=seed)


def paired(metric: str, a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], labels: Sequence[str] | None, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any] | None:
    """B against A on the items both have, in the same order: McNemar (exact and mid-p) on right/wrong
    for accuracy-type metrics, and a paired bootstrap of metric(B) - metric(A) for every metric."""
    by_id = {r["item_id"]: r for r in a}
    pairs = [(by_id[r["item_id"]], r) for r in b if r["item_id"] in by_id]
    if not pairs:
        return None
    ra, rb = [p[0] for p in pairs], [p[1] for p in pairs]
    out: dict[str, Any] = {"n": len(pairs)}
    if metric in ACCURACY_TYPE:
        out["mcnemar"] = stats.mcnemar([bool(r["correct"]) for r in ra], [bool(r["correct"]) for r in rb]).to_dict()
    fa, fb = resample_statistic(metric, ra, labels), resample_statistic(metric, rb, labels)
    diff = stats.paired_bootstrap(len(pairs), lambda idx: fb(idx) - fa(idx), n_resamples=resamples, seed=seed)
    out["difference"] = diff.to_dict()
    out["test"] = "McNemar exact + mid-p; paired bootstrap of the difference" if metric in ACCURACY_TYPE else "paired bootstrap of the difference"
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None
