"""What an MLflow run tells a reg manifest: its metrics, params, id, source and code version."""
from __future__ import annotations

from mlflow.exceptions import MlflowException

GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_REPO_TAG = "mlflow.source.git.repoURL"


def run_lineage(tracking_uri: str | None, run_id: str | None, *, source: str, run_link: str | None = None,
                model_id: str | None = None) -> tuple[dict, dict]:
    """(metrics, extra lineage) for a version registered from `run_id`. The tracking URI is not recorded:
    it may carry credentials."""
    mlflow_info = {k: v for k, v in {"source": source, "run_id": run_id, "run_link": run_link,
                                     "model_id": model_id}.items() if v}
    lineage: dict = {"mlflow": mlflow_info}
    from mlflow.tracking import MlflowClient

    if not run_id and model_id:  # `log_model(..., registered_model_name=...)` registers `models:/m-...`
        try:
            run_id = MlflowClient(tracking_uri=tracking_uri).get_logged_model(model_id).source_run_id
        except MlflowException:
            run_id = None
        if run_id:
            mlflow_info["run_id"] = run_id
    if not run_id:
        return {}, lineage
    try:
        run = MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except MlflowException:
        return {}, {**lineage, "run_id": run_id}
    tags = run.data.tags or {}
    lineage.update({"run_id": run_id, "params": dict(run.data.params or {})})
    if tags.get(GIT_COMMIT_TAG):
        lineage["git_sha"] = tags[GIT_COMMIT_TAG]
        lineage["git_dirty"] = None
    if tags.get(GIT_REPO_TAG):
        lineage["source_repo"] = tags[GIT_REPO_TAG]
    metrics = {k: float(v) for k, v in (run.data.metrics or {}).items()}
    return metrics, lineage
