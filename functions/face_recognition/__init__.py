"""The face-recognition function: a frame in, the name of the face in it out.

Layout (a thin Lambda handler over plain-Python cores that know nothing of Lambda):
- `config.py`     the function's settings, read once from the environment and validated;
- `facedb.py`     the face database (the course's `[embeddings, names]` file) and nearest-neighbour search;
- `models.py`     MTCNN + InceptionResnetV1(pretrained='vggface2'), loaded once, and `FaceModels.embed`
                  (the enrolment tool embeds faces through exactly this code);
- `recognizer.py` one decoded frame → one name (or the NO_FACE / UNKNOWN sentinels);
- `service.py`    S3 in, S3 out: reads frames, writes `<stem>.txt` results, logs;
- `handler.py`    the Lambda entry point (`face_recognition.handler.handler`).
"""
