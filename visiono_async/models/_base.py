"""What every model can do besides holding fields: ``to_dict``, ``to_json``, ``from_dict``,
and being a pydantic (and so FastAPI) type.

Serialisation goes through the one converter (:mod:`visiono_async._converter`): wire names,
datetimes as ISO 8601 in UTC, enum members as their values, and unknown keys kept in
``extra`` written back where they came from, so ``Model.from_dict(m.to_dict()) == m``.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from .._converter import EXTRA_FIELD, structure, unstructure

__all__ = ["Model"]

M = TypeVar("M", bound="Model")


class Model:
    """The base of the SDK's models (a mixin of methods; the fields are each model's)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-compatible data, as the API would send it.

        Returns:
            A dict with the wire names: datetimes as ISO 8601 strings (UTC), enums as
            their values, nested models as dicts, and the keys kept in ``extra`` at the
            top level again.
        """
        data: dict[str, Any] = unstructure(self)
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """The model as a JSON document (:meth:`to_dict`, encoded).

        Args:
            indent: Indentation for a readable document; compact when None.

        Returns:
            The JSON text.
        """
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls: type[M], data: Mapping[str, Any]) -> M:
        """Build the model from API data (what :meth:`to_dict` gives, or the API's JSON).

        Args:
            data: The JSON object.

        Returns:
            The model.

        Raises:
            ValueError: The data does not fit the model; the message names each field.
        """
        return structure(data, cls)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """pydantic's hook: an instance or a mapping validates, :meth:`to_dict` serialises.

        This makes a model usable where pydantic needs a type: a FastAPI route typed
        ``-> PhotoRequest`` (or ``-> list[PhotoRequest]``), ``response_model=``, a field of
        a pydantic model. The JSON schema (OpenAPI) lists the model's fields and allows
        further keys, as the API may send fields newer than the SDK. Needs pydantic 2.
        """
        from pydantic_core import core_schema

        def validate(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            if isinstance(value, Mapping):
                return structure(value, cls)
            raise ValueError(f"expected a {cls.__name__} or a mapping, got {type(value).__name__}")

        def serialize(value: Any) -> Any:
            return value.to_dict() if isinstance(value, Model) else value

        fields_schema = core_schema.typed_dict_schema(
            {
                field.name: core_schema.typed_dict_field(
                    handler.generate_schema(hint), required=field.default is attrs.NOTHING
                )
                for field, hint in _field_hints(cls)
            },
            extra_behavior="allow",
        )

        def json_schema(_schema: Any, json_handler: Any) -> Any:
            found = json_handler(fields_schema)
            resolved = json_handler.resolve_ref_schema(found)
            resolved["title"] = cls.__name__
            resolved["additionalProperties"] = True  # older pydantic leaves "allow" unsaid
            doc = (cls.__doc__ or "").strip().split("\n\n", 1)[0]
            if doc:
                resolved["description"] = " ".join(doc.split())
            return found

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(serialize),
            metadata={"pydantic_js_functions": [json_schema]},
        )


def _field_hints(cls: type[Any]) -> list[tuple[attrs.Attribute[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints.get(f.name, Any)) for f in attrs.fields(cls) if f.name != EXTRA_FIELD]
