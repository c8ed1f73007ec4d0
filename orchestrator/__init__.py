"""orchestrate: one YAML run spec -> a fine-tuned, deployed LLM on Azure ML or on this machine."""

__version__ = "0.2.0"
