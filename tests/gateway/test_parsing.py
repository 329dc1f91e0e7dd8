"""Every response shape, whatever dialect was asked, parsed from realistic bodies."""

from __future__ import annotations

import base64
import json

import pytest

from bot.errors import (
    ContentBlocked,
    GatewayAuthError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
    MalformedResponse,
    ModelNotAvailable,
    NoImageReturned,
)
from bot.gateway.collector import decode_base64
from bot.gateway.parsing import parse_response
from bot.gateway.turns import restore_inline_data
from tests.fakes.gateway import (
    array_error,
    chat_completion,
    choice_error,
    google_error,
    google_response,
    images_response,
    inline_part,
    jpeg_bytes,
    markdown_response,
    moderation_error,
    openai_error,
    parts_response,
    png_bytes,
)

PNG = png_bytes(12, 8)
PNG2 = png_bytes(5, 7, (1, 2, 3))
JPEG = jpeg_bytes(9, 6)
B64 = base64.b64encode


def parse_full(body, status=200, content_type="application/json", **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_response(raw, status, content_type, **kw)


def parse(body, status=200, content_type="application/json", **kw):
    return parse_full(body, status, content_type, **kw).result


def test_markdown_data_url_with_text_around():
    body = chat_completion(
        {
            "role": "assistant",
            "content": (
                f"Here you go:\n\n![image](data:image/png;base64,{B64(PNG).decode()})\n\nEnjoy!"
            ),
        }
    )
    result = parse(body)
    assert [(i.mime, i.width, i.height) for i in result.images] == [("image/png", 12, 8)]
    assert result.images[0].data == PNG
    assert result.text == "Here you go:\n\n\n\nEnjoy!"
    assert result.finish_reason == "stop"


def test_markdown_several_images():
    result = parse(markdown_response([PNG, JPEG, PNG2]))
    assert [i.data for i in result.images] == [PNG, JPEG, PNG2]
    assert result.text == ""


def test_content_parts_with_markdown_inside_text_part():
    body = parts_response([JPEG], "Here is the generated image:")
    body["choices"][0]["message"]["content"].append(
        {"type": "text", "text": f"and ![second](data:image/png;base64,{B64(PNG).decode()})"}
    )
    result = parse(body, model="m")
    assert [i.data for i in result.images] == [JPEG, PNG]
    assert result.text == "Here is the generated image:\nand"


def test_message_images_with_null_content():
    result = parse(images_response([PNG, PNG2]))
    assert [i.data for i in result.images] == [PNG, PNG2]
    assert result.text == ""
    assert result.raw_turn["images"][0]["image_url"]["url"].startswith(
        "data:image/png;base64,$blob:"
    )


def test_litellm_singular_message_image():
    url = f"data:image/png;base64,{B64(PNG).decode()}"
    message = {"role": "assistant", "content": "A fox.", "image": {"url": url, "detail": "auto"}}
    result = parse(chat_completion(message))
    assert [i.data for i in result.images] == [PNG]
    assert result.text == "A fox."
    hosted = parse_full(chat_completion({"content": None, "image": {"url": "https://cdn.x/a.png"}}))
    assert hosted.image_urls == ("https://cdn.x/a.png",)


def test_message_images_b64_json():
    message = {"role": "assistant", "content": None, "images": [{"b64_json": B64(JPEG).decode()}]}
    assert [i.data for i in parse(chat_completion(message)).images] == [JPEG]


def test_native_snake_case_fields():
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"inline_data": {"mime_type": "image/png", "data": B64(PNG).decode()}}
                    ],
                },
                "finish_reason": "STOP",
            }
        ],
        "usage_metadata": {"prompt_token_count": 5, "candidates_token_count": 7},
        "model_version": "gemini-2.5-flash-image",
    }
    result = parse(body)
    assert [i.data for i in result.images] == [PNG]
    assert result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (5, 12)
    assert result.model == "gemini-2.5-flash-image"
    body["candidates"][0]["content"]["parts"] = []
    body["candidates"][0]["finish_reason"] = "IMAGE_SAFETY"
    with pytest.raises(ContentBlocked, match="IMAGE_SAFETY"):
        parse(body)
    with pytest.raises(ContentBlocked, match="SAFETY"):
        parse({"prompt_feedback": {"block_reason": "SAFETY"}})


def test_image_url_as_plain_string_and_bare_base64():
    message = {
        "role": "assistant",
        "content": [
            {"type": "image_url", "image_url": B64(PNG).decode()},
            {"type": "image_url", "image_url": {"url": B64(JPEG).decode()}},
        ],
    }
    result = parse(chat_completion(message))
    assert [i.mime for i in result.images] == ["image/png", "image/jpeg"]


def test_whole_content_is_bare_base64():
    result = parse(chat_completion({"role": "assistant", "content": B64(PNG).decode()}))
    assert result.images[0].data == PNG


def test_wrong_mime_in_prefix_is_corrected_from_bytes():
    result = parse(markdown_response([JPEG], mime="image/png"))
    assert result.images[0].mime == "image/jpeg"
    assert result.images[0].extension == "jpg"


def test_urlsafe_unpadded_and_wrapped_base64_decode():
    text = B64(PNG).decode()
    assert decode_base64(text.rstrip("=")) == PNG
    assert decode_base64("\n".join(text[i : i + 76] for i in range(0, len(text), 76))) == PNG
    assert decode_base64(base64.urlsafe_b64encode(PNG).decode()) == PNG
    assert decode_base64("not base64 at all!") is None


def test_hosted_urls_are_returned_for_download():
    body = markdown_response(["https://cdn.example/a.png"], "done")
    body["choices"][0]["message"]["images"] = [{"image_url": {"url": "https://cdn.example/b.png"}}]
    parsed = parse_full(body)
    assert parsed.result.images == ()
    assert parsed.image_urls == ("https://cdn.example/a.png", "https://cdn.example/b.png")
    assert parsed.result.text == "done"


def test_same_image_in_content_and_images_counts_once():
    body = markdown_response([PNG])
    body["choices"][0]["message"]["images"] = [
        {"image_url": {"url": "data:image/png;base64," + B64(PNG).decode()}}
    ]
    assert len(parse(body).images) == 1


def test_upper_case_finish_reason_and_usage():
    body = markdown_response(
        [PNG],
        finish_reason="STOP",
        usage={"prompt_tokens": 123, "completion_tokens": 456, "total_tokens": 579},
    )
    result = parse(body)
    assert result.finish_reason == "stop"
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (123, 456, 579)
    assert result.model == "gemini-2.5-flash-image"


def test_native_inline_data_usage_and_thought_images_excluded():
    thought = png_bytes(3, 3, (9, 9, 9))
    body = google_response(
        [PNG],
        "A robot.",
        thought_images=[thought],
        thought_signature=["s1", "s2"],
        usage={
            "promptTokenCount": 18,
            "candidatesTokenCount": 1290,
            "thoughtsTokenCount": 10,
            "totalTokenCount": 1318,
        },
    )
    result = parse(body)
    assert [i.data for i in result.images] == [PNG]
    assert result.text == "A robot."
    assert result.finish_reason == "stop"
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (18, 1300, 1318)
    assert result.model == "gemini-3-pro-image-preview"
    # The raw turn keeps every part but the thought image (issue 16: a draft is never
    # stored nor replayed), signatures included.
    restored = restore_inline_data(result.raw_turn, result.blobs)
    content = body["candidates"][0]["content"]
    assert content["parts"][0]["thought"] is True
    assert restored == {**content, "parts": content["parts"][1:]}
    assert thought not in result.blobs.values()


def test_native_thought_image_with_a_signature_keeps_the_signature_and_text():
    thought = png_bytes(3, 3, (9, 9, 9))
    signed = {**inline_part(thought, thought=True), "text": "draft", "thoughtSignature": "t1"}
    body = google_response(parts=[signed, {**inline_part(PNG), "thoughtSignature": "s1"}])
    result = parse(body)
    assert [i.data for i in result.images] == [PNG]
    restored = restore_inline_data(result.raw_turn, result.blobs)
    assert restored["parts"] == [
        {"thought": True, "text": "draft", "thoughtSignature": "t1"},
        {**inline_part(PNG), "thoughtSignature": "s1"},
    ]
    assert list(result.blobs.values()) == [PNG]


def test_native_only_thought_images_is_no_image():
    body = google_response([], thought_images=[PNG], finish_reason="NO_IMAGE")
    with pytest.raises(NoImageReturned, match="NO_IMAGE"):
        parse(body)


def test_native_several_images_and_snake_case_inline_data():
    parts = [
        inline_part(PNG),
        {"inline_data": {"mime_type": "image/jpeg", "data": B64(JPEG).decode()}},
    ]
    result = parse(google_response(parts=parts))
    assert [i.data for i in result.images] == [PNG, JPEG]


def test_images_api_shape():
    parsed = parse_full(
        {
            "created": 1,
            "data": [{"b64_json": B64(PNG).decode()}, {"url": "https://cdn.example/x.png"}],
        }
    )
    assert parsed.result.images[0].data == PNG
    assert parsed.image_urls == ("https://cdn.example/x.png",)


def test_raw_image_body():
    result = parse(JPEG, content_type="image/jpeg")
    assert result.images[0].mime == "image/jpeg"


@pytest.mark.parametrize(
    "reason",
    [
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    ],
)
def test_native_block_finish_reasons(reason):
    with pytest.raises(ContentBlocked) as info:
        parse(google_response([], finish_reason=reason))
    assert info.value.reason == reason
    assert reason in str(info.value)


@pytest.mark.parametrize("reason", ["NO_IMAGE", "OTHER", "IMAGE_OTHER", "MAX_TOKENS"])
def test_native_no_image_finish_reasons(reason):
    with pytest.raises(NoImageReturned, match=reason):
        parse(google_response([], finish_reason=reason))


def test_prompt_feedback_block_reason():
    with pytest.raises(ContentBlocked) as info:
        parse(google_response(block_reason="PROHIBITED_CONTENT"))
    assert info.value.reason == "PROHIBITED_CONTENT"


def test_block_keeps_model_text():
    with pytest.raises(ContentBlocked, match="I can't draw that"):
        parse(google_response([], "I can't draw that.", finish_reason="IMAGE_SAFETY"))


def test_chat_content_filter():
    with pytest.raises(ContentBlocked) as info:
        parse(
            chat_completion({"role": "assistant", "content": None}, finish_reason="content_filter")
        )
    assert info.value.reason == "CONTENT_FILTER"


def test_chat_native_finish_reason_wins():
    body = chat_completion(
        {"role": "assistant", "content": ""},
        finish_reason="content_filter",
        native_finish_reason="IMAGE_SAFETY",
    )
    with pytest.raises(ContentBlocked) as info:
        parse(body)
    assert info.value.reason == "IMAGE_SAFETY"


def test_images_win_over_a_filter_finish_reason():
    assert parse(markdown_response([PNG], finish_reason="content_filter")).images


def test_text_only_answer_carries_the_model_text():
    body = chat_completion(
        {"role": "assistant", "content": "Here is the edited image with the red theme applied."}
    )
    with pytest.raises(NoImageReturned) as info:
        parse(body)
    assert info.value.model_text == "Here is the edited image with the red theme applied."
    assert "red theme" in str(info.value)


def test_refusal_field_is_model_text():
    body = chat_completion(
        {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    )
    with pytest.raises(NoImageReturned, match="can't help"):
        parse(body)


def test_broken_image_is_malformed():
    truncated = PNG[: len(PNG) // 2]
    with pytest.raises(MalformedResponse, match="broken image"):
        parse(markdown_response([truncated]))


def test_broken_image_next_to_a_good_one_is_dropped():
    result = parse(markdown_response([b"\x89PNG\r\n\x1a\nnope", PNG]))
    assert [i.data for i in result.images] == [PNG]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (openai_error("Incorrect API key provided", code="invalid_api_key"), 401, GatewayAuthError),
        (openai_error("Incorrect API key provided", code="invalid_api_key"), 200, GatewayAuthError),
        (
            array_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED"),
            429,
            GatewayRateLimited,
        ),
        (array_error(404, "models/foo is not found", "NOT_FOUND"), 200, ModelNotAvailable),
        (choice_error("Provider returned error", 502), 200, GatewayUnavailable),
        (choice_error("Upstream rejected the request", 400), 200, GatewayRejected),
        (
            google_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
            503,
            GatewayUnavailable,
        ),
        (moderation_error(["violence", "hate"]), 403, ContentBlocked),
        ({"error": "model gemini-x not found"}, 400, ModelNotAvailable),
        ({"detail": "Not authenticated"}, 401, GatewayAuthError),
    ],
)
def test_error_shapes(body, status, error):
    with pytest.raises(error):
        parse(body, status)


def test_moderation_reasons_are_named():
    with pytest.raises(ContentBlocked) as info:
        parse(moderation_error(["violence", "hate"]), 403)
    assert info.value.reason == "violence, hate"
    assert "violence, hate" in str(info.value)


def test_html_error_page():
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with pytest.raises(GatewayUnavailable) as info:
        parse(html, 502, "text/html")
    assert "<" not in str(info.value)


def test_html_with_status_200_is_malformed():
    with pytest.raises(MalformedResponse, match="not JSON"):
        parse(b"<html>Cloudflare</html>", 200, "text/html")


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b"{}", b'{"choices": 3}', b'{"choices": []}', b'"x"']
)
def test_junk_json(body):
    with pytest.raises((MalformedResponse, NoImageReturned)):
        parse(body)


def test_retry_after_from_google_retry_info_and_header():
    body = google_error(
        429,
        "Quota exceeded",
        "RESOURCE_EXHAUSTED",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}],
    )
    with pytest.raises(GatewayRateLimited) as info:
        parse(body, 429)
    assert info.value.retry_after == 27
    with pytest.raises(GatewayRateLimited) as info:
        parse(body, 429, retry_after="3")
    assert info.value.retry_after == 3  # the header is the gateway's own word


def test_errors_survive_the_process_boundary():
    import pickle

    for exc in (
        GatewayRateLimited("m", retry_after=2.5),
        ContentBlocked(reason="SPII"),
        NoImageReturned(model_text="t"),
    ):
        clone = pickle.loads(pickle.dumps(exc))
        assert str(clone) == str(exc)
        assert clone.__dict__ == exc.__dict__
