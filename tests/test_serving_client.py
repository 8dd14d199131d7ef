"""export/client.py against TF Serving's documented REST protocol (served here by a small
stand-in over the real SavedModel: TF Serving itself cannot be installed on this machine)
and its gRPC `PredictRequest`."""

import importlib.util
import json
import pathlib
import socket
import subprocess
import sys
import threading
from concurrent import futures
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
CLIENT = ROOT / "export" / "client.py"
MAX_SAMPLES = 8
spec = importlib.util.spec_from_file_location("serving_client", CLIENT)
client = importlib.util.module_from_spec(spec)
spec.loader.exec_module(client)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = models.Glow((8, 8, 3), levels=2, steps_per_level=1, hidden_channels=8)
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    model.initialize(x)
    path = export_saved_model(
        model, tmp_path_factory.mktemp("m"), name="glow", max_samples=MAX_SAMPLES
    )
    return model, path, x


def _serve(loaded, signature, inputs):
    """Runs a signature as TF Serving does: (outputs as numpy, None) or (None, the error
    message TF Serving's C++ session would give: the Python-only preamble cut off)."""
    fn = loaded.signatures[signature]
    specs = fn.structured_input_signature[1]
    try:
        out = fn(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})
    except tf.errors.InvalidArgumentError as error:
        return None, error.message.split("<stack traces unavailable>\n")[-1]
    return {k: v.numpy() for k, v in out.items()}, None


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
        out, error = _serve(self.loaded, body["signature_name"], body["inputs"])
        if error is not None:
            return self._reply({"error": error}, 400)
        return self._reply({"outputs": {k: v.tolist() for k, v in out.items()}})


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


@pytest.fixture(scope="module")
def grpc_server(served):
    """TF Serving's gRPC PredictionService.Predict over the real SavedModel."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    _, path, _ = served
    loaded = tf.saved_model.load(str(path))

    class StandIn(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - the service's name
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            out, error = _serve(loaded, request.model_spec.signature_name, inputs)
            if error is not None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)
            response = predict_pb2.PredictResponse()
            for k, v in out.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(StandIn(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_grpc_client_gets_results_and_the_servers_error(served, grpc_server):
    model, path, _ = served
    dtypes = client.signature_inputs_from_saved_model(path, "sample")
    inputs = client.cast_inputs(dtypes, {"n": MAX_SAMPLES, "temperature": 0.7, "seed": 4})
    out = client.grpc_predict(grpc_server, client.predict_request("glow", "sample", inputs))
    want = model.sample(MAX_SAMPLES, 0.7, seed=4).numpy()
    np.testing.assert_allclose(out["samples"], want, atol=1e-5)
    inputs["n"] = np.int32(MAX_SAMPLES + 1)
    with pytest.raises(client.ServingError) as error:
        client.grpc_predict(grpc_server, client.predict_request("glow", "sample", inputs))
    message = str(error.value)
    assert message.startswith(f"{grpc_server}: the server answered INVALID_ARGUMENT: ")
    assert f"n = {MAX_SAMPLES + 1} is more than this export allows" in message
    assert "\n" not in message and "[[" not in message


@pytest.fixture
def closed_port():
    """A local port where nothing listens: bound (so no one else gets it) but not listening,
    so a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _run_client(*args):
    done = subprocess.run(
        [sys.executable, str(CLIENT), "--model", "glow", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr.strip()


def _one_line(stderr):
    """The client's error line, after any TensorFlow start-up logging."""
    lines = [line for line in stderr.splitlines() if line.startswith("client.py: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def test_client_without_a_server_says_so_in_one_line(closed_port):
    status, stdout, stderr = _run_client(
        "--signature", "sample", "--rest", f"http://127.0.0.1:{closed_port}"
    )
    assert status == 1 and stdout == ""
    assert stderr.splitlines() == [_one_line(stderr)]  # nothing else: no traceback
    url = f"http://127.0.0.1:{closed_port}/v1/models/glow/metadata"
    assert stderr.startswith(f"client.py: could not reach {url} (")
    assert "no TF Serving server seems to listen there" in stderr
    assert "'Run the server' in export/README.md" in stderr


def test_grpc_client_without_a_server_says_so_in_one_line(served, closed_port):
    _, path, _ = served
    address = f"127.0.0.1:{closed_port}"
    args = ["--signature", "sample", "--saved-model", path, "--grpc", address]
    status, stdout, stderr = _run_client(*args)
    assert status == 1 and stdout == ""
    line = _one_line(stderr)
    assert line.startswith(f"client.py: could not reach {address} over gRPC (")
    assert "no TF Serving server seems to listen there" in line


def test_client_prints_the_servers_error_in_one_line(rest_server):
    for n, expected in [
        (MAX_SAMPLES + 1, f"n = {MAX_SAMPLES + 1} is more than this export allows"),
        (-1, "n must be >= 0"),
    ]:
        status, stdout, stderr = _run_client(
            "--signature", "sample", "--n", n, "--rest", rest_server
        )
        assert status == 1 and stdout == ""
        assert stderr.splitlines() == [_one_line(stderr)]
        url = f"{rest_server}/v1/models/glow:predict"
        assert stderr.startswith(f"client.py: {url}: the server answered 400: ")
        assert expected in stderr and "[[" not in stderr
    status, _, stderr = _run_client("--signature", "nope", "--rest", rest_server)
    assert status == 1
    assert _one_line(stderr) == (
        "client.py: the model has no signature 'nope'; it has "
        "['bits_per_dim', 'decode', 'encode', 'log_prob', 'sample', 'serving_default']"
    )
    status, stdout, _ = _run_client("--signature", "sample", "--n", 2, "--rest", rest_server)
    assert status == 0 and "samples (2, 8, 8, 3)" in stdout.splitlines()
