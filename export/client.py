"""A TF Serving client for tfflows SavedModels: REST (JSON) and gRPC (`PredictRequest` from the
`tensorflow-serving-api` package), with requests built from the model's signature.

    # score images (uint8 PNGs of the model's size) through REST
    python export/client.py --model glow_celeba --signature log_prob --images face.png
    # draw samples through gRPC and write them as a grid
    python export/client.py --model glow_celeba --signature sample --n 16 --temperature 0.7 \\
        --seed 0 --grpc localhost:8500 --out samples.png

The signature's input names, dtypes and shapes come from the server's metadata endpoint
(REST) or, with --saved-model DIR, from the SavedModel itself; values are cast to the
declared dtype, so `n=16` becomes int32 and `seed=0` int64 as the signature wants.
"""

import argparse
import json
import pathlib
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


def signature_inputs_from_saved_model(export_dir, signature):
    """{input name: numpy dtype} of one signature, read from `saved_model.pb`."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    sig = proto.meta_graphs[0].signature_def[signature]
    return {name: _DTYPES[info.dtype] for name, info in sig.inputs.items()}


def signature_inputs_from_server(rest_url, model, signature):
    """{input name: numpy dtype} from TF Serving's REST metadata endpoint."""
    with urllib.request.urlopen(f"{rest_url}/v1/models/{model}/metadata") as response:
        metadata = json.load(response)
    sig = metadata["metadata"]["signature_def"]["signature_def"][signature]
    return {name: _DTYPES[info["dtype"]] for name, info in sig["inputs"].items()}


def cast_inputs(dtypes, values):
    """The request's values as arrays of the signature's dtypes; names are checked."""
    missing, unknown = set(dtypes) - set(values), set(values) - set(dtypes)
    if missing or unknown:
        raise ValueError(
            f"the signature takes {sorted(dtypes)}; missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}"
        )
    return {name: np.asarray(values[name]).astype(dtypes[name]) for name in dtypes}


def rest_body(signature, inputs):
    """TF Serving's REST predict request (columnar "inputs" format) as a dict."""
    return {"signature_name": signature, "inputs": {k: v.tolist() for k, v in inputs.items()}}


def rest_predict(rest_url, model, signature, inputs):
    """POST /v1/models/<model>:predict; returns {output name: numpy array}."""
    request = urllib.request.Request(
        f"{rest_url}/v1/models/{model}:predict",
        data=json.dumps(rest_body(signature, inputs)).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        outputs = json.load(response)["outputs"]
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
    """Sends `request` to TF Serving's gRPC port; returns {output name: numpy array}."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout)
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--signature", default="log_prob")
    parser.add_argument("--rest", default="http://localhost:8501")
    parser.add_argument("--grpc", help="host:port; use gRPC instead of REST")
    parser.add_argument("--saved-model", help="read the signature from this export dir")
    parser.add_argument("--images", nargs="*", help="image files for x")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write returned images here as a grid (PNG)")
    args = parser.parse_args()

    if args.saved_model:
        dtypes = signature_inputs_from_saved_model(args.saved_model, args.signature)
    else:
        dtypes = signature_inputs_from_server(args.rest, args.model, args.signature)
    values = {"n": args.n, "temperature": args.temperature, "seed": args.seed}
    if args.images:
        from PIL import Image

        values = {"x": np.stack([np.asarray(Image.open(p).convert("RGB")) for p in args.images])}
    inputs = cast_inputs(dtypes, {k: v for k, v in values.items() if k in dtypes})
    if args.grpc:
        outputs = grpc_predict(args.grpc, predict_request(args.model, args.signature, inputs))
    else:
        outputs = rest_predict(args.rest, args.model, args.signature, inputs)
    for name, value in outputs.items():
        print(name, value.shape, value if value.ndim <= 1 else "")
    if args.out and "images" in outputs:
        from tfflows.plotting import save_image_grid

        save_image_grid(outputs["images"].astype(np.uint8), args.out)


if __name__ == "__main__":
    main()
