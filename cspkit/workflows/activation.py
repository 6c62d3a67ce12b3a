"""The emulated customer's browser: follow a marketplace activation link to the publisher's landing page.

A real activation link opens the publisher's landing page with ``?token=<purchase token>``; the publisher resolves
the token (SaaS Fulfillment API Resolve) and activates the subscription (Activate) once the customer confirms. This
module does what a person does in the browser: GET the link, submit the page's activation form, read the answer.
It speaks only HTTP, so it works against the emulated publisher and against any publisher page with a plain form.
(Moved here from the emulator: this is the client side; the emulator keeps only the publisher's server side.)
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from cspkit.errors import APIConnectionError, CspkitError

__all__ = ["follow_activation_link", "rebase_link"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def rebase_link(uri: str, base_url: str) -> str:
    """Point a link minted by an earlier run of the embedded emulator (another loopback port) at ``base_url``.

    Links to other hosts are returned unchanged.
    """
    parts = urlsplit(uri)
    if parts.hostname not in _LOOPBACK:
        return uri
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def follow_activation_link(uri: str, *, timeout: float = 30.0) -> str:
    """Open ``uri`` (an activation link) and submit the landing page's activation form.

    Returns:
        The title of the page the publisher answers with (e.g. ``"Your subscription is active"``).
    Raises:
        CspkitError: the page has no activation form (its title says why, e.g. an expired token).
        APIConnectionError: the page could not be reached.
    """
    with requests.Session() as browser:
        try:
            landing = browser.get(uri, timeout=timeout)
            form = re.search(r"<form[^>]*action='([^']+)'", landing.text)
            if form is None:
                raise CspkitError(f"the landing page offers no activation form: {_title(landing.text)}",
                                  hint="Get a fresh activation link with `cspkit orders activation-links`.")
            fields = dict(re.findall(r"<input[^>]*name='([^']+)'[^>]*value='([^']*)'", landing.text))
            done = browser.post(urljoin(uri, form.group(1)), data=fields, timeout=timeout)
        except requests.RequestException as exc:
            # the exception's text repeats the URL, purchase token included: name only its kind
            raise APIConnectionError(f"the landing page {uri.split('?')[0]} could not be reached "
                                     f"({type(exc).__name__})") from None
        return _title(done.text) or f"HTTP {done.status_code}"


def _title(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.S)
    return match.group(1).strip() if match else ""
