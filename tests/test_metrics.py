import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from kernel_laugh.metrics import compute_metrics


def test_metrics_match_sklearn_and_auc_uses_scores():
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 2, 200)
    pos = np.clip(refs * 0.3 + rng.random(200) * 0.7, 0, 1)
    probs = np.stack([1 - pos, pos], 1)
    res = compute_metrics(probs, refs, ["non-laughter", "laughter"], n_boot=50)
    preds = probs.argmax(1)
    assert np.isclose(res["precision"], precision_score(refs, preds))
    assert np.isclose(res["recall"], recall_score(refs, preds))
    assert np.isclose(res["f1"], f1_score(refs, preds))
    assert np.isclose(res["roc_auc"], roc_auc_score(refs, pos))
    assert not np.isclose(res["roc_auc"], roc_auc_score(refs, preds))  # the original's bug: AUC of hard labels
    assert np.asarray(res["confusion_matrix"]).sum() == 200


def test_multiclass_macro_and_group_bootstrap():
    rng = np.random.default_rng(1)
    refs = np.repeat(np.arange(7), 20)
    logits = rng.normal(size=(140, 7)) + np.eye(7)[refs] * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    res = compute_metrics(probs, refs, [str(i) for i in range(7)], groups=np.arange(140) // 10, n_boot=50)
    assert np.isclose(res["f1"], f1_score(refs, probs.argmax(1), average="macro"))
    assert np.isclose(res["roc_auc"], roc_auc_score(refs, probs, multi_class="ovr"))
    assert "groups" in res["ci_method"] and res["accuracy_ci_low"] < res["accuracy"] < res["accuracy_ci_high"]
