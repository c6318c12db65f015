"""video-face-pipeline: videos in, first frames out, names out.

    S3 <prefix>-input ─► video-splitting (zip + ffmpeg layer) ─► S3 <prefix>-stage-1
                       ─► face-recognition (ECR image) ─► S3 <prefix>-output

Read the stack config, compose the components, export what users and tools look up.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import ffmpeg_layer, packaging, tags, topology
from components import settings as stack_settings
from components.buckets import PipelineBuckets, PipelineBucketsArgs
from components.monitoring import PipelineMonitoring, PipelineMonitoringArgs
from components.recognizer import FaceRecognizer, FaceRecognizerArgs, face_db_build_arg
from components.splitter import VideoSplitter, VideoSplitterArgs
from components.wiring import EventWiring, EventWiringArgs

# 1. Settings, validated once: a bad value, or a key Pulumi.yaml does not declare (a misspelling
#    Pulumi would silently ignore), stops preview naming the setting and what it allows.
try:
    stack_settings.check_keys(
        set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env()),
        source=f"Pulumi.{pulumi.get_stack()}.yaml",
    )
    settings = stack_settings.load(pulumi.Config().get, region=aws.config.region)
    # A database file is baked into the image; a live one lives in the faces bucket, not in any image.
    face_db = None if settings.live_database else face_db_build_arg(Path(settings.face_database))
    # Cost-allocation tags: the provider adds the stack file's default tags to everything taggable.
    tags.check(pulumi.Config("aws").get_object("defaultTags"), project=pulumi.get_project(), stack=pulumi.get_stack())
except stack_settings.ConfigError as error:
    raise pulumi.RunError(f"invalid stack configuration: {error}") from error

# 2. What gets uploaded: the splitter's code and the ffmpeg layer (reproducible zips under build/).
try:
    splitter_zip = packaging.function_zip(topology.SPLITTER)
    ffmpeg_layer_zip = ffmpeg_layer.build()
except packaging.PackagingError as error:
    raise pulumi.RunError(f"cannot package the splitter: {error}") from error

# 3. Storage.
buckets = PipelineBuckets(
    "buckets",
    PipelineBucketsArgs(
        input_bucket=settings.input_bucket,
        stage1_bucket=settings.stage1_bucket,
        output_bucket=settings.output_bucket,
        faces_bucket=settings.faces_bucket,
        faces_history_days=settings.face_database_history_days,
        library_bucket=settings.bucket(topology.LIBRARY),
    ),
)

# 4. Functions. The recognizer comes first: in direct invocation the splitter's role names it.
recognizer = FaceRecognizer(
    "face-recognition",
    FaceRecognizerArgs(
        settings=settings,
        face_db=face_db,
        stage1_bucket_arn=buckets.stage1.arn,
        output_bucket_arn=buckets.output.arn,
        faces_bucket_arn=buckets.faces.arn if buckets.faces else None,
        library_bucket_arn=buckets.library.arn if buckets.library else None,
    ),
)
splitter = VideoSplitter(
    "video-splitting",
    VideoSplitterArgs(
        settings=settings,
        code_zip=splitter_zip,
        layer_zip=ffmpeg_layer_zip,
        input_bucket_arn=buckets.input.arn,
        stage1_bucket_arn=buckets.stage1.arn,
        recognizer_function_arn=recognizer.function_arn if settings.direct_invocation else None,
    ),
)

# 5. Triggers, per settings.architecture.
EventWiring(
    "wiring",
    EventWiringArgs(
        architecture=settings.architecture,
        buckets=buckets.by_role(),
        functions={topology.SPLITTER: splitter.function, topology.RECOGNIZER: recognizer.function},
        analysis=settings.analysis,
    ),
)

# 6. Alarms on every dead-letter queue and function, to one topic; the dashboard; saved log queries.
monitoring = PipelineMonitoring(
    "monitoring",
    PipelineMonitoringArgs(settings=settings, functions={topology.SPLITTER: splitter, topology.RECOGNIZER: recognizer}),
)

# 7. Outputs.
pulumi.export("architecture", settings.architecture)
pulumi.export("analysis", settings.analysis)
pulumi.export("inputBucket", buckets.input.bucket_name)
pulumi.export("stage1Bucket", buckets.stage1.bucket_name)
pulumi.export("outputBucket", buckets.output.bucket_name)
pulumi.export("splitterFunctionName", splitter.function_name)
pulumi.export("splitterFunctionArn", splitter.function_arn)
pulumi.export("recognizerFunctionName", recognizer.function_name)
pulumi.export("recognizerFunctionArn", recognizer.function_arn)
pulumi.export("recognizerImageUri", recognizer.image_uri)
pulumi.export("splitterDeadLetterQueueUrl", splitter.dead_letter_queue_url)
pulumi.export("recognizerDeadLetterQueueUrl", recognizer.dead_letter_queue_url)
pulumi.export("alarmTopicArn", monitoring.topic_arn)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
if buckets.library is not None:
    pulumi.export("libraryBucket", buckets.library.bucket_name)
if buckets.faces is not None and buckets.enrol_policy is not None:  # faceDatabase: live
    pulumi.export("facesBucket", buckets.faces.bucket_name)
    pulumi.export("facesEnrolPolicyArn", buckets.enrol_policy.arn)
