#!/usr/bin/env python3
"""Fails when an #include in src/ or include/ points upward in packinfer's layering.

A request flows tokenizer -> scheduler -> step plan -> model runner -> kernels; dependencies
point the other way, one way only:

    cli  ->  server, router, loadgen, prefill_bench, batch_jobs, eval
         ->  openai (the API's requests and responses), report, prompt_sets  ->  engine  ->  sched  ->  runner
         ->  model  ->  kv, batch, sample, grammar  ->  kernels, tokenizer  ->  gguf, http  ->  util

A folder may include its own headers and those of folders on a lower layer, never a folder on
its own layer (that is how cycles start) or above. Public headers (include/packinfer/) are
value types usable everywhere, except engine.h and serving.h, which declare the library's fronts
and may only be used from the engine layer up; public headers never include src/.
Run from anywhere; exits 1 listing every violation.
"""
import pathlib
import re
import sys

# Lower number = more basic. Folders on the same layer must not include each other.
LAYERS = {
    "util": 0,
    "gguf": 1,
    "http": 1,
    "kernels": 2,
    "tokenizer": 2,
    "kv": 3,
    "batch": 3,
    "sample": 3,
    "grammar": 3,
    "model": 4,
    "runner": 5,
    "sched": 6,
    "engine": 7,
    "report": 8,
    "prompt_sets": 8,
    "openai": 8,
    "server": 9,
    "router": 9,
    "loadgen": 9,
    "prefill_bench": 9,
    "batch_jobs": 9,
    "eval": 9,
    "cli": 10,
}
FRONT_HEADERS = {"packinfer/engine.h", "packinfer/serving.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    problems = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in (".h", ".cpp"):
            continue
        folder = path.relative_to(root / "src").parts[0]
        if folder not in LAYERS:
            problems.append(f"src/{folder}/ has no layer in scripts/check_layers.py: add it")
            continue
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            where = path.relative_to(root)
            if target in FRONT_HEADERS:
                if LAYERS[folder] < LAYERS["engine"]:
                    problems.append(f"{where}: includes {target}, a front of the library "
                                    f"(only engine and above may)")
                continue
            top = target.split("/")[0]
            if top == "packinfer" or top == folder or "/" not in target:
                continue
            if top not in LAYERS:
                problems.append(f"{where}: includes {target} from unknown folder {top}/")
            elif LAYERS[top] >= LAYERS[folder]:
                relation = "the same layer as" if LAYERS[top] == LAYERS[folder] else "above"
                problems.append(f"{where}: includes {target}: {top}/ is {relation} {folder}/")
    for path in sorted((root / "include").rglob("*.h")):
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            if not target.startswith("packinfer/"):
                problems.append(f"{path.relative_to(root)}: public header includes {target}")
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    if problems:
        print(f"layering: {len(problems)} include(s) point the wrong way", file=sys.stderr)
        return 1
    print("layering: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
