"""`status`, `cancel`, `logs` and `cleanup`: looking after jobs and what they leave behind."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from cli_recover.engine.control import copy_new_lines, log_tail
from cli_recover.errors import RecoverError, UsageError

__all__ = ["register", "log_tail"]  # log_tail: the schedule commands read job logs through here too

RECENT_LIMIT = 20  # finished jobs shown by `status` without -A
LOG_TAIL = 10  # log lines shown by `status JOB`


def register(sub) -> None:
    from cli_recover.argtypes import seconds

    p = sub.add_parser("status", help="list jobs, or show one job in detail",
                       description="Without JOB: recent jobs, running first (-A: all of them). "
                       "With JOB (an id or a unique prefix): the whole record and the end of its log.")
    p.add_argument("job", nargs="?", metavar="JOB", help="job id or unique prefix")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")
    p.add_argument("-w", "--watch", action="store_true",
                   help="refresh until the jobs shown have ended (plain snapshots when not on a terminal)")
    p.add_argument("-A", "--all", action="store_true", help=f"all jobs, not only active and the last {RECENT_LIMIT}")
    p.add_argument("--interval", type=seconds, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="stop a running job (SIGTERM; it cleans up and ends as cancelled)")
    p.add_argument("job", metavar="JOB", help="job id or unique prefix")
    p.add_argument("--timeout", type=seconds, default=30.0, help="seconds to wait for the job to stop (default 30)")
    p.add_argument("--no-wait", action="store_true", help="send the signal and return")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("logs", help="print a job's log")
    p.add_argument("job", metavar="JOB", help="job id or unique prefix")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("-n", "--tail", type=int, default=None, metavar="N", help="only the last N lines")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("cleanup", help="remove old backups, job history and logs",
                       description="Removes what is older than --older-than (default 7d) except the "
                       "--keep-last N newest of each type. Never touches a running job or its files.")
    p.add_argument("--older-than", default="7d", metavar="AGE", help="e.g. 7d, 12h, 30m, 2w (default 7d)")
    p.add_argument("--keep-last", type=int, default=0, metavar="N", help="always keep the N newest of each type")
    p.add_argument("--type", choices=("backups", "history", "logs", "all"), default="all",
                   help="what to clean (default all)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.set_defaults(func=cmd_cleanup)


# --- formatting ------------------------------------------------------------------------------


def _fmt():
    from cli_recover.engine import model

    return model


def progress_cell(s: dict) -> str:
    m = _fmt()
    p = s  # a summary (flat) or {"state": ..., **record["progress"]}
    done, total = p.get("done"), p.get("total")
    if s.get("state") in m.ACTIVE_STATES:
        parts = [p.get("phase") or s["state"]]
        if total:
            parts.append(f"{100 * (done or 0) / total:.0f}%")
            parts.append(f"{m.human_bytes(done)}/{m.human_bytes(total)}")
        elif done:
            parts.append(m.human_bytes(done))
        if p.get("rate"):
            parts.append(f"{m.human_bytes(p['rate'])}/s")
        if p.get("eta") is not None:
            parts.append(f"ETA {m.human_duration(p['eta'])}")
        return " ".join(parts)
    return m.human_bytes(done) if done else "-"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def render_list(summaries: list[dict], now: float) -> str:
    m = _fmt()
    if not summaries:
        return "no jobs"
    rows = [["ID", "KIND", "STATE", "PID", "PROGRESS", "AGE", "TARGET", "ERROR"]]
    for s in summaries:
        age = now - s["created_ts"] if s.get("created_ts") else None
        err = (s.get("error") or "")
        rows.append([s["id"], s.get("kind") or "-", s.get("state") or "-", str(s.get("pid") or "-"),
                     progress_cell(s), m.human_duration(age), s.get("target") or "-",
                     err if len(err) <= 60 else err[:57] + "..."])
    return _table(rows)


def render_detail(rec: dict, tail: list[str], now: float) -> str:
    m = _fmt()
    created = m.parse_iso(rec.get("created"))
    started, finished = m.parse_iso(rec.get("started")), m.parse_iso(rec.get("finished"))
    lines = [
        f"Job:       {rec['id']}",
        f"Kind:      {rec.get('kind')}" + (f" ({rec['provider']})" if rec.get("provider") else ""),
        f"State:     {rec.get('state')}" + (f" (exit code {rec['exit_code']})" if rec.get("exit_code") else ""),
        f"PID:       {rec.get('pid') or '-'}",
        f"Target:    {m.describe_target(rec.get('target'))}",
        f"Progress:  {progress_cell(summarize_progress(rec))}",
        f"Created:   {rec.get('created')} ({m.human_duration(now - created) if created else '-'} ago)",
        f"Started:   {rec.get('started') or '-'}",
        f"Finished:  {rec.get('finished') or '-'}"
        + (f" (took {m.human_duration(finished - started)})" if started and finished else ""),
    ]
    if rec.get("schedule"):
        lines.append(f"Schedule:  {rec['schedule']}")
    if rec.get("archive"):
        lines.append(f"Archive:   {rec['archive']}")
    if rec.get("manifest"):
        lines.append(f"Manifest:  {rec['manifest']}")
    if rec.get("error"):
        lines.append(f"Error:     {rec['error']}")
    if rec.get("warnings"):
        lines.append(f"Warnings:  {rec['warnings']}")
        lines += [f"  - {w}" for w in rec.get("warning_messages") or []]
    if rec.get("options"):
        lines.append(f"Options:   {json.dumps(rec['options'], sort_keys=True)}")
    if rec.get("result"):
        lines.append(f"Result:    {json.dumps(rec['result'], sort_keys=True)}")
    lines.append(f"Log:       {rec.get('log')}")
    if tail:
        lines.append(f"--- last {len(tail)} log lines ---")
        lines += tail
    return "\n".join(lines)


def summarize_progress(rec: dict) -> dict:
    return {**(rec.get("progress") or {}), "state": rec.get("state")}


def _dump(data, fmt: str, *, compact: bool = False) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()
    if compact:
        return json.dumps(data, separators=(",", ":"))
    if isinstance(data, list):
        # A job list: one record per line keeps json's C encoder (indent= does not) and stays greppable.
        return "[\n" + ",\n".join(json.dumps(r) for r in data) + "\n]" if data else "[]"
    return json.dumps(data, indent=2)


# --- status ----------------------------------------------------------------------------------


def _snapshot(store, args) -> tuple[str, bool]:
    """(text, still_active) for one refresh."""
    from cli_recover.engine.model import ACTIVE_STATES

    now = time.time()
    compact = args.watch and args.output == "json"
    if args.job:
        rec = store.get(args.job)
        tail = log_tail(rec.get("log"), LOG_TAIL)
        active = rec.get("state") in ACTIVE_STATES
        if args.output == "table":
            return render_detail(rec, tail, now), active
        return _dump({**rec, "log_tail": tail}, args.output, compact=compact), active
    summaries = store.summaries()
    active_jobs = [s for s in summaries if s["state"] in ACTIVE_STATES]
    done = [s for s in summaries if s["state"] not in ACTIVE_STATES]
    if not args.all:
        done = done[:RECENT_LIMIT]
    shown = active_jobs + done
    if args.output == "table":
        return render_list(shown, now), bool(active_jobs)
    records = []
    for s in shown:
        try:
            records.append(store.read(s["id"]))
        except RecoverError:
            continue  # pruned or removed meanwhile
    return _dump(records, args.output, compact=compact), bool(active_jobs)


def cmd_status(args) -> int:
    from cli_recover.engine.store import JobStore

    store = JobStore()
    if args.job:
        store.resolve(args.job)  # one-line error for an unknown or ambiguous id
    if not args.watch:
        text, _ = _snapshot(store, args)
        print(text)
        return 0
    if args.interval <= 0:
        raise UsageError("--interval must be positive")
    tty = sys.stdout.isatty()
    last = None
    try:
        while True:
            text, active = _snapshot(store, args)
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
                sys.stdout.flush()
            elif text != last:
                print(text if args.output != "table" or last is None else "\n" + text, flush=True)
            last = text
            if not active:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


# --- cancel ----------------------------------------------------------------------------------


def cmd_cancel(args) -> int:
    from cli_recover.engine.control import cancel_job

    print(cancel_job(args.job, timeout=args.timeout, wait=not args.no_wait))
    return 0


# --- logs ------------------------------------------------------------------------------------


def cmd_logs(args) -> int:
    from cli_recover.engine.model import ACTIVE_STATES
    from cli_recover.engine.store import JobStore

    if args.tail is not None and args.tail < 0:
        raise UsageError("--tail must be 0 or more")
    store = JobStore()
    rec = store.get(args.job)
    path = rec.get("log") or str(store.log_path(rec["id"]))
    out = sys.stdout
    if not os.path.exists(path) and not (args.follow and rec.get("state") in ACTIVE_STATES):
        raise RecoverError(f"job {rec['id']} has no log ({path} does not exist)")
    pos = 0
    if args.tail is not None:
        lines = log_tail(path, args.tail)
        if lines:
            out.write("\n".join(lines) + "\n")
        try:
            pos = os.path.getsize(path)
        except OSError:
            pos = 0
    else:
        pos = copy_new_lines(path, 0, out)
    out.flush()
    if not args.follow:
        return 0
    try:
        last_check = 0.0
        while True:
            pos = copy_new_lines(path, pos, out)
            out.flush()
            now = time.monotonic()
            if now - last_check >= 0.5:
                last_check = now
                if store.get(rec["id"]).get("state") not in ACTIVE_STATES:
                    copy_new_lines(path, pos, out)
                    out.flush()
                    return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0


# --- cleanup ---------------------------------------------------------------------------------


def cmd_cleanup(args) -> int:
    from cli_recover.engine import cleanup
    from cli_recover.engine.model import human_bytes, parse_duration

    older = parse_duration(args.older_than)
    if args.keep_last < 0:
        raise UsageError("--keep-last must be 0 or more")
    types = cleanup.TYPES if args.type == "all" else (args.type,)
    items = cleanup.plan(types, older, args.keep_last)
    what = ", ".join(types)
    if not items:
        print(f"nothing to clean up ({what} older than {args.older_than}"
              + (f", keeping the last {args.keep_last}" if args.keep_last else "") + ")")
        return 0
    if not args.dry_run:
        cleanup.execute(items)
    verb = "would remove" if args.dry_run else "removed"
    rows = []
    freed = 0
    count = 0
    for item in items:
        if not args.dry_run and not item.removed:
            rows.append(["skipped", item.type, _day(item.when), human_bytes(item.size),
                         item.label + (f" ({item.note})" if item.note else "")])
            continue
        extra = " (+ manifest)" if len(item.paths) == 2 else ""
        note = f" ({item.note})" if item.note and item.type != "history" else ""
        if item.type == "history":
            note = f" ({item.note})" if item.note else ""
        rows.append([verb, item.type, _day(item.when), human_bytes(item.size), item.label + extra + note])
        freed += item.size
        count += 1
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], width, strict=True)) + "  " + r[4])
    summary = "would free" if args.dry_run else "freed"
    print(f"{summary} {human_bytes(freed)} ({count} item{'s' if count != 1 else ''})")
    return 0 if count == len(items) else 1


def _day(ts: float) -> str:
    from cli_recover.engine.model import iso

    return iso(ts)[:16].replace("T", " ")
