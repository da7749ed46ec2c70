"""MLflow integration (`pip install 'reg[mlflow]'`): a model-registry store for the URI scheme `reg`
(`registry.mlflow.store.RegStore`) and `reg import mlflow` (`registry.mlflow.importer`).

Only code that has chosen MLflow imports this package: `reg`'s start-up and read path never do.
"""
