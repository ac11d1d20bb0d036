"""Versions of the packages a result depends on, recorded in stores and metrics."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_versions"]

PACKAGES = ("numpy", "scipy", "astropy", "sunpy", "aiapy", "zarr", "scikit-image", "torch", "diffusers", "accelerate")


def package_versions() -> dict:
    """``{package: version}`` for the installed packages heliogen builds on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
