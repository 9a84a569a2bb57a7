#!/usr/bin/env python3
"""Independent reference for near-duplicate search: reads {"texts": [...], "threshold": 0.8} from the file named by
argv[1] (texts already normalised: lower-cased, white space collapsed) and prints {"pairs": [[i, j, jaccard], ...]}:
every pair i < j whose sets of character 5-grams have a Jaccard similarity of at least the threshold, found by
brute force (scikit-learn's CountVectorizer for the 5-grams, sparse products for the intersections). Texts shorter
than 5 characters have no 5-grams here and are left out. Needs Debian's python3-sklearn."""
import json
import sys

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

data = json.load(open(sys.argv[1]))
texts = data["texts"]
threshold = float(data.get("threshold", 0.8))
keep = [i for i, t in enumerate(texts) if len(t) >= 5]
vectorizer = CountVectorizer(analyzer="char", ngram_range=(5, 5), lowercase=False, binary=True, dtype=np.int64)
x = vectorizer.fit_transform([texts[i] for i in keep]).tocsr()
sizes = np.asarray(x.sum(axis=1)).ravel()
xt = x.T.tocsc()
pairs = []
block = 2000
for start in range(0, x.shape[0], block):
    inter = (x[start:start + block] @ xt).toarray()
    for r in range(inter.shape[0]):
        i = start + r
        both = inter[r, i + 1:]
        union = sizes[i] + sizes[i + 1:] - both
        jaccard = both / union
        for off in np.nonzero(jaccard >= threshold)[0]:
            j = i + 1 + off
            pairs.append([keep[i], keep[j], float(jaccard[off])])
print(json.dumps({"pairs": pairs}))
