"""The face-recognition function: a container image in a private ECR repository, built by pulumi-docker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components import build_context, policies, topology
from components import function_parts as parts_
from components import settings as settings_
from components.project import PROJECT_DIR
from components.settings import ConfigError

ROLE = topology.RECOGNIZER

# Pulumi runs the program from the project folder: the build context is the project root (the
# Dockerfile copies functions/ and the face database from it); pulumi-docker takes the Dockerfile
# relative to the project.
BUILD_CONTEXT = "."
DOCKERFILE = "docker/recognizer.Dockerfile"
PLATFORM = "linux/amd64"
IMAGE_TAG = "latest"  # moves with every push; the function is pinned to the digest, not the tag
KEEP_IMAGES = 5
# The Dockerfile's last two stages: `runtime` is the function without a face database (what
# faceDatabase: live deploys: an image that never held a person, so removing one needs no rebuild);
# `baked` is runtime plus the database file (the default, and what a plain `docker build` gives).
TARGET_LIVE, TARGET_BAKED = "runtime", "baked"


def face_db_build_arg(face_database: Path, context_dir: Path = PROJECT_DIR) -> str:
    """The FACE_DB build argument: the database's path inside the build context, POSIX style.

    Docker can only COPY what is inside the context and not excluded by .dockerignore, so a
    database anywhere else is a config error.
    """
    path = Path(face_database).resolve()
    try:
        relative = path.relative_to(Path(context_dir).resolve())
    except ValueError:
        raise ConfigError(
            f"faceDatabase: {face_database} is outside the project folder {context_dir}; "
            "the image build can only copy files inside it (put the database under data/)"
        ) from None
    if not path.is_file():
        raise ConfigError(f"faceDatabase: {face_database} does not exist; build one with `python -m tools.enroll`")
    if not build_context.is_sent(relative.as_posix(), context_dir):
        raise ConfigError(
            f"faceDatabase: {relative.as_posix()} is excluded from the image build by "
            ".dockerignore; put the database directly under data/ as a .pt file"
        )
    return relative.as_posix()


@dataclass
class FaceRecognizerArgs:
    settings: settings_.StackSettings
    face_db: str | None  # face_db_build_arg(settings.face_database); None when the database is live
    stage1_bucket_arn: pulumi.Input[str]
    output_bucket_arn: pulumi.Input[str]
    keep_images: int = KEEP_IMAGES
    faces_bucket_arn: pulumi.Input[str] | None = None  # the live database's bucket
    library_bucket_arn: pulumi.Input[str] | None = None  # face thumbnails and boxes (topology.LIBRARY)


class FaceRecognizer(parts_.FunctionComponent):
    """Reads a frame from stage-1 and writes the recognised name to the output bucket as `<stem>.txt`."""

    def __init__(self, name: str, args: FaceRecognizerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:FaceRecognizer", name, None, opts)
        s, function = args.settings, args.settings.function(ROLE)
        child = pulumi.ResourceOptions(parent=self)
        if (args.face_db is None) != s.live_database or (args.faces_bucket_arn is None) == s.live_database:
            raise ConfigError("faceDatabase: live needs the faces bucket and no database file; a file, the reverse")

        self.repository = aws.ecr.Repository(
            f"{name}-repo",
            name=f"{s.name_prefix}/{function.name.lower()}",  # ECR names are lower case
            image_scanning_configuration={"scan_on_push": True},
            image_tag_mutability="MUTABLE",  # IMAGE_TAG moves
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=True,  # `pulumi destroy` removes the images with the repository
            opts=child,
        )
        self.lifecycle = aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=policies.to_json(policies.ecr_lifecycle(args.keep_images)),
            opts=child,
        )

        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOptions(parent=self)
        )
        self.image = docker.Image(
            f"{name}-image",
            image_name=self.repository.repository_url.apply(lambda url: f"{url}:{IMAGE_TAG}"),
            build=docker.DockerBuildArgs(
                context=BUILD_CONTEXT,
                dockerfile=DOCKERFILE,
                platform=PLATFORM,
                # MODEL_PRECISION: the export stage makes the embedding graph the function will be told to run.
                target=TARGET_LIVE if args.face_db is None else TARGET_BAKED,
                args={"MODEL_PRECISION": s.recognizer_precision}
                | ({} if args.face_db is None else {"FACE_DB": args.face_db}),
            ),
            registry=docker.RegistryArgs(
                server=self.repository.repository_url,
                username=pulumi.Output.secret(token.user_name),
                password=pulumi.Output.secret(token.password),
            ),
            opts=child,
        )

        parts = parts_.function_parts(
            self,
            name,
            ROLE,
            s,
            bucket_arns={
                topology.STAGE1: args.stage1_bucket_arn,
                topology.OUTPUT: args.output_bucket_arn,
                **({topology.FACES: args.faces_bucket_arn} if args.faces_bucket_arn is not None else {}),
                **({topology.LIBRARY: args.library_bucket_arn} if args.library_bucket_arn is not None else {}),
            },
        )

        self.function, self.invoke_config = parts_.lambda_function(
            self,
            name,
            ROLE,
            s,
            parts,
            # The digest, not the tag: a rebuilt image changes it, and so redeploys the function.
            image_uri=self.image.repo_digest,
        )

        self.image_uri = self.image.repo_digest
        self.expose(self.function, parts, imageUri=self.image_uri, repositoryUrl=self.repository.repository_url)
