# syntax=docker/dockerfile:1
# The face-recognition function's container image (AWS Lambda, Python 3.12), in three stages:
#   export  - CPU-only PyTorch + facenet-pytorch download the vggface2 weights and export MTCNN and
#             InceptionResnetV1 to ONNX (tools/modelbuild/, copied whole; it checks the export against
#             PyTorch before writing it). With MODEL_PRECISION=int8 (the stack's recognizerPrecision)
#             it also quantises the embedding network and refuses, failing the build, unless the
#             int8 graph agrees with float32 on the gate's real faces (scikit-image's, from PyPI,
#             and the face database's people when FACE_DB is given); this is the only place its
#             accuracy is checked with the real weights;
#   runtime - what Lambda runs: ONNX Runtime, NumPy, Pillow, the graphs, the code, and no face
#             database: faceDatabase: live builds this target (the function reads the database from
#             the stack's faces bucket, so no image ever holds a person who may ask to be removed).
#             No torch: its import alone was most of the cold start (bench/README.md).
#   baked   - runtime plus the face database file: the default (faceDatabase: a file).
#
# Build context: the project root (the Pulumi component passes it, and FACE_DB relative to it):
#   docker build -f docker/recognizer.Dockerfile --build-arg FACE_DB=data/face_db.pt --build-arg MODEL_PRECISION=fp32 .
#   docker build -f docker/recognizer.Dockerfile --target runtime .      # faceDatabase: live
# /.dockerignore keeps that context to what is copied below.
#
# Versions come only from the hash locks in requirements/lock/ (`make lock` makes them from the pins
# in requirements/*.txt; pip refuses a file whose hash differs), except torch and torchvision, taken
# by their pins in requirements/export.txt from PyTorch's CPU index, which the lock cannot hash from
# the machines it is made on (they reach PyPI only). Python 3.12 because Lambda's 3.11 image is Amazon
# Linux 2 (glibc 2.26), where the pinned NumPy, Pillow and ONNX Runtime wheels (manylinux_2_27/2_28)
# do not install; 3.12's is Amazon Linux 2023 (glibc 2.34). tests/infra/test_image_contents.py checks
# every runtime wheel against the base's glibc. The base image is pinned by tag; in production pin
# it by digest as well (public.ecr.aws/lambda/python:3.12@sha256:...) so a rebuild cannot pick up
# a different base.
FROM public.ecr.aws/lambda/python:3.12 AS export

# Optional: the vggface2 file's SHA-256, checked after the download when given.
ARG VGGFACE2_SHA256=

# Where facenet-pytorch keeps the vggface2 weights while the graphs are exported from them.
ENV TORCH_HOME=/build/torch

# Everything but torch and torchvision from PyPI through the hash lock (torch's own dependencies
# included, its CUDA libraries left out); then CPU-only torch/torchvision from PyTorch's CPU wheel
# index (the PyPI wheels are the large CUDA build) by export.txt's pins, without dependencies: the
# lock installed them. facenet-pytorch pins old torch/numpy/Pillow it does not need: installed
# without its dependencies, hashed.
COPY requirements/recognizer.txt requirements/export.txt /build/requirements/
COPY requirements/lock/export.txt requirements/lock/nodeps.txt /build/requirements/lock/
RUN pip install --no-cache-dir --require-hashes -r /build/requirements/lock/export.txt \
 && pip install --no-cache-dir --no-deps \
        --index-url https://download.pytorch.org/whl/cpu \
        -r /build/requirements/export.txt \
 && pip install --no-cache-dir --require-hashes --no-deps -r /build/requirements/lock/nodeps.txt

# Fetch the weights through the same loading code the export uses.
RUN python -c "from facenet_pytorch import InceptionResnetV1; InceptionResnetV1(pretrained='vggface2')" \
 && test -s /build/torch/checkpoints/20180402-114759-vggface2.pt \
 && if [ -n "$VGGFACE2_SHA256" ]; then \
        echo "$VGGFACE2_SHA256  /build/torch/checkpoints/20180402-114759-vggface2.pt" | sha256sum -c -; \
    fi

# The export runs the function's own model code (the export is loaded with it and checked) and the
# model build package (tools/modelbuild/: the PyTorch reference, the export, the int8 gate and its
# pictures), which imports nothing but itself and these two; from /build, where all three are
# top-level packages. The int8 gate also reads the face database (its nearest-entry check).
# tests/infra/test_image_contents.py runs this stage's command from exactly these files.
COPY functions/face_recognizer/ /build/face_recognizer/
COPY functions/pipeline_common/ /build/pipeline_common/
COPY tools/modelbuild/ /build/modelbuild/
ARG MODEL_PRECISION=fp32
# FACE_DB (the baked target's database) is read through a bind mount of the build context, so it
# never lands in a layer; a live database has none at build time (the gate then checks cosines only).
ARG FACE_DB=
RUN --mount=type=bind,target=/context \
    cd /build && python -m modelbuild.export_models --torch-home /build/torch --out /build/models \
        --precision "$MODEL_PRECISION" ${FACE_DB:+--db "/context/$FACE_DB"}


FROM public.ecr.aws/lambda/python:3.12 AS runtime

# The runtime closure, hash-locked (requirements/lock/recognizer.txt, made for Python 3.12 and
# manylinux_2_28 x86_64, held to the versions the project's venv and tests run).
COPY requirements/lock/recognizer.txt /tmp/requirements/
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements/recognizer.txt \
 && rm -rf /tmp/requirements

# The exported graphs (components/topology.py IMAGE_MODEL_DIR).
COPY --from=export /build/models/ /var/task/models/

# The function's code: its package and the helpers both functions share, at the task root.
COPY functions/pipeline_common/ /var/task/pipeline_common/
COPY functions/face_recognizer/ /var/task/face_recognizer/
# /var/task is read-only on Lambda: compile now so a cold start does not compile every import.
RUN python -m compileall -q /var/task/pipeline_common /var/task/face_recognizer

CMD ["face_recognizer.handler.handler"]


# The default target: the runtime and the face database file (components/topology.py IMAGE_FACE_DB).
FROM runtime AS baked

ARG FACE_DB=data/face_db.pt
COPY ${FACE_DB} /var/task/face_db.pt
