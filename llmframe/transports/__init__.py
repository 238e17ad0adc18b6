"""Transports: how a provider's `HttpCall` reaches a model and its answer comes back.

The runner speaks to every model through one `Transport` (DESIGN.md section 3): `HttpTransport`
for servers (httpx over aiohttp's sockets), or a model answered inside the process (`echo`,
`llamacpp`) that takes the same calls and gives the same replies with no HTTP at all. Providers
stay sans-I/O either way: the reply's body or events go to the provider's parser unchanged.
"""

from llmframe.transports.base import Reply, Transport

__all__ = ["Reply", "Transport"]
