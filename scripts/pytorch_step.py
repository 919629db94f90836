"""PyTorch's figures for the same work as `retort bench step` and `retort bench kernels`:
the distillation step (teacher forward; student forward, backward, SGD update) at batch 128,
and fp32 matmuls (TF32 off: WebGPU has no tensor-core path). Prints one JSON object.

Usage: python3 scripts/pytorch_step.py [cuda|cpu]
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

dev = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def mlp(widths):
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(dev)


def median_time(f, seconds=2.0):
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


teacher, student = mlp([784, 1200, 1200, 10]), mlp([784, 800, 800, 10])
opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(128, 784, device=dev)
y = torch.randint(0, 10, (128,), device=dev)
T, alpha = 20.0, 0.9


def step():
    with torch.no_grad():
        zt = teacher(x)
    zs = student(x)
    soft = F.kl_div(F.log_softmax(zs / T, 1), F.log_softmax(zt / T, 1), reduction="batchmean", log_target=True)
    loss = alpha * T * T * soft + (1 - alpha) * F.cross_entropy(zs, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


out = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__}
out["distill_step_samples_per_s"] = 128 / median_time(step)
for m, k, n in [(128, 1200, 1200), (128, 784, 1200), (1024, 1024, 1024), (4096, 4096, 4096)]:
    a, b = torch.rand(m, k, device=dev), torch.rand(k, n, device=dev)
    secs = median_time(lambda: a @ b, 1.0)
    out[f"matmul_{m}x{k}x{n}_gflops"] = 2 * m * k * n / secs / 1e9
print(json.dumps(out))
