"""The Partner Center client: configuration, credential and transport, with resources hanging off it."""

from __future__ import annotations

from typing import Any

from cspkit.auth import Credential, StaticTokenCredential, credential_from_settings
from cspkit.config import Settings, load_settings
from cspkit.errors import ConfigurationError
from cspkit.resources.agreements import Agreements
from cspkit.resources.billing_exports import GRAPH_SCOPE, BillingExports
from cspkit.resources.carts import Carts
from cspkit.resources.catalog import Catalog
from cspkit.resources.customers import Customers
from cspkit.resources.invoices import Invoices
from cspkit.resources.orders import Orders
from cspkit.resources.pricesheets import PriceSheets
from cspkit.resources.promotions import CustomTermEndDates, Promotions
from cspkit.resources.subscriptions import Subscriptions
from cspkit.retry import RetryPolicy
from cspkit.transport import Transport

__all__ = ["PartnerCenter"]


class PartnerCenter:
    """A Partner Center client (REST API v1, ``https://api.partnercenter.microsoft.com/v1``).

    Build it from settings (environment, profile) or explicitly::

        pc = PartnerCenter()                                    # CSPKIT_* environment / default profile
        pc = PartnerCenter(profile="contoso")
        pc = PartnerCenter(endpoint=emu.url, access_token=emu.token)   # an emulator or a token from elsewhere

    Resources: ``pc.customers``, ``pc.catalog``, ``pc.carts``, ``pc.orders``, ``pc.subscriptions``,
    ``pc.invoices``, ``pc.pricesheets``, ... (each present once its area is built).

    Args:
        settings: resolved :class:`~cspkit.config.Settings` (default: :func:`~cspkit.config.load_settings`).
        profile, endpoint, access_token: shortcuts overriding the settings.
        credential: any object with ``get_token(force_refresh=False) -> str`` (overrides settings).
        correlation_id: pin one MS-CorrelationId for every call of this client.
        retry: :class:`~cspkit.retry.RetryPolicy` (shared by every transport of the client and the blob downloads).
        transport_options: passed to :class:`~cspkit.transport.Transport` (``sleep``, ``jitter``, ``timeout``,
            ``on_retry`` to hear about waits...); ``deadline`` (seconds per logical call, retries included) defaults
            to ``settings.timeout``.
    Raises:
        ConfigurationError: the target is the emulator but no emulator endpoint/token was given (use
            ``cspkit.emulator.EmulatorServer`` and pass its ``url`` and ``token``), or settings are incomplete.
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        profile: str | None = None,
        endpoint: str | None = None,
        access_token: str | None = None,
        credential: Credential | None = None,
        correlation_id: str | None = None,
        retry: RetryPolicy | None = None,
        **transport_options: Any,
    ) -> None:
        if settings is None:
            settings = load_settings(profile=profile, endpoint=endpoint, access_token=access_token)
        else:
            settings = settings.with_overrides(endpoint=endpoint, access_token=access_token)
        if credential is None:
            if access_token or settings.access_token:
                credential = StaticTokenCredential(access_token or settings.access_token or "")
            elif settings.is_emulator:
                raise ConfigurationError(
                    "no Partner Center credentials are configured and no emulator was given",
                    hint="Start one with cspkit.emulator.EmulatorServer and pass endpoint=emu.url, "
                    "access_token=emu.token, or configure a profile.",
                )
            else:
                credential = credential_from_settings(settings)
        self.settings = settings
        self.credential = credential
        self._retry = retry
        transport_options.setdefault("deadline", settings.timeout)
        self._transport_options = transport_options
        self.transport = Transport(
            settings.endpoint,
            lambda force: credential.get_token(force_refresh=force),
            locale=settings.locale,
            retry=retry,
            correlation_id=correlation_id,
            **transport_options,
        )
        self.billing_exports = BillingExports(
            lambda: self.transport_for(self.settings.graph_endpoint, scopes=[GRAPH_SCOPE], api_prefix="v1.0")
        )
        self.customers = Customers(self.transport)
        self.agreements = Agreements(self.transport)
        self.catalog = Catalog(self.transport)
        self.carts = Carts(self.transport)
        self.orders = Orders(self.transport)
        self.subscriptions = Subscriptions(self.transport)
        self.invoices = Invoices(self.transport)
        self.promotions = Promotions(self.transport)
        self.term_end_dates = CustomTermEndDates(self.transport)
        self.pricesheets = PriceSheets.for_client(self)

    def transport_for(self, base_url: str, *, scopes: list[str], api_prefix: str) -> Transport:
        """A transport for another Partner Center-related API with its own host and token audience.

        Used for Microsoft Graph billing exports (``https://graph.microsoft.com``, scope
        ``https://graph.microsoft.com/.default``, prefix ``v1.0``) and the price-sheet API
        (``https://api.partner.microsoft.com``, prefix ``v1.0``). A static token (and the emulator's) is reused as
        is; msal credentials are rebuilt for ``scopes``. Retry policy, correlation id and transport options are
        shared with the main transport.
        """
        if isinstance(self.credential, StaticTokenCredential) or self.settings.is_emulator:
            credential: Credential = self.credential
        else:
            credential = credential_from_settings(self.settings, scopes=scopes)
        return Transport(
            base_url,
            lambda force: credential.get_token(force_refresh=force),
            api_prefix=api_prefix,
            locale=self.settings.locale,
            retry=self._retry,
            correlation_id=self.transport.correlation_id,
            **self._transport_options,
        )

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

    def __enter__(self) -> PartnerCenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PartnerCenter(endpoint={self.settings.endpoint!r}, auth={self.settings.auth!r})"
