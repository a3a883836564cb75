"""schemathesis's command line, with a higher recursion limit.

Hypothesis describes a filter's lambda by parsing the source file it comes from with `ast`. On
Python 3.11.7, converting a deeply nested expression near the recursion limit fails with
"SystemError: AST constructor recursion depth mismatch" instead of a RecursionError
(CPython gh-106905), which schemathesis reports as a runtime error of whichever operation
happened to ask first. schemathesis's own coverage module is large enough to hit it when the
call stack is deep; a higher limit leaves room.

    python tests/fuzz/schemathesis_cli.py run ...   (what `schemathesis run ...` does)
"""

from __future__ import annotations

import runpy
import sys

RECURSION_LIMIT = 10_000

if __name__ == "__main__":
    sys.setrecursionlimit(RECURSION_LIMIT)
    runpy.run_module("schemathesis.cli", run_name="__main__", alter_sys=True)
