"""One error family for everything a user can get wrong.

Every message names the file or argument, the value, and what to do about it.
The CLI maps each class to an exit code (see ``bigocr.cli``).
"""

from __future__ import annotations

__all__ = [
    "BigOCRError",
    "ParameterError",
    "ScanError",
    "WeightsError",
    "OutputError",
    "ClusterError",
    "SchedulerLost",
    "NetworkError",
]


class BigOCRError(ValueError):
    """Base class of every error bigocr raises for bad input or bad arguments."""

    exit_code = 1


class ParameterError(BigOCRError):
    """An argument is out of range or inconsistent."""

    exit_code = 1


class ScanError(BigOCRError):
    """The scan cannot be read: missing, unreadable, not an image, truncated, zero-size."""

    exit_code = 2


class WeightsError(BigOCRError):
    """Detector weights are missing or are not a CRAFT checkpoint."""

    exit_code = 3


class OutputError(BigOCRError):
    """The output folder cannot be written, or already holds results."""

    exit_code = 5


class ClusterError(BigOCRError):
    """The Dask cluster cannot run the job: no workers, none with the resources, workers dying."""

    exit_code = 4


class SchedulerLost(ClusterError):
    """The Dask scheduler went away mid-run: what was done is kept, and the same command resumes it."""


class NetworkError(BigOCRError):
    """A server the scan comes from (IIIF) does not answer, after retries: what was fetched is kept, and the
    same command resumes."""

    exit_code = 7
