"""`python -m ganstudio …` (and `torchrun … -m ganstudio …`): the same as the `ganstudio` command."""

import sys

from ganstudio.cli import main

sys.exit(main())
