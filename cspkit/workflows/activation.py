"""The emulated customer's browser: follow a marketplace activation link to the publisher's landing page.

A real activation link opens the publisher's landing page with ``?token=<purchase token>``; the publisher resolves
the token (SaaS Fulfillment API Resolve) and activates the subscription (Activate) once the customer confirms. This
module does what a person does in the browser: GET the link, submit the page's activation form, read the answer.
It speaks only HTTP, so it works against the emulated publisher and against any publisher page with a plain form.
(Moved here from the emulator: this is the client side; the emulator keeps only the publisher's server side.)
"""

from __future__ import annotations

import html
import re
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

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

    The link is the publisher's landing page with ``?token=<purchase token>`` (saas-fulfillment.md §"Purchase flow";
    Microsoft Learn "Build the landing page for your SaaS offer"): the page resolves the token and offers to
    activate. A page that answers without a form but with success (the publisher activated at once) is a success.

    Returns:
        The title of the page the publisher answers with (e.g. ``"Your subscription is active"``).
    Raises:
        ValueError: ``uri`` is not an http(s) link with a host and a ``token`` (the CLI exits 2).
        CspkitError: the page answered with an error status or without an activation form; the message gives the
            status and the page's own words (e.g. an expired or unknown token), never the token.
        APIConnectionError: the page could not be reached (nothing answers, timeout, TLS, redirect loop), said in
            words, without the library's text (which repeats the URL and so the purchase token).
    """
    parts = urlsplit((uri or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an activation link: {_public(uri)!r}; expected the whole link printed by "
                         "`cspkit orders activation-links` (http(s)://HOST/...?token=...), quoted in the shell")
    if "token=" not in (parts.query or ""):
        raise ValueError(f"the activation link {_public(uri)} has no ?token=... (the purchase token); copy the whole "
                         "link printed by `cspkit orders activation-links`, quoted in the shell")
    page = _public(uri)
    with requests.Session() as browser:
        try:
            landing = browser.get(uri, timeout=timeout)
            _check_answer(landing, page, "landing page")
            form = re.search(r"<form[^>]*action='([^']+)'", landing.text)
            if form is None:
                title = _title(landing.text)
                if _is_active(title):
                    return title  # the publisher activated it when the page was opened
                raise CspkitError(f"the landing page {page} offers no activation form"
                                  + (f": {_words(landing.text)}" if title else " (not a landing page?)"),
                                  hint="Get a fresh activation link with `cspkit orders activation-links`.")
            fields = dict(re.findall(r"<input[^>]*name='([^']+)'[^>]*value='([^']*)'", landing.text))
            done = browser.post(urljoin(uri, form.group(1)), data=fields, timeout=timeout)
            _check_answer(done, page, "activation form")
        except requests.RequestException as exc:
            # the exception's text repeats the URL, purchase token included: say what happened in words instead
            raise APIConnectionError(f"the landing page {page} could not be reached: {_reason(exc, parts, timeout)}",
                                     hint="Check that the emulator or the publisher's site is running and the link "
                                          "is complete.") from None
        return _title(done.text) or f"HTTP {done.status_code}"


def _public(uri: str) -> str:
    """The link without its query (the purchase token is a secret of the customer)."""
    return (uri or "").split("?")[0]


def _is_active(title: str) -> bool:
    return "active" in title.lower() and "inactive" not in title.lower()


def _check_answer(response: requests.Response, page: str, what: str) -> None:
    if response.status_code < 400:
        return
    words = _words(response.text)
    raise CspkitError(f"the {what} {page} answered HTTP {response.status_code}"
                      + (f": {words}" if words else " (not a landing page: is the link complete?)"),
                      hint="Get a fresh activation link with `cspkit orders activation-links`.")


def _words(page: str) -> str:
    """The page's title and first paragraph as plain text: ``"Cannot set up your subscription: The token ..."``."""
    title = _title(page)
    para = re.search(r"<p>(.*?)</p>", page, re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", para.group(1))).strip() if para else ""
    return ": ".join(bit for bit in (title, text) if bit)


def _reason(exc: requests.RequestException, parts: SplitResult, timeout: float) -> str:
    where = parts.netloc
    if isinstance(exc, requests.Timeout):
        return f"{where} did not answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"the TLS certificate of {where} could not be verified"
    if isinstance(exc, requests.ConnectionError):
        return f"nothing answers at {where} (connection refused or host unknown)"
    if isinstance(exc, requests.TooManyRedirects):
        return "the page redirects in a loop"
    return "the link is malformed" if isinstance(exc, (requests.exceptions.InvalidURL, ValueError)) else \
        "the request failed"


def _title(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.S)
    return html.unescape(match.group(1)).strip() if match else ""
