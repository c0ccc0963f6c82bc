"""Bump the change counter (:mod:`lakehouse.catalog_client.changes`) after every request that may have written.

A pure ASGI middleware: when the answer to a request that is not a read (anything but GET/HEAD/OPTIONS and the
metrics reports, the same rule the read-only principal is held to) starts, the counter is bumped first, so the
writer cannot see its commit's answer before the counter moved. Failed and refused writes bump it too: a needless
bump only makes warm clients ask the catalog once more.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.guard import TOKEN_PATH, _read_allowed
from lakehouse.catalog_client.changes import ChangeCounter

__all__ = ["CountChanges"]


class CountChanges:
    def __init__(self, app: ASGIApp, counter: ChangeCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == TOKEN_PATH or _read_allowed(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counter.bump()
            await send(message)

        await self.app(scope, receive, counted)
