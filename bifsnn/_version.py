"""The installed package version (one place; everything else imports it from here)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bifsnn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0+src"

__all__ = ["__version__"]
