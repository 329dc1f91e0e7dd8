"""Every bound a member, an admin or the operator can run into, in one table.

Imports nothing of the project. Each bound says whose it is: Discord's (fixed by the
platform), a gateway's (fixed by Gemini or the services in front of it) or ours (a
choice; the comment says why). Front ends, the core and every storage driver read them
from here, so a command's description, its validation and the stored value agree.
"""

from __future__ import annotations

import math

MIB = 1024 * 1024

# --------------------------------------------------------------------------- Discord's

# A bot's upload limit without a boosted server: 10 MiB per message.
DISCORD_UPLOAD_LIMIT = 10 * MIB
# Characters in one message's content.
MESSAGE_LIMIT = 2000
# Choices one autocomplete answer may show, and characters in a choice's name or value.
AUTOCOMPLETE_LIMIT = 25
CHOICE_CHARS = 100
# Discord's text input holds up to 4000 characters; a prompt longer than that can
# only come from a slash option, and no image model reads that far.
MAX_PROMPT_CHARS = 4000

# --------------------------------------------------------------------------- gateways'

# Per-file inline limit documented by Vertex for Gemini inputs (IMAGE_MAX_INPUT_BYTES).
DEFAULT_MAX_INPUT_BYTES = 7 * 1000 * 1000
# The ~20 MiB body cap many gateways still enforce (IMAGE_MAX_REQUEST_BYTES; see
# shared/docs/gateway-dialects.md).
DEFAULT_MAX_REQUEST_BYTES = 20 * MIB
# Reference images one request may carry (ai.google.dev/gemini-api/docs/image-generation;
# shared/docs/gateway-dialects.md): the Gemini 3 image models (3 Pro, 3.1 Flash) take up
# to 14; 2.5 Flash Image works with about 3 and loses the others' detail beyond.
MAX_REFERENCES_GEMINI_3 = 14
MAX_REFERENCES_FLASH_25 = 3

# --------------------------------------------------------------------------- ours

# Decompression bombs: the largest Gemini output is 5504x3072 (17 Mpx) and most phone
# photos are 12-50 Mpx, so 40 Mpx refuses nothing real while keeping one decoded image
# under ~160 MB (bigger baseline JPEGs, 108 and 200 MP photos, are decoded at reduced
# scale: see bot.images.inputs). Pillow's own cap is lowered to match (bot.images.codec).
MAX_INPUT_PIXELS = 40_000_000
# A 4K PNG is tens of MB; base64 and JSON add a third. Anything far above is hostile
# (IMAGE_MAX_RESPONSE_BYTES).
DEFAULT_MAX_RESPONSE_BYTES = 200 * MIB
# Above the largest input we keep (IMAGE_MAX_INPUT_BYTES, re-encoded down if needed)
# but far below anything that would hurt memory: Nitro uploads go up to 500 MB.
MAX_DOWNLOAD_BYTES = 32 * MIB
# Images one job makes (/imagine count:, /preferences count:): Midjourney's grid of four,
# and at 4K four results (~30 MB each) are already the most one message should carry.
MAX_IMAGES_PER_JOB = 4
# Reference images per job: /imagine has three image options, and a reply-to-edit
# takes the first three of a message.
MAX_SOURCES = 3
# The reference library (/ref): a stored image a prompt names as [name]. 25 per member is
# what one autocomplete answer lists; a server's shared set may be larger (a cast, logos).
MAX_MEMBER_REFERENCES = 25
MAX_SERVER_REFERENCES = 100
# One word: letters, digits, _ and -, compared lower-case.
MAX_REFERENCE_NAME_CHARS = 32
REFERENCE_NAME_PATTERN = r"[a-z0-9_-]{1,32}"
# /blend: 2 to 6 images (mojomast's bot blends 2-6, Midjourney 2-5), each one option.
MIN_BLEND_IMAGES = 2
MAX_BLEND_IMAGES = 6
# Images per /imagine (count:): Midjourney's grid of four. Four images and their four
# per-image rows of buttons fit Discord's 5 rows of 5 components with one row to spare.
MAX_COUNT = 4
DEFAULT_MAX_COUNT = 4

# A model id is one word (no spaces, nothing unprintable, no ".." that could climb a
# URL path in the google dialect); 200 is far above any real id.
MAX_MODEL_NAME_CHARS = 200
# Gateway settings an admin types: 500 characters is room for any real base URL (the
# storage layer allowed 2000, /settings 500: the stricter one, which every stored URL
# already met, since /settings is the only way one is written).
MAX_URL_CHARS = 500
MAX_API_KEY_CHARS = 1000
# The stored key is encrypted (bot.secrets.KeyBox): room for MAX_API_KEY_CHARS and the
# envelope around it.
MAX_KEY_CIPHERTEXT = 4096
# Channels in a server's allow-list: /settings refused the 101st; storage allowed 500
# (Discord's own cap on a server's channels). One value now, the stricter.
MAX_ALLOWED_CHANNELS = 100
# Earlier turns an edit sends back (README: history 0-20); each carries images.
MAX_HISTORY_TURNS = 20
# Jobs in flight and quotas (/settings limits; storage allowed 1000 jobs and 1,000,000
# a period, the commands these: one value each now, the commands').
MAX_USER_JOBS = 20
MAX_SERVER_JOBS = 200
# Jobs that may wait in a server's line (/settings limits queue:); 0 refuses at once.
DEFAULT_QUEUE = 10
MAX_QUEUE = 100
MAX_HOURLY = 10_000
MAX_DAILY = 100_000
# A server's monthly budget (/settings budget), in dollars: far above what a Discord
# server spends on images, low enough that a mistyped amount stands out.
MAX_MONTHLY_BUDGET = 100_000
# HTTP connections open at once, per pool (bot.transport: one for the bot's gateway and
# Discord's files, one for servers' own gateways). None per host: a gateway gets one
# connection per job in flight. The total is what one server at MAX_SERVER_JOBS can
# use at once (each job downloads up to MAX_SOURCES images side by side, then makes one
# gateway call); beyond it requests wait for a connection instead of the process
# running out of sockets.
MAX_HTTP_CONNECTIONS = MAX_SERVER_JOBS * MAX_SOURCES

# The operator's settings (environment).
MIN_SECRET_KEY_CHARS = 16  # SECRET_KEY encrypts per-server keys: README says at least 16
MIN_JOB_RETENTION_DAYS = 1.0  # daily quotas count the last day's jobs


def effective_quota(server: int | None, operator: int | None) -> int | None:
    """The quota that holds: a server's own, but never above the operator's cap (None: none)."""
    if operator is None:
        return server
    return operator if server is None else min(server, operator)


def is_amount(value: object, highest: float = math.inf) -> bool:
    """Whether ``value`` is an amount of dollars: a finite number from 0 to ``highest``."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= highest
    )


def is_model_name(name: str) -> bool:
    """Whether ``name`` can be a model id: the one rule /settings, storage and jobs share."""
    return (
        0 < len(name) <= MAX_MODEL_NAME_CHARS
        and name.isprintable()
        and not any(c.isspace() for c in name)
        and ".." not in name
    )


# The owner of jobs made by a process that sets no INSTANCE_NAME, and of every job
# stored before jobs had owners; an INSTANCE_NAME must match the pattern.
DEFAULT_OWNER = "default"
INSTANCE_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
# ':' joins an instance name and a per-process id ("shard-1:1a2b3c4d", the PostgreSQL runtime).
OWNER_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"
