"""The Elasticsearch connection and the names of everything Sightline keeps there.

One client per (URL, user) per process. Index names all start with a configurable prefix
(``SIGHTLINE_ELASTICSEARCH_INDEX_PREFIX``, default ``sightline``) so that tests and several deployments can
share a cluster without seeing each other. Nothing here reads Django settings: the backend is configured
once, at construction (``ElasticsearchSearchBackend.from_settings``).

This module must never log, print or put into an exception message the URL's credentials or the password.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import Elasticsearch

DEFAULT_PREFIX = "sightline"


class CompatibleNode(Urllib3HttpNode):
    """A transport node that falls back to the server's REST compatibility version when asked to.

    The 9.x client announces ``compatible-with=9`` on every request. Maven Central publishes the small
    integ-test distribution only up to 8.19, and an 8.x server rejects that header with a
    ``media_type_header_exception``; it accepts ``compatible-with=8``, whose API is what this code uses. We
    retry once with 8 and remember it for the rest of the node's life, so a 9.x server is never downgraded.
    """

    _compat: str | None = None

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        if self._compat is not None and headers is not None:
            headers = self._rewrite(headers, self._compat)
        response = super().perform_request(
            method, target, body=body, headers=headers, request_timeout=request_timeout
        )
        if (
            self._compat is None
            and response.meta.status == 400
            and headers is not None
            and b"Accept version must be either version 8" in bytes(response.body or b"")
        ):
            self._compat = "8"
            headers = self._rewrite(headers, self._compat)
            response = super().perform_request(
                method, target, body=body, headers=headers, request_timeout=request_timeout
            )
        return response

    @staticmethod
    def _rewrite(headers: HttpHeaders, version: str) -> HttpHeaders:
        headers = headers.copy()
        for name in ("accept", "content-type"):
            value = headers.get(name)
            if value and "compatible-with=" in value:
                headers[name] = value.split("compatible-with=")[0] + f"compatible-with={version}"
        return headers


_clients: dict[tuple[str, str, str], Elasticsearch] = {}
_lock = threading.Lock()


def get_client(url: str, *, username: str | None = None, password: str | None = None,
               ca_certs: str | None = None) -> Elasticsearch:
    """The shared client for the cluster at ``url`` (as ``username``; trusting ``ca_certs``, a PEM file, for
    HTTPS), created on first use. ``url`` may name several nodes of one cluster, comma-separated: requests
    go round them, and one that cannot be reached is marked dead and the request retried on another."""
    hosts = [part.strip() for part in url.split(",") if part.strip()]
    if not hosts:
        raise ValueError("no Elasticsearch URL given")
    key = (url, username or "", ca_certs or "")
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = Elasticsearch(
                hosts,
                basic_auth=(username, password or "") if username else None,
                node_class=CompatibleNode,
                request_timeout=30,
                max_retries=2,
                retry_on_timeout=True,
                ca_certs=ca_certs or DEFAULT,
            )
            _clients[key] = client
    return client


@dataclass(frozen=True, slots=True)
class Names:
    """Every index, alias and template name under one prefix."""

    prefix: str = DEFAULT_PREFIX

    # Read aliases: searches only ever go through these, so a rebuild can swap what they point at.
    @property
    def sightings_alias(self) -> str:
        return f"{self.prefix}-sightings"

    @property
    def detections_alias(self) -> str:
        return f"{self.prefix}-detections"

    @property
    def meta(self) -> str:
        return f"{self.prefix}-meta"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}-deadletter"

    def generation_pattern(self, generation: int | None = None) -> str:
        return f"{self.prefix}-g{'*' if generation is None else generation}-*"

    def family_pattern(self, family: str, generation: int | None = None) -> str:
        return f"{self.prefix}-g{'*' if generation is None else generation}-{family}-*"

    def partition(self, family: str, generation: int, month: str) -> str:
        return f"{self.prefix}-g{generation}-{family}-{month}"

    def parse(self, index: str) -> tuple[int, str, str] | None:
        """``(generation, family, "YYYY.MM")`` of a partition name of this prefix, else ``None``."""
        head = f"{self.prefix}-g"
        if not index.startswith(head):
            return None
        try:
            gen, family, month = index[len(head) :].split("-", 2)
            return int(gen), family, month
        except ValueError:
            return None


def month_of_ms(ms: int) -> str:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{at.year:04d}.{at.month:02d}"


def previous_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("."))
    return f"{year - 1:04d}.12" if mon == 1 else f"{year:04d}.{mon - 1:02d}"
