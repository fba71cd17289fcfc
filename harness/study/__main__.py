"""``python -m harness.study JOB``: one worker of a running study (the study command spawns
them; see ``harness.study.worker.main``). Started through the package, so the worker module
is imported once (``-m harness.study.worker`` ran it a second time beside the package's
import, and Python warned of it)."""

import sys

from harness.study.worker import main

sys.exit(main())
