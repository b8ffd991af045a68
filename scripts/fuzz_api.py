#!/usr/bin/env python3
"""Fuzzes the local stack from openapi.yaml with schemathesis: no 5xx, every status, content type
and body as documented. Starts `zgoda-local run` (its own emulator) on a free port and stops it.

Usage: fuzz_api.py ZGODA_LOCAL SCHEMATHESIS_BIN
"""
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "fuzz"


def wait_for_stack(env_file, deadline):
    while time.time() < deadline:
        if env_file.exists():
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
            try:
                with urllib.request.urlopen(env["ZGODA_URL"] + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return env
            except (OSError, KeyError):
                pass
        time.sleep(0.25)
    raise SystemExit("the local stack did not come up")


def main():
    # Absolute, since the fuzzer runs in its own working directory.
    local, st = (os.path.abspath(a) for a in sys.argv[1:3])
    WORK.mkdir(parents=True, exist_ok=True)
    env_file = WORK / "local.env"
    env_file.unlink(missing_ok=True)
    log = open(WORK / "stack.log", "w")
    # The fuzzer posts from one address: the per-network and per-subject limits would turn most of
    # its requests into 429s and hide the rest of the API from it.
    stack_env = dict(os.environ, ZGODA_RATE_NETWORK="1000000000", ZGODA_RATE_SUBJECT="1000000000", ZGODA_RATE_PRIVACY="1000000000", ZGODA_PUBLIC_MAIL_PER_HOUR="1000000000")
    stack = subprocess.Popen([local, "run", "--port", "0", "--env-file", str(env_file)], cwd=ROOT, stdout=log, stderr=log, env=stack_env)
    try:
        env = wait_for_stack(env_file, time.time() + 120)
        run_env = dict(os.environ, ZGODA_URL=env["ZGODA_URL"],
                       ZGODA_OPERATOR_KID=env["ZGODA_OPERATOR_KID"], ZGODA_OPERATOR_KEY=env["ZGODA_OPERATOR_KEY"],
                       SCHEMATHESIS_HOOKS="hooks", PYTHONPATH=str(ROOT / "tests" / "schemathesis"))
        command = [
            st, "--config-file", str(ROOT / "tests" / "schemathesis" / "schemathesis.toml"), "run", str(ROOT / "openapi.yaml"), "--url", env["ZGODA_URL"],
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", "25", "--workers", "2", "--seed", "20261122", "--no-color",
        ]
        return subprocess.run(command, cwd=WORK, env=run_env).returncode
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stack.kill()


if __name__ == "__main__":
    sys.exit(main())
