"""The face-recognition function: a frame in, the name of the face in it out.

Layout (a thin Lambda handler over plain-Python cores that know nothing of Lambda):
- `config.py`      the function's settings, read once from the environment and validated;
- `facedb.py`      the face database (the course's `[embeddings, names]` file) and nearest-neighbour
                   search; `torchfile.py` reads that torch.save file without torch;
- `faces.py`       recognition semantics both runtimes share: settings, the chosen face, the crop;
- `onnx_models.py` what the function runs: the exported MTCNN and InceptionResnetV1 graphs on ONNX
                   Runtime, with `detection.py` doing MTCNN's steps between them in NumPy;
- `recognizer.py`  one decoded frame → one name (or the NO_FACE / UNKNOWN sentinels);
- `service.py`     S3 in, S3 out: reads frames, writes `<stem>.txt` results, logs;
- `handler.py`     the Lambda entry point (`face_recognizer.handler.handler`).
"""
