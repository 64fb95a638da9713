"""A minimal, fast SMTP sink for throughput benchmarks: it speaks just enough SMTP (EHLO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT) to accept every message, and records each Message-ID.
The fault-injecting aiosmtpd relay of the tests costs ~1 ms of its own per message, which
would measure the relay rather than uvqc; a production relay (Postfix, SES) is not that slow.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from types import TracebackType

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class SmtpSink:
    """`with SmtpSink() as sink:` serves on 127.0.0.1:<sink.port> in a background thread."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[tuple[bytes, float]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                found = _MESSAGE_ID.search(data)
                self.received.append((found.group(1) if found else b"", time.time()))
                writer.write(b"250 OK queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        start = asyncio.start_server(self._session, self.host, 0)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
