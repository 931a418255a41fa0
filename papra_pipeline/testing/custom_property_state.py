"""Custom-property definitions of the fake Papra and documents' values for them (a mixin of
``FakeState``).
"""

from __future__ import annotations

import math
from typing import Any

from papra_pipeline.testing.common import (
    PapraError,
    internal_error,
    iso,
    parse_js_date,
    property_key,
)
from papra_pipeline.testing.models import (
    CUSTOM_PROPERTY_TYPES,
    Organization,
    PropertyDefinition,
    SelectOption,
)


def _invalid_value() -> PapraError:
    return PapraError(
        400,
        "custom_property_value.invalid",
        "The provided value is invalid for this property type.",
    )


class CustomPropertyState:
    """Custom properties: the ``FakeState`` methods for them."""

    def create_custom_property(
        self,
        org_id: str,
        name: str,
        type: str,
        options: list | None = None,
        *,
        description: str | None = None,
        display_order: int = 0,
        user_id: str | None = None,
    ) -> dict:
        """Returns the definition with its options (the HTTP route strips them)."""
        with self.lock:
            org = self.org(org_id, user_id)
            if type not in CUSTOM_PROPERTY_TYPES:
                raise PapraError(400, "unsupported_custom_property_type", "Unsupported type.")
            key = property_key(name)
            if any(d.name == name or d.key == key for d in org.definitions.values()):
                raise PapraError(
                    409,
                    "custom_property_definition.already_exists",
                    "A custom property definition with this name or key already exists in this "
                    "organization.",
                )
            cpd = PropertyDefinition(
                self.ids.new("cpd"),
                self.now(),
                org.id,
                name,
                key,
                description,
                type,
                display_order,
            )
            if type in ("select", "multi_select"):
                for index, option in enumerate(options or []):
                    option_name = option["name"] if isinstance(option, dict) else str(option)
                    cpd.options.append(self._new_option(cpd, option_name, index))
            org.definitions[cpd.id] = cpd
            org.definitions_changed()
            return cpd.to_api(with_options=True)

    def _new_option(self, cpd: PropertyDefinition, name: str, order: int) -> SelectOption:
        return SelectOption(
            self.ids.new("cpso"), self.now(), cpd.id, name, property_key(name), order
        )

    def list_custom_properties(self, org_id: str, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            org = self.org(org_id, user_id)
            return [d.to_api(with_options=True) for d in org.sorted_definitions()]

    def get_custom_property(self, org_id: str, cpd_id: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            return self._definition(org, cpd_id).to_api(with_options=True)

    def update_custom_property(
        self, org_id: str, cpd_id: str, *, user_id: str | None = None, **fields: Any
    ) -> dict:
        """PUT semantics: ``options`` is a full replacement; removed options lose their values.

        Like Papra, a body with nothing but ``options`` (or only unknown keys) is a 500.
        """
        with self.lock:
            org = self.org(org_id, user_id)
            cpd = self._definition(org, cpd_id)
            invalid = PapraError(
                400,
                "custom_property_definition.invalid_update",
                "The provided update data is invalid for this property type.",
            )
            name = fields.get("name")
            bad_name = not isinstance(name, str) or not 1 <= len(name.strip()) <= 255
            if "name" in fields and bad_name:
                raise invalid
            if (
                "description" in fields
                and fields["description"] is not None
                and (
                    not isinstance(fields["description"], str) or len(fields["description"]) > 1000
                )
            ):
                raise invalid
            order = fields.get("displayOrder")
            if "displayOrder" in fields and (
                not isinstance(order, int) or isinstance(order, bool) or order < 0
            ):
                raise invalid
            options = fields.get("options") if cpd.type in ("select", "multi_select") else None
            if options is not None:
                if (
                    not isinstance(options, list)
                    or not options
                    or not all(
                        isinstance(o, dict) and isinstance(o.get("name"), str) for o in options
                    )
                ):
                    raise invalid
                known = {o.id for o in cpd.options}
                if any("id" in o and o["id"] not in known for o in options):
                    raise PapraError(
                        400,
                        "custom_property_select_option.unknown_id",
                        "One or more option IDs do not belong to this property.",
                    )
            if not {"name", "description", "displayOrder"} & set(fields):
                raise internal_error()  # "No values to set" in Papra
            if "name" in fields:
                cpd.name = name.strip()
                cpd.key = property_key(cpd.name)
            if "description" in fields:
                cpd.description = fields["description"]
            if "displayOrder" in fields:
                cpd.display_order = order
            if options is not None:
                self._replace_options(org, cpd, options)
            org.definitions_changed()
            return cpd.to_api(with_options=True)

    def _replace_options(self, org: Organization, cpd: PropertyDefinition, options: list) -> None:
        by_id = {o.id: o for o in cpd.options}
        new_options = []
        for index, spec in enumerate(options):
            option = by_id.get(spec.get("id", ""))
            if option is None:
                option = self._new_option(cpd, spec["name"], index)
            else:
                option.name, option.key, option.display_order = (
                    spec["name"],
                    property_key(spec["name"]),
                    index,
                )
            new_options.append(option)
        kept = {o.id for o in new_options}
        cpd.options = new_options
        for doc in org.all_docs.items:
            stored = doc.cp_values.get(cpd.id)
            if stored is None:
                continue
            if isinstance(stored, list):
                remaining = [v for v in stored if v in kept]
                if remaining:
                    doc.cp_values[cpd.id] = remaining
                else:
                    del doc.cp_values[cpd.id]
            elif stored not in kept:
                del doc.cp_values[cpd.id]

    def delete_custom_property(
        self, org_id: str, cpd_id: str, *, user_id: str | None = None
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            self._definition(org, cpd_id)
            del org.definitions[cpd_id]
            org.definitions_changed()
            for doc in org.all_docs.items:
                doc.cp_values.pop(cpd_id, None)

    def set_custom_property_value(
        self, org_id: str, doc_id: str, cpd_id: str, value: Any, *, user_id: str | None = None
    ) -> None:
        """Set a value given in the API input shape; logs no activity, changes no updatedAt."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            cpd = self._definition(org, cpd_id)
            stored = self._validate_value(org, cpd, value)
            if stored is None:
                doc.cp_values.pop(cpd.id, None)
            else:
                doc.cp_values[cpd.id] = stored

    def _validate_value(self, org: Organization, cpd: PropertyDefinition, value: Any) -> Any:
        kind = cpd.type
        if kind == "text":
            if not isinstance(value, str) or len(value) > 10_000:
                raise _invalid_value()
            return value
        if kind == "number":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise _invalid_value()
            return value
        if kind == "date":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _invalid_value()
            ms = parse_js_date(value)
            if ms is None:
                raise _invalid_value()
            return ms
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _invalid_value()
            return value
        if kind == "select":
            if not isinstance(value, str):
                raise _invalid_value()
            if cpd.option(value) is None:
                raise PapraError(
                    400,
                    "custom_property_select_option.not_found",
                    "The provided value is not a valid option for this select property.",
                )
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid_value()
        if kind == "multi_select":
            if any(cpd.option(v) is None for v in value):
                raise PapraError(
                    400,
                    "custom_property_select_option.not_found",
                    "The provided value is not a valid option for this select property.",
                )
            order = {o.id: o.display_order for o in cpd.options}
            value = sorted(dict.fromkeys(value), key=lambda v: order[v])
        elif kind == "user_relation":
            if any(v not in org.members for v in value):
                raise PapraError(
                    400,
                    "custom_property_value.user_not_found",
                    "One or more provided user IDs are not members of this organization.",
                )
        else:
            if any(
                v not in self.docs_by_id or self.docs_by_id[v].organization_id != org.id
                for v in value
            ):
                raise PapraError(
                    400,
                    "custom_property_value.related_document_not_found",
                    "One or more provided document IDs do not belong to this organization.",
                )
        return list(dict.fromkeys(value)) or None

    def _render_value(self, cpd: PropertyDefinition, stored: Any) -> Any:
        if stored is None:
            return None
        kind = cpd.type
        if kind == "date":
            return iso(stored)
        if kind == "select":
            option = cpd.option(stored)
            return {"optionId": option.id, "name": option.name} if option else None
        if kind == "multi_select":
            names = {o.id: o.name for o in cpd.options}
            return [{"optionId": v, "name": names[v]} for v in stored if v in names]
        if kind == "user_relation":
            return [
                {"userId": u.id, "name": u.name, "email": u.email}
                for u in (self.users[v] for v in stored if v in self.users)
            ]
        if kind == "document_relation":
            return [
                {"documentId": v, "name": self.docs_by_id[v].name}
                for v in stored
                if v in self.docs_by_id
            ]
        return stored

    def document_custom_properties(
        self, org_id: str, doc_id: str, *, user_id: str | None = None
    ) -> list[dict]:
        """Only properties that have a value, by definition id (as Papra's query returns them)."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            out = []
            for cpd_id in sorted(doc.cp_values):
                cpd = org.definitions[cpd_id]
                out.append(
                    {
                        "propertyDefinitionId": cpd.id,
                        "key": cpd.key,
                        "name": cpd.name,
                        "type": cpd.type,
                        "value": self._render_value(cpd, doc.cp_values[cpd_id]),
                    }
                )
            return out

    def clear_custom_property_value(
        self, org_id: str, doc_id: str, cpd_id: str, *, user_id: str | None = None
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            self._definition(org, cpd_id)
            doc.cp_values.pop(cpd_id, None)
