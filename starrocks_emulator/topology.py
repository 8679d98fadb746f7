"""The shape of the emulated cluster: its frontends (one leader, the rest followers) and its backends.

A real StarRocks cluster has one leader FE, follower FEs and several BEs, each with its own ports
(fe/fe-core `Frontend`, `Backend`; `SHOW FRONTENDS` / `SHOW BACKENDS`). The cluster (cluster.py) builds a
`Topology` once every port is bound and hands it to the engine, so the query port can answer `SHOW
BACKENDS`, CREATE TABLE can count live BEs against `replication_num`, and the HTTP ports know where the
leader and the BEs are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Node:
    role: str  # "FE" or "BE"
    id: int  # 1, 2, ... per role (StarRocks' BackendId / the FE's position)
    host: str
    http_port: int  # FE `http_port` (8030) or BE `be_http_port` (8040)
    query_port: int = 0  # FE only: the MySQL-protocol port (9030)
    leader: bool = False  # FE only
    alive: bool = True
    https_port: int = 0  # BE only, with TLS: an HTTPS listener beside the plain one (cluster.py says why)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.http_port}"


@dataclass(frozen=True)
class Topology:
    frontends: tuple[Node, ...]
    backends: tuple[Node, ...]
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def leader(self) -> Node:
        return next(fe for fe in self.frontends if fe.leader)

    @property
    def followers(self) -> tuple[Node, ...]:
        return tuple(fe for fe in self.frontends if not fe.leader)

    @property
    def alive_backends(self) -> tuple[Node, ...]:
        return tuple(be for be in self.backends if be.alive)

    def backend(self, backend_id: int) -> Node:
        return next(be for be in self.backends if be.id == backend_id)

    def frontend(self, frontend_id: int) -> Node:
        return next(fe for fe in self.frontends if fe.id == frontend_id)

    def with_backend_alive(self, backend_id: int, alive: bool) -> Topology:
        backends = tuple(replace(be, alive=alive) if be.id == backend_id else be for be in self.backends)
        return replace(self, backends=backends)


def single_node(
    host: str = "127.0.0.1", http_port: int = 0, query_port: int = 0, be_http_port: int = 0
) -> Topology:
    """One leader FE and one BE: the allin1 image's shape, and the engine's default before a cluster sets it."""
    return Topology(
        (Node("FE", 1, host, http_port, query_port, leader=True),),
        (Node("BE", 1, host, be_http_port),),
    )
