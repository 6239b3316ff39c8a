"""The instance's lead fields (Describe Lead / Describe Lead2), cached a day through a cache the job passes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.suggest import did_you_mean

DESCRIBE_CACHE_KEY = "describe:leads"
DESCRIBE_TTL_S = 86400.0
# Marketo dataTypes holding plain text
# (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/field-types)
PLAIN_TEXT = frozenset({"string", "text", "phone", "url", "textarea"})


class LeadDescriber(Protocol):
    """What load_catalog needs of a Marketo client."""

    @property
    def instance(self) -> str: ...

    def describe_leads(self) -> list[dict[str, Any]]: ...

    def describe_leads2(self) -> object: ...


class CatalogCache(Protocol):
    """Where the catalog is kept between runs (the state store): JSON values per instance and key, with a TTL."""

    def cache_get(self, instance: str, key: str) -> Any | None: ...

    def cache_put(self, instance: str, key: str, value: Any, ttl_s: float = ...) -> None: ...


@dataclass(frozen=True)
class FieldInfo:
    """One Marketo lead field from Describe: REST name, dataType, length, read-only flag."""

    name: str
    data_type: str
    length: int | None = None
    read_only: bool = False

    def __post_init__(self) -> None:
        if not self.data_type.islower():
            object.__setattr__(self, "data_type", self.data_type.lower())


@dataclass
class FieldCatalog:
    """The instance's lead fields by REST name, plus the fields usable as lookup keys (Describe Lead2)."""

    fields: dict[str, FieldInfo]
    searchable: set[str] | None = None

    @classmethod
    def from_describe(cls, result: list[dict[str, Any]], searchable: set[str] | None = None) -> FieldCatalog:
        fields = {}
        for item in result:
            rest = item.get("rest")
            if not isinstance(rest, dict) or not rest.get("name"):
                continue  # a field without `rest` cannot be used through the REST API
            fields[rest["name"]] = FieldInfo(
                rest["name"], str(item.get("dataType", "string")).lower(), item.get("length"),
                bool(rest.get("readOnly")),
            )
        return cls(fields, searchable)

    def to_cache(self) -> dict[str, Any]:
        return {
            "fields": [[f.name, f.data_type, f.length, f.read_only] for f in self.fields.values()],
            "searchable": sorted(self.searchable) if self.searchable is not None else None,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> FieldCatalog:
        fields = {row[0]: FieldInfo(*row) for row in data["fields"]}
        searchable = set(data["searchable"]) if data.get("searchable") is not None else None
        return cls(fields, searchable)

    def get(self, name: str) -> FieldInfo | None:
        return self.fields.get(name)

    def check_lookup(self, name: str) -> None:
        """ConfigError unless `name` is a known field usable as a lookup key."""
        if name not in self.fields and name != "id":
            raise ConfigError(f"lookup field '{name}' is not a Marketo lead field (check its REST API name)"
                              f"{did_you_mean(name, self.fields)}")
        if self.searchable is not None and name not in self.searchable:
            allowed = ", ".join(sorted(self.searchable)[:12])
            raise ConfigError(f"lookup field '{name}' is not searchable in Marketo (searchable: {allowed})")


def load_catalog(client: LeadDescriber, store: CatalogCache | None, *, refresh: bool = False) -> FieldCatalog:
    """Describe (and Describe Lead2 for searchable keys), cached a day in the state store."""
    instance = client.instance
    if store is not None and not refresh:
        cached = store.cache_get(instance, DESCRIBE_CACHE_KEY)
        if cached:
            return FieldCatalog.from_cache(cached)
    searchable = None
    lead2 = client.describe_leads2()
    lead2 = lead2[0] if isinstance(lead2, list) and lead2 else lead2
    if isinstance(lead2, dict) and isinstance(lead2.get("searchableFields"), list):
        # Single-field keys only: compound keys cannot be a Sync Leads lookupField.
        searchable = {keys[0] for keys in lead2["searchableFields"] if isinstance(keys, list) and len(keys) == 1}
    catalog = FieldCatalog.from_describe(client.describe_leads(), searchable)
    if store is not None:
        store.cache_put(instance, DESCRIBE_CACHE_KEY, catalog.to_cache(), ttl_s=DESCRIBE_TTL_S)
    return catalog
