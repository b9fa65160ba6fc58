"""A clip cut at keyframes into segments, stylized on the cluster, joined with its audio (``video --ray``, ``app.py --ray``).

The driver reads only packet headers to find the keyframes, puts the file into Ray's object store
once, and sends each node a :class:`Segment`: where to start decoding (a keyframe), which frames to
stylize only to settle the temporal smoothing (the ``OVERLAP`` frames before the segment: the
stabiliser's history then matches a straight run closely), and which frames to encode. Segments
come back encoded without B-frames (so their packets simply follow each other) and the driver
remuxes them in order with the source's audio, copied or transcoded as in the local path. Frame
count, size and frame rate are those of :func:`animegan.video.convert_video`.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..errors import AnimeGANError, UnsupportedVideoError
from ..pipeline import Engine
from ..progress import Progress, no_progress
from ..settings import Settings
from ..temporal import Stabilizer
from ..video import (
    VideoOptions,
    VideoResult,
    add_audio_stream,
    add_video_stream,
    container_for,
    even_size,
    mux_audio,
    open_output,
    probe_video,
    stylize_frame,
)

if TYPE_CHECKING:
    import ray
    from av import AudioStream, Packet
    from av.container import InputContainer, OutputContainer
    from typing_extensions import Buffer

log = logging.getLogger(__name__)

OVERLAP = 8
"""Frames before a segment that are stylized (not encoded) to carry the temporal smoothing across its edge."""
MIN_SEGMENT_FRAMES = 24
"""Shortest segment worth sending to a node (keyframes closer than this are merged)."""
SEGMENTS_PER_WORKER = 3
"""Aim for this many segments per worker, so a slow segment does not hold up the end."""


@dataclass(frozen=True)
class Segment:
    """One piece of a clip for one worker. Times are presentation timestamps in the video stream's time base."""

    source: ray.ObjectRef[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
    """The whole file: an ObjectRef of a uint8 array (or the array itself)."""
    options: VideoOptions
    vcodec: str
    fps: Fraction
    width: int
    height: int
    seek: int
    """A keyframe at or before ``warm``: decoding starts here."""
    warm: int
    """Frames from here to ``start`` only feed the smoothing."""
    start: int
    end: int | None
    """The next segment's ``start`` (None: to the end of the clip)."""


@dataclass(frozen=True)
class SegmentResult:
    data: bytes
    """The segment encoded alone (Matroska, no B-frames)."""
    frames: int
    cuts: int
    rotation: int
    """The first frame's display rotation (phone videos), kept in the output."""


class _ArrayReader(io.RawIOBase):
    """A seekable read-only file over a buffer, without copying it (PyAV reads the clip from Ray's object store)."""

    def __init__(self, buffer: npt.NDArray[np.uint8]) -> None:
        self.view = buffer.data.cast("B")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Buffer) -> int:
        with memoryview(b) as raw, raw.cast("B") as target:
            n = min(len(target), len(self.view) - self.pos)
            target[:n] = self.view[self.pos:self.pos + n]
        self.pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: len(self.view)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos


def stylize_segment(engine: Engine, segment: Segment) -> SegmentResult:
    """Decode from ``segment.seek``, settle the smoothing on the overlap, stylize and encode the segment.

    Raises UnsupportedVideoError when the clip cannot be decoded, WeightsError.
    """
    import av

    source = segment.source
    if not isinstance(source, np.ndarray):
        import ray

        source = ray.get(source)
    options = segment.options
    stylizer = engine.stylizer(options.style, options.backend)
    image_opts = options.stylize_options()
    stabilizer = Stabilizer(options.smoothing) if options.smoothing > 0 else None
    buffer = io.BytesIO()
    frames, cuts_before, rotation = 0, 0, 0
    out_w = segment.width * 2 if options.side_by_side else segment.width
    try:
        with av.open(io.BufferedReader(_ArrayReader(source)), "r") as inp, open_output(buffer, "matroska") as out:
            vs = inp.streams.video[0]
            vs.thread_type = "AUTO"
            ov = add_video_stream(out, segment.vcodec, segment.fps, out_w, segment.height, engine.settings.threads)
            ov.codec_context.max_b_frames = 0
            inp.seek(segment.seek, stream=vs, backward=True, any_frame=False)
            for frame in inp.decode(vs):
                pts = frame.pts
                if pts is None or pts < segment.warm:
                    continue
                if segment.end is not None and pts >= segment.end:
                    break
                rgb = stylize_frame(frame, segment.width, segment.height, stylizer, options, image_opts, stabilizer)
                if pts < segment.start:
                    cuts_before = stabilizer.cuts if stabilizer else 0
                    continue
                if frames == 0:
                    rotation = int(frame.rotation or 0)
                vframe = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                vframe.pts = frames
                out.mux(ov.encode(vframe))
                frames += 1
            out.mux(ov.encode(None))
    except av.FFmpegError as err:
        raise UnsupportedVideoError(f"cannot convert this segment of the video ({err})") from err
    cuts = (stabilizer.cuts if stabilizer else 0) - cuts_before
    return SegmentResult(buffer.getvalue(), frames, cuts, rotation)


def plan_segments(frame_pts: list[int], keyframes: set[int], workers: int) -> list[tuple[int, int, int, int | None]]:
    """Cut a clip's frames (presentation timestamps, sorted) at keyframes into (seek, warm, start, end) segments.

    Segments hold at least ``MIN_SEGMENT_FRAMES`` frames and there are about ``SEGMENTS_PER_WORKER`` per worker.
    """
    n = len(frame_pts)
    target = max(MIN_SEGMENT_FRAMES, -(-n // max(1, workers * SEGMENTS_PER_WORKER)))
    starts = [0]
    for i, pts in enumerate(frame_pts):
        if pts in keyframes and i - starts[-1] >= target and n - i >= MIN_SEGMENT_FRAMES // 2:
            starts.append(i)
    key_indices = [i for i, pts in enumerate(frame_pts) if pts in keyframes] or [0]
    plan = []
    for k, first in enumerate(starts):
        warm = max(0, first - OVERLAP) if k else first
        seek = max((i for i in key_indices if i <= warm), default=key_indices[0])
        end = frame_pts[starts[k + 1]] if k + 1 < len(starts) else None
        plan.append((frame_pts[seek], frame_pts[warm], frame_pts[first], end))
    return plan


def scan_frames(path: Path) -> tuple[list[int], set[int], Fraction]:
    """Presentation timestamps of every video packet (sorted), those of the keyframes, and their time base,
    from packet headers only.

    Raises UnsupportedVideoError when the stream has packets without timestamps (it cannot be split).
    """
    import av

    pts_list, keys = [], set()
    with av.open(str(path), "r") as inp:
        time_base = Fraction(inp.streams.video[0].time_base or 0)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size == 0:
                continue
            if packet.pts is None:
                raise UnsupportedVideoError(f"{path.name!r} has video packets without timestamps, so it cannot be cut "
                                            "into segments; convert it without --ray")
            pts_list.append(int(packet.pts))
            if packet.is_keyframe:
                keys.add(int(packet.pts))
    pts_list.sort()
    if not pts_list:
        raise UnsupportedVideoError(f"{path.name!r} has no video frames")
    return pts_list, keys, time_base


SegmentRunner = Callable[[list[Segment]], Iterable[SegmentResult]]
"""Stylizes segments somewhere on the cluster and yields their results in order."""


def convert_video_on_cluster(settings: Settings, source: str | Path, destination: str | Path, options: VideoOptions,
                             run: SegmentRunner, progress: Progress = no_progress,
                             workers: int = 2) -> VideoResult:
    """Like :func:`animegan.video.convert_video`, with the frames stylized by ``run`` (segments in order).

    Raises UnsupportedVideoError, VideoTooLargeError, InvalidOptionError, WeightsError; the destination is
    then untouched.
    """
    import av
    import ray

    src, dst = Path(source), Path(destination)
    muxer, vcodec, acodec, copyable = container_for(dst)
    info = probe_video(src, settings)
    frame_pts, keyframes, time_base = scan_frames(src)
    first_pts = max(0, round(frame_pts[0] * time_base * info.fps))  # as the local path numbers frames
    width, height = even_size(info)
    data = ray.put(np.fromfile(src, dtype=np.uint8))
    plan = plan_segments(frame_pts, keyframes, workers)
    segments = [Segment(data, options, vcodec, info.fps, width, height, *bounds) for bounds in plan]
    log.info("video %s: %d frames in %d segments", src, len(frame_pts), len(segments))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.part{dst.suffix.lower()}")
    start = time.perf_counter()
    progress(0.0, f"frame 0/{len(frame_pts)} · {len(segments)} segments on the cluster")
    try:
        with av.open(str(src), "r") as inp, open_output(tmp, muxer) as out:
            frames, cuts, audio = _join(inp, out, run(segments), info.fps, first_pts, acodec, copyable,
                                        len(frame_pts), progress, start)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, av.FFmpegError):
            raise UnsupportedVideoError(f"cannot convert {src.name!r} ({err})") from err
        raise
    os.replace(tmp, dst)
    seconds = time.perf_counter() - start
    progress(1.0, f"done: {frames} frames")
    out_w = width * 2 if options.side_by_side else width
    return VideoResult(dst, out_w, height, info.fps, frames, audio, seconds, cuts)


def _join(inp: InputContainer, out: OutputContainer, results: Iterable[SegmentResult | AnimeGANError], fps: Fraction,
          first_pts: int, acodec: str, copyable: frozenset[str] | None, total: int, progress: Progress,
          start: float) -> tuple[int, int, str]:
    """Remux the segments' packets in order, interleaved with the source's audio; returns (frames, cuts, audio)."""
    import av

    results = iter(results)
    head = _checked(next(results, None))
    if head is None:
        raise UnsupportedVideoError("the video has no decodable frames; the file may be corrupt")
    with av.open(io.BytesIO(head.data), "r") as seg:
        ov = out.add_stream_from_template(seg.streams.video[0])  # video first, as in the local path
    ov.time_base = Fraction(1) / fps
    if head.rotation:
        ov.set_display_rotation(head.rotation)
    in_audio = inp.streams.audio[0] if inp.streams.audio else None
    audio_mode, oa = add_audio_stream(out, in_audio, acodec, copyable)
    audio_packets: Iterator[Packet[AudioStream]] = iter(inp.demux(in_audio)) if in_audio is not None else iter(())

    def mux(apacket: Packet[AudioStream]) -> None:
        assert oa is not None, "add_audio_stream makes a stream for every input audio stream"
        mux_audio(out, apacket, oa, audio_mode)

    out.start_encoding()  # the muxer fixes each stream's time base here
    tick = Fraction(1) / fps / Fraction(ov.time_base)
    frames = cuts = 0
    pending = None
    for result in (head, *(_checked(r) for r in results)):
        assert result is not None
        n = 0
        with av.open(io.BytesIO(result.data), "r") as seg:
            for packet in seg.demux(seg.streams.video[0]):
                if packet.size == 0:
                    continue
                packet.stream = ov
                packet.time_base = ov.time_base
                packet.pts = packet.dts = round((first_pts + frames + n) * tick)  # no B-frames: decode order = display order
                packet.duration = round(tick)
                out.mux(packet)
                n += 1
        if n != result.frames:
            raise UnsupportedVideoError(f"a segment came back with {n} of its {result.frames} frames")
        frames += n
        cuts += result.cuts
        until = Fraction(first_pts + frames) / fps
        while True:  # the audio up to here, so that the muxer never holds much
            apacket = pending or next(audio_packets, None)
            pending = None
            if apacket is None:
                break
            if apacket.pts is not None and apacket.time_base and apacket.pts * apacket.time_base > until:
                pending = apacket
                break
            mux(apacket)
        elapsed = time.perf_counter() - start
        progress(min(frames / max(total, 1), 0.999), f"frame {frames}/{total} · {frames / max(elapsed, 1e-9):.1f} fps")
    for apacket in [p for p in (pending,) if p is not None] + list(audio_packets):
        mux(apacket)
    if audio_mode == "transcoded":
        assert oa is not None, "a transcoded audio track has its output stream"
        out.mux(oa.encode(None))
    return frames, cuts, audio_mode


def _checked(result: SegmentResult | AnimeGANError | None) -> SegmentResult | None:
    if isinstance(result, AnimeGANError):
        raise result
    return result
