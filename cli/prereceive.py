"""What the pre-receive hook written by `reg hook install` runs: `python -m cli.prereceive`."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    from registry import hook

    root = Path(os.environ.get("GIT_DIR") or ".").resolve()
    ok, message = hook.pre_receive(root, sys.stdin.read())
    sys.stderr.write(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
