"""The emulator's one URL table: (method, path, handler[, name]) for every route of every plane.

:func:`cspkit.emulator.app.create_app` registers them in one loop; the route name (the handler's name unless given)
is the ``operation`` fault rules match on (``checkout_cart``, ``saas_activate``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from cspkit.emulator.handlers import (
    billing,
    catalog,
    control,
    customers,
    graph,
    orders,
    pricesheets,
    promotions,
    saas,
    transitions,
)
from cspkit.emulator.handlers import subscriptions as subs

__all__ = ["ROUTES", "Route"]


class Route(NamedTuple):
    method: str
    path: str
    handler: Callable[..., Any]
    name: str | None = None

    @property
    def operation(self) -> str:
        return self.name or self.handler.__name__


_C = "/v1/customers/{customer_id}"
_P = "/v1/products/{product_id}/skus/{sku_id}"
_CP = _C + "/products/{product_id}"
_O = _C + "/orders/{order_id}"
_S = _C + "/subscriptions/{subscription_id}"
_SAAS = "/api/saas/subscriptions"
_G = "/reports/partners/billing"

ROUTES: list[Route] = [
    # -- Partner Center: customers and catalog ------------------------------------------------------------------
    Route("GET", "/v1/customers", customers.list_customers),
    Route("POST", "/v1/customers", customers.create_customer),
    Route("GET", _C, customers.get_customer),
    Route("GET", _C + "/profiles/company", customers.get_customer_company_profile),
    Route("GET", _C + "/profiles/billing", customers.get_customer_billing_profile),
    Route("HEAD", "/v1/domains/{domain}", customers.check_domain_availability),
    Route("POST", "/v1/validations/address", customers.validate_address),
    Route("POST", "/v1/validations/addresses", customers.validate_address, "validate_address_plural"),
    Route("GET", "/v1/agreements", customers.list_agreement_metadata),
    Route("GET", _C + "/agreements", customers.list_customer_agreements),
    Route("POST", _C + "/agreements", customers.create_customer_agreement),
    Route("GET", "/v1/products", catalog.list_products),
    Route("GET", "/v1/products/{product_id}", catalog.get_product),
    Route("GET", "/v1/products/{product_id}/skus", catalog.list_skus),
    Route("GET", _P, catalog.get_sku),
    Route("GET", _P + "/availabilities", catalog.list_availabilities),
    Route("GET", _P + "/availabilities/{availability_id}", catalog.get_availability),
    Route("POST", "/v1/extensions/product/checkinventory", catalog.check_inventory),
    Route("GET", _C + "/products", catalog.list_customer_products),
    Route("GET", _CP, catalog.get_customer_product),
    Route("GET", _CP + "/skus", catalog.list_customer_skus),
    Route("GET", _CP + "/skus/{sku_id}", catalog.get_customer_sku),
    Route("GET", _CP + "/skus/{sku_id}/availabilities", catalog.list_customer_availabilities),
    Route("GET", _CP + "/skus/{sku_id}/availabilities/{availability_id}", catalog.get_customer_availability),
    # -- carts and orders ---------------------------------------------------------------------------------------
    Route("POST", _C + "/carts", orders.create_cart),
    Route("GET", _C + "/carts/{cart_id}", orders.get_cart),
    Route("PUT", _C + "/carts/{cart_id}", orders.update_cart),
    Route("POST", _C + "/carts/{cart_id}/checkout", orders.checkout_cart),
    Route("GET", _C + "/orders", orders.list_orders),
    Route("GET", _O, orders.get_order),
    Route("POST", _C + "/orders", orders.create_order),
    Route("GET", _O + "/provisioningstatus", orders.get_order_provisioning_status),
    Route("GET", _O + "/lineitems/{line_item_number}/activationlinks", orders.get_line_item_activation_links),
    Route("GET", _O + "/activationlinks", orders.get_order_activation_links),
    # -- promotions and co-terming (custom term end dates) -------------------------------------------------------
    Route("GET", "/v1/productpromotions", promotions.list_product_promotions),
    Route("GET", "/v1/productpromotions/{promotion_id}", promotions.get_product_promotion),
    Route("POST", _C + "/promotionEligibilities", promotions.verify_promotion_eligibilities),
    Route("GET", _C + "/subscriptions/customTermEndDates", promotions.get_custom_term_end_dates),
    # -- subscriptions ------------------------------------------------------------------------------------------
    Route("GET", _C + "/subscriptions", subs.list_subscriptions),
    Route("GET", _S, subs.get_subscription),
    Route("PATCH", _S, subs.update_subscription),
    Route("GET", _S + "/addons", subs.list_addons),
    Route("GET", _S + "/activationlinks", subs.get_subscription_activation_links),
    Route("GET", _S + "/provisioningstatus", subs.get_subscription_provisioning_status),
    Route("POST", _S + "/activate", subs.activate_sandbox_subscription),
    Route("GET", _S + "/transitionEligibilities", transitions.get_transition_eligibilities),
    Route("POST", _S + "/transitions", transitions.create_transition),
    Route("GET", _S + "/transitions", transitions.list_transitions),
    # -- billing ------------------------------------------------------------------------------------------------
    Route("GET", "/v1/invoices", billing.list_invoices),
    Route("GET", "/v1/invoices/estimates/links", billing.get_estimate_links),
    Route("GET", "/v1/invoices/{invoice_id}", billing.get_invoice),
    Route("GET", "/v1/invoices/{invoice_id}/documents/statement", billing.get_invoice_statement),
    Route("GET", "/v1/invoices/{invoice_id}/lineitems", billing.get_invoice_line_items),
    Route("GET", "/v1/invoices/{invoice_id}/lineitems/{provider}/{item_type}", billing.get_invoice_line_items_by_path),
    # -- SaaS fulfillment API and the emulated publisher --------------------------------------------------------
    Route("POST", _SAAS + "/resolve", saas.saas_resolve),
    Route("GET", _SAAS, saas.saas_list_subscriptions),
    Route("GET", _SAAS + "/{saas_id}", saas.saas_get_subscription),
    Route("GET", _SAAS + "/{saas_id}/listAvailablePlans", saas.saas_list_plans),
    Route("POST", _SAAS + "/{saas_id}/activate", saas.saas_activate),
    Route("PATCH", _SAAS + "/{saas_id}", saas.saas_update_subscription),
    Route("DELETE", _SAAS + "/{saas_id}", saas.saas_delete_subscription),
    Route("GET", _SAAS + "/{saas_id}/operations", saas.saas_list_operations),
    Route("GET", _SAAS + "/{saas_id}/operations/{operation_id}", saas.saas_get_operation),
    Route("PATCH", _SAAS + "/{saas_id}/operations/{operation_id}", saas.saas_update_operation),
    Route("GET", "/publisher/{publisher_id}/landing", saas.publisher_landing),
    Route("POST", "/publisher/{publisher_id}/activate", saas.publisher_activate),
    Route("POST", "/publisher/webhook", saas.publisher_webhook),
    # -- control API --------------------------------------------------------------------------------------------
    Route("POST", "/_emulator/reset", control.control_reset),
    Route("POST", "/_emulator/seed", control.control_seed),
    Route("GET", "/_emulator/clock", control.control_get_clock),
    Route("POST", "/_emulator/clock", control.control_set_clock),
    Route("POST", "/_emulator/clock/advance", control.control_advance_clock),
    Route("GET", "/_emulator/faults", control.control_list_faults),
    Route("POST", "/_emulator/faults", control.control_add_fault),
    Route("DELETE", "/_emulator/faults", control.control_clear_faults),
    Route("DELETE", "/_emulator/faults/{rule_id}", control.control_remove_fault),
    Route("GET", "/_emulator/faults/log", control.control_fault_log),
    Route("GET", "/_emulator/config", control.control_get_config),
    Route("POST", "/_emulator/config", control.control_set_config),
    Route("GET", "/_emulator/state", control.control_state),
    Route("POST", "/_emulator/state/save", control.control_save),
    Route("POST", "/_emulator/recon/synthetic", control.control_synthetic_recon),
    Route("POST", "/_emulator/tokens/inspect", control.control_inspect_token),
    Route("GET", "/_emulator/webhooks", control.control_webhooks),
    Route("GET", "/_emulator/events", control.control_events),
    Route("POST", "/_emulator/tokens", control.control_issue_token),
    Route("POST", "/_emulator/graph/faults", control.graph_set_faults),
    Route("POST", "/_emulator/azure/admin-access", control.control_admin_access),
    Route("POST", "/_emulator/azure/usage-spike", control.control_usage_spike),
    # -- price sheets and Microsoft Graph billing exports -------------------------------------------------------
    Route("GET", "/v1.0/sales/{resource:path}", pricesheets.get_price_sheet),
    Route("POST", "/v1.0" + _G + "/reconciliation/billed/export", graph.graph_export_reconciliation_billed),
    Route("POST", "/beta" + _G + "/reconciliation/unbilled/export", graph.graph_export_reconciliation_unbilled),
    Route("POST", "/v1.0" + _G + "/reconciliation/unbilled/export", graph.graph_export_reconciliation_unbilled),
    Route("POST", "/v1.0" + _G + "/usage/billed/export", graph.graph_export_usage_billed),
    Route("POST", "/v1.0" + _G + "/usage/unbilled/export", graph.graph_export_usage_unbilled),
    Route("GET", "/v1.0" + _G + "/operations/{operation_id}", graph.graph_get_operation),
    Route("GET", "/beta" + _G + "/operations/{operation_id}", graph.graph_get_operation, "graph_get_operation_beta"),
    Route("GET", "/v1.0" + _G + "/manifests/{manifest_id}", graph.graph_get_manifest),
    Route("GET", "/beta" + _G + "/manifests/{manifest_id}", graph.graph_get_manifest, "graph_get_manifest_beta"),
    Route("GET", "/_blobs/{blob_path:path}", graph.graph_get_blob),
]
