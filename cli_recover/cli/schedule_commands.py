"""`schedule add|list|show|remove|pause|resume|run|export` and `scheduler start|stop|status`."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from cli_recover.errors import UsageError

IN_CLUSTER_HOME = "/var/lib/cli-recover"
KUBECONFIG_DIR = "/etc/cli-recover"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_UPLOAD_IMAGE = "amazon/aws-cli:2.17.0"


def register(sub) -> None:
    from cli_recover.argtypes import seconds

    p = sub.add_parser("schedule", help="regular backups: cron schedules run by `cli-recover scheduler`",
                       description="Schedules are cron expressions stored under $CLI_RECOVER_HOME/schedules and "
                       "run as background jobs by `cli-recover scheduler start`.")
    cmds = p.add_subparsers(dest="schedule_command", metavar="COMMAND", required=True, parser_class=type(p))

    cmds._parser_class = _after_dashes(type(p))  # `-- backup ARGS` is kept apart from the add options
    a = cmds.add_parser("add", help="add a schedule: when, and the backup it runs (after --)",
                        usage="cli-recover schedule add NAME --cron EXPR [options] -- backup PROVIDER ARGS...",
                        description="Add a schedule. The backup to run comes last, after --, exactly as you would "
                        "type it: cli-recover schedule add nightly --cron '30 2 * * *' -- backup filesystem "
                        "--local /srv/data",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="cron: five fields, minute hour day-of-month month day-of-week (e.g. '30 2 * * *', "
                        "'*/15 * * * *', '0 3 * * 1-5'), or @hourly, @daily, @weekly, @monthly, @yearly.\n"
                        "retention (after each successful run, restic-style): the newest archive is always kept.")
    a.add_argument("name", metavar="NAME", help="lower-case letters, digits and '-'")
    a.add_argument("--cron", required=True, metavar="EXPR", help="when to run (cron expression or @daily...)")
    a.add_argument("--timezone", "--tz", metavar="TZ", help="IANA time zone of the expression (default: this host's)")
    a.add_argument("--keep-last", type=int, default=0, metavar="N", help="keep the N newest archives")
    a.add_argument("--keep-daily", type=int, default=0, metavar="N",
                   help="keep the newest archive of each of the last N days that have one")
    a.add_argument("--keep-weekly", type=int, default=0, metavar="N",
                   help="keep the newest archive of each of the last N weeks that have one")
    a.add_argument("--notify", action="append", default=[], metavar="URL|COMMAND",
                   help="a webhook (POSTed JSON with a 'text' field) or a shell command (gets CLI_RECOVER_JOB_ID, "
                   "CLI_RECOVER_JOB_STATE, CLI_RECOVER_SCHEDULE, ... in its environment); repeatable")
    a.add_argument("--notify-on", choices=("failure", "always"), default="failure",
                   help="notify on failures only (default) or after every run")
    a.set_defaults(func=cmd_add)
    cmds._parser_class = type(p)

    ls = cmds.add_parser("list", help="schedules with their next run and last result")
    ls.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")
    ls.set_defaults(func=cmd_list)

    s = cmds.add_parser("show", help="one schedule in detail (next runs, results, skips, retention)")
    s.add_argument("name", metavar="NAME")
    s.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")
    s.set_defaults(func=cmd_show)

    for verb, text, fn in (("remove", "delete a schedule (its archives and jobs stay)", cmd_remove),
                           ("pause", "stop firing a schedule until it is resumed", cmd_pause),
                           ("resume", "fire a paused schedule again (runs missed while paused are not made up)",
                            cmd_resume),
                           ("run", "run a schedule's backup now, as a background job", cmd_run)):
        x = cmds.add_parser(verb, help=text)
        x.add_argument("name", metavar="NAME")
        x.set_defaults(func=fn)

    e = cmds.add_parser("export", help="print a Kubernetes CronJob (with RBAC and storage) running the schedule "
                        "inside the cluster",
                        description="Print YAML for kubectl apply -f -: a ServiceAccount, a Role that can only get "
                        "the pod and exec into it, a RoleBinding, a kubeconfig ConfigMap for the in-cluster "
                        "identity, a PersistentVolumeClaim for the archives (or an upload to object storage) and "
                        "the CronJob (same schedule and time zone, concurrencyPolicy Forbid).")
    e.add_argument("name", metavar="NAME")
    e.add_argument("--kubernetes", action="store_true", help="export as Kubernetes objects (the one format)")
    e.add_argument("--image", help="the cli-recover container image (default: cli-recover:<version>)")
    e.add_argument("-n", "--namespace", help="namespace (default: the backup's -n, else default)")
    where = e.add_mutually_exclusive_group()
    where.add_argument("--pvc", metavar="NAME", help="write archives to this existing PersistentVolumeClaim")
    where.add_argument("--s3-url", metavar="URL",
                       help="upload archives to s3://BUCKET/PREFIX or https://ENDPOINT/BUCKET/PREFIX "
                       "(credentials from the Secret cli-recover-NAME-s3)")
    e.add_argument("--pvc-size", default="10Gi", help="size of the claim created when neither --pvc nor --s3-url "
                   "is given (default 10Gi)")
    e.add_argument("--upload-image", default=DEFAULT_UPLOAD_IMAGE, help=f"image for --s3-url (default "
                   f"{DEFAULT_UPLOAD_IMAGE})")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser("scheduler", help="run schedules: start, stop or check the scheduler of this data home")
    cmds = p.add_subparsers(dest="scheduler_command", metavar="COMMAND", required=True, parser_class=type(p))
    st = cmds.add_parser("start", help="run the scheduler (foreground; --background to detach)",
                         description="Runs due schedules as background jobs. One scheduler per data home. "
                         "SIGTERM stops it; running jobs go on.")
    st.add_argument("--background", action="store_true", help="detach and return once it runs")
    st.add_argument("--grace", default="1h", metavar="AGE",
                    help="run a schedule missed while the scheduler was down (once) if it is at most this late "
                    "(default 1h; 0: never make up a run, only runs less than a minute late are started)")
    st.add_argument("--tick", type=seconds, default=5.0, metavar="SECONDS",
                    help="longest sleep between checks of the schedules folder and running jobs (default 5)")
    st.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    st.set_defaults(func=cmd_scheduler_start)
    sp = cmds.add_parser("stop", help="stop the scheduler (SIGTERM; running jobs go on)")
    sp.add_argument("--timeout", type=seconds, default=30.0, help="seconds to wait (default 30)")
    sp.set_defaults(func=cmd_scheduler_stop)
    ss = cmds.add_parser("status", help="is a scheduler running (exit 0) or not (exit 3), and what is next")
    ss.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")
    ss.set_defaults(func=cmd_scheduler_status)


def _after_dashes(base):
    class AfterDashes(base):
        """Everything after the first `--` is `args.backup`, untouched by this parser."""

        def parse_known_args(self, args=None, namespace=None):
            args = list(sys.argv[1:] if args is None else args)
            tail: list[str] = []
            if "--" in args:
                i = args.index("--")
                args, tail = args[:i], args[i + 1:]
            ns, extras = super().parse_known_args(args, namespace)
            ns.backup = tail
            return ns, extras

    return AfterDashes


# --- add ---------------------------------------------------------------------------------------


def cmd_add(args) -> int:
    from cli_recover.engine import scheduler
    from cli_recover.engine import schedules as sched
    from cli_recover.engine.schedules import add

    name = sched.validate_name(args.name)
    cron = sched.validate_cron(args.cron)
    tz = sched.validate_timezone(args.timezone) if args.timezone is not None else sched.local_timezone()
    keep = add.validate_keep({"last": args.keep_last, "daily": args.keep_daily, "weekly": args.keep_weekly})
    notify = add.validate_notify(args.notify)
    if sched.schedule_path(name).exists():
        raise UsageError(f"a schedule named {name!r} already exists (remove it first: cli-recover schedule remove "
                         f"{name})")
    warnings: list[str] = []
    argv, job = add.validate_backup(args.backup, warnings)
    for warning in warnings:
        print(f"cli-recover: warning: {warning}", file=sys.stderr)
    schedule = sched.new_schedule(name, cron, tz, argv, notify=notify, notify_on=args.notify_on, keep=keep)
    schedule["job"] = job
    runs = sched.next_runs(cron, tz, time.time(), 5)
    sched.create(schedule)
    print(f"added schedule {name}: {sched.describe(cron)} ({tz})")
    print("next runs:")
    for d in runs:
        print(f"  {sched.format_time(d.timestamp(), tz)}")
    if scheduler.holder() is None:
        print("no scheduler is running: start one with `cli-recover scheduler start --background`",
              file=sys.stderr)
    return 0


# --- list / show -------------------------------------------------------------------------------


def _result_cell(view: dict) -> str:
    from cli_recover.engine import schedules as sched
    from cli_recover.engine.model import parse_iso

    if view.get("running_job"):
        return f"running (job {view['running_job']})"
    r = view.get("last_result")
    if not r:
        return "-"
    when = parse_iso(r.get("finished"))
    text = r.get("state") or "?"
    if when:
        text += " " + sched.format_time(when, view.get("timezone") or "UTC")
    if r.get("error"):
        err = r["error"]
        text += f": {err if len(err) <= 50 else err[:47] + '...'}"
    return text


def _next_cell(view: dict) -> str:
    from datetime import datetime

    from cli_recover.engine import schedules as sched

    if view.get("paused"):
        return "paused"
    if view.get("problem"):
        return "invalid"
    if not view.get("next_run"):
        return "-"
    return sched.format_time(datetime.fromisoformat(view["next_run"]).timestamp(), view.get("timezone") or "UTC")


def _dump(data, fmt: str) -> None:
    from cli_recover.cli.output import print_json, print_yaml

    (print_json if fmt == "json" else print_yaml)(data)


def cmd_list(args) -> int:
    from cli_recover.cli.output import table
    from cli_recover.engine import schedules as sched
    from cli_recover.engine.store import JobStore

    errors: list[str] = []
    store = JobStore()
    now = time.time()
    views = sched.schedule_views(store, now, errors)
    for err in errors:
        print(f"cli-recover: warning: {err}", file=sys.stderr)
    if args.output != "table":
        _dump(views, args.output)
        return 0
    rows = [[v["name"], v["cron"], v["description"], v.get("timezone") or "UTC", _next_cell(v), _result_cell(v)]
            for v in views]
    print(table(["NAME", "CRON", "DESCRIPTION", "TZ", "NEXT RUN", "LAST RESULT"], rows,
                empty="no schedules (add one: cli-recover schedule add NAME --cron EXPR -- backup ...)"))
    return 0


def cmd_show(args) -> int:
    from cli_recover.engine import schedules as sched
    from cli_recover.engine.model import parse_iso
    from cli_recover.engine.store import JobStore

    schedule = sched.load(args.name)
    view = sched.schedule_view(schedule, JobStore(), time.time(), runs=5)
    if args.output != "table":
        _dump(view, args.output)
        return 0
    tz = view.get("timezone") or "UTC"
    st = view.get("state") or {}
    target = view.get("target") or {}
    keep = view.get("keep") or {}
    policy = ", ".join(f"{k} {v}" for k, v in keep.items() if v)
    lines = [
        f"Schedule:    {view['name']} ({'paused' if view.get('paused') else 'active'})",
        f"Cron:        {view['cron']}  ({view['description']})",
        f"Time zone:   {tz}",
        f"Backup:      cli-recover {' '.join(view.get('backup') or [])}",
        *([f"Cluster:     context {target.get('context') or '(current when it fires)'}, kubeconfig "
             f"{target.get('kubeconfig') or '(current when it fires)'}"] if target.get("kind") == "pod" else []),
        f"Retention:   {'keep ' + policy + ' (the newest archive is always kept)' if policy else 'none: archives are kept'}",
        f"Notify:      {', '.join(view.get('notify') or []) or '-'}"
        + (f" (on {view.get('notify_on')})" if view.get("notify") else ""),
        f"Next runs:   {_next_cell(view)}",
    ]
    if view.get("problem"):
        lines.append(f"Problem:     {view['problem']}")
    from datetime import datetime

    for when in (view.get("next_runs") or [])[1:]:
        lines.append(f"             {sched.format_time(datetime.fromisoformat(when).timestamp(), tz)}")
    lines.append(f"Last result: {_result_cell(view)}")
    r = view.get("last_result") or {}
    if r.get("job"):
        lines.append(f"  job:       {r['job']} (cli-recover status {r['job']})")
    if r.get("archive"):
        lines.append(f"  archive:   {r['archive']}")
    lines.append(f"Runs:        {st.get('runs') or 0} started, {st.get('skipped') or 0} skipped")
    for skip in (st.get("skips") or [])[-5:]:
        lines.append(f"  skipped {skip.get('scheduled') or skip.get('at')}: {skip.get('reason')}")
    archives = [a for a in st.get("archives") or [] if os.path.exists(a.get("path") or "")]
    lines.append(f"Archives:    {len(archives)}" + (f" (newest {archives[-1]['path']})" if archives else ""))
    ret = st.get("retention")
    if ret:
        removed = [p for p in ret.get("removed") or [] if not p.endswith(".manifest.json")]
        lines.append(f"  retention: {ret.get('at')}: kept {len(ret.get('kept') or [])}, removed {len(removed)}")
    created = parse_iso(view.get("created"))
    lines.append(f"Created:     {sched.format_time(created, tz) if created else '-'}")
    print("\n".join(lines))
    return 0


# --- remove / pause / resume / run -------------------------------------------------------------


def cmd_remove(args) -> int:
    from cli_recover.engine import schedules as sched

    sched.remove(args.name)
    print(f"removed schedule {args.name} (its archives and job history stay)")
    return 0


def cmd_pause(args) -> int:
    from cli_recover.engine import schedules as sched

    was = sched.pause(args.name)
    print(f"schedule {args.name} {'was already' if was else 'is now'} paused")
    return 0


def cmd_resume(args) -> int:
    from cli_recover.engine import schedules as sched

    now = time.time()
    was, s = sched.resume(args.name, now)
    nxt, problem = sched.upcoming(s, now)
    state = "is now active" if was else "was not paused"
    when = sched.format_time(nxt[0].timestamp(), s.get("timezone") or "UTC") if nxt else f"- ({problem})"
    print(f"schedule {args.name} {state}; next run {when}")
    return 0


def cmd_run(args) -> int:
    from cli_recover.engine import scheduler

    job_id = scheduler.run_now(args.name)
    print(job_id)
    if scheduler.holder() is None:
        print("note: no scheduler is running; this run's retention and notifications happen once one starts",
              file=sys.stderr)
    return 0


# --- export ------------------------------------------------------------------------------------

_DROP_WITH_VALUE = ("--context", "--kubeconfig", "-o", "--output", "-n", "--namespace")
_DROP = ("-q", "--quiet", "--json", "--background")


def _in_cluster_args(argv: list[str]) -> list[str]:
    """The backup argv minus what only makes sense on this machine (context, kubeconfig, output...)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        if token in _DROP_WITH_VALUE:
            i += 2
            continue
        name = token.split("=", 1)[0]
        if token.startswith("--") and "=" in token and name in _DROP_WITH_VALUE:
            i += 1
            continue
        if token.startswith(("-o", "-n")) and not token.startswith("--") and len(token) > 2:
            i += 1
            continue
        if token in _DROP:
            i += 1
            continue
        out.append(token)
        i += 1
    return out


def _s3_target(url: str) -> tuple[str, str | None]:
    """(s3://bucket/prefix/, endpoint URL or None)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "s3":
        bucket, path = parts.netloc, parts.path.strip("/")
        endpoint = None
    elif parts.scheme in ("http", "https") and parts.netloc:
        bucket, _, path = parts.path.strip("/").partition("/")
        endpoint = f"{parts.scheme}://{parts.netloc}"
    else:
        raise UsageError(f"bad --s3-url {url!r}: use s3://BUCKET/PREFIX or https://ENDPOINT/BUCKET/PREFIX")
    if not bucket or parts.username or parts.password or parts.query:
        raise UsageError(f"bad --s3-url {url!r}: give a bucket (credentials go in the Secret, not the URL)")
    return f"s3://{bucket}/{path + '/' if path else ''}", endpoint


def kubernetes_export(schedule: dict, *, image: str | None = None, pvc: str | None = None,
                      s3_url: str | None = None, pvc_size: str = "10Gi", namespace: str | None = None,
                      upload_image: str = DEFAULT_UPLOAD_IMAGE) -> str:
    """Multi-document YAML: ServiceAccount, Role, RoleBinding, kubeconfig ConfigMap, PVC, CronJob."""
    import yaml

    from cli_recover import __version__
    from cli_recover.engine import schedules as sched
    from cli_recover.engine.model import is_secret_name

    name = schedule["name"]
    job = schedule.get("job") or {}
    target = job.get("target") or {}
    argv = list(schedule.get("backup") or [])
    if target.get("kind") != "pod":
        raise UsageError(f"schedule {name} backs up a path on this host (--local); only pod backups can run "
                         "inside the cluster")
    cron = schedule["cron"]
    fields = sched.expand(cron).split(" ")
    if len(fields) != 5:
        raise UsageError(f"schedule {name}'s cron {cron!r} has a seconds field; Kubernetes CronJobs take five fields")
    if "l" in fields[2].lower() or "l" in fields[4].lower() or "#" in fields[4]:
        raise UsageError(f"schedule {name}'s cron {cron!r} uses L or #, which Kubernetes CronJobs do not support")
    secret = [a for a in argv if a.startswith("-") and is_secret_name(a.split("=", 1)[0])]
    if secret:
        raise UsageError(f"schedule {name} passes {secret[0].split('=', 1)[0]} on the command line; "
                         "it cannot be exported without putting the secret in the CronJob")
    if pvc is not None and not sched.NAME_RE.fullmatch(pvc):
        raise UsageError(f"bad --pvc name {pvc!r}")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?([KMGTPE]i|[kMGTPE])?", pvc_size or ""):
        raise UsageError(f"bad --pvc-size {pvc_size!r}: use a Kubernetes quantity such as 10Gi or 500Mi")
    ns = namespace or target.get("namespace") or "default"
    if not sched.NAME_RE.fullmatch(ns):
        raise UsageError(f"bad namespace {ns!r}")
    pod = target.get("pod")
    base = f"cli-recover-{name}"
    labels = {"app.kubernetes.io/name": "cli-recover", "app.kubernetes.io/instance": name,
              "app.kubernetes.io/managed-by": "cli-recover"}
    image = image or f"cli-recover:{__version__}"

    def meta(obj_name: str) -> dict:
        return {"name": obj_name, "namespace": ns, "labels": dict(labels)}

    docs: list[dict] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(base)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(base), "rules": [
            {"apiGroups": [""], "resources": ["pods"], "resourceNames": [pod], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "resourceNames": [pod], "verbs": ["create", "get"]},
        ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(base),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": base},
         "subjects": [{"kind": "ServiceAccount", "name": base, "namespace": ns}]},
    ]
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "in-cluster",
        "clusters": [{"name": "in-cluster", "cluster": {"server": "https://kubernetes.default.svc",
                                                        "certificate-authority": f"{SA_DIR}/ca.crt"}}],
        "users": [{"name": "service-account", "user": {"tokenFile": f"{SA_DIR}/token"}}],
        "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account",
                                                        "namespace": ns}}],
    }
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(f"{base}-kubeconfig"),
                 "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False)}})
    if s3_url:
        s3, endpoint = _s3_target(s3_url)
        archives_volume = {"name": "archives", "emptyDir": {}}
    else:
        claim = pvc or f"{base}-archives"
        if not pvc:
            docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(claim),
                         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": pvc_size}}}})
        archives_volume = {"name": "archives", "persistentVolumeClaim": {"claimName": claim}}
    mounts = [{"name": "archives", "mountPath": IN_CLUSTER_HOME},
              {"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True}]
    env = [{"name": "CLI_RECOVER_HOME", "value": IN_CLUSTER_HOME},
           {"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/kubeconfig"}]
    backup = {"name": "backup", "image": image, "command": ["cli-recover"],
              "args": [*_in_cluster_args(argv), "-n", ns, "-q"], "env": env, "volumeMounts": mounts}
    keep_last = int((schedule.get("keep") or {}).get("last") or 0)
    if s3_url:
        upload = ["s3", "cp", f"{IN_CLUSTER_HOME}/backups/", s3, "--recursive"]
        if endpoint:
            upload += ["--endpoint-url", endpoint]
        init, main = [backup], [{"name": "upload", "image": upload_image, "command": ["aws"], "args": upload,
                                 "envFrom": [{"secretRef": {"name": f"{base}-s3"}}],
                                 "volumeMounts": [{"name": "archives", "mountPath": IN_CLUSTER_HOME,
                                                   "readOnly": True}]}]
    elif keep_last:
        init, main = [backup], [{"name": "retention", "image": image, "command": ["cli-recover"],
                                 "args": ["cleanup", "--type", "backups", "--older-than", "0",
                                          "--keep-last", str(keep_last)],
                                 "env": env[:1], "volumeMounts": mounts[:1]}]
    else:
        init, main = [], [backup]
    pod_spec: dict = {"serviceAccountName": base, "restartPolicy": "Never"}
    if init:
        pod_spec["initContainers"] = init
    pod_spec["containers"] = main
    pod_spec["volumes"] = [archives_volume, {"name": "kubeconfig", "configMap": {"name": f"{base}-kubeconfig"}}]
    docs.append({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(base),
        "spec": {
            "schedule": cron, "timeZone": schedule.get("timezone") or "UTC", "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600, "suspend": bool(schedule.get("paused")),
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": dict(labels)}, "spec": {
                "backoffLimit": 0,
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}},
        },
    })
    header = [
        f"# cli-recover schedule {name!r} ({sched.describe(cron)}, {schedule.get('timezone') or 'UTC'}) as a "
        "Kubernetes CronJob.",
        f"# Apply with: cli-recover schedule export {name} --kubernetes | kubectl apply -f -",
        f"# The image must provide the cli-recover command ({image}).",
        f"# RBAC: get on pod {pod} and exec into it (create, plus get for clusters that still authorize",
        "# WebSocket exec with get), in namespace " + ns + " only. The Role names the pod: a pod recreated",
        "# under another name (a Deployment's) needs a new export.",
    ]
    if s3_url:
        header.append(f"# Archives go to {s3}; create the credentials first: kubectl -n {ns} create secret generic "
                      f"{base}-s3 --from-literal=AWS_ACCESS_KEY_ID=... --from-literal=AWS_SECRET_ACCESS_KEY=...")
    keep = schedule.get("keep") or {}
    if keep.get("daily") or keep.get("weekly") or (keep.get("last") and s3_url):
        header.append("# Retention: only --keep-last runs in the cluster (as cleanup on the volume); keep-daily/"
                      "-weekly and object-store retention are not applied there.")
    if schedule.get("notify"):
        header.append("# Notifications are sent by the local scheduler only; watch the CronJob's Jobs instead.")
    body = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def cmd_export(args) -> int:
    from cli_recover.engine import schedules as sched

    if not args.kubernetes:
        raise UsageError("choose what to export to: --kubernetes")
    schedule = sched.load(args.name)
    sys.stdout.write(kubernetes_export(schedule, image=args.image, pvc=args.pvc, s3_url=args.s3_url,
                                       pvc_size=args.pvc_size, namespace=args.namespace,
                                       upload_image=args.upload_image))
    return 0


# --- scheduler ---------------------------------------------------------------------------------


def cmd_scheduler_start(args) -> int:
    from cli_recover.engine import scheduler
    from cli_recover.engine.model import parse_duration

    grace = parse_duration(args.grace)
    if args.tick <= 0:
        raise UsageError("--tick must be positive")
    if args.background:
        pid = scheduler.start_background(grace=grace, tick=args.tick)
        print(f"scheduler started (pid {pid}); log: {scheduler.log_path()}")
        return 0
    return scheduler.serve(grace=grace, tick=args.tick, echo=not args.detached)


def cmd_scheduler_stop(args) -> int:
    from cli_recover.engine import scheduler

    info = scheduler.stop_running(timeout=args.timeout)
    if info is None:
        print("no scheduler is running")
        return 0
    print(f"scheduler stopped (pid {info.get('pid')}); running jobs go on")
    return 0


def cmd_scheduler_status(args) -> int:
    from cli_recover import config
    from cli_recover.engine import scheduler
    from cli_recover.engine import schedules as sched

    info = scheduler.holder()
    now = time.time()
    upcoming = []
    items = sched.load_all()
    for s in items:
        nxt, _problem = sched.upcoming(s, now)
        if nxt:
            upcoming.append((nxt[0].timestamp(), s))
    upcoming.sort(key=lambda x: x[0])
    data = {
        "running": info is not None, "pid": (info or {}).get("pid"), "since": (info or {}).get("started"),
        "host": (info or {}).get("host"), "tick": (info or {}).get("tick"), "grace": (info or {}).get("grace"),
        "data_home": str(config.data_home()), "log": str(scheduler.log_path()),
        "schedules": len(items), "paused": sum(1 for s in items if s.get("paused")),
        "next": ({"schedule": upcoming[0][1]["name"], "at": sched.iso(upcoming[0][0])} if upcoming else None),
    }
    if args.output != "table":
        _dump(data, args.output)
    else:
        if info is None:
            print(f"scheduler: not running for {data['data_home']}")
        else:
            print(f"scheduler: running (pid {data['pid'] or '?'}, since {data['since'] or '?'})")
        print(f"schedules: {data['schedules']} ({data['paused']} paused)")
        if upcoming:
            when, s = upcoming[0]
            print(f"next:      {s['name']} at {sched.format_time(when, s.get('timezone') or 'UTC')}")
        print(f"log:       {data['log']}")
        from cli_recover.cli.job_commands import log_tail

        tail = log_tail(data["log"], 5)
        if tail:
            print("--- last log lines ---")
            print("\n".join(tail))
    return 0 if info is not None else 3
