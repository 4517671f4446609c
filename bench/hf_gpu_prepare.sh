#!/usr/bin/env bash
# Prepare bench/hf_train.py for a GPU machine without network (Python 3.12, torch,
# transformers, peft, accelerate, pandas, pyarrow already there): SmolLM2's config and
# tokenizer (no weights) and the wheels that image lacks (4.6 MB), under .bench-hf/ (git-ignored
# through .git/info/exclude). Prints the command to run there. datasets 5.2 (for trl) needs
# pyarrow>=24; if the image's pyarrow is older, the trl side fails and the motools side is
# still measured (a cp312 pyarrow wheel is ~53 MB: it fits the 64 MiB carry only just).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.bench-hf
mkdir -p "$out/whl"
grep -qxF "/$out/" "$(git rev-parse --git-path info/exclude)" 2>/dev/null \
    || echo "/$out/" >> "$(git rev-parse --git-path info/exclude)"
HF_HUB_OFFLINE=1 uv run python bench/hf_train.py --export-skeleton "$out/smollm2"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$out/whl" \
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection orjson \
    trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
du -sh "$out"
cat <<CMD
Run on the GPU machine (device tool, carry [".bench-hf"], timeout_s 500):
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .bench-hf/whl/*.whl && export PYTHONPATH=/tmp/site:motools-core:motools-hf HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 && python3 bench/hf_train.py --device cuda --base .bench-hf/smollm2 --random-init --steps 30 --warmup 5 && python3 bench/hf_train.py --device cuda --dtype bfloat16 --base .bench-hf/smollm2 --random-init --steps 30 --warmup 5
CMD
