"""`python -m tailorlm.finetune`: the entry point `accelerate launch -m tailorlm.finetune` runs
(see `tailorlm.cli.launch`; an entry point, so it may reach the top layer)."""

import sys

from tailorlm.cli.launch import main

if __name__ == "__main__":
    sys.exit(main())
