/* Loads a SavedModel the way TF Serving does (TF_LoadSessionFromSavedModel, tag "serve",
 * through libtensorflow_cc's C API, no Python) and runs one signature.
 *
 *   run_signature EXPORT_DIR PLAN
 *
 * PLAN is a text file written by the test:
 *   inputs K
 *   <op_name> <index> <TF_DataType> <ndims> <dim0> ... <raw_data_file>     (K lines)
 *   outputs M
 *   <op_name> <index> <result_file>                                        (M lines)
 * Each result file holds int64 dtype, int64 ndims, int64 dims[ndims], then the raw data.
 * Errors print TF's status code name and message and exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"

/* TF_Code names (tensorflow/c/tf_status.h), as TF Serving reports them to a client. */
static const char *CODES[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                              "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                              "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                              "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                              "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

static void check(TF_Status *status, const char *what) {
  TF_Code code = TF_GetCode(status);
  if (code != TF_OK) {
    const char *name = (unsigned)code < sizeof(CODES) / sizeof(*CODES) ? CODES[code] : "?";
    fprintf(stderr, "%s: %s: %s\n", what, name, TF_Message(status));
    exit(1);
  }
}

static void *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  void *data = malloc(*size ? *size : 1);
  if (*size && fread(data, 1, *size, f) != *size) { fprintf(stderr, "short read\n"); exit(1); }
  fclose(f);
  return data;
}

static TF_Output operation(TF_Graph *graph, const char *name, int index) {
  TF_Operation *op = TF_GraphOperationByName(graph, name);
  if (!op) { fprintf(stderr, "no operation %s in the graph\n", name); exit(1); }
  TF_Output out = {op, index};
  return out;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s EXPORT_DIR PLAN\n", argv[0]); return 2; }
  TF_Status *status = TF_NewStatus();
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  const char *tags[] = {"serve"};
  TF_Session *session = TF_LoadSessionFromSavedModel(options, NULL, argv[1], tags, 1, graph,
                                                     NULL, status);
  check(status, "TF_LoadSessionFromSavedModel");

  FILE *plan = fopen(argv[2], "r");
  if (!plan) { fprintf(stderr, "cannot open %s\n", argv[2]); return 1; }
  int n_in = 0, n_out = 0;
  if (fscanf(plan, " inputs %d", &n_in) != 1) { fprintf(stderr, "bad plan\n"); return 1; }
  TF_Output *inputs = calloc(n_in + 1, sizeof(TF_Output));
  TF_Tensor **values = calloc(n_in + 1, sizeof(TF_Tensor *));
  for (int i = 0; i < n_in; i++) {
    char name[512], file[4096];
    int index, dtype, ndims;
    if (fscanf(plan, " %511s %d %d %d", name, &index, &dtype, &ndims) != 4) return 1;
    int64_t dims[16];
    for (int d = 0; d < ndims; d++)
      if (fscanf(plan, " %ld", &dims[d]) != 1) return 1;
    if (fscanf(plan, " %4095s", file) != 1) return 1;
    size_t size;
    void *data = read_file(file, &size);
    TF_Tensor *t = TF_AllocateTensor((TF_DataType)dtype, dims, ndims, size);
    if (TF_TensorByteSize(t) != size) { fprintf(stderr, "%s: wrong byte size\n", file); return 1; }
    memcpy(TF_TensorData(t), data, size);
    free(data);
    inputs[i] = operation(graph, name, index);
    values[i] = t;
  }
  if (fscanf(plan, " outputs %d", &n_out) != 1) { fprintf(stderr, "bad plan\n"); return 1; }
  TF_Output *outputs = calloc(n_out + 1, sizeof(TF_Output));
  TF_Tensor **results = calloc(n_out + 1, sizeof(TF_Tensor *));
  char (*files)[4096] = calloc(n_out + 1, 4096);
  for (int i = 0; i < n_out; i++) {
    char name[512];
    int index;
    if (fscanf(plan, " %511s %d %4095s", name, &index, files[i]) != 3) return 1;
    outputs[i] = operation(graph, name, index);
  }
  fclose(plan);

  TF_SessionRun(session, NULL, inputs, values, n_in, outputs, results, n_out, NULL, 0, NULL,
                status);
  check(status, "TF_SessionRun");
  for (int i = 0; i < n_out; i++) {
    FILE *f = fopen(files[i], "wb");
    int64_t header[2] = {TF_TensorType(results[i]), TF_NumDims(results[i])};
    fwrite(header, sizeof(int64_t), 2, f);
    for (int d = 0; d < header[1]; d++) {
      int64_t dim = TF_Dim(results[i], d);
      fwrite(&dim, sizeof(int64_t), 1, f);
    }
    fwrite(TF_TensorData(results[i]), 1, TF_TensorByteSize(results[i]), f);
    fclose(f);
    TF_DeleteTensor(results[i]);
  }
  for (int i = 0; i < n_in; i++) TF_DeleteTensor(values[i]);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteGraph(graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteStatus(status);
  return 0;
}
