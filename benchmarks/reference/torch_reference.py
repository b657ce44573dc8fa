"""PyTorch reference for `pnpm bench:reference`: the workloads of benchmarks/src/workloads.ts, built
with the same shapes, dropout and losses, timed as a full-batch gradient and as gradient caching in
the style of the reference implementation (luyug/GradCache: a no-grad forward of every chunk with
its RNG state saved, the loss on the cached reps, then each chunk re-encoded under its saved state
and back-propagated with its slice of the rep gradients).

    python3 torch_reference.py <mlp|cnn|text|minilm|matmul> [--chunk 32] [--rounds 1] [--threads 1]

Prints one JSON line: {"workload", "batch", "chunk", "full_ms", "cached_ms", "threads", "torch"}
(each time the median of --rounds steps after one warm-up step), or for matmul {"gflops"}.
Needs only torch (Debian: apt install python3-torch libopenblas0-pthread).
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def info_nce(q, d, temperature):
    scores = q @ d.T / temperature
    return F.cross_entropy(scores, torch.arange(q.shape[0]))


def nt_xent(a, b, temperature):
    z = torch.cat([a, b])
    n = a.shape[0]
    scores = z @ z.T / temperature
    scores.fill_diagonal_(-1e9)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(scores, targets)


class Mlp(nn.Module):
    """128-256-256-64, tanh between layers, L2-normalised (mlpEncoder)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(128, 256), nn.Linear(256, 256), nn.Linear(256, 64)])

    def forward(self, x):
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = torch.tanh(x)
        return F.normalize(x, dim=1)


def conv_bn(cin, cout, kernel, stride, relu):
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout, momentum=0.1, eps=1e-3)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.main = nn.Sequential(conv_bn(cin, cout, 3, stride, True), conv_bn(cout, cout, 3, 1, False))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, False)

    def forward(self, x):
        return F.relu(self.main(x) + self.shortcut(x))


class Cnn(nn.Module):
    """convEncoder 32×32×3: stem 3×3/2 to 16, residual stages 16-32-64 (stride 1, 2, 2), average pool, dense 64, L2."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2, True)
        self.stages = nn.Sequential(Residual(16, 16, 1), Residual(16, 32, 2), Residual(32, 64, 2))
        self.head = nn.Linear(64, 64)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return F.normalize(self.head(x.mean(dim=(2, 3))), dim=1)


class Block(nn.Module):
    """Pre-LN: x + drop(attention(LN x)), then x + drop(dense(gelu(dense(LN x))))."""

    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        b, t, d = x.shape
        dh = d // self.heads
        h = self.ln1(x)
        split = lambda y: y.reshape(b, t, self.heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + ((1 - mask) * -1e9).reshape(b, 1, 1, t)
        merged = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.o(merged))
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(x)))))


class Text(nn.Module):
    """textEncoder: vocabulary 2,000, 32 positions, width 128, 4 heads, 2 blocks, dropout 0.1, masked mean, dense 128."""

    def __init__(self, vocab=2000, length=32, dim=128, heads=4, layers=2, dropout=0.1):
        super().__init__()
        self.embed, self.position = nn.Embedding(vocab, dim), nn.Parameter(torch.randn(length, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, dim)

    def forward(self, batch):
        ids, mask = batch
        x = self.drop(self.embed(ids) + self.position[: ids.shape[1]])
        for block in self.blocks:
            x = block(x, mask)
        x = self.ln(x)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.head(pooled)


class BertLayer(nn.Module):
    """BERT's post-LN layer: LN(x + drop(attention(x))), then LN(x + drop(dense(gelu(dense(x))))); attention dropout on the probabilities."""

    def __init__(self, dim, heads, ff, dropout):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-12), nn.LayerNorm(dim, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(dim, ff), nn.Linear(ff, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        b, t, d = x.shape
        dh = d // self.heads
        split = lambda y: y.reshape(b, t, self.heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + ((1 - mask) * -1e9).reshape(b, 1, 1, t)
        merged = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, t, d)
        x = self.ln1(x + self.drop(self.o(merged)))
        return self.ln2(x + self.drop(self.ff2(F.gelu(self.ff1(x)))))


class MiniLm(nn.Module):
    """all-MiniLM-L6-v2's shape (benchmarks/src/minilm.ts): vocabulary 30,522, width 384, 12 heads, 6 layers, feed-forward 1,536, dropout 0.1, mean pooling."""

    def __init__(self, vocab=30522, positions=512, dim=384, heads=12, layers=6, ff=1536, dropout=0.1):
        super().__init__()
        self.word, self.position, self.token_type = nn.Embedding(vocab, dim), nn.Embedding(positions, dim), nn.Embedding(2, dim)
        self.ln, self.drop = nn.LayerNorm(dim, eps=1e-12), nn.Dropout(dropout)
        self.layers = nn.ModuleList([BertLayer(dim, heads, ff, dropout) for _ in range(layers)])

    def forward(self, batch):
        ids, mask = batch
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.drop(self.ln(self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids))))
        for layer in self.layers:
            x = layer(x, mask)
        return (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)


def minilm_tokens(rows, length, seed):
    """[CLS] random ids [SEP], no padding (randomTokens in minilm.ts)."""
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(5, 30522, (rows, length - 2), generator=g)
    ids = torch.cat([torch.full((rows, 1), 2), body, torch.full((rows, 1), 3)], 1)
    return ids, torch.ones(rows, length)


def tokens(rows, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 33, (rows, 1), generator=g)
    mask = (torch.arange(32).unsqueeze(0) < lengths).float()
    ids = torch.randint(4, 2000, (rows, 32), generator=g) * mask.long()
    return ids, mask


MINILM_BATCH = 8


def workload(name):
    """(encoders, inputs, loss, chunk-able slicer), as benchmarks/src/workloads.ts and suite.ts use them."""
    torch.manual_seed(0)
    if name == "mlp":
        return [Mlp(), Mlp()], [torch.randn(512, 128), torch.randn(512, 128)], lambda r: info_nce(r[0], r[1], 0.05)
    if name == "cnn":
        cnn = Cnn()
        return [cnn, cnn], [torch.randn(128, 3, 32, 32), torch.randn(128, 3, 32, 32)], lambda r: nt_xent(r[0], r[1], 0.5)
    if name == "text":
        return [Text(), Text()], [tokens(128, 7), tokens(128, 8)], lambda r: info_nce(r[0], r[1], 0.05)
    if name == "minilm":
        bert = MiniLm()
        return [bert, bert], [minilm_tokens(MINILM_BATCH, 64, 11), minilm_tokens(MINILM_BATCH, 64, 12)], lambda r: info_nce(r[0], r[1], 0.05)
    raise SystemExit(f"torch_reference.py: unknown workload {name!r}; one of mlp, cnn, text, minilm, matmul.")


def rows(batch):
    return batch[0].shape[0] if isinstance(batch, tuple) else batch.shape[0]


def chunk_of(batch, begin, size):
    return tuple(t[begin : begin + size] for t in batch) if isinstance(batch, tuple) else batch[begin : begin + size]


def zero(encoders):
    for e in encoders:
        e.zero_grad(set_to_none=True)


def full_step(encoders, inputs, loss):
    zero(encoders)
    loss([e(x) for e, x in zip(encoders, inputs)]).backward()


def cached_step(encoders, inputs, loss, chunk):
    zero(encoders)
    reps, states = [], []
    with torch.no_grad():
        for e, x in zip(encoders, inputs):
            parts, saved = [], []
            for begin in range(0, rows(x), chunk):
                saved.append(torch.get_rng_state())
                parts.append(e(chunk_of(x, begin, chunk)))
            reps.append(torch.cat(parts))
            states.append(saved)
    reps = [r.requires_grad_() for r in reps]
    loss(reps).backward()
    for e, x, r, saved in zip(encoders, inputs, reps, states):
        for k, begin in enumerate(range(0, rows(x), chunk)):
            torch.set_rng_state(saved[k])
            out = e(chunk_of(x, begin, chunk))
            out.backward(r.grad[begin : begin + chunk])


def timed(fn, rounds):
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload")
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="compare the cached gradient with the full one (dropout off) and exit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.workload == "matmul":
        x, y = torch.randn(512, 512), torch.randn(512, 512)
        ms = timed(lambda: [x @ y for _ in range(10)], max(args.rounds, 3))
        print(json.dumps({"workload": "matmul", "gflops": 10 * 2 * 512**3 / (ms / 1000) / 1e9, "threads": args.threads, "torch": torch.__version__}))
        return
    encoders, inputs, loss = workload(args.workload)
    if args.check:
        # Without dropout (and BatchNorm's batch statistics, which depend on the chunk) the two are one gradient.
        for e in encoders:
            e.eval()
        grads = []
        for step in (lambda: full_step(encoders, inputs, loss), lambda: cached_step(encoders, inputs, loss, args.chunk)):
            step()
            grads.append([p.grad.clone() for e in dict.fromkeys(encoders) for p in e.parameters()])
        scale = max(g.abs().max().item() for g in grads[0])
        drift = max((a - b).abs().max().item() for a, b in zip(*grads)) / scale
        print(json.dumps({"workload": args.workload, "chunk": args.chunk, "max_relative_difference": drift}))
        return
    for e in encoders:
        e.train()
    full = timed(lambda: full_step(encoders, inputs, loss), args.rounds)
    cached = timed(lambda: cached_step(encoders, inputs, loss, args.chunk), args.rounds)
    print(json.dumps({"workload": args.workload, "batch": rows(inputs[0]), "chunk": args.chunk, "full_ms": full, "cached_ms": cached, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
