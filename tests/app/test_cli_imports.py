"""`sourcing serve` and the CLI's other commands start without loading the eval code."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_and_the_server_loads_no_eval_module() -> None:
    probe = (
        "import sys, sourcing.app.cli, sourcing.app.main; "
        "print(sorted(m for m in sys.modules if m.startswith('sourcing.eval')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == "[]"
    # the probe can see a module the CLI does load
    loaded = subprocess.run(
        [sys.executable, "-c", probe.replace("sourcing.eval", "sourcing.app.eval_cli")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert loaded.stdout.strip() == "['sourcing.app.eval_cli']"
