"""Billing data as pandas DataFrames: reconciliation file readers, the reconciliation engine and price-list analysis.

Pure functions only (no printing, no HTTP); import from the submodules.
"""
