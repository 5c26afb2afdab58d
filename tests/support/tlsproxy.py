"""TLS in front of the Temporal dev server, which speaks plain gRPC only: Debian's nginx terminating TLS
(optionally requiring a client certificate, or an API key) and passing gRPC on (``grpc_pass``), and a
throwaway certificate authority made with the ``openssl`` command for each test run."""

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.stack import free_port

__all__ = ["SERVER_NAME", "Pki", "TlsProxy", "make_pki", "tls_proxy"]

# The name on the proxy's certificate: tests connect to 127.0.0.1 and verify this name (SNI).
SERVER_NAME = "temporal.medic.test"


@dataclass(frozen=True)
class Pki:
    """A CA with a server and a client certificate, and a rogue CA with its own client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path
    rogue_client_cert: Path
    rogue_client_key: Path


def _binary(name: str, package: str) -> str:
    """A missing binary fails the test (never a skip): `make system-deps` installs it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(
            f"{name} not found: the Temporal TLS tests need Debian's {package} "
            f"(`make system-deps` installs it: apt-get install {package})"
        )
    return found


def _openssl(*args: str, cwd: Path) -> None:
    openssl = _binary("openssl", "openssl")
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed: {done.stderr}")


def _new_key(path: Path, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=cwd)


def _new_ca(name: str, folder: Path) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    _new_key(key, folder)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    return cert, key


def _issue(name: str, *, ca: tuple[Path, Path], usage: str, san: str, folder: Path) -> tuple[Path, Path]:
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.crt"
    ext = folder / f"{name}.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage={usage}\nsubjectAltName={san}\n"
    )
    _new_key(key, folder)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=folder)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-set_serial",
        str(time.time_ns()), "-days", "2", "-extfile", str(ext), "-out", str(cert),
        cwd=folder,
    )  # fmt: skip
    return cert, key


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = _new_ca("medic-test-ca", folder)
    rogue = _new_ca("rogue-ca", folder)
    server = _issue("server", ca=ca, usage="serverAuth", san=f"DNS:{SERVER_NAME},IP:127.0.0.1", folder=folder)
    client = _issue("medic-worker", ca=ca, usage="clientAuth", san="DNS:medic-worker", folder=folder)
    intruder = _issue("intruder", ca=rogue, usage="clientAuth", san="DNS:intruder", folder=folder)
    return Pki(
        ca=ca[0],
        server_cert=server[0],
        server_key=server[1],
        client_cert=client[0],
        client_key=client[1],
        rogue_ca=rogue[0],
        rogue_client_cert=intruder[0],
        rogue_client_key=intruder[1],
    )


@dataclass(frozen=True)
class TlsProxy:
    mtls_address: str  # requires a client certificate signed by the test CA
    api_key_address: str  # requires `authorization: Bearer <api_key>`, no client certificate
    api_key: str
    error_log: Path


# Long polls last about a minute and the worker keeps one connection for its life: nginx's gRPC
# defaults (60 s read timeout, 1000 requests per connection) would cut them.
_CONFIG = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_max_body_size 16m;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    grpc_read_timeout 600s;
    grpc_send_timeout 600s;
    ssl_certificate {pki.server_cert};
    ssl_certificate_key {pki.server_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    map $http_authorization $medic_api_key_ok {{
        default 0;
        "Bearer {api_key}" 1;
    }}
    server {{
        listen 127.0.0.1:{mtls_port} ssl http2;
        ssl_client_certificate {pki.ca};
        ssl_verify_client on;
        location / {{ grpc_pass grpc://{upstream}; }}
    }}
    server {{
        listen 127.0.0.1:{api_key_port} ssl http2;
        location / {{
            if ($medic_api_key_ok = 0) {{ return 401; }}
            grpc_pass grpc://{upstream};
        }}
    }}
}}
"""


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def tls_proxy(
    upstream: str, pki: Pki, folder: Path, *, api_key: str = "medic-test-api-key"
) -> Iterator[TlsProxy]:
    """nginx in front of ``upstream`` (host:port of plain gRPC) until the block ends."""
    nginx = _binary("nginx", "nginx-light")
    folder.mkdir(parents=True, exist_ok=True)
    mtls_port, api_key_port = free_port(), free_port()
    config = folder / "nginx.conf"
    config.write_text(
        _CONFIG.format(
            folder=folder,
            pki=pki,
            api_key=api_key,
            mtls_port=mtls_port,
            api_key_port=api_key_port,
            upstream=upstream,
        )
    )
    argv = [str(nginx), "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)]
    argv += ["-g", "daemon off;"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not (_listening(mtls_port) and _listening(api_key_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
                log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                pytest.fail(f"nginx did not start: {output}\n{log}\ncommand: {' '.join(argv)}")
            time.sleep(0.05)
        yield TlsProxy(
            mtls_address=f"127.0.0.1:{mtls_port}",
            api_key_address=f"127.0.0.1:{api_key_port}",
            api_key=api_key,
            error_log=folder / "error.log",
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
