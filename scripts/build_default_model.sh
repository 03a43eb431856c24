#!/usr/bin/env bash
# The previous bundled model (v1, bundled until 1 Dec 2026; now scripts/build_default_model_v3.sh's): rebuilds
# models/default with it. Dataset from Debian wallpaper photos (nearest-colour paintings), the project's own train.py (resumable: rerun after an interruption), then the Hub-ready folder plus the
# data sources and licences appended to its model card. About 90 minutes on 2 CPU cores (15,640 steps at ~3 steps/s).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d data_cache/default_dataset/train ]] || bash scripts/build_default_dataset.sh
.venv/bin/python train.py --model pix2pix --dataset data_cache/default_dataset --output_dir data_cache/default_model \
  --ngf 16 --ndf 32 --n_epochs 20 --n_epochs_decay 20 --batch_size 1 --seed 0 \
  --checkpointing_steps 1000 --checkpoints_total_limit 2 --validation_steps 1000 --report_to tensorboard \
  --resume_from_checkpoint latest
rm -rf models/default && mkdir -p models/default
cp data_cache/default_model/{model.safetensors,config.json,samples.png,README.md} models/default/
# The card names the model after output_dir; here it is loaded from models/default.
sed -i -e 's|"default_model"|"models/default"|g' -e 's|--model default_model |--model models/default |' \
  -e 's|^# default_model: |# The default demo model: |' -e 's|^- name: default_model$|- name: pix2pix-hub-default|' \
  models/default/README.md
cat scripts/default_model_sources.md >> models/default/README.md
