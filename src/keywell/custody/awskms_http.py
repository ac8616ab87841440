"""botocore's HTTP calls to KMS sent through :class:`~keywell.custody.bounded_http.BoundedAdapter`.

botocore's ``connect_timeout`` and ``read_timeout`` bound each socket read, not
a call, and it reads a whole answer into memory: an endpoint dripping its
answer a byte at a time holds a call for as long as it likes, and one sending
gigabytes fills memory. :class:`BoundedSender`, registered on the client's
``before-send`` event (botocore's documented hook for answering a request
itself), sends every signed request through the same bounded adapter Transit
uses: each attempt ends within ``deadline`` seconds in total and reads at most
:data:`~keywell.custody.bounded_http.MAX_ANSWER` bytes.

Failures become botocore's own exceptions, so its retry policy and keywell's
error mapping see what they would have seen: a deadline passed is
:class:`botocore.exceptions.ReadTimeoutError` (retried), a refused connection
:class:`botocore.exceptions.EndpointConnectionError` (retried), an answer too
long :class:`AnswerTooLargeError` (not retried).
"""

from __future__ import annotations

from typing import Any

import requests
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)

from keywell.custody.bounded_http import MAX_ANSWER, AnswerTooLarge, BoundedAdapter

__all__ = ["AnswerTooLargeError", "BoundedSender"]


class AnswerTooLargeError(BotoCoreError):  # type: ignore[misc]  # botocore has no types
    """The endpoint's answer was longer than :data:`~keywell.custody.bounded_http.MAX_ANSWER`."""

    fmt = "The answer from {endpoint_url} is longer than {max_bytes} bytes"


class _Body:
    """An answer already read (and bounded) by the adapter, as botocore reads a raw body."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, *_args: Any, **_kwargs: Any) -> Any:
        yield self._content

    def read(self, *_args: Any, **_kwargs: Any) -> bytes:
        content, self._content = self._content, b""
        return content


class BoundedSender:
    """A ``before-send`` handler: every request within ``deadline`` s and ``MAX_ANSWER`` bytes.

    Thread-safe (one adapter, its connection pool holding ``pool_maxsize``
    connections); ``verify`` is what ``requests`` takes (True, or a CA bundle path).
    """

    def __init__(self, *, deadline: float, pool_maxsize: int, verify: bool | str = True) -> None:
        self.deadline = deadline
        self._verify = verify
        self._adapter = BoundedAdapter(
            deadline=deadline, max_bytes=MAX_ANSWER, pool_maxsize=pool_maxsize
        )

    def register(self, client: Any) -> None:
        """Answer every request ``client`` sends (its service's ``before-send`` event)."""
        client.meta.events.register("before-send", self)

    def __call__(self, request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        """Send ``request`` bounded; the answer as botocore's ``AWSResponse``.

        Raises:
            ReadTimeoutError: no complete answer within the deadline.
            ConnectTimeoutError: no connection within the deadline.
            EndpointConnectionError: the endpoint could not be connected to.
            SSLError: the TLS handshake failed.
            AnswerTooLargeError: the answer is longer than ``MAX_ANSWER`` bytes.
            HTTPClientError: any other transport failure.
        """
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        prepared = requests.Request(
            method=request.method, url=request.url, headers=dict(request.headers), data=body
        ).prepare()
        url = request.url
        try:
            response = self._adapter.send(
                prepared,
                timeout=(self.deadline, self.deadline),
                verify=self._verify,
            )
        except AnswerTooLarge:
            raise AnswerTooLargeError(endpoint_url=url, max_bytes=MAX_ANSWER) from None
        except requests.exceptions.SSLError as exc:
            raise SSLError(endpoint_url=url, error=type(exc).__name__) from None
        except requests.exceptions.ConnectTimeout:
            raise ConnectTimeoutError(endpoint_url=url) from None
        except requests.exceptions.ConnectionError:
            raise EndpointConnectionError(endpoint_url=url) from None
        except requests.exceptions.Timeout:
            raise ReadTimeoutError(endpoint_url=url) from None
        except Exception as exc:  # the transport boundary: botocore's type, no message text
            raise HTTPClientError(error=type(exc).__name__) from None
        return AWSResponse(url, response.status_code, response.headers, _Body(response.content))

    def close(self) -> None:
        """Close the connection pool."""
        self._adapter.close()
