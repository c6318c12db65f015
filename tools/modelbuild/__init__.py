"""The model build: the recognizer's ONNX graphs exported (and int8-quantised behind a gate) from
the weights, as the image's export stage runs it (docker/recognizer.Dockerfile copies this folder
whole). It imports nothing but itself, face_recognizer and pipeline_common (relative imports, so it
runs as `tools.modelbuild` here and as `modelbuild` in the image)."""
