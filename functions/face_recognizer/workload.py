"""analysis: timeline: whether a video's remaining frames fit in the invocation's time, sized by what
the work is: frames × faces. A frame costs its read and decode and one detection, then one embedding
per face (at most MAX_FACES_PER_FRAME); the costs are the ones measured on this video's frames so
far, so a crowded video is known to be too long for the timeout after a few frames, not at the end.

A timeline that does not fit would not fit on any retry either (the same frames, faces and timeout),
so the error is Permanent: the handler dead-letters it at once, naming what it would need.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_common import limits

# Refuse from a projection only once this many frames are measured: the first frames pay for caches
# warming, and a projection from one frame is mostly noise.
MIN_MEASURED_FRAMES = 2


@dataclass
class TimelineWork:
    frames: int  # in the frames object
    done: int = 0
    faces: int = 0  # faces embedded so far (at most MAX_FACES_PER_FRAME a frame)
    slowest_s: float = 0.0

    def frame_done(self, seconds: float, faces: int) -> None:
        self.done += 1
        self.faces += faces
        self.slowest_s = max(self.slowest_s, seconds)

    def projected_s(self, stages_ms: dict[str, float]) -> float:
        """Seconds the remaining frames need at this video's measured costs: per frame (read, decode,
        detect) plus its faces (embed, match) at the faces a frame has had so far."""
        if not self.done:
            return 0.0
        per_frame = sum(stages_ms.get(k, 0.0) for k in ("read", "decode", "detect")) / self.done / 1000
        per_face = sum(stages_ms.get(k, 0.0) for k in ("embed", "match")) / max(self.faces, 1) / 1000
        faces_a_frame = self.faces / self.done
        return (self.frames - self.done) * (per_frame + faces_a_frame * per_face)

    def refusal(self, now: float, deadline: float | None, stages_ms: dict[str, float]) -> str | None:
        """Why the rest cannot be done before `deadline` (time.monotonic()), or None."""
        if deadline is None or self.done >= self.frames:
            return None
        left_s = deadline - now
        if now + self.slowest_s > deadline:
            need = f"a frame has taken up to {self.slowest_s:.1f} s" if self.done else "no time was left for its first"
        elif self.done >= MIN_MEASURED_FRAMES and self.projected_s(stages_ms) > left_s:
            need = (
                f"its {self.frames - self.done} remaining frames need ~{self.projected_s(stages_ms):.0f} s "
                f"({self.faces / self.done:.1f} faces a frame, at most {limits.MAX_FACES_PER_FRAME} embedded)"
            )
        else:
            return None
        return (
            f"stopped after {self.done} of its {self.frames} frames: {need}, and {max(left_s, 0):.0f} s of the "
            "function's time is left; a retry would stop the same way (raise recognizerTimeout, or lower "
            "maxFrames or sampleFps)"
        )
