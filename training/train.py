"""Train or fine-tune a ts-florence model: the command of `ts_florence.training` (settings, resuming and the output
folder are described there and by `--help`).

    accelerate launch training/train.py --config training/configs/tiny.yaml
    accelerate launch --config_file training/accelerate/cpu2.yaml training/train.py --config training/configs/tiny.yaml
    python training/train.py --config training/configs/finetune.yaml --init-from PATH --data my_labels.csv
"""

import sys

from ts_florence.training import main

if __name__ == "__main__":
    sys.exit(main())
