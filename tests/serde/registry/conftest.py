"""Fixtures for the tests that need the session's real schema registry."""

from __future__ import annotations

import pytest

from slither_stream.serde import RegistryClient, RegistryConfig

TXN_V1 = {"type": "record", "name": "Txn", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"}]}
TXN_V2 = {"type": "record", "name": "Txn", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "currency", "type": "string", "default": "EUR"}]}
TXN_BROKEN = {"type": "record", "name": "Txn", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "country", "type": "string"}]}  # a new field without a default


@pytest.fixture
def client(registry_config: RegistryConfig) -> RegistryClient:
    return RegistryClient.shared(registry_config)
