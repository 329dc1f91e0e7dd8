"""The default price table: what each Gemini image model costs, in US dollars.

Source: Google's Gemini Developer API pricing page, https://ai.google.dev/gemini-api/docs/pricing
(paid tier, standard mode, not batch), as read on 2026-04-04: the figures below are the
ones that page gave, as quoted by pages that checked it on 2026-03-24 (3 Pro Image) and
2026-04-04 (3.1 Flash Image); OpenRouter and Vertex AI list the same image rates.

- gemini-2.5-flash-image: $0.30 per 1M input tokens; image output $30 per 1M tokens, 1290
  tokens per image (1024 px): $0.039 per image. It makes 1K images only.
- gemini-3-pro-image-preview: $2.00 per 1M input tokens; image output $120 per 1M tokens:
  $0.134 per 1K or 2K image (1120 tokens), $0.24 per 4K image (2000 tokens); text and
  thinking output $12 per 1M.
- gemini-3.1-flash-image-preview: image output $60 per 1M tokens: $0.067 per 1K image,
  $0.101 per 2K, $0.151 per 4K; input $0.25 per 1M on the API page, $0.50 on Vertex AI and
  in AI Studio (the higher one here: a budget should err high); text and thinking $1.50.

Decision, tokens: a gateway reports one count of output tokens (the image's, the text's
and the thinking's together), so the table prices all of them at the image rate. Text
and thinking cost less, so a token-priced job errs high, never low. The operator's own
prices (a gateway's markup, a discount) go in PRICES_FILE, a JSON file of this shape.
"""

from __future__ import annotations

from typing import Any

CURRENCY = "USD"
SOURCE = "https://ai.google.dev/gemini-api/docs/pricing"
CHECKED = "2026-04-04"

DEFAULT_PRICES: dict[str, Any] = {
    "currency": CURRENCY,
    "source": SOURCE,
    "checked": CHECKED,
    "models": {
        "gemini-2.5-flash-image": {
            "image": {"1K": 0.039},
            "input_per_million": 0.30,
            "output_per_million": 30.0,
        },
        "gemini-2.5-flash-image-preview": {
            "image": {"1K": 0.039},
            "input_per_million": 0.30,
            "output_per_million": 30.0,
        },
        "gemini-3-pro-image-preview": {
            "image": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
            "input_per_million": 2.0,
            "output_per_million": 120.0,
        },
        "gemini-3.1-flash-image-preview": {
            "image": {"1K": 0.067, "2K": 0.101, "4K": 0.151},
            "input_per_million": 0.50,
            "output_per_million": 60.0,
        },
    },
}
