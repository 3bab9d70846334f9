"""An MLServer runtime that runs an ONNX model with ONNX Runtime (one intra-op thread, like kiln
serve's one thread per request): the serving benchmark's peer (bench/serve_bench.sh). MLServer has
no ONNX runtime package of its own; this is its documented custom-runtime interface (MLModel)."""
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(self.settings.parameters.uri, options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        (y,) = self._session.run([self._output], {self._input: x})
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output(self._output, y)])
