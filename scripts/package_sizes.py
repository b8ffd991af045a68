"""Prints each function's Lambda zip size beside the 5 MB budget; exits 1 if one is over.

Usage: package_sizes.py TARGET_LAMBDA_DIR FUNCTION...
"""
import os
import sys

BUDGET = 5 * 1024 * 1024


def main() -> int:
    root, functions = sys.argv[1], sys.argv[2:]
    over = []
    print(f"{'function':<16} {'zip':>10}  {'budget':>8}")
    for name in functions:
        path = os.path.join(root, name, "bootstrap.zip")
        size = os.path.getsize(path)
        mark = "ok" if size <= BUDGET else "OVER"
        print(f"{name:<16} {size / 1024 / 1024:>8.2f} MB  {mark:>8}")
        if size > BUDGET:
            over.append(name)
    if over:
        print(f"over the 5 MB budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
