#!/usr/bin/env bash
# One call on a lent GPU machine (../shared/GPU.md): the kernel tests on every vector path its
# CPU has (AVX-512 where our machines lack it), the backend tests on its GPU through Vulkan, and
# `bench kernels` on both devices beside PyTorch's softmax, KD pass and matmul on the same shapes.
# Usage there, from the repository root, with stripped binaries in bin/ (retort, kernels-tests,
# retort-tests) and the Vulkan loader's .deb in .gl/:
#   [PARTS="cpu gpu"] bash scripts/device_check.sh "$OUT"
set -uo pipefail
out=${1:-/tmp}
parts=${PARTS:-cpu gpu}
has() { [[ " $parts " == *" $1 "* ]]; }
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
lscpu > "$out/lscpu.txt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) / $(nproc) threads / $(grep -o 'avx512[a-z]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
nvidia-smi -L
if has cpu; then
    echo "== kernel tests, every path of this CPU"
    bin/kernels-tests --test-threads 4 2>&1 | tee "$out/kernels_tests.txt" | grep -E "test result|FAILED|panicked|worst"
    bin/retort bench kernels --device cpu --seconds 0.5 --json > "$out/kernels_cpu.json"
    PYTHONUNBUFFERED=1 python3 scripts/pytorch_bench.py --device cpu --seconds 0.5 softmax kd matmul > "$out/torch_cpu.json" 2>&1
    echo "== the distill step on the CPU, ours (AVX-512, then AVX2 only) against PyTorch's, alternating"
    for round in 1 2 3; do
        bin/retort bench step --device cpu --seconds 2 --json | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('retort avx512', round(r['samples_per_s']))"
        RETORT_NO_AVX512=1 bin/retort bench step --device cpu --seconds 2 --json | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('retort avx2', round(r['samples_per_s']))"
        python3 scripts/pytorch_bench.py --device cpu --seconds 2 step | python3 -c "import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print('pytorch', round(r['samples_per_s']))"
    done 2>&1 | tee "$out/step_cpu.txt"
    bin/retort bench step --device cpu --seconds 2 --profile 2>&1 | tail -25
fi
if has gpu; then
    vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" || true
    echo "== backend and op tests on the GPU"
    bin/retort-tests gpu 2>&1 | tee "$out/gpu_tests.txt" | grep -E "test result|FAILED|panicked"
    bin/retort bench kernels --device gpu --seconds 0.5 --json > "$out/kernels_gpu.json"
    PYTHONUNBUFFERED=1 python3 scripts/pytorch_bench.py --device cuda --seconds 0.5 softmax kd matmul > "$out/torch_cuda.json" 2>&1
fi
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
torch = {}
for d in ("cpu", "cuda"):
    try:
        for line in open(f"{out}/torch_{d}.json"):
            if line.startswith("{"):
                r = json.loads(line)
                torch[(d, r["bench"])] = r
    except OSError as e:
        print(f"no PyTorch figures on {d}: {e}")
for dev, td in (("cpu", "cpu"), ("gpu", "cuda")):
    try:
        rec = json.loads(open(f"{out}/kernels_{dev}.json").read())
    except (OSError, ValueError) as e:
        print(f"no bench kernels on {dev}: {e}")
        continue
    print(f"\n{rec['device_name']}, timer {rec['timer']}; FMA peaks {[(p['path'], round(p['gflops'])) for p in rec['fma_peaks']]}")
    for k in rec["kernels"]:
        shape = k["shape"].split(",")[0]
        name = {"softmax": "softmax", "kd_loss composed: forward and backward": "kd"}.get(k["kernel"])
        if k["kernel"].startswith("kd_loss fused: loss and"):
            name = "kd"
        t = torch.get((td, f"{name} {shape}")) if name else None
        if k["kernel"].startswith("matmul"):
            t = torch.get((td, f"matmul {shape}"))
        rate = f"{k['gflops']:.0f} GFLOP/s" if k.get("gflops") else f"{k['gbps']:.1f} GB/s"
        share = f"{k['percent_of_roofline']:.0f}%" if k.get("percent_of_roofline") is not None else "-"
        vs = (f"torch {t['median_us']:.1f} us" if "median_us" in t else f"torch {t['gflops']:.0f} GFLOP/s") if t else ""
        print(f"{k['kernel'][:42]:42} {k['shape'][:28]:28} {k['median_us']:10.1f} us {rate:>15} {share:>5} {k['path']:9} {vs}")
PY
