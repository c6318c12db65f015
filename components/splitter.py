"""The video-splitting function: a zip of its packages on Lambda's Python runtime, with the ffmpeg layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import function_parts as parts_
from components import packaging, topology
from components import settings as settings_

ROLE = topology.SPLITTER


@dataclass
class VideoSplitterArgs:
    settings: settings_.StackSettings
    code_zip: Path  # packaging.build_function_zip(...) of this function's packages
    layer_zip: Path  # ffmpeg_layer.build()
    input_bucket_arn: pulumi.Input[str]
    stage1_bucket_arn: pulumi.Input[str]
    # Direct-invocation wiring only: the one function the splitter may invoke.
    recognizer_function_arn: pulumi.Input[str] | None = None


class VideoSplitter(parts_.FunctionComponent):
    """Reads a video from the input bucket and writes its first frame to stage-1 as `<stem>.jpg`."""

    def __init__(self, name: str, args: VideoSplitterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("videoface:index:VideoSplitter", name, None, opts)
        s = args.settings
        if bool(topology.direct_invocations(s.architecture, s.analysis)) != (args.recognizer_function_arn is not None):
            raise ValueError(
                "VideoSplitter: recognizer_function_arn is required in direct-invocation "
                "wiring and not allowed in event-driven wiring or a timeline stack (its state machine invokes it)"
            )

        parts = parts_.function_parts(
            self,
            name,
            ROLE,
            s,
            bucket_arns={topology.INPUT: args.input_bucket_arn, topology.STAGE1: args.stage1_bucket_arn},
            invoke_function_arn=args.recognizer_function_arn,
        )

        self.layer = aws.lambda_.LayerVersion(
            f"{name}-ffmpeg",
            layer_name=f"{s.function(ROLE).name}-ffmpeg",
            description="Static ffmpeg (from imageio-ffmpeg 0.6.0) at /opt/bin/ffmpeg",
            code=pulumi.FileArchive(packaging.archive_path(args.layer_zip)),
            compatible_runtimes=[topology.ZIP_RUNTIME],
            compatible_architectures=[topology.CPU_ARCHITECTURE],
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.function, self.invoke_config = parts_.lambda_function(
            self,
            name,
            ROLE,
            s,
            parts,
            code=pulumi.FileArchive(packaging.archive_path(args.code_zip)),
            layers=[self.layer.arn],
        )

        self.expose(self.function, parts, layerArn=self.layer.arn)
