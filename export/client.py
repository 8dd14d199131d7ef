"""A TF Serving client for tfflows SavedModels: REST (JSON) and gRPC (`PredictRequest` from the
`tensorflow-serving-api` package), with requests built from the model's signature.

    # score images (uint8 PNGs of the model's size) through REST
    python export/client.py --model glow_celeba --signature log_prob --images face.png
    # draw samples through gRPC and write them as a grid
    python export/client.py --model glow_celeba --signature sample --n 16 --temperature 0.7 \\
        --seed 0 --grpc localhost:8500 --out samples.png
    # a video model: predict 8 frames after the frames given (one video, in order)
    python export/client.py --model videoflow_shapes --signature predict_frames \\
        --frames t0.png --num-frames 8 --seed 0 --out future.png

The signature's input names, dtypes and shapes come from the server's metadata endpoint
(REST) or, with --saved-model DIR, from the SavedModel itself; values are cast to the
declared dtype, so `n=16` becomes int32 and `seed=0` int64 as the signature wants.

When no server answers, the server refuses a request (for example `n` above the export's
`max_samples`), or the image files cannot make the request (unreadable, of different sizes),
the client prints one line saying so (the URL, the server's own error message, or the file)
and exits with status 1.
"""

import argparse
import json
import pathlib
import urllib.error
import urllib.request

import numpy as np

# TF Serving's DataType enum values for the dtypes tfflows signatures use.
_DTYPES = {
    1: np.float32,
    3: np.int32,
    4: np.uint8,
    9: np.int64,
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_UINT8": np.uint8,
    "DT_INT64": np.int64,
}


HOW_TO_START = (
    "start one with the command under 'Run the server' in export/README.md, "
    "or point --rest/--grpc at a running one"
)


class ServingError(RuntimeError):
    """A request that got no answer (no server listening) or an error from the server."""


class RequestError(ValueError):
    """Values that do not fit the signature's inputs."""


def _server_message(text):
    """TF's error text on one line, without the `[[{{node ...}}]]` trailers."""
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith("[["))


def _http_error_message(error):
    body = error.read().decode("utf-8", "replace")
    try:
        body = json.loads(body)["error"]  # TF Serving's REST errors: {"error": "..."}
    except (ValueError, KeyError, TypeError):
        pass
    return _server_message(str(body)) or error.reason


def _rest_call(request, timeout):
    """urlopen + JSON, with every failure turned into one ServingError sentence."""
    url = request.full_url if isinstance(request, urllib.request.Request) else request
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        message = _http_error_message(error)
        raise ServingError(f"{url}: the server answered {error.code}: {message}") from None
    except (urllib.error.URLError, OSError) as error:  # refused, unknown host, timeout
        reason = getattr(error, "reason", None) or error
        if isinstance(reason, TimeoutError):
            raise ServingError(f"{url} did not answer within {timeout} s (--timeout)") from None
        raise ServingError(
            f"could not reach {url} ({reason}): no TF Serving server seems to listen there; "
            f"{HOW_TO_START}"
        ) from None
    except ValueError as error:  # json.JSONDecodeError
        raise ServingError(f"{url} did not answer in JSON ({error}): is it TF Serving?") from None


def _signature(signature_defs, signature):
    if signature not in signature_defs:
        names = sorted(name for name in signature_defs if not name.startswith("__"))
        raise ServingError(f"the model has no signature {signature!r}; it has {names}")
    return signature_defs[signature]


def signature_inputs_from_saved_model(export_dir, signature):
    """{input name: numpy dtype} of one signature, read from `saved_model.pb`."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    sig = _signature(proto.meta_graphs[0].signature_def, signature)
    return {name: _DTYPES[info.dtype] for name, info in sig.inputs.items()}


def signature_inputs_from_server(rest_url, model, signature, timeout=60.0):
    """{input name: numpy dtype} from TF Serving's REST metadata endpoint."""
    metadata = _rest_call(f"{rest_url}/v1/models/{model}/metadata", timeout)
    sig = _signature(metadata["metadata"]["signature_def"]["signature_def"], signature)
    return {name: _DTYPES[info["dtype"]] for name, info in sig["inputs"].items()}


def cast_inputs(dtypes, values):
    """The request's values as arrays of the signature's dtypes; names are checked."""
    missing, unknown = set(dtypes) - set(values), set(values) - set(dtypes)
    if missing or unknown:
        raise RequestError(
            f"the signature takes {sorted(dtypes)}; missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}"
        )
    return {name: np.asarray(values[name]).astype(dtypes[name]) for name in dtypes}


def rest_body(signature, inputs):
    """TF Serving's REST predict request (columnar "inputs" format) as a dict."""
    return {"signature_name": signature, "inputs": {k: v.tolist() for k, v in inputs.items()}}


def rest_predict(rest_url, model, signature, inputs, timeout=60.0):
    """POST /v1/models/<model>:predict; returns {output name: numpy array}. Raises
    ServingError when no server answers or the server refuses the request."""
    request = urllib.request.Request(
        f"{rest_url}/v1/models/{model}:predict",
        data=json.dumps(rest_body(signature, inputs)).encode(),
        headers={"Content-Type": "application/json"},
    )
    outputs = _rest_call(request, timeout)["outputs"]
    if not isinstance(outputs, dict):  # a single output comes back bare
        outputs = {"output": outputs}
    return {k: np.asarray(v) for k, v in outputs.items()}


def predict_request(model, signature, inputs):
    """A gRPC `PredictRequest` for `signature` of `model`."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def grpc_predict(address, request, timeout=60.0):
    """Sends `request` to TF Serving's gRPC port; returns {output name: numpy array}.
    Raises ServingError when no server answers or the server refuses the request."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout)
        except grpc.RpcError as error:
            code, details = error.code(), _server_message(error.details() or "")
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServingError(
                    f"could not reach {address} over gRPC ({details}): no TF Serving server "
                    f"seems to listen there; {HOW_TO_START}"
                ) from None
            raise ServingError(f"{address}: the server answered {code.name}: {details}") from None
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def read_images(paths):
    """The image files as one uint8 array [len(paths), H, W, 3]; RequestError naming the file
    that cannot be read or whose size differs from the first's."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, UnidentifiedImageError) as error:
            raise RequestError(f"cannot read the image {path}: {error}") from None
        if images[-1].shape != images[0].shape:
            raise RequestError(
                f"{path} is {images[-1].shape[1]}x{images[-1].shape[0]} pixels but {paths[0]} "
                f"is {images[0].shape[1]}x{images[0].shape[0]}: give images of one size"
            )
    return np.stack(images)


def request_values(args):
    """The values the command line gives, by input name; `call` keeps the signature's.
    --images are a batch of images (x); --frames the frames of one video, which is x (to
    score it) or context (to predict its next frames)."""
    values = {
        "n": args.n,
        "temperature": args.temperature,
        "seed": args.seed,
        "num_frames": args.num_frames,
    }
    if args.images:
        values["x"] = read_images(args.images)
    if args.frames:
        values["x"] = values["context"] = read_images(args.frames)[None]
    return values


def save_outputs(outputs, path):
    """Writes the returned `frames` (videos: a row per video, a column per frame) or
    `images` (a grid) to `path` as a PNG; returns the path, or None if there are none."""
    from tfflows.plotting import save_image_grid

    if "frames" in outputs:
        frames = np.asarray(outputs["frames"], np.uint8)
        grid = frames.reshape(-1, *frames.shape[2:])
        return save_image_grid(grid, path, columns=max(frames.shape[1], 1))
    if "images" in outputs:
        return save_image_grid(np.asarray(outputs["images"], np.uint8), path)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--signature", default="log_prob")
    parser.add_argument("--rest", default="http://localhost:8501")
    parser.add_argument("--grpc", help="host:port; use gRPC instead of REST")
    parser.add_argument("--saved-model", help="read the signature from this export dir")
    files = parser.add_mutually_exclusive_group()
    files.add_argument("--images", nargs="*", help="image files for x")
    files.add_argument(
        "--frames", nargs="*", help="the frames of one video, in order (x or context)"
    )
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--num-frames", type=int, default=4, help="frames to predict")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", help="write the returned images (a grid) or frames (a row per video) as a PNG"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args()
    try:
        outputs = call(args)
    except (ServingError, RequestError) as error:
        raise SystemExit(f"{parser.prog}: {error}") from None
    for name, value in outputs.items():
        print(name, value.shape, *([value] if value.ndim <= 1 else []))
    if args.out:
        save_outputs(outputs, args.out)


def call(args):
    """Runs the request the command line describes; returns {output name: numpy array}."""
    if args.saved_model:
        dtypes = signature_inputs_from_saved_model(args.saved_model, args.signature)
    else:
        dtypes = signature_inputs_from_server(args.rest, args.model, args.signature, args.timeout)
    values = request_values(args)
    inputs = cast_inputs(dtypes, {k: v for k, v in values.items() if k in dtypes})
    if args.grpc:
        request = predict_request(args.model, args.signature, inputs)
        return grpc_predict(args.grpc, request, args.timeout)
    return rest_predict(args.rest, args.model, args.signature, inputs, args.timeout)


if __name__ == "__main__":
    main()
