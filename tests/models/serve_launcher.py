"""``transformers serve`` with RadLens' image-only processors registered (used by serving.py).

Since transformers 5.25 the server loads each model in a process of its own, started with the
"spawn" method (transformers/cli/serving/model_manager.py, ``start_process``). A spawned child
re-runs this file's top level as ``__mp_main__`` before it unpickles its target, so the
registration below happens in the model's process too; the server itself starts only under
``__main__``. A ``python -c`` launcher would register in the parent alone, and the child would
then build transformers' own Qwen2-VL video processor, which needs torchvision.
"""

import sys

from models.backends.processors import register_processors

register_processors()

if __name__ == "__main__":
    from transformers.cli.transformers import main

    sys.argv[0] = "transformers"
    sys.exit(main())
