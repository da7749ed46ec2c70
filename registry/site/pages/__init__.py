"""The four kinds of page, each a function from the gathered data to one HTML string.

Paths inside the site: `index.html` (the registry), `models/<name>/index.html` (a model),
`models/<name>/v<N>.html` (a version), `models/<name>/compare.html` (any two versions of a model). Links
name `index.html` explicitly, since a folder link does not open its index from file://.

    common.py    paths inside the site, the footer, commit and tag cells, the event table
    index.py     the registry page
    model.py     a model's page (with its metric charts)
    version.py   a version's page
    compare.py   the compare page, and the form that picks a pair (on the model page too)
"""
from __future__ import annotations

from .common import model_dir, version_file
from .compare import compare_page
from .index import registry_page
from .model import model_page
from .version import version_page

__all__ = ["registry_page", "model_page", "version_page", "compare_page", "model_dir", "version_file"]
