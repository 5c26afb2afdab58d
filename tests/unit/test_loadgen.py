"""The benchmarks' lean HTTP client survives a server closing idle kept-alive connections (uvicorn does
after 5 s), as a real sender must."""

import asyncio

from bench.loadgen import lean_client


async def test_a_connection_the_server_closed_is_replaced_and_the_request_answered() -> None:
    served = 0

    async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k == b"Content-Length"
        )
        await reader.readexactly(length)
        served += 1
        body = f'{{"n": {served}}}'.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)  # keep-alive...
        await writer.drain()
        writer.close()  # ...but closed, as an idle timeout would

    server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, lean_client("127.0.0.1", port, headers={}, connections=1) as client:
        request = client.request("/webhooks/alertmanager", b"{}")
        assert await client.send(request) == (200, b'{"n": 1}')
        await asyncio.sleep(0.05)  # let the close reach the client
        assert await client.send(request) == (200, b'{"n": 2}')
