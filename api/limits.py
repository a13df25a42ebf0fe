"""How large a request may be: pure, so the OpenAPI document states the figures the server uses.

No route takes a body (GET and HEAD only), so a body is refused past
MAX_BODY_BYTES (413 `payload_too_large`). The request line plus header
fields are refused past MAX_HEAD_BYTES (431 `headers_too_large`): Sanic's
default, and half of its hard ceiling of 16 KB (`sanic.http.Http.HEADER_CEILING`).
"""

from __future__ import annotations

__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES"]

MAX_BODY_BYTES = 64 * 1024
MAX_HEAD_BYTES = 8 * 1024
