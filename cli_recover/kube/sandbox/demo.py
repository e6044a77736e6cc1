"""A small, realistic, deterministic sample cluster for the sandbox (a few MB)."""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import zlib
from pathlib import Path

DEMO_TIME = 1767225600  # 2026-01-01T00:00:00Z: files get fixed mtimes so archives are reproducible

APP_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_ENV": "demo"}


def _png(rng: random.Random, width: int, height: int) -> bytes:
    """A valid PNG of noisy pixels (so it does not compress much, like real photos)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def _log_lines(rng: random.Random, n: int, day: str) -> str:
    paths = ["/", "/cart", "/checkout", "/api/products", "/api/orders", "/static/app.js", "/login"]
    levels = ["INFO"] * 8 + ["WARN", "ERROR"]
    lines = []
    for i in range(n):
        sec = i * 7 % 86400
        lines.append(
            f"{day}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z {rng.choice(levels)} "
            f"req={rng.getrandbits(32):08x} {rng.choice(['GET', 'POST'])} {rng.choice(paths)} "
            f"status={rng.choice([200, 200, 200, 201, 302, 404, 500])} ms={rng.randint(1, 900)}"
        )
    return "\n".join(lines) + "\n"


def make_pod(
    root, ns: str, name: str, spec: dict | None = None, files: dict[str, bytes | str] | None = None
) -> Path:
    """Create (or add to) the pod folder DIR/ns/name with files, and its .pod.json when spec is given."""
    folder = Path(root) / ns / name
    for rel, content in (files or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    folder.mkdir(parents=True, exist_ok=True)
    if spec is not None:
        (Path(root) / ns / f"{name}.pod.json").write_text(json.dumps(spec, indent=2) + "\n")
    return folder


_pod = make_pod


def create_demo_tree(root, *, overwrite: bool = False) -> Path:
    """Create namespaces `shop`, `blog` and `default` with pods whose folders look like real containers:
    an app with uploads, logs and a config dir, a PostgreSQL data dir, a MySQL-looking pod, a busy sidecar
    pod (default-container annotation), a pending and a crash-looping pod. Returns the root."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            return root
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20260101)

    uploads = {f"app/uploads/2026/01/product-{i:03d}.png": _png(rng, 96 + i % 5 * 16, 96) for i in range(24)}
    uploads["app/uploads/2026/01/catalog.pdf"] = b"%PDF-1.4\n" + rng.randbytes(180_000) + b"\n%%EOF\n"
    web_files: dict[str, bytes | str] = {
        **uploads,
        "app/config/app.yaml": "server:\n  port: 8080\n  workers: 4\ndatabase:\n  host: postgres.shop.svc\n"
        "  name: shop\n  user: shop\nstorage:\n  uploads: /app/uploads\n",
        "app/config/feature-flags.json": json.dumps({"checkout_v2": True, "reviews": False}, indent=2) + "\n",
        "app/server.py": "# the shop's web server (demo content)\nprint('serving on :8080')\n",
        "var/log/app/access.log": _log_lines(rng, 6000, "2026-01-01"),
        "var/log/app/error.log": _log_lines(rng, 400, "2026-01-01"),
        "var/log/app/access.log.1": _log_lines(rng, 6000, "2025-12-31"),
    }
    _pod(
        root,
        "shop",
        "web-7d4b9c6f5-x2k8p",
        {
            "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "7d4b9c6f5"},
            "annotations": {"kubectl.kubernetes.io/default-container": "web"},
            "containers": [
                {"name": "log-shipper", "image": "fluent/fluent-bit:3.1"},
                {"name": "web", "image": "shop/web:1.14.2"},
            ],
            "env": APP_ENV,
            "restarts": 1,
        },
        web_files,
    )

    pg: dict[str, bytes | str] = {
        "var/lib/postgresql/data/PG_VERSION": "16\n",
        "var/lib/postgresql/data/postgresql.conf": "listen_addresses = '*'\nshared_buffers = 128MB\nmax_connections = 100\n",
        "var/lib/postgresql/data/pg_hba.conf": "local all all trust\nhost all all all scram-sha-256\n",
        "var/lib/postgresql/data/postmaster.opts": "/usr/lib/postgresql/16/bin/postgres\n",
    }
    for oid in (1259, 1249, 2608, 16384, 16385, 16390, 16402):
        pg[f"var/lib/postgresql/data/base/16384/{oid}"] = rng.randbytes(8192 * rng.randint(4, 40))
    pg["var/lib/postgresql/data/global/pg_control"] = rng.randbytes(8192)
    for seg in range(2):
        pg[f"var/lib/postgresql/data/pg_wal/00000001000000000000000{seg + 1}"] = rng.randbytes(256 * 1024)
    _pod(
        root,
        "shop",
        "postgres-0",
        {
            "labels": {"app": "postgres", "statefulset.kubernetes.io/pod-name": "postgres-0"},
            "containers": [{"name": "postgres", "image": "postgres:16.4"}],
            "env": {
                **APP_ENV,
                "PGDATA": "/var/lib/postgresql/data",
                "POSTGRES_DB": "shop",
                "POSTGRES_USER": "shop",
            },
        },
        pg,
    )

    _pod(
        root,
        "shop",
        "worker-5f8d7b7c9-q9zt4",
        {
            "labels": {"app": "worker"},
            "containers": [{"name": "worker", "image": "shop/worker:1.14.2"}],
            "phase": "Running",
            "reason": "",
            "restarts": 7,
            "env": APP_ENV,
        },
        {"app/jobs/queue.json": json.dumps([{"id": i, "job": "thumbnail"} for i in range(50)]) + "\n"},
    )

    blog_files: dict[str, bytes | str] = {
        f"var/www/html/wp-content/uploads/2025/12/photo-{i:02d}.png": _png(rng, 128, 80 + i)
        for i in range(12)
    }
    blog_files["var/www/html/wp-config.php"] = (
        "<?php\ndefine('DB_NAME', 'blog');\ndefine('DB_HOST', 'mysql-0.mysql');\n"
    )
    blog_files["var/www/html/index.php"] = "<?php require __DIR__ . '/wp-blog-header.php';\n"
    blog_files["var/log/apache2/access.log"] = _log_lines(rng, 3000, "2026-01-01")
    _pod(
        root,
        "blog",
        "wordpress-6b9f8d4c7-m4v2n",
        {
            "labels": {"app": "wordpress"},
            "containers": [{"name": "wordpress", "image": "wordpress:6.6-apache"}],
            "env": APP_ENV,
        },
        blog_files,
    )
    mysql: dict[str, bytes | str] = {"etc/mysql/my.cnf": "[mysqld]\ndatadir=/var/lib/mysql\n"}
    for table in ("wp_posts", "wp_options", "wp_users", "wp_comments"):
        mysql[f"var/lib/mysql/blog/{table}.ibd"] = rng.randbytes(16384 * rng.randint(2, 12))
    mysql["var/lib/mysql/ibdata1"] = rng.randbytes(512 * 1024)
    _pod(
        root,
        "blog",
        "mysql-0",
        {
            "labels": {"app": "mysql"},
            "containers": [{"name": "mysql", "image": "mariadb:10.11"}],
            "env": {**APP_ENV, "MARIADB_DATABASE": "blog"},
        },
        mysql,
    )

    _pod(
        root,
        "default",
        "toolbox",
        {
            "labels": {"app": "toolbox"},
            "containers": [{"name": "toolbox", "image": "busybox:1.36"}],
            "env": APP_ENV,
        },
        {"data/notes.txt": "scratch space for trying cli-recover against the sandbox\n"},
    )
    _pod(
        root,
        "default",
        "batch-import-pending",
        {
            "labels": {"app": "batch-import"},
            "containers": [{"name": "import", "image": "shop/import:0.3"}],
            "phase": "Pending",
            "reason": "ContainerCreating",
        },
        {},
    )
    _pod(
        root,
        "shop",
        "recommender-crashloop",
        {
            "labels": {"app": "recommender"},
            "containers": [{"name": "recommender", "image": "shop/recommender:0.9"}],
            "phase": "Pending",
            "reason": "CrashLoopBackOff",
            "ready": False,
            "restarts": 42,
        },
        {},
    )
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (DEMO_TIME, DEMO_TIME), follow_symlinks=False)
    return root
