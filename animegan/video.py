"""Stylize video files: streamed decode → stylize → stabilize → encode with PyAV (FFmpeg).

Frames are decoded, stylized and encoded one at a time, so memory does not grow with the video's
length. The output keeps the source's frame size, frame rate and frame count; the audio track is
copied packet for packet when the output container accepts its codec, otherwise transcoded (AAC,
or Opus for WebM). The result is written to a temporary file next to the destination and moved
into place only when complete, so a failure never leaves a half-written video behind.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt

from .backends import BackendName
from .errors import AnimeGANError, InvalidOptionError, UnsupportedVideoError, VideoTooLargeError
from .pipeline import Engine, StylizeOptions, finish
from .progress import Progress, no_progress
from .resample import fit_within, resize
from .settings import Settings
from .styles import StyleSpec
from .stylizer import Stylizer
from .temporal import Stabilizer

if TYPE_CHECKING:
    from av import AudioStream, Packet, VideoFrame, VideoStream
    from av.container import InputContainer, OutputContainer
    from av.stream import Stream

log = logging.getLogger(__name__)

RGB = npt.NDArray[np.float32]

# Output container (by suffix) → (FFmpeg muxer, video encoder, audio encoder, audio codecs it takes as they are).
# None means "any codec" (Matroska carries nearly everything).
CONTAINERS: dict[str, tuple[str, str, str, frozenset[str] | None]] = {
    # MP4 keeps only what every browser plays (the app shows the result in a <video>); the rest becomes AAC.
    ".mp4": ("mp4", "libx264", "aac", frozenset({"aac", "mp3"})),
    ".m4v": ("mp4", "libx264", "aac", frozenset({"aac", "mp3"})),
    ".mov": ("mov", "libx264", "aac", frozenset({"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"})),
    ".mkv": ("matroska", "libx264", "aac", None),
    ".webm": ("webm", "libvpx-vp9", "libopus", frozenset({"opus", "vorbis"})),
}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".ogv", ".3gp", ".gif")
"""Input suffixes the CLI and app offer; any file FFmpeg can demux is accepted."""

STILL_IMAGE_FORMATS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"})
"""FFmpeg demuxers that read single pictures: refused (GIF, which can be animated, is allowed)."""
DEFAULT_SMOOTHING = 0.7


@dataclass(frozen=True)
class VideoOptions:
    """One video request, checked when built (raises UnknownStyleError / InvalidOptionError).

    ``max_side`` is the processing size of each frame (longer side; None: the video's own size);
    the output always has the source's size (doubled in width with ``side_by_side``).
    ``smoothing`` (0 ≤ s < 1) is the temporal stabilisation strength; 0 turns it off.
    """

    style: str
    max_side: int | None = 512
    side_by_side: bool = False
    smoothing: float = DEFAULT_SMOOTHING
    backend: BackendName = "auto"
    strength: float = 1.0
    match_brightness: bool = False

    def __post_init__(self) -> None:
        self.stylize_options()  # validates style, max_side, backend, strength
        if not 0.0 <= self.smoothing < 1.0:
            raise InvalidOptionError(f"smoothing={self.smoothing} must be at least 0 and below 1 (0 turns it off)")

    def stylize_options(self) -> StylizeOptions:
        """The per-frame image options (the same post-processing as for photos)."""
        return StylizeOptions(style=self.style, max_side=self.max_side, backend=self.backend,
                              strength=self.strength, match_brightness=self.match_brightness)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding it."""

    width: int
    height: int
    fps: Fraction
    frames: int
    """Frame count from the container, or estimated from duration × fps when it has none."""
    duration: float
    """Seconds (0 when unknown)."""
    video_codec: str
    audio_codec: str | None
    container: str


@dataclass(frozen=True)
class VideoResult:
    """What :func:`convert_video` wrote."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    audio: str
    """"copied", "transcoded" or "none"."""
    seconds: float
    scene_cuts: int


def _open_input(path: Path, settings: Settings) -> InputContainer:
    import av

    if not path.is_file():
        raise UnsupportedVideoError(f"video file {str(path)!r} does not exist")
    size_mb = path.stat().st_size / 2**20
    if size_mb > settings.video_max_mb:
        raise VideoTooLargeError(f"video {path.name!r} is {size_mb:.0f} MB, over the limit of {settings.video_max_mb} MB; "
                                 "trim or compress it (or raise ANIMEGAN_VIDEO_MAX_MB)")
    if path.stat().st_size == 0:
        raise UnsupportedVideoError(f"video file {path.name!r} is empty")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise UnsupportedVideoError(f"{path.name!r} is not a video FFmpeg can read ({reason}); "
                                    "use MP4, MOV, MKV or WebM") from err
    fmt = container.format.name
    if not container.streams.video or fmt in STILL_IMAGE_FORMATS or fmt.endswith("_pipe"):
        what = ("a still image" if container.streams.video else "audio only" if container.streams.audio
                else "without a video stream")
        container.close()
        raise UnsupportedVideoError(f"{path.name!r} ({fmt}) is {what}, not a video; pick a video file "
                                    "(use the image tools for photos)")
    return container


def _info(container: InputContainer, path: Path, settings: Settings) -> VideoInfo:
    vs = container.streams.video[0]
    cc = vs.codec_context
    width, height = int(cc.width or 0), int(cc.height or 0)
    if width <= 0 or height <= 0:
        raise UnsupportedVideoError(f"{path.name!r}: the video stream has no frame size; the file may be corrupt")
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    fps = Fraction(rate) if rate else Fraction(0)
    if fps <= 0 or fps > 1000:
        raise UnsupportedVideoError(f"{path.name!r}: frame rate {float(fps):.3g} is not usable; "
                                    "re-encode it at a fixed frame rate")
    if vs.duration is not None and vs.time_base:
        duration = float(vs.duration * vs.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = int(vs.frames or round(duration * fps))
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    info = VideoInfo(width, height, fps, frames, duration, cc.name, audio, container.format.name)
    if width * height > settings.video_max_pixels:
        raise VideoTooLargeError(f"video {path.name!r} is {width}×{height}, over the limit of {settings.video_max_pixels:,} "
                                 "pixels per frame; downscale it (or raise ANIMEGAN_VIDEO_MAX_PIXELS)")
    if duration > settings.video_max_seconds:
        raise VideoTooLargeError(f"video {path.name!r} lasts {duration:.1f} s, over the limit of {settings.video_max_seconds} s; "
                                 "trim it (or raise ANIMEGAN_VIDEO_MAX_SECONDS)")
    if frames > settings.video_max_frames:
        raise VideoTooLargeError(f"video {path.name!r} has {frames} frames, over the limit of {settings.video_max_frames}; "
                                 "trim it (or raise ANIMEGAN_VIDEO_MAX_FRAMES)")
    return info


def probe_video(source: str | Path, settings: Settings) -> VideoInfo:
    """Size, frame rate, frame count and codecs of a video, checked against the settings' limits.

    Raises UnsupportedVideoError (missing, empty, corrupt, no video stream) or VideoTooLargeError.
    """
    path = Path(source)
    container = _open_input(path, settings)
    try:
        return _info(container, path, settings)
    finally:
        container.close()


def read_frames(source: str | Path) -> Iterator[npt.NDArray[np.uint8]]:
    """Every frame of a video's first video stream as H×W×3 uint8 RGB, streamed (for tests and metrics).

    Raises UnsupportedVideoError when the file cannot be read.
    """
    import av

    try:
        with av.open(str(source), "r") as container:
            for frame in container.decode(video=0):
                yield _rgb24(frame)
    except av.FFmpegError as err:
        raise UnsupportedVideoError(f"cannot read video {str(source)!r}: {err}") from err


def _rgb24(frame: VideoFrame) -> npt.NDArray[np.uint8]:
    """A decoded frame as H×W×3 uint8 RGB."""
    # rgb24 is always uint8 (no copy here); PyAV's stubs type to_ndarray as any of the dtypes it returns
    return np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)


def _eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def container_for(dst: Path) -> tuple[str, str, str, frozenset[str] | None]:
    """(muxer, video encoder, audio encoder, audio codecs copied as they are) for an output file name.

    Raises InvalidOptionError for an unknown suffix.
    """
    suffix = dst.suffix.lower()
    if suffix not in CONTAINERS:
        raise InvalidOptionError(f"output {dst.name!r}: unknown video type {suffix or '(none)'!r}; use one of "
                                 f"{', '.join(CONTAINERS)}")
    return CONTAINERS[suffix]


def open_output(path: Path | BinaryIO, muxer: str) -> OutputContainer:
    """An output container (MP4/MOV with the index at the front, so browsers start playing at once)."""
    import av

    return av.open(path if not isinstance(path, Path) else str(path), "w", format=muxer,
                   container_options={"movflags": "+faststart"} if muxer in ("mp4", "mov") else {})


def add_video_stream(out: OutputContainer, vcodec: str, fps: Fraction, width: int, height: int,
                     threads: int) -> VideoStream:
    """The output video stream with our encoder settings (H.264 CRF 20 veryfast, or VP9 realtime)."""
    import av

    ov = out.add_stream(vcodec, rate=fps)
    assert isinstance(ov, av.VideoStream), f"{vcodec} is not a video encoder"
    ov.width, ov.height, ov.pix_fmt = width, height, "yuv420p"
    ov.time_base = 1 / fps
    ov.codec_context.thread_count = threads
    ov.options = {"crf": "20", "preset": "veryfast"} if vcodec == "libx264" else {"crf": "32", "b": "0", "deadline": "realtime",
                                                                                    "cpu-used": "8"}
    return ov


def add_audio_stream(out: OutputContainer, in_audio: AudioStream | None, acodec: str,
                     copyable: frozenset[str] | None) -> tuple[str, AudioStream | None]:
    """The output audio stream for ``in_audio`` and how it is made: "copied", "transcoded" or "none"."""
    import av

    if in_audio is None:
        return "none", None
    name = in_audio.codec_context.name
    if copyable is None or name in copyable:
        return "copied", out.add_stream_from_template(in_audio)
    rate = in_audio.codec_context.sample_rate or 48000
    if acodec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate = 48000
    oa = out.add_stream(acodec, rate=rate)
    assert isinstance(oa, av.AudioStream), f"{acodec} is not an audio encoder"
    oa.layout = "stereo" if in_audio.codec_context.layout.nb_channels >= 2 else "mono"
    return "transcoded", oa


def mux_audio(out: OutputContainer, packet: Packet[Stream] | Packet[AudioStream], oa: AudioStream, mode: str) -> None:
    """Write one demuxed audio packet into ``oa``: as it is ("copied") or decoded and re-encoded ("transcoded")."""
    import av

    if mode == "copied":
        if packet.dts is not None:  # the demuxer's end-of-stream marker is not a packet to copy
            packet.stream = oa
            out.mux(packet)
    else:
        for aframe in packet.decode():  # the end-of-stream packet flushes the decoder
            assert isinstance(aframe, av.AudioFrame), "an audio packet decodes to audio frames"
            out.mux(oa.encode(aframe))


def convert_video(engine: Engine, source: str | Path, destination: str | Path, options: VideoOptions,
                  progress: Progress = no_progress) -> VideoResult:
    """Stylize a video file into ``destination`` (container chosen by its suffix: .mp4 .m4v .mov .mkv .webm).

    Progress messages read "frame i/n · x fps · ETA m:ss". Odd frame sizes lose their last pixel row
    or column (H.264 4:2:0 needs even sizes). Raises UnsupportedVideoError, VideoTooLargeError,
    InvalidOptionError (bad destination suffix) or WeightsError; the destination is then untouched.
    """
    import av

    src, dst = Path(source), Path(destination)
    suffix = dst.suffix.lower()
    muxer, vcodec, acodec, copyable = container_for(dst)
    stylizer = engine.stylizer(options.style, options.backend)  # load and verify before any decoding
    settings = engine.settings
    container = _open_input(src, settings)
    info = _info(container, src, settings)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.part{suffix}")
    start = time.perf_counter()
    progress(0.0, f"frame 0/{info.frames}")
    try:
        with container, open_output(tmp, muxer) as out:
            result = _transcode(container, out, info, stylizer, options, vcodec, acodec, copyable, settings, progress, start)
    except AnimeGANError:
        tmp.unlink(missing_ok=True)
        raise
    except av.FFmpegError as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "strerror", None) or err
        raise UnsupportedVideoError(f"cannot convert {src.name!r} ({reason}); the file may be corrupt "
                                    "or use an unsupported codec") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)
    frames, audio, cuts, (w, h) = result
    seconds = time.perf_counter() - start
    progress(1.0, f"done: {frames} frames in {_eta(seconds)}")
    log.info("video %s → %s: %d frames, %.1f fps processing", src, dst, frames, frames / max(seconds, 1e-9))
    return VideoResult(dst, w, h, info.fps, frames, audio, seconds, cuts)


def _transcode(inp: InputContainer, out: OutputContainer, info: VideoInfo, stylizer: Stylizer, options: VideoOptions,
               vcodec: str, acodec: str,
               copyable: frozenset[str] | None, settings: Settings, progress: Progress,
               start: float) -> tuple[int, str, int, tuple[int, int]]:
    import av

    in_video = inp.streams.video[0]
    in_video.thread_type = "AUTO"
    width, height = even_size(info)
    out_w = width * 2 if options.side_by_side else width
    ov = add_video_stream(out, vcodec, info.fps, out_w, height, settings.threads)
    in_audio = inp.streams.audio[0] if inp.streams.audio else None
    audio_mode, oa = add_audio_stream(out, in_audio, acodec, copyable)

    image_opts = options.stylize_options()
    stabilizer = Stabilizer(options.smoothing) if options.smoothing > 0 else None
    total = max(info.frames, 1)
    count, first_pts = 0, None
    streams = [in_video] + ([in_audio] if in_audio is not None else [])
    for packet in inp.demux(streams):
        if packet.stream is in_audio:
            assert oa is not None, "add_audio_stream makes a stream for every input audio stream"
            mux_audio(out, packet, oa, audio_mode)
            continue
        for frame in packet.decode():
            assert isinstance(frame, av.VideoFrame), "the only other stream demuxed is the video"
            if count >= settings.video_max_frames:
                raise VideoTooLargeError(f"video has more than {settings.video_max_frames} frames; trim it "
                                         "(or raise ANIMEGAN_VIDEO_MAX_FRAMES)")
            if first_pts is None:
                first_pts = max(0, round((frame.time or 0.0) * info.fps))
                if frame.rotation:  # phone videos: keep the display matrix so players still turn them upright
                    ov.set_display_rotation(frame.rotation)
            vframe = av.VideoFrame.from_ndarray(stylize_frame(frame, width, height, stylizer, options, image_opts,
                                                              stabilizer), format="rgb24")
            vframe.pts = first_pts + count
            out.mux(ov.encode(vframe))
            count += 1
            elapsed = time.perf_counter() - start
            fps = count / max(elapsed, 1e-9)
            total = max(total, count)
            progress(min(count / total, 0.999),
                     f"frame {count}/{total} · {fps:.1f} fps · ETA {_eta((total - count) / max(fps, 1e-9))}")
    if count == 0:
        raise UnsupportedVideoError("the video has no decodable frames; the file may be corrupt")
    out.mux(ov.encode(None))
    if audio_mode == "transcoded":
        assert oa is not None, "a transcoded audio track has its output stream"
        out.mux(oa.encode(None))
    return count, audio_mode, stabilizer.cuts if stabilizer else 0, (out_w, height)


def even_size(info: VideoInfo) -> tuple[int, int]:
    """The encoded frame size: H.264 4:2:0 needs even sides, so odd ones lose their last row or column."""
    return info.width - info.width % 2, info.height - info.height % 2


def stylize_frame(frame: VideoFrame, width: int, height: int, stylizer: Stylizer, options: VideoOptions,
                  image_opts: StylizeOptions, stabilizer: Stabilizer | None) -> npt.NDArray[np.uint8]:
    """A decoded frame → the H×W(×2 side by side)×3 uint8 frame to encode (cropped to ``width`` × ``height``)."""
    rgb = _rgb24(frame)[:height, :width]
    styled = _stylize_frame(rgb, stylizer, stylizer.spec, image_opts, stabilizer)
    if options.side_by_side:
        styled = np.concatenate([rgb, styled], axis=1)
    return np.ascontiguousarray(styled)


def _stylize_frame(rgb_u8: npt.NDArray[np.uint8], stylizer: Stylizer, spec: StyleSpec, opts: StylizeOptions,
                   stabilizer: Stabilizer | None) -> npt.NDArray[np.uint8]:
    """One frame: normalize → stylize → style post-processing → stabilize → back to the frame's size, uint8."""
    h, w = rgb_u8.shape[:2]
    rgb = rgb_u8.astype(np.float32) / 255.0
    th, tw = (h, w) if opts.max_side is None else fit_within(h, w, opts.max_side)
    photo = resize(rgb, th, tw)
    styled = finish(stylizer(photo), photo, spec, opts)
    if stabilizer is not None:
        styled = stabilizer(photo, styled)
    styled = resize(styled, h, w)
    return np.clip(styled * 255.0 + 0.5, 0, 255).astype(np.uint8)
