"""Discord's rules for what a bot sends: commands, messages, components, modals, choices.

Each refuses what Discord refuses, with Discord's error shape (``form_error``), so a bot
that passes the fake does not merely pass against something that accepts anything.
"""

from __future__ import annotations

from collections.abc import (
    Sequence,
)
from typing import Any

from bot.i18n.discord_rules import valid_command_name, valid_description, valid_locale
from tests.fakes.discord_records import (
    ACTION_ROWS_MAX,
    CUSTOM_ID_MAX,
    EMPTY_MESSAGE,
    ENTITY_TOO_LARGE,
    FILES_PER_MESSAGE_MAX,
    FLAG_COMPONENTS_V2,
    MESSAGE_CONTENT_MAX,
    MODAL_TITLE_MAX,
    ROW_WIDTH_MAX,
    TEXT_INPUT_VALUE_MAX,
    DiscordError,
    Payload,
    UploadedFile,
    form_error,
)


def validate_command(cmd: Any, where: str) -> None:
    if not isinstance(cmd, dict) or not isinstance(cmd.get("name"), str):
        raise form_error(f"{where}.name", "BASE_TYPE_REQUIRED", "This field is required")
    ctype = cmd.get("type", 1)
    if ctype not in (1, 2, 3, 4):
        raise form_error(f"{where}.type", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
    if ctype == 1:
        _validate_option_like(cmd, where)
        _validate_options(cmd.get("options") or [], f"{where}.options")
    else:
        for at, name in [
            ("name", cmd["name"]),
            *(
                (f"name_localizations.{code}", words)
                for code, words in _localizations(cmd, "name_localizations", where).items()
            ),
        ]:
            if not isinstance(name, str) or not 1 <= len(name) <= 32:
                raise form_error(
                    f"{where}.{at}", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
        if cmd.get("description"):
            raise form_error(
                f"{where}.description",
                "APPLICATION_COMMAND_INVALID_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
    perms = cmd.get("default_member_permissions")
    if perms is not None and not (
        isinstance(perms, int) or (isinstance(perms, str) and perms.isdigit())
    ):
        raise form_error(
            f"{where}.default_member_permissions",
            "NUMBER_TYPE_COERCE",
            "Value is not a valid permission bitfield.",
        )


def _validate_option_like(item: Payload, where: str) -> None:
    name, description = item.get("name", ""), item.get("description")
    _check_name(name, f"{where}.name")
    if not isinstance(description, str) or not valid_description(description):
        raise form_error(
            f"{where}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    for code, words in _localizations(item, "name_localizations", where).items():
        _check_name(words, f"{where}.name_localizations.{code}")
    for code, words in _localizations(item, "description_localizations", where).items():
        _check_length(words, f"{where}.description_localizations.{code}")


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not valid_command_name(name):
        raise form_error(where, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _check_length(text: Any, where: str) -> None:
    if not isinstance(text, str) or not valid_description(text):
        raise form_error(where, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _localizations(item: Payload, key: str, where: str) -> dict[str, Any]:
    """``item[key]`` (Discord locale -> words); a locale Discord does not know is refused."""
    found = item.get(key) or {}
    if not isinstance(found, dict):
        raise form_error(f"{where}.{key}", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    for code in found:
        if not valid_locale(code):
            raise form_error(f"{where}.{key}.{code}", "LOCALE_INVALID", f"Invalid locale: {code!r}")
    return found


def _validate_options(options: list[Payload], where: str) -> None:
    if len(options) > 25:
        raise form_error(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for i, opt in enumerate(options):
        at = f"{where}.{i}"
        _validate_option_like(opt, at)
        if opt.get("type") not in range(1, 12):
            raise form_error(f"{at}.type", "BASE_TYPE_CHOICES", "Value must be one of 1..11.")
        if opt["type"] in (1, 2):
            _validate_options(opt.get("options") or [], f"{at}.options")
            continue
        if opt.get("required"):
            if seen_optional:
                raise form_error(
                    f"{at}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            raise form_error(
                f"{at}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for k, choice in enumerate(choices):
            _check_length(choice.get("name"), f"{at}.choices.{k}.name")
            for code, words in _localizations(
                choice, "name_localizations", f"{at}.choices.{k}"
            ).items():
                _check_length(words, f"{at}.choices.{k}.name_localizations.{code}")
        if choices and opt.get("autocomplete"):
            raise form_error(
                f"{at}.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices",
            )


def validate_message(
    data: Payload, files: Sequence[UploadedFile], limit: int, *, creating: bool
) -> None:
    content = data.get("content")
    if content is not None and (not isinstance(content, str) or len(content) > MESSAGE_CONTENT_MAX):
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MESSAGE_CONTENT_MAX} or fewer in length."
        )
    if len(data.get("embeds") or []) > 10:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if len(files) > FILES_PER_MESSAGE_MAX:
        raise form_error(
            "files", "BASE_TYPE_MAX_LENGTH", f"Must be {FILES_PER_MESSAGE_MAX} or fewer in length."
        )
    # The limit holds for the request, so for all of a message's files together.
    if sum(len(f.data) for f in files) > limit:
        raise DiscordError(413, ENTITY_TOO_LARGE, "Request entity too large")
    if not (data.get("flags") or 0) & FLAG_COMPONENTS_V2:
        _validate_components(data.get("components") or [])
    if creating and not (
        content
        or data.get("embeds")
        or files
        or data.get("components")
        or data.get("sticker_ids")
        or data.get("poll")
    ):
        raise DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def _validate_components(rows: list[Payload]) -> None:
    if len(rows) > ACTION_ROWS_MAX:
        raise form_error(
            "components", "BASE_TYPE_MAX_LENGTH", f"Must be {ACTION_ROWS_MAX} or fewer in length."
        )
    custom_ids: set[str] = set()
    for i, row in enumerate(rows):
        children = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(children) <= ROW_WIDTH_MAX:
            raise form_error(
                f"components.{i}",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "An action row holds 1 to 5 components",
            )
        for j, child in enumerate(children):
            at = f"components.{i}.components.{j}"
            link = child.get("type") == 2 and child.get("style") in (5, 6)
            if link:
                continue
            cid = child.get("custom_id")
            if not isinstance(cid, str) or not 1 <= len(cid) <= CUSTOM_ID_MAX:
                raise form_error(
                    f"{at}.custom_id",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {CUSTOM_ID_MAX} in length.",
                )
            if cid in custom_ids:
                raise form_error(
                    f"{at}.custom_id",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            custom_ids.add(cid)
            if child.get("type") != 2 and len(children) > 1:
                raise form_error(
                    at, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "A select menu must be alone in its row"
                )
            if child.get("type") == 3:
                _validate_select(child, at)
            if child.get("type") == 2 and len(child.get("label") or "") > 80:
                raise form_error(
                    f"{at}.label", "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."
                )


def _validate_select(menu: Payload, at: str) -> None:
    """A string select as Discord checks it: 1-25 options, each label and value 1-100."""
    options = menu.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= 25:
        raise form_error(
            f"{at}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length."
        )
    for k, option in enumerate(options):
        for key, low in (("label", 1), ("value", 1), ("description", 0)):
            text = option.get(key)
            if key == "description" and text is None:
                continue
            if not isinstance(text, str) or not low <= len(text) <= 100:
                raise form_error(
                    f"{at}.options.{k}.{key}",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between {low} and 100 in length.",
                )
    if len(menu.get("placeholder") or "") > 150:
        raise form_error(f"{at}.placeholder", "BASE_TYPE_MAX_LENGTH", "Must be 150 or fewer.")
    if len({o["value"] for o in options}) != len(options):
        raise form_error(f"{at}.options", "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "Duplicate")


def validate_choices(data: Payload | None) -> list[Payload]:
    choices = (data or {}).get("choices")
    if not isinstance(choices, list):
        raise form_error("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > 25:
        raise form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, c in enumerate(choices):
        if not 1 <= len(str(c.get("name", ""))) <= 100 or "value" not in c:
            raise form_error(
                f"data.choices.{i}",
                "BASE_TYPE_BAD_LENGTH",
                "Choice needs a name of 1 to 100 characters and a value",
            )
    return choices


def validate_modal(data: Payload | None) -> Payload:
    if data is None:
        raise form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
    for key, low, high in (("custom_id", 1, CUSTOM_ID_MAX), ("title", 1, MODAL_TITLE_MAX)):
        value = data.get(key)
        if not isinstance(value, str) or not low <= len(value) <= high:
            raise form_error(
                f"data.{key}",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {low} and {high} in length.",
            )
    rows = data.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 5:
        raise form_error(
            "data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    for i, row in enumerate(rows):
        inner = (
            row.get("components")
            if row.get("type") == 1
            else [row.get("component")]
            if row.get("type") == 18
            else None
        )
        if row.get("type") == 10:
            continue
        if not inner or len(inner) != 1 or not isinstance(inner[0], dict):
            raise form_error(
                f"data.components.{i}",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "Each modal row holds exactly one input",
            )
        text = inner[0]
        if text.get("type") == 4:
            cid = text.get("custom_id")
            if not isinstance(cid, str) or not 1 <= len(cid) <= CUSTOM_ID_MAX:
                raise form_error(
                    f"data.components.{i}.custom_id",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if text.get("style") not in (1, 2):
                raise form_error(
                    f"data.components.{i}.style",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 2}.",
                )
            if row.get("type") == 1 and not 1 <= len(text.get("label") or "") <= 45:
                raise form_error(
                    f"data.components.{i}.label",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 45 in length.",
                )
            if len(text.get("value") or "") > TEXT_INPUT_VALUE_MAX:
                raise form_error(
                    f"data.components.{i}.value",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 4000 or fewer in length.",
                )
    return data
