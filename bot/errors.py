"""The project's one exception tree.

Every error a user can meet is one of these, and ``str(exc)`` is a sentence that is
safe to show in Discord or on the command line: no secrets, no tracebacks, no raw
bodies. What the reader should do next depends on where they are (a server admin runs
/settings, a CLI user fixes IMAGE_API_KEY), so each front end adds its own advice
with ``advice_for``. Low-level errors (httpx, Pillow, sqlite) are mapped to these at one boundary
each, with ``raise ... from exc`` so the log keeps the cause.

    ImagineError
    ├── ConfigError                  a setting is missing or invalid (start-up)
    ├── InputImageError              an attachment is not a usable image
    │   ├── NotAnImage
    │   ├── ImageTooLarge            bytes or pixels above the caps
    │   └── RequestTooLarge          the whole request cannot be made to fit
    ├── GatewayError                 anything the image gateway did
    │   ├── GatewayAuthError         bad or missing API key (never retried)
    │   ├── PaymentRequired          out of credit
    │   ├── ModelNotAvailable        model unknown or not allowed for this key
    │   ├── GatewayRateLimited       429, carries retry_after
    │   ├── GatewayUnavailable       5xx / overloaded / connection failed, may carry retry_after
    │   ├── GatewayTimeout
    │   ├── GatewayRejected          other 4xx: the gateway did not accept the request
    │   ├── ContentBlocked           safety filter, carries the reason
    │   ├── NoImageReturned          refusal or text-only answer, carries the model text
    │   ├── MalformedResponse        a body we could not make sense of
    │   ├── ResponseTooLarge         body above the download cap
    │   └── UnsafeGatewayURL         base URL points at a private / loopback address
    ├── WorkerCrashed                a worker process died mid-job (out of memory, a codec crash)
    ├── AccessDenied                 the member may not do this here
    ├── LimitReached                 too many jobs in flight / over a quota
    └── StorageError                 what a Store refuses (bot/storage/errors.py)
        ├── NotStored (KeyError)     a record that is not, or no longer, stored
        │   ├── JobNotFound          carries job_id
        │   └── BlobNotFound         carries the missing shas
        ├── JobFenced                a fenced job update refused: another owner, or finished
        ├── StorageUnavailable       the database stopped answering (lost, restarting, slow)
        └── InvalidValue (ValueError)  a value a driver will not write: the caller's bug
            ├── InvalidSetting       a guild setting unknown or outside its rule
            ├── ReferenceExists      /ref add: the owner has that name already
            └── TooManyReferences    /ref add: the owner's library is full
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.i18n import DEFAULT_LOCALE, Joined, Message, _, join, render


class ImagineError(Exception):
    """Base of every error the bot reports to a user.

    ``exc.message`` is what the reader is shown, rendered in their language by the front
    end (``render(exc.message)``); ``str(exc)`` is its English, for logs and operators.
    """

    default_message: Message = _("Something went wrong.")
    # The gateway's own words behind this error, scrubbed and trimmed ("" when none);
    # ``str(exc)`` already carries them, this is for logs and front ends that show them apart.
    gateway_message = ""
    # A job that ends in this error still counts toward the member's quotas: only
    # refusals of what the member asked for, not the service failing them.
    counts_toward_quota = False

    def __init__(self, message: Message | None = None) -> None:
        self.message: Message = message or self.default_message
        super().__init__(render(self.message, DEFAULT_LOCALE))

    def reword(self, message: Message) -> None:
        """Say ``message`` from now on: to the reader, and in ``str(exc)``."""
        self.message = message
        self.args = (render(message, DEFAULT_LOCALE),)


class ConfigError(ImagineError):
    default_message = _("The bot is not configured correctly.")


class InputImageError(ImagineError):
    default_message = _("That attachment could not be used as an image.")


class NotAnImage(InputImageError):
    default_message = _(
        "That file is not an image I can read. Send a PNG, JPEG, WEBP, GIF or HEIC image."
    )


class ImageTooLarge(InputImageError):
    default_message = _("That image is too large.")


class RequestTooLarge(InputImageError):
    default_message = _("The images together are too large to send; try fewer or smaller images.")


class GatewayError(ImagineError):
    default_message = _("The image service failed.")
    retryable = False
    status: int | None = None
    # Whose gateway failed, set by the job runner: True a server's own (its admins act),
    # False the bot's (its owner acts: the key and account are in .env), None not known.
    own_gateway: bool | None = None

    def __init__(
        self,
        message: Message | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        gateway_message: str = "",
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.gateway_message = gateway_message
        # Seconds the gateway asked us to wait (Retry-After, RetryInfo), if it said; the
        # client's retry loop honours it for any retryable error, not only 429.
        self.retry_after = retry_after


class GatewayAuthError(GatewayError):
    default_message = _("The image service rejected the API key.")


class PaymentRequired(GatewayError):
    default_message = _("The image service account is out of credit.")


class ModelNotAvailable(GatewayError):
    default_message = _("That model is not available on this image service.")


class GatewayRateLimited(GatewayError):
    default_message = _("The image service is rate limiting us. Try again in a moment.")
    retryable = True

    def __init__(
        self,
        message: Message | None = None,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        gateway_message: str = "",
    ) -> None:
        super().__init__(
            message, status=status, retry_after=retry_after, gateway_message=gateway_message
        )


class GatewayUnavailable(GatewayError):
    default_message = _("The image service is down or overloaded right now. Try again in a minute.")
    retryable = True


class GatewayTimeout(GatewayError):
    default_message = _("The image service took too long to answer.")
    retryable = True


class GatewayRejected(GatewayError):
    counts_toward_quota = True
    default_message = _("The image service did not accept the request.")


class ContentBlocked(GatewayError):
    counts_toward_quota = True
    default_message = _("The image service blocked this request for safety reasons.")

    def __init__(self, message: Message | None = None, *, reason: str | None = None, **kw) -> None:
        if message is None and reason:
            # Translators: {reason} is the gateway's own word for why (SAFETY, PROHIBITED_CONTENT).
            message = _(
                "The image service blocked this request for safety reasons ({reason}).",
                reason=reason,
            )
        super().__init__(message, **kw)
        self.reason = reason


class NoImageReturned(GatewayError):
    counts_toward_quota = True
    default_message = _("The model answered without an image.")

    def __init__(self, message: Message | None = None, *, model_text: str = "", **kw) -> None:
        if message is None and model_text:
            # Translators: {model_text} is what the model wrote instead (not translated).
            message = _("The model answered without an image: {model_text}", model_text=model_text)
        super().__init__(message, **kw)
        self.model_text = model_text


class MalformedResponse(GatewayError):
    default_message = _("The image service sent an answer I could not understand.")


class ResponseTooLarge(GatewayError):
    default_message = _("The image service sent more data than I accept.")


class UnsafeGatewayURL(GatewayError):
    default_message = _(
        "That gateway address points at a private or local network, which is not allowed."
    )


class WorkerCrashed(ImagineError):
    """A worker process died under a job; the pool replaces it, the job is not retried."""

    # Not retried by the bot: the same answer may kill the next worker too, and sending
    # the request again costs another generation. The member can choose to.
    default_message = _("Something went wrong while processing the images; try again.")


class AccessDenied(ImagineError):
    default_message = _("You are not allowed to do that here.")


class LimitReached(ImagineError):
    default_message = _("You have reached a usage limit. Try again later.")


class QuotaReached(LimitReached):
    """A quota without room for the job's images; ``room``: how many still fit (0 or more)."""

    def __init__(self, message: Message | None = None, *, room: int = 0) -> None:
        super().__init__(message)
        self.room = room


def message_of(exc: BaseException) -> Message:
    """What the reader is shown for ``exc``: its ``message``, or ``str(exc)`` for others."""
    return exc.message if isinstance(exc, ImagineError) else str(exc)


def advice_for(exc: BaseException, advice: Mapping[type[ImagineError], Message]) -> Joined:
    """The error's sentence, followed by the front end's advice for its kind, if any."""
    for kind, extra in advice.items():
        if isinstance(exc, kind):
            return join([message_of(exc), extra])
    return join([message_of(exc)])


class JobCancelled(ImagineError):
    """A member (or an admin) pressed Cancel: the job stopped and counts toward nothing."""

    default_message = _("Cancelled.")
    counts_toward_quota = False

    def __init__(self, by: int | None = None) -> None:
        # Translators: {member} is a Discord mention of who cancelled (<@123>).
        super().__init__(_("Cancelled by {member}.", member=f"<@{by}>") if by is not None else None)
        self.by = by
