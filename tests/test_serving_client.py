"""export/client.py against TF Serving's documented REST protocol (served here by a small
stand-in over the real SavedModel: TF Serving itself cannot be installed on this machine)
and its gRPC `PredictRequest`."""

import importlib.util
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from tfflows import models
from tfflows.export import export_saved_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("serving_client", ROOT / "export" / "client.py")
client = importlib.util.module_from_spec(spec)
spec.loader.exec_module(client)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = models.Glow((8, 8, 3), levels=2, steps_per_level=1, hidden_channels=8)
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    model.initialize(x)
    path = export_saved_model(model, tmp_path_factory.mktemp("m"), name="glow")
    return model, path, x


class _StandIn(BaseHTTPRequestHandler):
    """TF Serving's REST API: GET /v1/models/M/metadata, POST /v1/models/M:predict."""

    loaded = signatures_json = None

    def log_message(self, *args):
        pass

    def _reply(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        if not self.path.endswith("/metadata"):
            return self._reply({"error": "not found"}, 404)
        meta = {"signature_def": {"signature_def": self.signatures_json}}
        return self._reply({"model_spec": {"name": "glow"}, "metadata": meta})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fn = self.loaded.signatures[body["signature_name"]]
        specs = fn.structured_input_signature[1]
        args = {k: tf.constant(v, specs[k].dtype) for k, v in body["inputs"].items()}
        try:
            out = fn(**args)
        except tf.errors.InvalidArgumentError as error:
            return self._reply({"error": error.message}, 400)
        return self._reply({"outputs": {k: v.numpy().tolist() for k, v in out.items()}})


@pytest.fixture(scope="module")
def rest_server(served):
    _, path, _ = served
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    sigs = proto.meta_graphs[0].signature_def
    _StandIn.loaded = tf.saved_model.load(str(path))
    _StandIn.signatures_json = {k: json_format.MessageToDict(v) for k, v in sigs.items()}
    server = HTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_rest_client_builds_requests_from_the_servers_signature(served, rest_server):
    model, _, x = served
    dtypes = client.signature_inputs_from_server(rest_server, "glow", "sample")
    assert dtypes == {"n": np.int32, "temperature": np.float32, "seed": np.int64}
    inputs = client.cast_inputs(dtypes, {"n": 3, "temperature": 0.7, "seed": 4})
    out = client.rest_predict(rest_server, "glow", "sample", inputs)
    np.testing.assert_allclose(out["samples"], model.sample(3, 0.7, seed=4).numpy(), atol=1e-5)
    assert out["images"].shape == (3, 8, 8, 3)
    scored = client.rest_predict(rest_server, "glow", "log_prob", {"x": x})
    np.testing.assert_allclose(scored["log_prob"], model.log_prob(x).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="missing"):
        client.cast_inputs(dtypes, {"n": 3})


def test_grpc_predict_request_carries_the_signature_inputs(served):
    model, path, x = served
    dtypes = client.signature_inputs_from_saved_model(path, "log_prob")
    assert dtypes == {"x": np.uint8}
    request = client.predict_request("glow", "log_prob", client.cast_inputs(dtypes, {"x": x}))
    assert request.model_spec.name == "glow" and request.model_spec.signature_name == "log_prob"
    # What the server does with it: decode the TensorProto and run the signature.
    fed = tf.make_ndarray(request.inputs["x"])
    assert fed.dtype == np.uint8 and fed.shape == x.shape
    loaded = tf.saved_model.load(str(path))
    got = loaded.signatures["log_prob"](x=tf.constant(fed))["log_prob"].numpy()
    np.testing.assert_allclose(got, model.log_prob(x).numpy(), rtol=1e-5)
