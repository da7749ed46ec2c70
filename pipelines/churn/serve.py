"""The churn model as an HTTP service that follows the registry: a promotion or a rollback pushed to the
registry is served within one interval, with no restart and no failed request.

    REG_REPO=/srv/registry REG_REF=churn/production uvicorn serve:app --app-dir pipelines/churn \\
        --host 127.0.0.1 --port 8000          # or: make serve REPO=/path/to/registry

    POST /predict   {"rows": [{"tenure_months": 3, "contract": "month", ...}]}  -> probabilities + version
    GET  /version   model, version, stage, hash, ref, since
    GET  /healthz   200 once a verified model is loaded (503 before), and what the follower last saw
    POST /refresh   check the registry now (point the registry's webhook here)

Settings come from the environment: REG_REPO (the host's clone of the registry, default "."), REG_REF
(default churn/production), REG_INTERVAL (seconds, default 30), REG_SERVING_DIR (keep version folders
and status.json there; default a temporary folder).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from registry import signature as signature_mod
from registry.batch import output_column
from registry.errors import RegistryError
from registry.serving import Follower

MAX_ROWS = 10_000
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


class Rows(BaseModel):
    rows: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_ROWS)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    follower = Follower(os.environ.get("REG_REF", "churn/production"), repo=os.environ.get("REG_REPO", "."),
                        interval=float(os.environ.get("REG_INTERVAL", "30")), to=os.environ.get("REG_SERVING_DIR"))
    app.state.follower = follower
    try:
        yield
    finally:
        follower.close()


app = FastAPI(title="churn", lifespan=lifespan)


def _current():
    current = app.state.follower.current  # (model, manifest) together: a swap cannot mix two versions
    if current is None:
        raise HTTPException(503, "no model loaded yet")
    return current


@app.post("/predict")
def predict(body: Rows) -> dict:
    model, manifest = _current()
    sig = signature_mod.normalize(manifest.signature) if manifest.signature else None
    try:
        features = signature_mod.check(pd.DataFrame(body.rows), sig, where="the request",
                                       model=f"churn v{manifest.version}'s signature")
    except RegistryError as exc:
        raise HTTPException(422, str(exc)) from None
    values = model.predict(features)
    return {"model": manifest.model, "version": manifest.version, "output": output_column(sig),
            "predictions": [float(v) for v in values]}


@app.get("/version")
def version() -> dict:
    _, manifest = _current()
    status = app.state.follower.status
    return {"model": manifest.model, "version": manifest.version, "stage": manifest.stage,
            "aliases": manifest.aliases, "hash": manifest.md5, "ref": app.state.follower.ref,
            "since": status.get("since")}


@app.get("/healthz")
def healthz() -> dict:
    _, manifest = _current()
    status = app.state.follower.status
    return {"status": "ok", "version": manifest.version, "checked_at": status.get("checked_at"),
            "last_error": (status.get("last_error") or {}).get("message")}


@app.post("/refresh", status_code=202)
def refresh() -> dict:
    app.state.follower.refresh()
    return {"status": "checking"}
