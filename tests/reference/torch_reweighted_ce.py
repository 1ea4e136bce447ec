# SPDX-License-Identifier: Apache-2.0
"""Reference semantic re-weighted cross-entropy for tests/reference/torch_crosscheck.cpp.

PyTorch (Debian python3-torch) computes, in float64 with autograd, the loss of spec
semantic_peft.md section 4 on random data: per-row CE from log_softmax, expected embeddings
softmax(z) @ E (or E[argmax z]), cosine distances from F.cosine_similarity, weights from the
detached distances, and the gradient of the loss w.r.t. the logits by backward(). Writes the
inputs and the results as text. Exit code 77 means torch is not installed (the C++ test then
reports itself skipped).
"""
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch not available: {e}")
    sys.exit(77)

# name, per_token, argmax, scheme (0 linear, 1 softmax, 2 power), alpha, tau, gamma, w_min,
# mean normalisation, additive lambda
CASES = [
    ("per_item_linear_additive", 0, 0, 0, 1.0, 0.2, 1.0, 1e-3, 0, 0.5),
    ("per_token_softmax_mean", 1, 0, 1, 1.0, 0.3, 1.0, 1e-3, 1, 0.0),
    ("per_item_argmax_power", 0, 1, 2, 1.0, 0.2, 2.0, 1e-3, 0, 0.0),
    ("per_token_linear_additive_mean", 1, 0, 0, 0.5, 0.2, 1.0, 1e-3, 1, -0.7),
    ("per_item_softmax_expected", 0, 0, 1, 1.0, 0.3, 1.0, 1e-3, 0, 0.0),  # the pooled-before-GEMM path
]


def loss_and_grad(z0, y, mask, emb, case):
    _, per_token, argmax, scheme, alpha, tau, gamma, w_min, mean_norm, lam = case
    b_items, length = mask.shape
    z = torch.tensor(z0, dtype=torch.float64, requires_grad=True)
    e = torch.tensor(emb, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    ce_rows = -F.log_softmax(z, dim=1).gather(1, yt[:, None])[:, 0]
    o_rows = e[z.detach().argmax(dim=1)] if argmax else F.softmax(z, dim=1) @ e
    groups = []
    for b in range(b_items):
        rows = [b * length + l for l in range(length) if mask[b, l]]
        groups.extend([[r] for r in rows] if per_token else [rows])
    ce = torch.stack([ce_rows[g].mean() for g in groups])
    o = torch.stack([o_rows[g].mean(dim=0) for g in groups])
    t = torch.stack([e[yt[g]].mean(dim=0) for g in groups])
    d = 1.0 - F.cosine_similarity(o, t, dim=1, eps=1e-8)
    dd = d.detach()
    n = len(groups)
    if scheme == 0:
        w = 1.0 + alpha * dd
    elif scheme == 1:
        w = n * torch.softmax(dd / tau, dim=0)
    else:
        w = torch.clamp(dd ** gamma, min=w_min)
    loss = (w * ce).sum() / (n if mean_norm else w.sum()) + lam * d.mean()
    loss.backward()
    return loss.item(), ce.detach().numpy(), dd.numpy(), z.grad.numpy()


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    with open(out, "w") as f:
        f.write(f"{len(CASES)}\n")
        for case in CASES:
            b_items, length, vocab, dim = 4, 5, 23, 6
            z = rng.normal(0.0, 2.0, size=(b_items * length, vocab))
            y = rng.integers(0, vocab, size=b_items * length)
            mask = (rng.random((b_items, length)) > 0.3).astype(np.int64)
            mask[:, 0] = 0  # a prompt position per item
            mask[:, -1] = 1  # and at least one answer token
            emb = rng.uniform(-1.0, 1.0, size=(vocab, dim))
            loss, ce, d, grad = loss_and_grad(z, y, mask, emb, case)
            f.write(" ".join(str(v) for v in case) + "\n")
            f.write(f"{b_items} {length} {vocab} {dim}\n")
            for arr in (z, y, mask, emb):
                f.write(" ".join(repr(float(v)) if arr.dtype.kind == "f" else str(int(v)) for v in arr.ravel()) + "\n")
            f.write(f"{loss!r} {len(ce)}\n")
            for arr in (ce, d, grad):
                f.write(" ".join(repr(float(v)) for v in arr.ravel()) + "\n")


if __name__ == "__main__":
    main()
