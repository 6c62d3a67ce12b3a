"""cspkit: automate Microsoft Partner Center for Cloud Solution Provider resellers.

``PartnerCenter`` is the client; errors are in :mod:`cspkit.errors`; the offline emulator is
:mod:`cspkit.emulator`; ordering, reconciliation and the demo are in :mod:`cspkit.workflows`.
"""

from cspkit._version import __version__
from cspkit.client import PartnerCenter
from cspkit.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CheckoutError,
    ConfigurationError,
    ConflictError,
    CredentialError,
    CspkitError,
    InputFileError,
    NotFoundError,
    PagingError,
    PermissionDeniedError,
    PolicyError,
    PreconditionFailedError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CheckoutError",
    "ConfigurationError",
    "ConflictError",
    "CredentialError",
    "CspkitError",
    "InputFileError",
    "NotFoundError",
    "PagingError",
    "PartnerCenter",
    "PermissionDeniedError",
    "PolicyError",
    "PreconditionFailedError",
    "RateLimitError",
    "ServerError",
    "__version__",
]
