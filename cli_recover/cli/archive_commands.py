"""backup, restore, verify, list, compare-compression, providers."""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path

# --- shared arguments -------------------------------------------------------------------------
from cli_recover.engine.grammar import CODEC_CHOICES, add_kube_arguments  # noqa: E402,F401 - re-exported
from cli_recover.errors import RecoverError, UsageError


def make_target(args, pod: str | None):
    if getattr(args, "local", None):
        from cli_recover.kube.local import LocalTarget

        return LocalTarget()
    from cli_recover.kube.pod import open_pod_target

    return open_pod_target(pod, namespace=args.namespace, container=args.container, context=args.context,
                           kubeconfig=args.kubeconfig, exec_timeout=getattr(args, "exec_timeout", None))


def target_record(target, path: str | None) -> dict:
    if target.kind == "local":
        return {"kind": "local", "path": path}
    record = {"kind": "pod"}
    for key in ("context", "namespace", "pod", "container"):
        record[key] = getattr(target, key, None)
    record["path"] = path
    return record


def _load_provider(name: str):
    from cli_recover.providers import load_provider

    return load_provider(name)


def _provider_names() -> list[str]:
    from cli_recover.providers import provider_names

    return provider_names()


def _progress(args, label: str):
    from cli_recover.cli.progress import ProgressLine

    return ProgressLine(label, enabled=not getattr(args, "quiet", False))


def _job_progress(args, handle, label: str):
    line = _progress(args, label)

    def report(done: int, total: int | None) -> None:
        handle.progress(done, total, label)
        line(done, total)

    report.close = line.close  # type: ignore[attr-defined]
    return report


def _cancel_for(handle):
    """The job's cancel event, carrying the signal number the pipeline reports on cancel."""
    event = handle.cancel_event
    handle.on_cancel(lambda: setattr(event, "signum", handle.signum))
    return event


# --- backup -----------------------------------------------------------------------------------


def default_output(label: str, extension: str) -> Path:
    """`$CLI_RECOVER_HOME/backups/<label>-<UTC time><extension>` (a name only: see reserve_output)."""
    from cli_recover.config import backups_dir

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return backups_dir() / f"{label}-{stamp}{extension}"


def resolve_output(output: str | None, label: str, extension: str) -> tuple[Path, bool]:
    """(archive path, unique): unique when cli-recover chose the name (the default folder or `-o
    DIR/`), so a name taken by another backup gets a -2, -3... suffix when it is reserved."""
    if output is None:
        return default_output(label, extension), True
    if not output.strip():
        raise UsageError("-o is empty: give an archive file or a folder (or leave -o out for the default)")
    if output == "-":
        raise UsageError("-o - (stdout) is not supported: an archive is a file with its manifest beside it; "
                         "give a file or a folder")
    path = Path(output).expanduser()
    if output.endswith(("/", os.sep)) and not path.is_dir():  # `-o DIR/` names a folder, never a file
        raise UsageError(f"the folder for -o does not exist: {path}")
    if path.is_dir():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return (path / f"{label}-{stamp}{extension}").absolute(), True
    if path.exists():
        raise UsageError(f"{path} already exists; cli-recover never overwrites an archive")
    partial = path.with_name(path.name + ".partial")
    if os.path.lexists(partial):  # another backup is writing it (or was killed): never share a .partial
        raise UsageError(f"{partial} exists: a backup to {path.name} is running or was killed "
                         "(see: cli-recover status; remove the .partial file if none runs)")
    if not path.parent.exists():
        raise UsageError(f"the folder for -o does not exist: {path.parent}")
    return path.absolute(), False


def cmd_backup(args) -> int:
    from cli_recover.archive.codecs import codec_info, resolve_level
    from cli_recover.archive.manifest import manifest_path, partial_outputs, reserve_output
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.config import backups_dir, ensure_dir
    from cli_recover.engine.runner import JobSpec, run_as_job

    provider = _load_provider(args.provider)
    pod = _positional_target(args, "path", "backup", provider.name)
    from cli_recover.archive.codecs import codec_for_output

    args.compression = codec_for_output(args.output, args.compression)
    level = resolve_level(args.compression, args.level)
    target = make_target(args, pod)
    plan = provider.backup_plan(args, target)
    ext = getattr(provider, "file_extension", ".tar") + codec_info(args.compression).extension
    output, unique = resolve_output(args.output, plan.label, ext)

    if args.dry_run:
        estimate = plan.estimate() if plan.estimate else None
        result = {"dry_run": True, "provider": provider.name, "source": plan.source, "command": plan.argv,
                  "archive": str(output), "compression": args.compression, "level": level,
                  "estimated_bytes": estimate}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            from cli_recover.cli.progress import human_bytes

            print(f"would run on {target.describe()}: {' '.join(plan.argv)}")
            print(f"would write: {output} ({args.compression}{'' if level is None else f' level {level}'})")
            print(f"estimated size before compression: {human_bytes(estimate)}")
        return 0

    options = {**plan.options, "compression": args.compression, "level": level, "output": str(output)}
    spec = JobSpec(kind="backup", provider=provider.name, target=target_record(target, plan.source.get("path")),
                   options=options)

    def work(handle) -> dict:
        if args.output is None:
            ensure_dir(backups_dir())
        # Reserve the name (the .partial, created exclusively) before registering anything as ours.
        archive = reserve_output(output, extension=ext, unique=unique)
        handle.set_paths(archive=archive, manifest=manifest_path(archive),
                         partial=[str(p) for p in partial_outputs(archive)])
        handle.log(f"producer on {target.describe()}: {' '.join(plan.argv)}")
        progress = _job_progress(args, handle, "backup")
        producers = []

        def on_process(p) -> None:
            producers.append(p)
            handle.on_cancel(p.kill)

        try:
            header = run_backup(
                BackupRequest(target=target, argv=plan.argv, output=archive, codec=args.compression, level=level,
                              provider=provider.name, source=plan.source, stream_type=provider.stream_type,
                              options=plan.options, ok_exit_codes=plan.ok_exit_codes, estimate=plan.estimate,
                              reserved=True),
                progress=progress, cancel=_cancel_for(handle), on_process=on_process,
            )
        except BaseException:
            _log_stderr_tail(handle, producers)
            raise
        finally:
            progress.close()
        _warn_outside_symlinks(header)
        for warning in header.get("warnings", []):
            handle.warn(warning)
        return {
            "archive": header["archive_path"],
            "manifest": header["manifest_path"],
            "provider": provider.name,
            "source": plan.source,
            "compression": args.compression,
            "level": level,
            "raw_bytes": header["bytes"]["raw"],
            "stored_bytes": header["bytes"]["stored"],
            "members": header["members_count"],
            "sha256": header["sha256"]["stored"],
            "duration_seconds": header["duration_seconds"],
            "warnings": header["warnings"],
        }

    code, result = run_as_job(args, spec, work)
    if result is not None:
        if args.json:
            print(json.dumps({"job": result.get("job_id"), **result}, indent=2))
        else:
            if not args.quiet:
                from cli_recover.cli.progress import human_bytes

                ratio = result["raw_bytes"] / result["stored_bytes"] if result["stored_bytes"] else 0
                print(f"backed up {result['members'] if result['members'] is not None else '?'} members, "
                      f"{human_bytes(result['raw_bytes'])} -> {human_bytes(result['stored_bytes'])} "
                      f"({ratio:.2f}x) in {result['duration_seconds']:.1f}s", file=sys.stderr)
            print(result["archive"])
    return code


STDERR_TAIL_LINES = 20


def _log_stderr_tail(handle, producers) -> None:
    """The error names tar's most telling line; the job log keeps the tail of what it said."""
    for p in producers:
        try:
            lines = [ln for ln in p.stderr_text().splitlines() if ln.strip()]
        except Exception:  # noqa: BLE001 - the log is best effort
            continue
        if lines:
            handle.log(f"producer stderr (last {min(len(lines), STDERR_TAIL_LINES)} of {len(lines)} lines):\n"
                       + "\n".join(lines[-STDERR_TAIL_LINES:]))


def _warn_outside_symlinks(header: dict) -> None:
    """Symlinks that point outside the backed-up folder (a venv, /etc/localtime) restore only with
    --allow-outside-symlinks: say so now, on stderr and in the job's warnings."""
    from cli_recover.archive.guard import ALLOW_OUTSIDE_FLAG, manifest_outside_symlinks

    try:
        count, names = manifest_outside_symlinks(header["manifest_path"])
    except OSError:
        return
    if count:
        more = f" and {count - len(names)} more" if count > len(names) else ""
        warning = (f"{count} symlink(s) point outside the backed-up folder ({', '.join(names)}{more}); "
                   f"restore them as links with {ALLOW_OUTSIDE_FLAG}")
        header.setdefault("warnings", []).append(warning)
        print(f"cli-recover: warning: {warning}", file=sys.stderr)


def _positional_target(args, second: str, verb: str, provider: str) -> str | None:
    """`--local X` or `POD X`: returns the pod name (None for local) and sets args.<second>."""
    if args.local:
        if args.pod is not None:
            raise UsageError(f"give either --local {second.upper()} or POD {second.upper()}, not both")
        setattr(args, second, args.local)
        return None
    if args.pod is None or getattr(args, second) is None:
        raise UsageError(f"usage: cli-recover {verb} {provider} POD {second.upper()} | --local {second.upper()}")
    return args.pod


# --- restore ----------------------------------------------------------------------------------


ARGV_LIMIT = 1 << 20  # bytes of tar's argv (Linux allows 2 MiB with the environment)
POD_ARGV_LIMIT = 6000  # a pod's argv travels in the exec URL (`&command=...`): API servers and proxies cap it


def _check_argv_size(argv: list[str], target, extra: list[str]) -> None:
    """Every member --include names (and the hard-link targets outside it) is an argument of tar."""
    from urllib.parse import quote

    local = target.kind == "local"
    size = sum(len(a) + 1 if local else len(quote(a, safe="")) + 9 for a in argv)
    if size > (ARGV_LIMIT if local else POD_ARGV_LIMIT):
        why = f"{len(extra)} hard-link targets outside --include ({extra[0]}, ...)" if extra else "--include"
        raise UsageError(f"{why}: too many names to give tar on {target.describe()}; include the folders that "
                         "hold them instead")


def cmd_restore(args) -> int:
    from cli_recover.archive.guard import RestoreGuard
    from cli_recover.archive.pipeline import RestoreRequest, run_restore
    from cli_recover.archive.verify import (
        check_integrity_first,
        check_safety,
        existing_paths,
        manifest_members,
        open_archive,
        scan_members,
        select_members,
    )
    from cli_recover.engine.runner import JobSpec, run_as_job

    provider = _load_provider(args.provider)
    pod = _positional_target(args, "archive", "restore", provider.name)
    archive, manifest, codec = open_archive(args.archive)
    if manifest and manifest.get("provider") not in (None, provider.name):
        raise UsageError(f"{archive.name} is a {manifest['provider']} backup, not {provider.name}")
    target = make_target(args, pod)
    plan = provider.restore_plan(args, target, manifest)
    is_tar = provider.stream_type == "tar"
    allow_outside = bool(getattr(args, "allow_outside_symlinks", False))
    # local restores go through a private staging folder inside the target, then move into place
    staged = target.kind == "local" and provider.name == "filesystem" and not getattr(args, "in_place", False)
    state = {"root_member": False}

    def checks(progress=None, cancel=None):
        """Everything that can refuse the restore, before a single byte is written.
        Returns (summary, plan, guard): the plan may change once the archive's member names are
        known; the guard (None for other streams) knows the target's disk for the stream check."""
        members = None
        guard = None
        current = plan
        prefix = ((manifest or {}).get("stream") or {}).get("member_prefix", "./")
        if manifest is not None:
            if not args.no_verify:
                check_integrity_first(archive, manifest, progress=progress, cancel=cancel)
            if is_tar:
                members = manifest_members(manifest)
        elif is_tar:
            members = scan_members(archive, codec, cancel=cancel, allow_outside_symlinks=allow_outside)
            from cli_recover.archive.pipeline import duplicate_copies

            # of a path stored twice only the last copy is restored, as GNU tar without -k does
            state["drop"] = duplicate_copies(m.path for m in members)
            if members and not members[0].raw_name.startswith("./"):
                # an archive made elsewhere (`tar -cf a.tar dir`): its names have no ./ prefix
                prefix = ""
                current = provider.restore_plan(args, target, {"stream": {"member_prefix": prefix}})
        summary = {"archive": str(archive), "target": target.describe(), "target_path": current.target_dir}
        if members is not None:
            guard = check_safety(members, target, current.target_dir, allow_outside_symlinks=allow_outside)
            if guard.outside_links:
                summary["outside_symlinks"] = len(guard.outside_links)
            selected, extra = select_members(members, current.includes, prefix)
            if extra:
                named = set(current.argv)
                current.argv.extend(prefix + p for p in extra if prefix + p not in named)
                summary["also_restored"] = extra  # hard-link targets of chosen members
            _check_argv_size(current.argv, target, extra)
            summary["members"] = len(selected)
            state["root_member"] = any(m.path == "." and m.type == "dir" for m in selected)
            summary["bytes"] = sum(m.size for m in selected)
            if not args.force and current.target_dir:
                paths = [m.path for m in selected if m.type != "dir" and m.path != "."]
                clash = existing_paths(target, current.target_dir, paths)
                if clash:
                    more = f" and {len(clash) - 3} more" if len(clash) > 3 else ""
                    raise RecoverError(
                        f"{len(clash)} file(s) already exist in {current.target_dir} ({', '.join(clash[:3])}{more}); "
                        "use --force to overwrite; nothing was restored")
        return summary, current, guard

    if args.dry_run:
        summary, plan, _ = checks()
        summary["dry_run"] = True
        summary["command"] = plan.argv
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            from cli_recover.cli.progress import human_bytes

            print(f"would restore {summary.get('members', '?')} members ({human_bytes(summary.get('bytes'))}) "
                  f"from {archive.name} into {plan.target_dir} on {target.describe()}")
            print(f"would run: {' '.join(plan.argv)}")
        return 0

    spec = JobSpec(kind="restore", provider=provider.name, target=target_record(target, plan.target_dir),
                   options={"archive": str(archive), "include": plan.includes, "force": bool(args.force)})

    def work(handle) -> dict:
        cancel = _cancel_for(handle)
        progress = _job_progress(args, handle, "check")
        try:
            summary, plan_now, guard = checks(progress=progress, cancel=cancel)
        finally:
            progress.close()
        for argv in plan_now.prepare:
            code, _, err = target.run(argv)
            if code != 0:
                raise RecoverError(f"{' '.join(argv)} failed on {target.describe()}: {err.strip() or code}")
        argv, staging = plan_now.argv, None
        if staged:
            from cli_recover.providers.filesystem import finish_staged, make_staging, remove_staging

            try:
                staging, inner = make_staging(plan_now.target_dir)
            except OSError as exc:
                raise RecoverError(f"cannot create a staging folder in {plan_now.target_dir}: "
                                   f"{exc.strerror or exc} (--in-place extracts without one)") from None
            argv = [inner if i and argv[i - 1] == "-C" else a for i, a in enumerate(argv)]
            handle.set_paths(partial=[staging])  # removed after a kill -9 too (the vanished-job check)
            handle.log(f"staging in {staging}")
        handle.log(f"consumer on {target.describe()}: {' '.join(argv)}")
        progress = _job_progress(args, handle, "restore")
        t0 = time.monotonic()
        try:
            done = run_restore(RestoreRequest(target=target, archive=archive, argv=argv, codec=codec,
                                              manifest=manifest, stream_type=provider.stream_type,
                                              check_stored=manifest is not None,  # again: it may be replaced after its check
                                              guard=guard and RestoreGuard(guard.disk,
                                                                           allow_outside_symlinks=allow_outside),
                                              staged=staged, drop=state.get("drop")),
                               progress=progress, cancel=cancel, on_process=lambda p: handle.on_cancel(p.kill))
            if staging is not None:
                try:
                    finish_staged(staging, inner, plan_now.target_dir, force=bool(args.force),
                                  apply_root=state["root_member"])
                except OSError as exc:
                    hint = " (a mount point inside the target: use --in-place)" if exc.errno == errno.EXDEV else ""
                    raise RecoverError(f"cannot move the restored files into {plan_now.target_dir}: "
                                       f"{exc.strerror or exc}{hint}; the restore is incomplete") from None
        except RecoverError as exc:
            tail = getattr(exc, "stderr_tail", None)
            if tail:
                handle.log(f"{argv[0]} stderr (last lines):\n{tail.rstrip()}")
            raise
        finally:
            progress.close()
            if staging is not None:
                remove_staging(staging)
        return {**summary, "raw_bytes": done["raw_bytes"], "duration_seconds": round(time.monotonic() - t0, 3)}

    code, result = run_as_job(args, spec, work)
    if result is not None:
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"restored {result.get('members', '?')} members from {archive.name} into "
                  f"{result['target_path']} on {result['target']}")
    return code


# --- verify -----------------------------------------------------------------------------------


def print_verify_report(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    status = "OK" if report["ok"] else "FAILED"
    print(f"{status}: {report['archive']}")
    print(f"  members checked: {report['members_checked']} of {report['members_expected']}")
    from cli_recover.cli.main import one_line  # member names come from the archive: one line each

    for problem in report["problems"]:
        print(f"  - {one_line(problem)}")
    for label in ("changed", "missing", "unexpected"):
        for item in report[label]:
            print(f"    {label}: {one_line(item)}")


def cmd_verify(args) -> int:
    from cli_recover.archive.verify import open_archive, verify_archive
    from cli_recover.engine.runner import JobSpec, run_as_job
    from cli_recover.errors import IntegrityError

    archive, manifest, _ = open_archive(args.archive)
    spec = JobSpec(kind="verify", provider=(manifest or {}).get("provider"),
                   target={"kind": "local", "path": str(archive)}, options={})

    def work(handle) -> dict:
        progress = _job_progress(args, handle, "verify")
        try:
            report = verify_archive(archive, progress=progress, cancel=_cancel_for(handle))
        finally:
            progress.close()
        print_verify_report(report, args.json)
        if not report["ok"]:
            raise IntegrityError(f"{archive.name} failed verification: {report['problems'][0]}")
        return {"archive": report["archive"], "ok": True, "members_checked": report["members_checked"]}

    code, _ = run_as_job(args, spec, work)
    return code


# --- list -------------------------------------------------------------------------------------


def cmd_list(args) -> int:
    from cli_recover.archive.catalog import catalog
    from cli_recover.cli.output import emit
    from cli_recover.cli.progress import human_bytes
    from cli_recover.config import backups_dir
    from cli_recover.storage import open_store

    store = open_store(args.dir or backups_dir())  # a folder; another store's URL: one line
    directory = store.describe()
    if args.dir and not Path(directory).is_dir():
        raise UsageError(f"no such folder: {directory}")
    entries = catalog(store)
    rows = []
    for e in entries:
        src = e.get("source") or {}
        rows.append([e.get("name"), e.get("created") or "-", e.get("provider") or "-",
                     f"{src.get('target') or '-'}:{src.get('path') or ''}" if src else "-",
                     e.get("codec") or "-", human_bytes(e.get("stored_bytes")), human_bytes(e.get("raw_bytes")),
                     e.get("members") if e.get("members") is not None else "-", e.get("status")])
    emit(entries, args.output, ["NAME", "CREATED", "PROVIDER", "SOURCE", "CODEC", "SIZE", "RAW", "FILES", "STATUS"],
         rows, empty=f"no archives in {directory}")
    return 0


# --- compare-compression ----------------------------------------------------------------------

CANDIDATES = [("lz4", 0), ("lz4", 9), ("zstd", 1), ("zstd", 3), ("zstd", 9), ("gzip", 1), ("gzip", 6)]


def cmd_compare(args) -> int:
    from cli_recover.archive.compare import compare_codecs, recommend, sample_tar
    from cli_recover.cli.output import print_json, table

    if not args.path.strip():
        raise UsageError("PATH is empty: give a file or folder to sample")
    if args.sample_mb <= 0 or args.bandwidth <= 0:
        raise UsageError("--sample-mb and --bandwidth must be positive")
    sample = sample_tar(args.path, args.sample_mb << 20)
    results = compare_codecs(sample, CANDIDATES)
    best = recommend(results, args.bandwidth)
    if args.json:
        print_json({"sample_bytes": len(sample), "bandwidth_mb_s": args.bandwidth, "results": results,
                    "recommendation": best})
        return 0
    rows = [[r["codec"], r["level"], f"{r['ratio']:.2f}x", f"{r['compress_mb_s']:.0f}", f"{r['decompress_mb_s']:.0f}",
             f"{r['seconds_per_gb']:.1f}"] for r in results]
    print(f"sample: {len(sample) / 1048576:.1f} MiB of a tar stream of {args.path}")
    print(table(["CODEC", "LEVEL", "RATIO", "COMPRESS MB/s", "DECOMPRESS MB/s", f"s/GB @{args.bandwidth:g}MB/s"], rows))
    print(f"recommended: --compression {best['codec']}"
          + (f" --level {best['level']}" if best["level"] is not None else "")
          + f"  ({best['reason']})")
    return 0


# --- registration -----------------------------------------------------------------------------


def _provider_parsers(sub, verb: str, help_text: str):
    parser = sub.add_parser(verb, help=help_text, description=help_text)
    kinds = parser.add_subparsers(dest="provider", metavar="PROVIDER", required=True,
                                  parser_class=type(parser))
    return parser, kinds


REGISTER_WITH_ARGV = True


def register(sub, argv: list[str] | None = None) -> None:
    from cli_recover.argtypes import number
    from cli_recover.engine.grammar import add_backup_arguments, add_stream_arguments
    from cli_recover.engine.runner import add_job_arguments as _add_job_arguments

    wanted = list(argv or [])[:2]  # load only the provider being used (plugins are imported on use)
    # Reading entry points costs ~35 ms: only backup/restore need the provider names.
    names = _provider_names() if wanted[:1] in (["backup"], ["restore"]) else []

    _, kinds = _provider_parsers(sub, "backup", "back up a provider's data into an archive")
    for name in names:
        p = kinds.add_parser(name, help=f"back up with the {name} provider",
                             description=f"Back up with the {name} provider: POD PATH, or --local PATH.")
        add_backup_arguments(p)
        if wanted == ["backup", name]:
            _load_provider(name).add_backup_arguments(p)
        p.set_defaults(func=cmd_backup)

    _, kinds = _provider_parsers(sub, "restore", "restore an archive into a pod or a local folder")
    for name in names:
        p = kinds.add_parser(name, help=f"restore a {name} archive",
                             description=f"Restore a {name} archive: POD ARCHIVE, or --local ARCHIVE --target-path DIR.")
        add_stream_arguments(p, "archive", "ARCHIVE", "the archive file",
                              "restore ARCHIVE on this host instead of a pod", "run every check, extract nothing")
        p.add_argument("--target-path", metavar="DIR", help="where to restore (pods: default the backed-up path)")
        p.add_argument("--force", action="store_true",
                       help="overwrite files that already exist (never writes through a symlink)")
        p.add_argument("--in-place", action="store_true",
                       help="local restores: extract straight into the target instead of a staging folder "
                            "inside it that is moved into place at the end (a failure then leaves partial files)")
        p.add_argument("--allow-outside-symlinks", action="store_true",
                       help="restore symlinks that point outside the target (absolute ones: a venv, "
                            "/etc/localtime) as links; nothing is ever written through a symlink")
        p.add_argument("--no-verify", action="store_true",
                       help="skip the sha256 check of the whole archive before extracting (the stream is still checked)")
        if wanted == ["restore", name]:
            _load_provider(name).add_restore_arguments(p)
        p.set_defaults(func=cmd_restore)

    p = sub.add_parser("verify", help="check an archive against its manifest, member by member")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    _add_job_arguments(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("list", help="the catalog of archives (from their manifests)")
    from cli_recover.cli.output import add_output_argument

    add_output_argument(p)
    p.add_argument("--dir", help="list this folder instead of $CLI_RECOVER_HOME/backups")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("compare-compression",
                       help="measure gzip, lz4 and zstd on a sample of your own data and recommend one")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--sample-mb", type=int, default=32, help="how much of the tar stream to sample (default 32)")
    p.add_argument("--bandwidth", type=number, default=100.0,
                   help="MB/s at which stored bytes can be written or sent, for the recommendation (default 100)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("providers", help="list installed providers (without loading them)")
    p.set_defaults(func=lambda args: print("\n".join(_provider_names())) or 0)
