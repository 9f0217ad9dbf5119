#!/usr/bin/env bash
# Case (c) of benchmarks/adapter_speed.py on a GPU, in one command of under 5 minutes:
# Llama-style 1B random model (hidden 2048, 16 layers, intermediate 5632, 32 heads, 8 KV heads),
# bf16 base (fp32 adapter weights, PEFT's default), batch 8 x 1024, r=32 on q,k,v,up,down;
# NEAT vs stock PEFT PEANuT vs PEFT LoRA (also with bf16 adapter weights) vs full fine-tuning,
# then merged-NEAT inference vs the base.
#
# Needs only python with torch, transformers and peft (imports neat/layer.py and neat/tuner.py).
# Run from anywhere:    benchmarks/gpu_speed.sh [extra adapter_speed.py flags, e.g. --repeats 30]
# JSON result:          $SPEED_JSON, else $OUT/adapter_speed_c.json if $OUT is set, else
#                       /tmp/adapter_speed_c.json.
# Time limit (seconds): $SPEED_TIMEOUT (default 290). A run cut short exits 124.
set -euo pipefail
cd "$(dirname "$0")/.."
JSON="${SPEED_JSON:-${OUT:-/tmp}/adapter_speed_c.json}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
"$PYTHON" - <<'PY'
import peft, torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
if not hasattr(peft, "PeanutConfig"):
    raise SystemExit(f"peft {peft.__version__} has no PEANuT (PeanutConfig): NEAT builds on it; upgrade peft")
if not torch.cuda.is_available():
    raise SystemExit("no CUDA device visible: this script is for a GPU machine")
print(f"GPU: {torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
PY
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv 2>/dev/null || true
timeout --kill-after=10 "${SPEED_TIMEOUT:-290}" \
    "$PYTHON" benchmarks/adapter_speed.py --case c --device cuda --dtype bf16 --json "$JSON" "$@"
echo "results: $JSON"
