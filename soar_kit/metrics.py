"""Pure evaluation functions: pass@k, accuracy, moving average, diversity (Vendi score).

Kept free of models and I/O so that each is trivially tested against hand-computed values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al., 2021): 1 - C(n-c,k)/C(n,k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    # the product form avoids huge binomials
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given (n, c) per problem."""
    if not counts:
        return 0.0
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


def moving_average(values: Sequence[float], window: int) -> float:
    tail = list(values)[-window:]
    return sum(tail) / len(tail) if tail else 0.0


def _ngrams(text: str, n: int) -> Counter[str]:
    text = " ".join(text.split())
    if len(text) < n:
        return Counter([text]) if text else Counter()
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def ngram_similarity_matrix(texts: Sequence[str], n: int = 3) -> np.ndarray:
    """Cosine similarity of character n-gram count vectors: a cheap, offline embedding."""
    grams = [_ngrams(t, n) for t in texts]
    vocab = {g: i for i, g in enumerate(sorted(set().union(*grams)))} if grams else {}
    mat = np.zeros((len(texts), max(len(vocab), 1)))
    for row, counts in enumerate(grams):
        for g, c in counts.items():
            mat[row, vocab[g]] = c
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit = mat / norms
    sim = unit @ unit.T
    np.fill_diagonal(sim, 1.0)
    return sim


def vendi_score(similarity: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng, 2023): exp of the entropy of K/n's eigenvalues.

    It reads as "the effective number of distinct items": 1 when all are identical, n when all
    are orthogonal. SOAR reports it for teacher questions (collapse ~10 vs ~33).
    """
    n = similarity.shape[0]
    if n == 0:
        return 0.0
    eig = np.linalg.eigvalsh(similarity / n)
    eig = eig[eig > 1e-12]
    return float(math.exp(-np.sum(eig * np.log(eig))))


def text_diversity(texts: Sequence[str], n: int = 3) -> float:
    """Vendi score of texts under the character n-gram kernel."""
    return vendi_score(ngram_similarity_matrix(texts, n)) if texts else 0.0


def embedding_vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score under the cosine kernel K = U Uᵀ of the rows of ``embeddings`` (n × d).

    Computed from the singular values of U/√n, not from an eigendecomposition of K: K/n and
    Uᵀ U/n share their non-zero eigenvalues, which are exactly those squared singular values, so
    they are ≥ 0 by construction (an eigendecomposition of K computed from float32 embeddings
    returns round-off values just below 0, whose log is undefined). Negative cosines between two
    texts are kept: K is a Gram matrix, hence positive semi-definite, as the Vendi score
    requires, while clipping its entries to ≥ 0 would in general break that. Rows are
    re-normalised in float64 so that k(x, x) = 1 exactly and the eigenvalues sum to 1.
    """
    u = np.asarray(embeddings, dtype=np.float64)
    n = u.shape[0]
    if n == 0:
        return 0.0
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("embedding_vendi_score: an embedding is the zero vector")
    s = np.linalg.svd(u / norms / math.sqrt(n), compute_uv=False)
    p = s**2
    p = p[p > 1e-12]
    p = p / p.sum()
    return float(math.exp(-np.sum(p * np.log(p))))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float | int]:
    """Seed-paired comparison of two methods (``a - b`` per seed), with an exact p-value.

    Why an exact sign-flip test rather than a t-test: with 8 seeds and pass@k values piled at 0
    or 1 the differences are far from normal, and under "no difference" every sign pattern of
    the paired differences is equally likely, so enumerating the 2^n patterns gives the
    two-sided p-value without any distribution assumption (n <= 16 here: at most 65,536).
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"need two equal-length non-empty sequences, got {len(a)} and {len(b)}")
    if len(a) > 16:
        raise ValueError(f"exact sign-flip test enumerates 2^n patterns; n={len(a)} > 16")
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    observed = abs(sum(d))
    extreme = 0
    for pattern in range(2**n):
        total = sum(x if pattern >> i & 1 else -x for i, x in enumerate(d))
        extreme += abs(total) >= observed - 1e-12
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "wins": sum(x > 0 for x in d),
        "ties": sum(x == 0 for x in d),
        "losses": sum(x < 0 for x in d),
        "t": mean / (sd / math.sqrt(n)) if sd > 0 else (math.inf if mean else 0.0),
        "p": extreme / 2**n,
    }
