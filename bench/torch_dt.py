#!/usr/bin/env python3
"""Decision Transformer training steps in PyTorch, for comparison with evarl's
benchmarks in package policy (bench_test.go).

--size reference (BenchmarkTrainStep): embed 128, 3 pre-LN GPT blocks, 4 heads,
K = 20 (60 tokens), batch 64, state dim 17, 6 continuous actions in [-1, 1],
deterministic tanh head with MSE on the real steps of left-padded windows.
--size small (BenchmarkTrainStepSmall), the shipped gridworld policy: embed 64,
2 blocks, 2 heads, K = 10 (30 tokens), batch 32, state dim 204, 3 discrete actions,
categorical head with cross-entropy on the real steps.
Both: GELU (tanh approximation), dropout 0.1 on the embeddings and on both residual
branches (evarl's attention has no dropout on the probabilities), AdamW (lr 1e-4,
weight decay 1e-4), gradient clipping at 0.25. One step = forward + backward + clip +
update.
--lora (BenchmarkLoRAStepSmall with --size small, BenchmarkLoRAStep with --size reference): the base frozen, LoRA adapters
(r 8, alpha 8, no dropout, A Kaiming-uniform, B = 0, as PEFT's defaults) on attn.q,
attn.k, attn.v, attn.o, mlp.fc and mlp.proj; AdamW and clipping on the adapters only.

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


class LoRALinear(nn.Module):
    """PEFT's LoRA on a frozen nn.Linear: base(x) + scale · B(A(x)), B = 0 at first."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scale


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
    # act_dim is the number of continuous action components, or with discrete=True the
    # number of discrete actions (an embedding table and a categorical head).
    def __init__(self, state_dim, act_dim, c, layers, heads, max_ep_len, dropout, discrete=False):
        super().__init__()
        self.discrete = discrete
        self.embed_return = nn.Linear(1, c)
        self.embed_state = nn.Linear(state_dim, c)
        self.embed_action = nn.Embedding(act_dim, c) if discrete else nn.Linear(act_dim, c)
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
        out = self.head(x[:, :, 1])  # predicted from the state token
        return out if self.discrete else torch.tanh(out)

    def add_lora(self, r, alpha):
        """Freezes the model and puts LoRA adapters on every block's six linear layers."""
        for p in self.parameters():
            p.requires_grad_(False)
        for blk in self.blocks:
            for mod, names in ((blk.attn, ("q", "k", "v", "o")), (blk.mlp, ("fc", "proj"))):
                for n in names:
                    setattr(mod, n, LoRALinear(getattr(mod, n), r, alpha))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--size", choices=("reference", "small"), default="reference",
                    help="reference: BenchmarkTrainStep; small: the shipped gridworld policy")
    ap.add_argument("--lora", action="store_true", help="frozen base, LoRA r 8 on the six block layers")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.size == "reference":
        B, K, S, A, C, L, H, T, discrete = 64, 20, 17, 6, 128, 3, 4, 1000, False
    else:
        B, K, S, A, C, L, H, T, discrete = 32, 10, 204, 3, 64, 2, 2, 512, True
    model = DT(S, A, C, layers=L, heads=H, max_ep_len=T, dropout=0.1, discrete=discrete)
    if args.lora:
        model.add_lora(8, 8)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    rtg = torch.randn(B, K, 1, generator=g)
    states = torch.randn(B, K, S, generator=g)
    if discrete:
        actions = torch.randint(0, A, (B, K), generator=g)
    else:
        actions = torch.rand(B, K, A, generator=g) * 2 - 1
    timesteps = torch.randint(0, T - K, (B, 1), generator=g) + torch.arange(K)[None]
    pad = torch.ones(B, K, dtype=torch.bool)
    for i in range(B):  # left padding as the DT sampler produces it
        pad[i, : int(torch.randint(0, K // 2, (1,), generator=g))] = False

    def step():
        pred = model(rtg, states, actions, timesteps, pad)
        if discrete:
            loss = F.cross_entropy(pred[pad], actions[pad])
        else:
            loss = ((pred - actions) ** 2).mean(-1)[pad].mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.25)
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
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, size {args.size}"
          f"{', lora' if args.lora else ''}, params {sum(p.numel() for p in model.parameters())}"
          f" ({sum(p.numel() for p in params)} trainable), steps {args.steps}")
    print(f"torch_ms={statistics.median(times):.2f}")
    print(f"torch_cpu_ms={cpu:.2f}")


if __name__ == "__main__":
    main()
