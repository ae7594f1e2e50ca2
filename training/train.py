"""Train or fine-tune a ts-florence model with accelerate, from one CPU core to multi-GPU nodes.

    accelerate launch training/train.py --config training/configs/tiny.yaml
    accelerate launch --config_file training/accelerate/cpu2.yaml training/train.py --config training/configs/tiny.yaml
    accelerate launch --config_file training/accelerate/ddp.yaml training/train.py --config training/configs/base.yaml
    python training/train.py --config training/configs/finetune.yaml --init-from PATH --data my_labels.csv

A run is described by a YAML file (`TrainConfig`: sections model, data, optim, run; unknown keys are refused);
`--set section.key=value` overrides one setting. The output folder holds `checkpoints/step-N` (accelerate
state, every `run.save_every` steps), `trainer_log.jsonl`, tracker logs and, at the end, the model, processor,
generation config, `run_config.yaml`, `train_results.json` and a model card draft (`README.md`), loadable with
`AutoModelForSeq2SeqLM.from_pretrained(output_dir)`. Relaunching the same command resumes from the last
checkpoint, at the same step and with the same next batch.

The command of `ts_florence.training` (`main`), where the run, its settings and what it writes are.
"""

import sys

from ts_florence.training import main

if __name__ == "__main__":
    sys.exit(main())
