"""Write validation of the three REST resources, mirroring the era-B DRF serializers.

Each ``validate_*`` function takes the decoded JSON body and returns the fields to store
(internal form: timestamps as epoch microseconds). Read-only fields (``id``, ``created_at``,
``updated_at``, ``created_by``, ``team``) and unknown fields are ignored, as DRF does.
``partial`` False (POST / PUT) enforces required fields. The first invalid field raises
:class:`~emulator.posthog.wire.ValidationFailed` (drf-exceptions-hog reports one error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .generator import PROVIDER_KEYS, condition_with_bytecode, fake_bytecode
from .wire import ValidationFailed, canonical_uuid, parse_datetime_us

EVALUATION_TYPES = ("llm_judge", "hog")
OUTPUT_TYPES = ("boolean",)
PROVIDERS = ("openai", "anthropic", "gemini", "openrouter", "fireworks", "azure_openai")
_TRUE = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"}
_FALSE = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_FALSE.add("0")
_MISSING = object()


def _type_name(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
        type(value), type(value).__name__
    )


def _null(attr: str) -> ValidationFailed:
    return ValidationFailed(attr, "null", "This field may not be null.")


def char(
    value: Any, attr: str, *, max_length: int | None, allow_null: bool, allow_blank: bool
) -> str | None:
    """DRF ``CharField`` (trims whitespace; numbers become strings)."""
    if value is None:
        if allow_null:
            return None
        raise _null(attr)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationFailed(attr, "invalid", "Not a valid string.")
    text = str(value).strip()
    if not text and not allow_blank:
        raise ValidationFailed(attr, "blank", "This field may not be blank.")
    if max_length is not None and len(text) > max_length:
        raise ValidationFailed(
            attr, "max_length", f"Ensure this field has no more than {max_length} characters."
        )
    return text


def boolean(value: Any, attr: str, *, allow_null: bool) -> bool | None:
    """DRF ``BooleanField``."""
    if value is None:
        if allow_null:
            return None
        raise _null(attr)
    if value is True or value is False:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _TRUE:
        return True
    if isinstance(value, str) and value in _FALSE:
        return False
    raise ValidationFailed(attr, "invalid", "Must be a valid boolean.")


def json_value(value: Any, attr: str, *, allow_null: bool) -> Any:
    """DRF ``JSONField``: any JSON value."""
    if value is None and not allow_null:
        raise _null(attr)
    return value


def datetime_us(value: Any, attr: str, *, allow_null: bool) -> int | None:
    """DRF ``DateTimeField`` input (ISO 8601, naive = UTC)."""
    if value is None:
        if allow_null:
            return None
        raise _null(attr)
    try:
        return parse_datetime_us(value)
    except (ValueError, TypeError):
        raise ValidationFailed(
            attr,
            "invalid",
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        ) from None


def choice(value: Any, attr: str, choices: tuple[str, ...]) -> str:
    """DRF ``ChoiceField``."""
    if value is None:
        raise _null(attr)
    if not isinstance(value, str) or value not in choices:
        raise ValidationFailed(attr, "invalid_choice", f'"{value}" is not a valid choice.')
    return value


def _require(data: dict[str, Any], attrs: tuple[str, ...]) -> None:
    for attr in attrs:
        if attr not in data:
            raise ValidationFailed(attr, "required", "This field is required.")


def body_object(body: Any) -> dict[str, Any]:
    """The request body must be a JSON object."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            None, "invalid", f"Invalid data. Expected a dictionary, but got {_type_name(body)}."
        )
    return body


def _apply(data: dict[str, Any], rules: dict[str, Callable[[Any, str], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, rule in rules.items():
        value = data.get(attr, _MISSING)
        if value is not _MISSING:
            out[attr] = rule(value, attr)
    return out


def validate_dataset(body: Any, partial: bool) -> dict[str, Any]:
    """``DatasetSerializer``: name (required), description, metadata, deleted."""
    data = body_object(body)
    if not partial:
        _require(data, ("name",))
    return _apply(
        data,
        {
            "name": lambda v, a: char(v, a, max_length=400, allow_null=False, allow_blank=False),
            "description": lambda v, a: char(
                v, a, max_length=None, allow_null=True, allow_blank=True
            ),
            "metadata": lambda v, a: json_value(v, a, allow_null=True),
            "deleted": lambda v, a: boolean(v, a, allow_null=True),
        },
    )


def validate_item(
    body: Any, partial: bool, dataset_exists: Callable[[str], bool]
) -> dict[str, Any]:
    """``DatasetItemSerializer`` (era B field names)."""
    data = body_object(body)
    if not partial:
        _require(data, ("dataset",))

    def dataset(value: Any, attr: str) -> str:
        if value is None:
            raise _null(attr)
        if not isinstance(value, str):
            raise ValidationFailed(
                attr,
                "incorrect_type",
                f"Incorrect type. Expected pk value, received {_type_name(value)}.",
            )
        canonical = canonical_uuid(value)
        if canonical is None:
            raise ValidationFailed(attr, "invalid", f"“{value}” is not a valid UUID.")
        if not dataset_exists(canonical):
            raise ValidationFailed(
                attr, "does_not_exist", f'Invalid pk "{value}" - object does not exist.'
            )
        return canonical

    def ref(value: Any, attr: str) -> str | None:
        return char(value, attr, max_length=255, allow_null=True, allow_blank=True)

    return _apply(
        data,
        {
            "dataset": dataset,
            "input": lambda v, a: json_value(v, a, allow_null=True),
            "output": lambda v, a: json_value(v, a, allow_null=True),
            "metadata": lambda v, a: json_value(v, a, allow_null=True),
            "ref_trace_id": ref,
            "ref_timestamp": lambda v, a: datetime_us(v, a, allow_null=True),
            "ref_source_id": ref,
            "deleted": lambda v, a: boolean(v, a, allow_null=True),
        },
    )


def _model_configuration(value: Any, attr: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed(
            attr, "invalid", f"Invalid data. Expected a dictionary, but got {_type_name(value)}."
        )
    for key in ("provider", "model"):
        if key not in value:
            raise ValidationFailed(f"{attr}__{key}", "required", "This field is required.")
    provider = choice(value["provider"], f"{attr}__provider", PROVIDERS)
    model = char(
        value["model"], f"{attr}__model", max_length=100, allow_null=False, allow_blank=False
    )
    key_id = value.get("provider_key_id")
    key_name = None
    if key_id is not None:
        canonical = canonical_uuid(key_id)
        if canonical is None:
            raise ValidationFailed(f"{attr}__provider_key_id", "invalid", "Must be a valid UUID.")
        names = dict(PROVIDER_KEYS)
        if canonical not in names:
            raise ValidationFailed(f"{attr}__provider_key_id", "invalid", "Provider key not found")
        key_id, key_name = canonical, names[canonical]
    return {
        "provider": provider,
        "model": model,
        "provider_key_id": key_id,
        "provider_key_name": key_name,
    }


def _json_object(value: Any, attr: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(attr, "invalid", "Expected a JSON object.")
    return dict(value)


def _conditions(value: Any, attr: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise ValidationFailed(attr, "invalid", "Expected a list of condition objects.")
    for condition in value:
        rollout = condition.get("rollout_percentage", 100)
        if isinstance(rollout, bool) or not isinstance(rollout, (int, float)):
            raise ValidationFailed(attr, "invalid", "rollout_percentage must be a number.")
        if not 0 <= rollout <= 100:
            raise ValidationFailed(attr, "invalid", "rollout_percentage must be between 0 and 100.")
    return [condition_with_bytecode(c) for c in value]


def check_evaluation_configs(
    evaluation_type: str, evaluation_config: dict[str, Any], output_config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``validate_evaluation_configs``: the config must fit the type (errors under ``config``)."""
    config = dict(evaluation_config)
    if evaluation_type == "llm_judge":
        prompt = config.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValidationFailed(
                "config", "invalid_input", "llm_judge evaluations need a non-empty 'prompt'"
            )
        config = {"prompt": prompt.strip()}
    elif evaluation_type == "hog":
        source = config.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ValidationFailed(
                "config", "invalid_input", "hog evaluations need a non-empty 'source'"
            )
        config = {"source": source, "bytecode": fake_bytecode(source)}
    allows_na = output_config.get("allows_na", False)
    if not isinstance(allows_na, bool):
        raise ValidationFailed(
            "config", "invalid_input", "output_config.allows_na must be a boolean"
        )
    return config, {"allows_na": allows_na}


def validate_evaluation(body: Any, partial: bool) -> dict[str, Any]:
    """``EvaluationSerializer`` including its ``validate`` step."""
    data = body_object(body)
    if not partial:
        _require(data, ("name", "evaluation_type", "output_type"))
    out = _apply(
        data,
        {
            "name": lambda v, a: char(v, a, max_length=400, allow_null=False, allow_blank=False),
            "description": lambda v, a: char(
                v, a, max_length=None, allow_null=False, allow_blank=True
            ),
            "enabled": lambda v, a: boolean(v, a, allow_null=False),
            "evaluation_type": lambda v, a: choice(v, a, EVALUATION_TYPES),
            "evaluation_config": _json_object,
            "output_type": lambda v, a: choice(v, a, OUTPUT_TYPES),
            "output_config": _json_object,
            "conditions": _conditions,
            "model_configuration": _model_configuration,
            "deleted": lambda v, a: boolean(v, a, allow_null=False),
        },
    )
    # The real serializer checks the configs only when all four keys are in the request.
    if (
        "evaluation_config" in out
        and "output_config" in out
        and "evaluation_type" in out
        and "output_type" in out
    ):
        out["evaluation_config"], out["output_config"] = check_evaluation_configs(
            out["evaluation_type"], out["evaluation_config"], out["output_config"]
        )
    elif "evaluation_config" in out and isinstance(out["evaluation_config"].get("source"), str):
        # the model compiles Hog bytecode on every save
        source = out["evaluation_config"]["source"]
        out["evaluation_config"]["bytecode"] = fake_bytecode(source)
    return out
