"""The grammar of `backup PROVIDER` and `restore PROVIDER`, once, for every face that parses it: the
CLI registers it, and a schedule's stored backup is checked against it (engine/schedules/add.py)."""

from __future__ import annotations

CODEC_CHOICES = ("zstd", "lz4", "gzip", "none")


def add_kube_arguments(parser) -> None:
    from cli_recover.argtypes import add_exec_timeout_argument

    g = parser.add_argument_group("cluster (ignored with --local)")
    g.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    g.add_argument("-c", "--container", help="container (default: the pod's default container)")
    g.add_argument("--context", help="kubeconfig context (default: the current one)")
    g.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    add_exec_timeout_argument(g)


def add_stream_arguments(p, second: str, metavar: str, second_help: str, local_help: str,
                         dry_run_help: str) -> None:
    """What backup and restore share: POD SECOND | --local SECOND, --dry-run, -q, --json, the cluster
    flags and the job flags (--background)."""
    from cli_recover.engine.runner import add_job_arguments

    p.add_argument("pod", nargs="?", metavar="POD", help="the pod (omit with --local)")
    p.add_argument(second, nargs="?", metavar=metavar, help=second_help)
    p.add_argument("--local", metavar=metavar, help=local_help)
    p.add_argument("--dry-run", action="store_true", help=dry_run_help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("--json", action="store_true", help="print one JSON result object")
    add_kube_arguments(p)
    add_job_arguments(p)


def add_backup_arguments(p) -> None:
    """`backup PROVIDER`'s own grammar (the provider adds its options after it)."""
    add_stream_arguments(p, "path", "PATH", "what to back up inside the pod",
                         "back up PATH on this host instead of a pod",
                         "show what would run and the estimated size")
    p.add_argument("-o", "--output", metavar="ARCHIVE",
                   help="archive file or folder (default: $CLI_RECOVER_HOME/backups/<source>-<UTC time>.tar.<ext>)")
    p.add_argument("--compression", choices=CODEC_CHOICES, default=None,
                   help="default: what the -o file name says (.tar, .tar.zst, .tar.gz, .tar.lz4), else zstd")
    p.add_argument("--level", type=int, help="compression level (zstd 1-22, default 3; lz4 0-16; gzip 1-9)")
