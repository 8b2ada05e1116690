#!/usr/bin/env python3
"""The reference Decision Transformer training step in PyTorch, for comparison with
evarl's BenchmarkTrainStep (package policy).

Same model and step as the Go benchmark: embed 128, 3 pre-LN GPT blocks, 4 heads,
K = 20 (60 tokens), batch 64, state dim 17, 6 continuous actions in [-1, 1], GELU
(tanh approximation), dropout 0.1 on the embeddings and on both residual branches
(evarl's attention has no dropout on the probabilities), deterministic tanh head with
MSE on the real steps of left-padded windows, AdamW (lr 1e-4, weight decay 1e-4),
gradient clipping at 0.25. One step = forward + backward + clip + update.

Prints the median wall time of a step in milliseconds as `torch_ms=<value>`, and the
mean CPU time of the process (all threads) per step as `torch_cpu_ms=<value>`.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.q = nn.Linear(c, c)
        self.k = nn.Linear(c, c)
        self.v = nn.Linear(c, c)
        self.o = nn.Linear(c, c)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, 4 * c)
        self.proj = nn.Linear(4 * c, c)


class Block(nn.Module):
    # Module names match evarl's parameter names (blocks.0.attn.q.weight, ...), so an
    # evarl checkpoint loads with load_state_dict (see torch_check.py).
    def __init__(self, c, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(c)
        self.attn = Attention(c)
        self.ln2 = nn.LayerNorm(c)
        self.mlp = MLP(c)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        # x (B, T, C); mask (B, 1, T, T) True where attention is allowed
        b, t, c = x.shape
        a = self.attn
        h = self.ln1(x)
        hd = c // self.heads
        q = a.q(h).view(b, t, self.heads, hd).transpose(1, 2)
        k = a.k(h).view(b, t, self.heads, hd).transpose(1, 2)
        v = a.v(h).view(b, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        # A finite fill: a padding query (which may see no real key) gets a uniform
        # row instead of NaN; its output is never used by a real token or the loss.
        att = att.masked_fill(~mask, -1e9).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)  # no attention dropout, as evarl
        x = x + self.drop(a.o(y))
        x = x + self.drop(self.mlp.proj(F.gelu(self.mlp.fc(self.ln2(x)), approximate="tanh")))
        return x


class DT(nn.Module):
    def __init__(self, state_dim, act_dim, c, layers, heads, max_ep_len, dropout):
        super().__init__()
        self.embed_return = nn.Linear(1, c)
        self.embed_state = nn.Linear(state_dim, c)
        self.embed_action = nn.Linear(act_dim, c)
        self.embed_timestep = nn.Embedding(max_ep_len, c)
        self.embed_ln = nn.LayerNorm(c)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(c, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(c)
        self.head = nn.Linear(c, act_dim)

    def forward(self, rtg, states, actions, timesteps, pad):
        # rtg (B, K, 1), states (B, K, S), actions (B, K, A), timesteps (B, K), pad (B, K)
        b, k, _ = states.shape
        te = self.embed_timestep(timesteps)
        tokens = torch.stack(
            [self.embed_return(rtg) + te, self.embed_state(states) + te, self.embed_action(actions) + te], dim=2
        ).reshape(b, 3 * k, -1)
        x = self.drop(self.embed_ln(tokens))
        t = 3 * k
        keep = pad.repeat_interleave(3, dim=1)  # (B, 3K)
        causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
        mask = causal[None, None] & keep[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_f(x).reshape(b, k, 3, -1)
        return torch.tanh(self.head(x[:, :, 1]))  # predicted from the state token


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, K, S, A, C = 64, 20, 17, 6, 128
    model = DT(S, A, C, layers=3, heads=4, max_ep_len=1000, dropout=0.1)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    rtg = torch.randn(B, K, 1, generator=g)
    states = torch.randn(B, K, S, generator=g)
    actions = torch.rand(B, K, A, generator=g) * 2 - 1
    timesteps = torch.randint(0, 1000 - K, (B, 1), generator=g) + torch.arange(K)[None]
    pad = torch.ones(B, K, dtype=torch.bool)
    for i in range(B):  # left padding as the DT sampler produces it
        pad[i, : int(torch.randint(0, K // 2, (1,), generator=g))] = False

    def step():
        pred = model(rtg, states, actions, timesteps, pad)
        loss = ((pred - actions) ** 2).mean(-1)[pad].mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    c0 = time.process_time()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    cpu = (time.process_time() - c0) * 1e3 / args.steps
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"params {sum(p.numel() for p in model.parameters())}, steps {args.steps}")
    print(f"torch_ms={statistics.median(times):.2f}")
    print(f"torch_cpu_ms={cpu:.2f}")


if __name__ == "__main__":
    main()
