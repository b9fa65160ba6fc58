"""Every error the engine raises on purpose derives from :class:`AnimeGANError`.

The CLI and the app turn these into user messages in one place each; any other exception is a bug.
"""

from __future__ import annotations


class AnimeGANError(Exception):
    """Base class: the message is written for the person using the tool."""


class UnknownStyleError(AnimeGANError, KeyError):
    """A style id that the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(AnimeGANError):
    """A model's weight file cannot be used."""


class WeightsMissingError(WeightsError):
    """The weight file is in none of the search-path directories."""


class WeightsChecksumError(WeightsError):
    """The weight file exists but its SHA-256 is not the one in the manifest."""


class UnsupportedImageError(AnimeGANError):
    """The input is not an image we can read (corrupt, empty, wrong format...)."""


class ImageTooLargeError(AnimeGANError):
    """The input exceeds the configured pixel or byte budget."""


class InvalidOptionError(AnimeGANError, ValueError):
    """A request option is out of range or not one of the allowed values."""


class UnsupportedVideoError(AnimeGANError):
    """The input is not a video we can read (corrupt, empty, no video stream, unknown container...)."""


class VideoTooLargeError(AnimeGANError):
    """The video exceeds the configured size, duration, frame-count or resolution limits."""


class JobCancelledError(AnimeGANError):
    """The request was cancelled (the client went away); raised from a progress callback to stop the work."""
class BackendUnavailableError(AnimeGANError):
    """The inference backend asked for cannot run this style here (missing package, failed export...)."""
