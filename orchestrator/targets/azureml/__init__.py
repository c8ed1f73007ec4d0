"""The azureml target. Only modules in this package import azure.ai.ml / azure.identity, lazily."""
