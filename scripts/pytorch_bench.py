"""PyTorch's figures for the same work as Retort's benchmarks, on the same shapes at batch 128.

  step           the distillation step: teacher forward; student forward, backward, SGD update
                 (`retort bench step`)
  train-teacher  one training step of mlp:784-1200-1200-10 with hidden dropout 0.5
                 (`retort bench train --dropout 0.5`)
  train-student  one training step of mlp:784-800-800-10 (`retort bench train --model ...`)
  cnn-teacher    one training step of cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10
  cnn-student    one training step of cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc128-10
  matmul         fp32 matmuls (TF32 off: WebGPU has no tensor-core path)
  softmax        torch.softmax(x / T, 1) on [128, 10] and [4096, 1000] (`retort bench kernels`)
  kd             the KD loss (T = 20, alpha = 0.9), forward and backward to the student's logits,
                 on the same shapes

Each prints one JSON line: {"bench", "device", "torch", "samples_per_s", "gflops" or "median_us"}.
Time: median of groups of 4 steps, for at least `--seconds`, after 5 warm-up steps, the same
protocol as `retort bench`. On the CPU, torch runs on the threads it finds (2 here).

Usage: python3 scripts/pytorch_bench.py [--device cpu|cuda] [--seconds S] [BENCH...]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
p.add_argument("--seconds", type=float, default=3.0)
p.add_argument("benches", nargs="*", default=["step", "train-teacher", "train-student", "cnn-teacher", "cnn-student", "matmul"])
args = p.parse_args()
dev = args.device
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
BATCH, T, ALPHA = 128, 20.0, 0.9


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def median_time(f, seconds):
    for _ in range(5):
        f()
    sync()
    times, start = [], time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        for _ in range(4):
            f()
        sync()
        times.append((time.perf_counter() - t0) / 4)
    times.sort()
    return times[len(times) // 2]


def mlp(widths, dropout=0.0):
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers[:-2]).to(dev)


def cnn(c1, c2, fc):
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 7 * 7, fc), nn.ReLU(), nn.Linear(fc, 10),
    ).to(dev)


def train_step(model, x):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    y = torch.randint(0, 10, (BATCH,), device=dev)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def distill_step():
    teacher, student = mlp([784, 1200, 1200, 10]).eval(), mlp([784, 800, 800, 10])
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(BATCH, 784, device=dev)
    y = torch.randint(0, 10, (BATCH,), device=dev)

    def step():
        with torch.no_grad():
            zt = teacher(x)
        zs = student(x)
        soft = F.kl_div(F.log_softmax(zs / T, 1), F.log_softmax(zt / T, 1), reduction="batchmean", log_target=True)
        loss = ALPHA * T * T * soft + (1 - ALPHA) * F.cross_entropy(zs, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def report(bench, **fields):
    name = torch.cuda.get_device_name() if dev == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(json.dumps({"bench": bench, "device": name, "torch": torch.__version__, **fields}), flush=True)


flat, image = torch.rand(BATCH, 784, device=dev), torch.rand(BATCH, 1, 28, 28, device=dev)
steps = {
    "step": distill_step,
    "train-teacher": lambda: train_step(mlp([784, 1200, 1200, 10], 0.5), flat),
    "train-student": lambda: train_step(mlp([784, 800, 800, 10]), flat),
    "cnn-teacher": lambda: train_step(cnn(32, 64, 1024), image),
    "cnn-student": lambda: train_step(cnn(8, 16, 128), image),
}
def kd_pass(zs, zt, y):
    def f():
        z = zs.detach().requires_grad_()
        soft = F.kl_div(F.log_softmax(z / T, 1), F.log_softmax(zt / T, 1), reduction="batchmean", log_target=True)
        loss = ALPHA * T * T * soft + (1 - ALPHA) * F.cross_entropy(z, y)
        loss.backward()
        return z.grad

    return f


for bench in args.benches:
    if bench in ("softmax", "kd"):
        for rows, cols in [(128, 10), (4096, 1000)]:
            zs, zt = torch.rand(rows, cols, device=dev) * 10 - 5, torch.rand(rows, cols, device=dev) * 10 - 5
            y = torch.randint(0, cols, (rows,), device=dev)
            f = (lambda: torch.softmax(zs / T, 1)) if bench == "softmax" else kd_pass(zs, zt, y)
            report(f"{bench} {rows}x{cols}", median_us=median_time(f, args.seconds) * 1e6)
    elif bench == "matmul":
        for m, k, n in [(128, 784, 1200), (128, 1200, 1200), (1024, 1024, 1024), (4096, 4096, 4096)]:
            a, b = torch.rand(m, k, device=dev), torch.rand(k, n, device=dev)
            secs = median_time(lambda: a @ b, args.seconds)
            report(f"matmul {m}x{k}x{n}", gflops=2 * m * k * n / secs / 1e9)
    else:
        report(bench, samples_per_s=BATCH / median_time(steps[bench](), args.seconds))
