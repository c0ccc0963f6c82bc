"""Loopback listening sockets for the project's HTTP services (the catalog service and ``lakehouse serve``)."""

from __future__ import annotations

import socket

__all__ = ["bind_tcp"]


def bind_tcp(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port) for uvicorn's ``sockets=``.

    The protocol is named on purpose: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose ``proto`` is
    IPPROTO_TCP, and a socket made with proto 0 reports 0. Without it every response on a kept-alive connection
    waited for the client's delayed ACK, which made a catalog table load many times slower (figures: BENCHMARKS.md,
    design measurements, 'TCP_NODELAY').
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock
