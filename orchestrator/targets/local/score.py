"""The entry script of a local deployment, as a deployment on Azure runs one: `init()` loads the
registered model, `run()` answers the Azure chat-completion payload. The Azure ML inference server
(azureml-inference-server-http, the server inside Azure's inference images) serves it:
GET / is liveness ("Healthy"), POST /score calls run().

Configured by the environment the local target starts it with: AZUREML_MODEL_DIR (the registered
model), ORCHESTRATE_TOKENIZER_DIR and ORCHESTRATE_TIMEOUT_MS.
"""

from __future__ import annotations

import hmac
import os

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

from orchestrator.targets.local.server import BadRequest, Scorer, parse_payload

scorer: Scorer | None = None


def init() -> None:
    global scorer
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))  # what the target gave it
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    tokenizer_dir = os.environ.get("ORCHESTRATE_TOKENIZER_DIR", model_dir)
    scorer = Scorer(model_dir, tokenizer_dir, int(os.environ.get("ORCHESTRATE_TIMEOUT_MS", "90000")))


@rawhttp
def run(request) -> AMLResponse:
    # Only the router may ask: it adds the backend key (router.py); the port is on loopback,
    # reachable by any local user, who has not got the endpoint's key.
    expected = os.environ.get("ORCHESTRATE_BACKEND_KEY", "")
    given = request.headers.get("X-Orchestrate-Backend-Key", "")
    if expected and not hmac.compare_digest(given.encode(), expected.encode()):
        return AMLResponse({"error": "only the endpoint's router may call a deployment"}, 401, json_str=True)
    if request.method != "POST":
        return AMLResponse({"error": "POST the chat-completion payload"}, 405, json_str=True)
    try:
        messages, params = parse_payload(request.get_data())
    except BadRequest as exc:
        return AMLResponse({"error": str(exc)}, 400, json_str=True)
    assert scorer is not None, "init() runs before run()"
    return AMLResponse({"output": scorer.answer(messages, params)}, 200, json_str=True)
