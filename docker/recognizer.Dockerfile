# The face-recognition function's container image (AWS Lambda, Python 3.11, CPU-only PyTorch).
#
# Build context: the project root (the Pulumi component passes it, and FACE_DB relative to it):
#   docker build -f docker/recognizer.Dockerfile --build-arg FACE_DB=data/face_db.pt .
# /.dockerignore keeps that context to what is copied below.
#
# Versions come only from requirements/recognizer.txt and requirements/nodeps.txt.
# The base image is pinned by tag; in production pin it by digest as well
# (public.ecr.aws/lambda/python:3.11@sha256:...) so a rebuild cannot pick up a different base.
FROM public.ecr.aws/lambda/python:3.11

# The face database to bake in, relative to the build context.
ARG FACE_DB=data/face_db.pt
# Optional: the vggface2 file's SHA-256, checked after the download when given.
ARG VGGFACE2_SHA256=

# Where facenet-pytorch keeps the vggface2 weights: the build downloads them here once and every
# cold start reads them from the image (components/settings.py IMAGE_TORCH_HOME).
ENV TORCH_HOME=/var/task/torch

# CPU-only torch/torchvision from PyTorch's CPU wheel index (the PyPI wheels are the large CUDA
# build); the rest from PyPI. facenet-pytorch pins old torch/numpy/Pillow it does not need:
# installed without its dependencies.
COPY requirements/recognizer.txt requirements/nodeps.txt /tmp/requirements/
RUN pip install --no-cache-dir \
        --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple \
        -r /tmp/requirements/recognizer.txt \
 && pip install --no-cache-dir --no-deps -r /tmp/requirements/nodeps.txt \
 && rm -rf /tmp/requirements

# Bake the weights in, through the same loading code the function uses at run time.
RUN python -c "from facenet_pytorch import InceptionResnetV1; InceptionResnetV1(pretrained='vggface2')" \
 && test -s /var/task/torch/checkpoints/20180402-114759-vggface2.pt \
 && if [ -n "$VGGFACE2_SHA256" ]; then \
        echo "$VGGFACE2_SHA256  /var/task/torch/checkpoints/20180402-114759-vggface2.pt" | sha256sum -c -; \
    fi

# The face database (components/settings.py IMAGE_FACE_DB).
COPY ${FACE_DB} /var/task/face_db.pt

# The function's code: its package and the helpers both functions share, at the task root.
COPY functions/pipeline_common/ /var/task/pipeline_common/
COPY functions/face_recognition/ /var/task/face_recognition/
# /var/task is read-only on Lambda: compile now so a cold start does not compile every import.
RUN python -m compileall -q /var/task/pipeline_common /var/task/face_recognition

CMD ["face_recognition.handler.handler"]
