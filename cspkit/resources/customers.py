"""Customers: list and get (partner-center-api.md §8; "Get a list of customers", "Get a customer by ID")."""

from __future__ import annotations

from cspkit.models.customer import Customer
from cspkit.pagination import Paginator
from cspkit.resources.base import Resource, segment

__all__ = ["DEFAULT_PAGE_SIZE", "Customers"]

DEFAULT_PAGE_SIZE = 100
"""Customers per page when none is asked for ("Get a list of customers": ``GET /customers?size={size}``)."""


class Customers(Resource):
    """``pc.customers``: the partner's customers."""

    def list(self, *, page_size: int | None = None) -> Paginator[Customer]:
        """Get a list of customers (``GET /customers?size=N``), walking every page (seek paging with
        ``MS-ContinuationToken``). ``size`` is always sent, as "Get a list of customers" documents the request.

        Args:
            page_size: ``size`` per page (None: :data:`DEFAULT_PAGE_SIZE`; at least 1).
        Returns:
            A lazy iterable of :class:`~cspkit.models.customer.Customer` (list items carry ``id``,
            ``companyProfile`` and ``relationshipToPartner`` only).
        Raises:
            APIStatusError: the service refused.
        """
        page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return self.transport.paginate("customers", parse=Customer.from_wire, page_size=page_size)

    def get(self, customer_id: str) -> Customer:
        """Get a customer by ID (``GET /customers/{customerTenantId}``).

        Returns:
            :class:`~cspkit.models.customer.Customer` with its billing profile (and so its country).
        Raises:
            NotFoundError: no such customer for this partner.
        """
        return Customer.from_wire(self.transport.get_json(f"customers/{segment(customer_id)}"))
