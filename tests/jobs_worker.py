"""A tiny test-only command driven through `run_as_job`, run as a real subprocess by the job tests.

    python -m tests.jobs_worker --out OUT [--seconds S] [--fail MSG] [--crash] [--background]

It writes OUT.partial while it "works" (reporting progress), then renames it to OUT. It behaves like a
real cli-recover command: one error line on stderr, the job's exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from cli_recover.engine.runner import JobSpec, add_job_arguments, run_as_job
from cli_recover.errors import Cancelled, RecoverError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jobs_worker")
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--total", type=int, default=1000)
    p.add_argument("--fail", default=None)
    p.add_argument("--crash", action="store_true")
    p.add_argument("--password", default=None)
    p.add_argument("--step", type=int, default=10, help="progress units per 20 ms tick")
    p.add_argument("--ignore-cancel-event", action="store_true",
                   help="do not poll the event: rely on the cancel hook (a producer being stopped)")
    add_job_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args._argv = argv
    args._reexec_module = __spec__.name if __spec__ else "tests.jobs_worker"  # what --background re-runs
    out = os.path.abspath(args.out)
    partial = out + ".partial"
    spec = JobSpec("backup", "test", {"kind": "local", "path": os.path.dirname(out)},
                   {"seconds": args.seconds, "password": args.password})

    def work(handle):
        handle.add_secret(args.password)
        handle.set_paths(archive=out, partial=[partial])
        handle.log(f"connecting with password {args.password}")
        stopped = []
        handle.on_cancel(lambda: stopped.append(True))
        deadline = time.monotonic() + args.seconds
        done = 0
        with open(partial, "wb") as f:
            while time.monotonic() < deadline:
                if stopped and args.ignore_cancel_event:
                    raise RecoverError("producer exited with status -15")
                if not args.ignore_cancel_event:
                    handle.check_cancelled()
                f.write(b"x" * 100)
                f.flush()
                done = min(args.total, done + args.step)
                handle.progress(done, args.total, "copying")
                time.sleep(0.02)
        if args.crash:
            raise ZeroDivisionError("division by zero in the worker")
        if args.fail:
            raise RecoverError(args.fail)
        handle.warn("one file changed while it was read")
        os.replace(partial, out)
        return {"bytes": os.path.getsize(out)}

    try:
        code, result = run_as_job(args, spec, work)
    except Cancelled as exc:
        print(f"jobs_worker: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RecoverError as exc:
        print(f"jobs_worker: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if result is not None:
        print(f"done {result['bytes']}")
    return code


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    raise SystemExit(main())
