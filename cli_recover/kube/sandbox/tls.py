"""A throw-away CA and server certificate for the sandbox, made with the `openssl` command.

kubectl only sends bearer tokens over TLS, so the sandbox serves HTTPS and puts the CA into the
kubeconfig it writes. The key never leaves the sandbox's temporary folder, which is removed as soon as the
key is loaded into the TLS context.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_certs(folder: Path, host: str) -> tuple[bytes, Path, Path]:
    """Create ca.crt, tls.crt and tls.key in folder; returns (CA PEM, cert path, key path)."""
    folder = Path(folder)
    names = {"IP:127.0.0.1", "IP:::1", "DNS:localhost"}
    try:
        names.add(f"IP:{ipaddress.ip_address(host)}")
    except ValueError:
        names.add(f"DNS:{host}")
    ext = folder / "ext.cnf"
    ext.write_text(
        f"subjectAltName={','.join(sorted(names))}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )

    def run(*args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, cwd=folder, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")

    run(
        "req",
        "-x509",
        *_EC,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/O=cli-recover sandbox/CN=cli-recover-sandbox-ca",
    )
    run(
        "req",
        *_EC,
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/O=cli-recover sandbox/CN=cli-recover-sandbox",
    )
    run(
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        "ext.cnf",
        "-out",
        "tls.crt",
    )
    (folder / "ca.key").unlink()
    return (folder / "ca.crt").read_bytes(), folder / "tls.crt", folder / "tls.key"
