"""Jobs: what is asked (``spec``), its inputs (``inputs``), and the runner (``runner``)."""

from bot.jobs.runner import Job, JobRunner
from bot.jobs.spec import (
    IMAGE_GONE,
    IMAGE_KINDS,
    NO_LATEST_IMAGE,
    UPSCALE_PROMPT,
    JobOutcome,
    JobSpec,
    Publish,
    SourceImage,
    check_options,
    check_prompt,
    supports_sizes,
)

__all__ = [
    "IMAGE_GONE",
    "IMAGE_KINDS",
    "NO_LATEST_IMAGE",
    "UPSCALE_PROMPT",
    "Job",
    "JobOutcome",
    "JobRunner",
    "JobSpec",
    "Publish",
    "SourceImage",
    "check_options",
    "check_prompt",
    "supports_sizes",
]
