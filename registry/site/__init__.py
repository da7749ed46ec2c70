"""`reg site`: the registry as static pages (no server, nothing from the network), built from a
`RegistryState` and its history events.

    from registry.site import build
    build(Registry(".").state(), Path("_site"))

Modules: `collect` gathers the state, the events by model and version, the commit and the forge;
`pages` renders the registry, model, version and compare pages; `chart` draws metric trends as inline
SVG; `html` and `assets` are the page frame, its style sheet and its script; `build` writes the folder.
"""
from .build import Built, build

__all__ = ["Built", "build"]
