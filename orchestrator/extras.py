"""Optional dependencies: which extra installs a module, and the one line that says so.

The core CLI (validate, plan, diff, render's checks, schema, init) needs only the core install;
each target's libraries come with its extra. A missing one is an error naming the extra to
install, never a traceback.
"""

from __future__ import annotations

from orchestrator.errors import OrchestrateError

DISTRIBUTION = "orchestrate-llm"  # on PyPI; the command is `orchestrate`, the package `orchestrator`

# Top-level module -> the extras that install it.
_EXTRAS = {
    "azure": ("azureml",),
    "datasets": ("azureml", "local"),  # the data stage reads Hugging Face Hub datasets on both targets
    "pyarrow": ("azureml", "local"),  # Parquet splits (datasets depends on it)
    "torch": ("local",),
    "transformers": ("local",),
    "peft": ("local",),
    "accelerate": ("local",),
    "mlflow": ("local",),
    "gguf": ("local",),
    "matplotlib": ("local",),
}


class MissingDependency(OrchestrateError):
    """An optional dependency is not installed."""


def install_hint(module: str | None, target: str | None = None) -> str | None:
    """`pip install '<dist>[extra]'` for a module an extra provides, else None."""
    top = (module or "").split(".")[0]
    extras = _EXTRAS.get(top)
    if not extras:
        return None
    if target in extras:
        extras = (target,)
    return " or ".join(f"pip install '{DISTRIBUTION}[{extra}]'" for extra in extras)


def missing(exc: ImportError, what: str = "this", target: str | None = None) -> MissingDependency | None:
    """The one-line error for an ImportError of a module an extra provides; None for anything else
    (a bug, which keeps its traceback)."""
    hint = install_hint(exc.name, target)
    if hint is None:
        return None
    return MissingDependency(
        f"{what} needs the Python package {(exc.name or '').split('.')[0]}, which is not installed: {hint}"
    )


def require(*modules: str, what: str, target: str | None = None) -> None:
    """Fail early, before any work, when a module is missing."""
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package (azure) is missing
            found = False
        if not found:
            raise missing(ModuleNotFoundError(name=module), what, target) or OrchestrateError(f"{what} needs {module}")
