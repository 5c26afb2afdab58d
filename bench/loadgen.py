"""A lean HTTP/1.1 load generator for webhook benchmarks.

The load generator shares the machine's two cores with what it measures, so every millisecond of
CPU it spends per request is taken from the API, the worker and Temporal. httpx spent about 2 ms of
CPU per request; Alertmanager, the real sender, spends its CPU on another machine. This client
sends pre-encoded requests over keep-alive connections and reads only the status line, the
headers and a ``Content-Length`` body: a few tens of microseconds per request.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["LeanClient", "lean_client"]


class LeanClient:
    """POSTs to one loopback HTTP/1.1 server over at most ``connections`` keep-alive connections."""

    def __init__(self, host: str, port: int, *, headers: dict[str, str], connections: int) -> None:
        self._host, self._port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)
        self._open: set[asyncio.StreamWriter] = set()

    def request(self, path: str, body: bytes, content_type: str = "application/json") -> bytes:
        """The bytes of one request, to build before the clock starts."""
        return (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a request built by :meth:`request`; the status and body of the answer. A kept-alive
        connection the server has closed meanwhile (uvicorn closes idle ones after 5 s) is replaced:
        the request is sent again on a new one when the old one failed before answering anything."""
        async with self._slots:
            while self._idle:
                reader, writer = self._idle.pop()
                if not (reader.at_eof() or writer.is_closing()):
                    try:
                        return await self._exchange(reader, writer, request)
                    except (ConnectionError, asyncio.IncompleteReadError) as err:
                        if isinstance(err, asyncio.IncompleteReadError) and err.partial:
                            raise  # it had begun to answer: not a stale connection
                self._drop(writer)
            reader, writer = await asyncio.open_connection(self._host, self._port)
            self._open.add(writer)
            return await self._exchange(reader, writer, request)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = (line.partition(":") for line in lines[1:] if line)
            headers = {k.strip().lower(): v.strip() for k, _, v in fields}
            if "content-length" not in headers:  # Medic's routes always send one
                raise ValueError(f"answer without Content-Length: {lines[0]}")
            body = await reader.readexactly(int(headers["content-length"]))
        except BaseException:
            self._drop(writer)
            raise
        if headers.get("connection", "").lower() == "close":
            self._drop(writer)
        else:
            self._idle.append((reader, writer))
        return status, body

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    async def close(self) -> None:
        for writer in list(self._open):
            writer.close()
        self._open.clear()
        self._idle.clear()


@asynccontextmanager
async def lean_client(
    host: str, port: int, *, headers: dict[str, str], connections: int
) -> AsyncIterator[LeanClient]:
    client = LeanClient(host, port, headers=headers, connections=connections)
    try:
        yield client
    finally:
        await client.close()
