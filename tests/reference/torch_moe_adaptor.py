# SPDX-License-Identifier: Apache-2.0
"""Reference LEMoE adaptor for tests/reference/torch_moe_crosscheck.cpp.

PyTorch (Debian python3-torch) computes, in float64 with autograd, the adaptor's output
out[t] = lambda * sum_j g(t / L, j) f_{id(t / L, j)}(x[t]) for every router x expert case below
(KV anchors with a shared or per-expert projection and dot / scaled / cosine scores, the softmax
top-k gate, per-instance anchors with the null route; SwiGLU, MLP and LoRA experts with their
activations), and by backward() of sum(out * dout) the gradient of every parameter. Parameters and
inputs are random; the file written holds them and the results as text. Written from the papers'
formulas (spec lemoe.md), not from beacon's code. Exit code 77: torch is not installed.
"""
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch not available: {e}")
    sys.exit(77)

torch.manual_seed(1234)
D, HIDDEN, RANK, KEY_DIM, EXPERTS, BATCH, LENGTH, LAMBDA = 6, 5, 3, 4, 3, 4, 2, 0.7

# name, router (kv | softmax | instance), k, gate (0 softmax over all, 1 renormalised top-k),
# score (0 dot, 1 scaled dot, 2 cosine), projection (0 shared, 1 per expert), expert, activation, lora rank
CASES = [
    ("kv1_swiglu", "kv", 1, 0, 0, 0, "swiglu", "silu", 0),
    ("kv2_mlp_gelu", "kv", 2, 0, 0, 0, "mlp", "gelu", 0),
    ("kv2_scaled_renorm_mlp_relu", "kv", 2, 1, 1, 0, "mlp", "relu", 0),
    ("kv2_perexpert_cosine_lora_relu", "kv", 2, 0, 2, 1, "lora", "relu", 3),
    ("kv1_cosine_lora_identity", "kv", 1, 0, 2, 0, "lora", "identity", 2),
    ("softmax2_swiglu", "softmax", 2, 0, 0, 0, "swiglu", "silu", 0),
    ("softmax1_mlp_silu", "softmax", 1, 0, 0, 0, "mlp", "silu", 0),
    ("softmax2_renorm_lora_gelu", "softmax", 2, 1, 0, 0, "lora", "gelu", 3),
    ("instance1_swiglu", "instance", 1, 1, 2, 0, "swiglu", "silu", 0),
    ("instance2_mlp_relu", "instance", 2, 1, 2, 0, "mlp", "relu", 0),
    ("instance1_lora_silu", "instance", 1, 1, 2, 0, "lora", "silu", 3),
]
THRESHOLD = 0.1  # instance anchors: the null route below this cosine


def act(name, z):
    return {"relu": torch.relu, "silu": F.silu, "gelu": lambda v: F.gelu(v), "identity": lambda v: v}[name](z)


def rand(*shape, scale=0.5):
    return (torch.randn(*shape, dtype=torch.float64) * scale).requires_grad_(True)


def unit(v):  # cosine with norms clamped at 1e-8
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def make_params(case):
    name, router, k, gate, score, proj, expert, activation, rank = case
    p = {}
    if router == "kv":
        if proj == 0:
            p["router.w_down"], p["router.w_up"] = rand(RANK, D), rand(KEY_DIM, RANK)
        else:
            for i in range(EXPERTS):
                p[f"router.expert{i}.w_down"], p[f"router.expert{i}.w_up"] = rand(RANK, D), rand(KEY_DIM, RANK)
        p["router.keys"] = rand(EXPERTS, KEY_DIM)
    elif router == "softmax":
        p["router.gate"] = rand(EXPERTS, D)
    for i in range(EXPERTS):
        if expert == "swiglu":
            p[f"expert{i}.gate"], p[f"expert{i}.up"], p[f"expert{i}.down"] = rand(HIDDEN, D), rand(HIDDEN, D), rand(D, HIDDEN)
        elif expert == "mlp":
            p[f"expert{i}.w1"], p[f"expert{i}.b1"] = rand(HIDDEN, D), rand(HIDDEN)
            p[f"expert{i}.w2"], p[f"expert{i}.b2"] = rand(D, HIDDEN), rand(D)
        else:
            p[f"expert{i}.lora_a"], p[f"expert{i}.lora_b"] = rand(rank, D), rand(D, rank)
    return p


def expert_out(case, p, i, x):
    expert, activation = case[6], case[7]
    if expert == "swiglu":
        return (F.silu(x @ p[f"expert{i}.gate"].T) * (x @ p[f"expert{i}.up"].T)) @ p[f"expert{i}.down"].T
    if expert == "mlp":
        return act(activation, x @ p[f"expert{i}.w1"].T + p[f"expert{i}.b1"]) @ p[f"expert{i}.w2"].T + p[f"expert{i}.b2"]
    return act(activation, x @ p[f"expert{i}.lora_a"].T) @ p[f"expert{i}.lora_b"].T


def scores_of(case, p, x, e, anchors, owner):
    router, score, proj = case[1], case[4], case[5]
    if router == "softmax":
        return x @ p["router.gate"].T
    if router == "instance":
        centred = anchors - anchors.mean(dim=0)
        u = centred / centred.norm(dim=1, keepdim=True)
        q = e - anchors.mean(dim=0)
        q = q / q.norm(dim=1, keepdim=True)
        cos = q @ u.T
        return torch.stack([cos[:, owner == i].max(dim=1).values for i in range(EXPERTS)], dim=1)
    keys = p["router.keys"]
    cols = []
    for i in range(EXPERTS):
        pre = "router." if proj == 0 else f"router.expert{i}."
        v = F.silu(e @ p[pre + "w_down"].T) @ p[pre + "w_up"].T
        k_i = keys[i]
        if score == 2:
            cols.append(unit(v) @ unit(k_i))
        else:
            cols.append((v @ k_i) / (KEY_DIM ** 0.5 if score == 1 else 1.0))
    return torch.stack(cols, dim=1)


def forward(case, p, x, e, anchors, owner):
    router, k, gate = case[1], case[2], case[3]
    rows = x if router == "softmax" else e
    length = 1 if router == "softmax" else LENGTH
    s = scores_of(case, p, x, e, anchors, owner)
    probs = F.softmax(s, dim=1)
    ids = probs.detach().topk(k, dim=1).indices
    gates = F.softmax(s.gather(1, ids), dim=1) if gate == 1 else probs.gather(1, ids)
    if router == "instance":  # the null route: no expert below the threshold
        routed = (s.detach().max(dim=1).values >= THRESHOLD).to(torch.float64)
        gates = gates * routed[:, None]
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        r = t // length
        for j in range(k):
            out[t] = out[t] + LAMBDA * gates[r, j] * expert_out(case, p, int(ids[r, j]), x[t])
    return out, ids, rows.shape[0]


def dump(f, name, t):
    t = t.detach()
    rows, cols = (t.shape[0], t.shape[1]) if t.dim() == 2 else (1, t.shape[0])
    f.write(f"{name} {rows} {cols}\n")
    f.write(" ".join(repr(float(v)) for v in t.reshape(-1).tolist()) + "\n")


def main(path):
    with open(path, "w") as f:
        f.write(f"{len(CASES)} {D} {HIDDEN} {RANK} {KEY_DIM} {EXPERTS} {BATCH} {LENGTH} {LAMBDA!r} {THRESHOLD!r}\n")
        for case in CASES:
            p = make_params(case)
            x = torch.randn(BATCH * LENGTH, D, dtype=torch.float64)
            e = torch.randn(BATCH, D, dtype=torch.float64) + 0.5
            anchors = torch.randn(2 * EXPERTS, D, dtype=torch.float64)
            anchors[:BATCH] = e + 0.05 * torch.randn(BATCH, D, dtype=torch.float64)  # most probes near an anchor
            owner = torch.tensor([i % EXPERTS for i in range(2 * EXPERTS)])
            dout = torch.randn(BATCH * LENGTH, D, dtype=torch.float64)
            out, ids, _ = forward(case, p, x, e, anchors, owner)
            (out * dout).sum().backward()
            f.write(" ".join(str(v) for v in case) + "\n")
            f.write(f"{len(p)}\n")
            for name, t in p.items():
                dump(f, name, t)
            for name, t in (("x", x), ("e", e), ("dout", dout), ("out", out), ("anchors", anchors), ("owner", owner.to(torch.float64))):
                dump(f, name, t)
            for name, t in p.items():
                dump(f, "grad:" + name, t.grad if t.grad is not None else torch.zeros_like(t))


if __name__ == "__main__":
    main(sys.argv[1])
