#!/usr/bin/env python3
"""Independent reference for the calibration metrics: reads {"logits": [[...]], "labels": [...], "bins": 15} from the
file named by argv[1] and prints {"ece": ..., "temperature": ..., "nll_1": ..., "nll_t": ...} as JSON.

ECE: scikit-learn's calibration_curve (strategy="uniform") gives each non-empty bin's accuracy and mean confidence;
numpy's digitize on the same edges gives the bin sizes. Temperature: scipy's bounded scalar minimiser of the mean
negative log-likelihood of softmax(logits / T). Needs Debian's python3-sklearn (numpy, scipy)."""
import json
import sys

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax
from sklearn.calibration import calibration_curve

data = json.load(open(sys.argv[1]))
logits = np.asarray(data["logits"], dtype=np.float64)
labels = np.asarray(data["labels"], dtype=np.int64)
bins = int(data.get("bins", 15))

probabilities = softmax(logits, axis=1)
confidence = probabilities.max(axis=1)
correct = (probabilities.argmax(axis=1) == labels).astype(np.int64)
accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
edges = np.linspace(0.0, 1.0, bins + 1)
# calibration_curve puts a confidence equal to an inner edge in the lower bin (searchsorted, side="left").
ids = np.searchsorted(edges[1:-1], confidence)
counts = np.bincount(ids, minlength=bins)
counts = counts[counts > 0]
ece = float(np.sum(counts / len(confidence) * np.abs(accuracy - mean_confidence)))


def nll(t):
    z = logits / t
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(labels)), labels]))


fit = minimize_scalar(nll, bounds=(1e-2, 1e2), method="bounded", options={"xatol": 1e-10})
print(json.dumps({"ece": ece, "temperature": float(fit.x), "nll_1": nll(1.0), "nll_t": nll(float(fit.x))}))
